import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNet, type TestNet } from '../helpers/netns.js';
import { nstats } from '../helpers/nstats.js';
import {
  createInflux1Database,
  influx1Query,
  restartableInflux1,
  type RestartableInflux1,
} from '../helpers/servers.js';
import { sendUdp } from '../helpers/traffic.js';
import { sleep } from '../helpers/wait.js';

// `nstats run`'s stderr is JSON log events, one per line, and nothing else: at start, while
// InfluxDB refuses connections or goes away, when it comes back, and at shutdown; in sampled and
// continuous mode, with the stdout sink, InfluxDB 1.6 (v1 API and the seed's INFLUX/IDB) and the
// v2 API. A log shipper parses every line. The runs go on at once on one veth pair with real
// iftop, against a real InfluxDB 1.6 that is stopped and started again halfway, and a port where
// nothing listens.

const DB = 'nstats_stderr';
let net: TestNet;
let influx: RestartableInflux1;
const spool = mkdtempSync(join(tmpdir(), 'nstats-stderr-spool-'));

beforeAll(async () => {
  net = await createTestNet();
  influx = await restartableInflux1();
  await influx.start();
  await createInflux1Database(influx.url, DB);
});

afterAll(async () => {
  await net?.destroy();
  await influx?.destroy();
  rmSync(spool, { recursive: true, force: true });
});

/** Lines of a stream that are not a JSON object. */
function notJson(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .filter((l) => {
      try {
        const v: unknown = JSON.parse(l);
        return typeof v !== 'object' || v === null || Array.isArray(v);
      } catch {
        return true;
      }
    });
}

function events(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('stderr of nstats run: JSON events only', () => {
  it('in every mode and sink, at start, during an outage, when InfluxDB is back, and at shutdown', async () => {
    const refused = 'http://127.0.0.1:1';
    const common = {
      NSTATS_INTERFACE: net.hostIf,
      NSTATS_DNS: 'false',
      NSTATS_HOSTNAME: 'web-0',
      NSTATS_INFLUX_RETRY_MAX_MS: '2000',
      NSTATS_INFLUX_TIMEOUT_MS: '1000',
    };
    const sampled = { ...common, NSTATS_SCHEDULE: '*/14 * * * * *' };
    const continuous = { ...common, NSTATS_MODE: 'continuous', NSTATS_SCHEDULE: '*/4 * * * * *' };
    const runs = {
      'sampled, stdout': nstats(['run'], sampled),
      'sampled, InfluxDB 1.6 (v1)': nstats(['run'], {
        ...sampled,
        NSTATS_INFLUX_URL: influx.url,
        NSTATS_INFLUX_DATABASE: DB,
      }),
      "sampled, the seed's INFLUX/IDB, refused": nstats(['run'], {
        ...sampled,
        INFLUX: new URL(refused).host,
        IDB: DB,
      }),
      'continuous, stdout': nstats(['run'], continuous),
      'continuous, InfluxDB 1.6 (v1), stopped and started again': nstats(['run'], {
        ...continuous,
        NSTATS_INFLUX_URL: influx.url,
        NSTATS_INFLUX_DATABASE: DB,
        NSTATS_SPOOL_DIR: spool,
      }),
      'continuous, v2 API, refused': nstats(['run'], {
        ...continuous,
        NSTATS_INFLUX_URL: refused,
        NSTATS_INFLUX_BUCKET: 'b',
        NSTATS_INFLUX_TOKEN: 't0k',
      }),
    };
    // Traffic all along, so that every sample ends and every period has flows.
    const traffic = sendUdp({
      from: 'host',
      net,
      to: net.peerV4,
      port: 9800,
      bitsPerSecond: 200_000,
      payloadBytes: 500,
      seconds: 44,
    });
    await sleep(14_000);
    await influx.stop();
    await sleep(12_000);
    await influx.start();
    await sleep(16_000);
    for (const run of Object.values(runs)) run.kill('SIGTERM');
    const results = await Promise.all(
      Object.entries(runs).map(async ([name, run]) => ({ name, r: await run })),
    );
    await traffic;
    const check = await nstats(['check'], { ...common, INFLUX: new URL(refused).host, IDB: DB });
    for (const { name, r } of results) {
      const stderr = String(r.stderr);
      expect(notJson(stderr), `${name}: lines on stderr that are not JSON`).toEqual([]);
      expect(r.exitCode, `${name}: ${stderr}`).toBe(0);
      const msgs = events(stderr).map((e) => String(e.msg));
      expect(msgs[0], name).toBe('daemon: started');
      expect(msgs.at(-1), name).toBe('daemon: stopped');
      expect(msgs.filter((m) => m.startsWith('cycle: done')).length, name).toBeGreaterThanOrEqual(2);
    }
    const log = (name: keyof typeof runs) => events(String(results.find((x) => x.name === name)!.r.stderr));
    // The outages were real: failed writes were logged, and the restarted server got the points.
    for (const name of ["sampled, the seed's INFLUX/IDB, refused", 'continuous, v2 API, refused'] as const)
      expect(
        log(name).some((e) => /ECONNREFUSED/.test(JSON.stringify(e))),
        name,
      ).toBe(true);
    const outage = log('continuous, InfluxDB 1.6 (v1), stopped and started again').map((e) => String(e.msg));
    expect(outage.some((m) => m.startsWith('sink: writes work again'))).toBe(true);
    const series = await influx1Query(influx.url, DB, 'SELECT count(sentBytes) FROM nstat');
    expect(series[0]?.values[0]?.[1]).toBeGreaterThan(0);
    // `nstats check` with InfluxDB configured: its report on stdout, nothing on stderr.
    expect(check.exitCode).toBe(1);
    expect(String(check.stderr)).toBe('');
    expect(String(check.stdout)).toMatch(/^FAIL influxdb: /m);
  }, 120_000);
});
