import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNet, type TestNet } from '../helpers/netns.js';
import { logEvents, nstats } from '../helpers/nstats.js';
import { waitFor } from '../helpers/wait.js';
import { freePort, startInflux1, testServers, type RunningServer } from '../helpers/servers.js';
import { sendUdp } from '../helpers/traffic.js';

// A real InfluxDB 1.6 with HTTP authentication on: basic auth from NSTATS_INFLUX_USERNAME/PASSWORD.
const USER = 'nstats_writer';
const PASSWORD = 'pw-Secret-4711';
const DB = 'nstats_auth';

let server: RunningServer;
let net: TestNet;

async function query(q: string, auth = true): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = auth
    ? { authorization: `Basic ${btoa(`${USER}:${PASSWORD}`)}` }
    : {};
  const res = await fetch(`${server.url}/query`, {
    method: 'POST',
    headers,
    body: new URLSearchParams({ q, db: DB }),
  });
  return { status: res.status, body: await res.text() };
}

beforeAll(async () => {
  server = await startInflux1({ auth: true });
  // With auth on and no user yet, InfluxDB accepts exactly this: creating the first admin.
  const created = await query(`CREATE USER "${USER}" WITH PASSWORD '${PASSWORD}' WITH ALL PRIVILEGES`, false);
  expect(created.status, created.body).toBe(200);
  expect((await query(`CREATE DATABASE "${DB}"`)).status).toBe(200);
  expect((await query('SHOW DATABASES', false)).status, 'anonymous queries are refused').toBe(401);
  net = await createTestNet();
});

afterAll(async () => {
  await net?.destroy();
  await server?.stop();
});

function env(password: string): Record<string, string> {
  return {
    INFLUX: new URL(server.url).host,
    IDB: DB,
    NSTATS_INFLUX_USERNAME: USER,
    NSTATS_INFLUX_PASSWORD: password,
    NSTATS_INTERFACE: net.hostIf,
    NSTATS_DNS: 'false',
    NSTATS_LOG_LEVEL: 'trace',
  };
}

describe('InfluxDB 1.6 with authentication', () => {
  it('nstats check fails on a wrong password with the fix, and never prints the password', async () => {
    const r = await nstats(['check'], env('not-the-password'));
    expect(r.exitCode).toBe(1);
    expect(String(r.stdout)).toMatch(
      /^FAIL influxdb: .*HTTP 401.*Fix: check NSTATS_INFLUX_USERNAME \/ NSTATS_INFLUX_PASSWORD$/m,
    );
    expect(String(r.stdout) + String(r.stderr)).not.toContain('not-the-password');
  });

  it('nstats check passes with the right credentials', async () => {
    const r = await nstats(['check'], env(PASSWORD));
    expect(r.exitCode, String(r.stdout)).toBe(0);
    expect(String(r.stdout)).toMatch(/^PASS influxdb: .*database nstats_auth\) accepts writes$/m);
  });

  it('nstats run writes with basic auth; the password appears in no log line, even at trace level', async () => {
    const run = nstats(['run', '--max-cycles', '1'], { ...env(PASSWORD), NSTATS_SCHEDULE: '*/2 * * * * *' });
    await sendUdp({
      from: 'host',
      net,
      to: net.peerV4,
      port: 9300,
      bitsPerSecond: 500_000,
      payloadBytes: 1000,
      seconds: 16,
    });
    const r = await run;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout) + String(r.stderr)).not.toContain(PASSWORD);
    const answer = await query(`SELECT "sendRate" FROM "nstat" WHERE "receiverIp" = '${net.peerV4}'`);
    expect(answer.status).toBe(200);
    const values = (
      JSON.parse(answer.body) as { results: Array<{ series?: Array<{ values: unknown[][] }> }> }
    ).results[0]?.series?.[0]?.values;
    expect(values?.length, answer.body).toBe(1);
  });
});

describe('writes refused by the server (401)', () => {
  it('are logged once with the server message, counted, kept, and turn /readyz to 503', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nstats-refused-'));
    const iftop = join(dir, 'iftop');
    const fixture = fileURLToPath(new URL('../fixtures/iftop/ipv4.txt', import.meta.url));
    await writeFile(iftop, `#!/bin/sh\ncat '${fixture}'\n`);
    await chmod(iftop, 0o755);
    const port = await freePort();
    try {
      const run = nstats(['run', '--max-cycles', '5'], {
        ...env('not-the-password'),
        NSTATS_INTERFACE: 'lo',
        NSTATS_IFTOP_PATH: iftop,
        NSTATS_SCHEDULE: '* * * * * *',
        NSTATS_INFLUX_RETRY_MAX_MS: '1000',
        NSTATS_HEALTH_PORT: String(port),
        NSTATS_HEALTH_HOST: '127.0.0.1',
        NSTATS_HEALTH_SINK_FAILING_SECONDS: '0',
      });
      let ready = { status: 0, body: '' };
      let metrics = '';
      await waitFor(
        async () => {
          try {
            const r = await fetch(`http://127.0.0.1:${port}/readyz`);
            ready = { status: r.status, body: await r.text() };
            metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
            return /nstats_write_errors_total\{status="401"\} [2-9]/.test(metrics);
          } catch {
            return false;
          }
        },
        15_000,
        () => `no second 401 counted: ${metrics}`,
      );
      expect(ready.status).toBe(503);
      expect(ready.body).toMatch(/^writes to InfluxDB have failed for \d+ s/);
      const r = await run;
      expect(r.exitCode, String(r.stderr)).toBe(0);
      const errors = logEvents(String(r.stderr)).filter((e) => e.level === 'error');
      const refused = errors.filter((e) => String(e.msg).startsWith('sink: the server refuses writes'));
      expect(refused, JSON.stringify(errors)).toHaveLength(1);
      expect(refused[0]).toMatchObject({ status: 401, message: '401 authorization failed' });
      // Kept until the end (no spool directory: counted as dropped at shutdown, and said so).
      expect(errors.some((e) => e.reason === 'shutdown' && Number(e.points) > 0)).toBe(true);
      expect(String(r.stdout) + String(r.stderr)).not.toContain('not-the-password');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the v2 API token', () => {
  it('appears in no log line, even at trace level, while points are written', async () => {
    const { vmUrl } = await testServers();
    const token = 'tok-9f8e7d6c5b4a-secret';
    const run = nstats(['run', '--max-cycles', '1'], {
      NSTATS_INFLUX_URL: vmUrl,
      NSTATS_INFLUX_BUCKET: 'nstats',
      NSTATS_INFLUX_TOKEN: token,
      NSTATS_INTERFACE: net.hostIf,
      NSTATS_SCHEDULE: '*/2 * * * * *',
      NSTATS_DNS: 'false',
      NSTATS_LOG_LEVEL: 'trace',
    });
    await sendUdp({
      from: 'host',
      net,
      to: net.peerV4,
      port: 9301,
      bitsPerSecond: 300_000,
      payloadBytes: 1000,
      seconds: 16,
    });
    const r = await run;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stderr)).toMatch(/"pointsWritten":[1-9]/);
    expect(String(r.stdout) + String(r.stderr)).not.toContain(token);
  });
});
