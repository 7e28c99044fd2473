import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig, loadDotenvFile } from '../../src/config/load.js';

describe('.env', () => {
  it('is read into the environment without overriding what is set, then validated', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nstats-env-'));
    const file = join(dir, '.env');
    writeFileSync(file, 'IFACE=eth7\nNSTATS_SAMPLE_SECONDS=30\nNSTATS_DNS=false\n');
    const env: NodeJS.ProcessEnv = { NSTATS_ENV_FILE: file, NSTATS_SAMPLE_SECONDS: '20' };
    loadDotenvFile(env);
    const c = loadConfig(env, { hostname: () => 'h' });
    expect(c.capture.interface).toBe('eth7');
    expect(c.capture.sampleSeconds).toBe(20);
    expect(c.dns.enabled).toBe(false);
  });

  it('is optional in the working directory, but a file named by NSTATS_ENV_FILE must be readable', () => {
    const cwd = process.cwd();
    const dir = mkdtempSync(join(tmpdir(), 'nstats-env-'));
    try {
      process.chdir(dir);
      const env: NodeJS.ProcessEnv = {};
      loadDotenvFile(env);
      expect(loadConfig(env, { hostname: () => 'h' }).capture.sampleSeconds).toBe(10);
    } finally {
      process.chdir(cwd);
    }
    const error = (env: NodeJS.ProcessEnv) => {
      try {
        loadDotenvFile(env);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems.map((p) => `${p.variable}=${p.value}: ${p.expected}`);
      }
      return [];
    };
    expect(error({ NSTATS_ENV_FILE: '/nonexistent/.env' })).toEqual([
      'NSTATS_ENV_FILE=/nonexistent/.env: expected a readable settings file (ENOENT)',
    ]);
    expect(error({ NSTATS_ENV_FILE: dir })).toEqual([
      `NSTATS_ENV_FILE=${dir}: expected a readable settings file (EISDIR)`,
    ]);
    expect(error({ NSTATS_ENV_FILE: ' ' })[0]).toMatch(/^NSTATS_ENV_FILE= : is empty/);
  });
});
