import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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

  it('is optional', () => {
    const env: NodeJS.ProcessEnv = { NSTATS_ENV_FILE: '/nonexistent/.env' };
    loadDotenvFile(env);
    expect(loadConfig(env, { hostname: () => 'h' }).capture.sampleSeconds).toBe(10);
  });
});
