import { execa, type ResultPromise } from 'execa';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, logEvents, nodeFlags, NSTATS } from '../helpers/nstats.js';
import {
  createInflux1Database,
  freePort,
  influx1Query,
  restartableInflux1,
  type RestartableInflux1,
} from '../helpers/servers.js';
import { sleep, waitFor } from '../helpers/wait.js';

// At-least-once delivery against a real InfluxDB 1.6 that hangs (SIGSTOP), goes down (SIGTERM) and
// comes back, while `nstats run` keeps sampling, is itself stopped with points pending and started
// again mid-outage. Every point the two runs produced must be in InfluxDB afterwards, once, with
// the timestamp of the cycle that made it. The capture is a stand-in iftop printing a real capture
// (6 flows) at once, so cycles run every second and the count is exact.

const FIXTURE = fileURLToPath(new URL('../fixtures/iftop/ports.txt', import.meta.url));
const DB = 'nstats_delivery';

let influx: RestartableInflux1;
let dir: string;
let iftop: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nstats-delivery-'));
  iftop = join(dir, 'iftop');
  await writeFile(iftop, `#!/bin/sh\ncat '${FIXTURE}'\n`);
  await chmod(iftop, 0o755);
  influx = await restartableInflux1();
  await influx.start();
  await createInflux1Database(influx.url, DB);
});

afterAll(async () => {
  await influx?.destroy();
  await rm(dir, { recursive: true, force: true });
});

interface Daemon {
  readonly proc: ResultPromise;
  readonly port: number;
  metrics(): Promise<Record<string, number>>;
  /** SIGTERM; resolves with the time to exit (ms) and the log. */
  stop(): Promise<{ ms: number; events: Array<Record<string, unknown>>; exitCode: number | undefined }>;
}

async function startDaemon(spool: string): Promise<Daemon> {
  const port = await freePort();
  const proc = execa(process.execPath, [...nodeFlags(), NSTATS, 'run'], {
    reject: false,
    extendEnv: false,
    stdin: 'ignore',
    env: cliEnv({
      NSTATS_INTERFACE: 'lo',
      NSTATS_IFTOP_PATH: iftop,
      NSTATS_SCHEDULE: '* * * * * *',
      NSTATS_DNS: 'false',
      NSTATS_HOSTNAME: 'web-0',
      INFLUX: new URL(influx.url).host,
      IDB: DB,
      NSTATS_INFLUX_TIMEOUT_MS: '1000',
      NSTATS_INFLUX_RETRY_MAX_MS: '2000',
      NSTATS_SPOOL_DIR: spool,
      NSTATS_INTERNAL_METRICS: 'true',
      NSTATS_HEALTH_PORT: String(port),
      NSTATS_HEALTH_HOST: '127.0.0.1',
      NSTATS_HEALTH_SINK_FAILING_SECONDS: '2',
      NSTATS_SHUTDOWN_TIMEOUT_MS: '10000',
    }),
  });
  const metrics = async () => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return Object.fromEntries(
      text
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => {
          const i = l.lastIndexOf(' ');
          return [l.slice(0, i), Number(l.slice(i + 1))];
        }),
    );
  };
  await waitFor(
    async () => {
      try {
        return (await metrics())['nstats_cycles_total{result="ok"}']! >= 1;
      } catch {
        return false;
      }
    },
    15_000,
    () => 'the first cycle of nstats run',
  );
  return {
    proc,
    port,
    metrics,
    async stop() {
      const t0 = performance.now();
      proc.kill('SIGTERM');
      const r = await proc;
      return {
        ms: Math.round(performance.now() - t0),
        events: logEvents(String(r.stderr)),
        exitCode: r.exitCode,
      };
    },
  };
}

const written = 'nstats_points_total{outcome="written"}';
const spooled = 'nstats_spool_points';

/** Points the cycles of one run produced: an nstat point per flow, and per cycle one nstat_interface and one nstats_internal point. */
function produced(events: Array<Record<string, unknown>>) {
  const done = events.filter((e) => String(e.msg).startsWith('cycle: done'));
  const failed = events.filter((e) => String(e.msg).startsWith('cycle: failed'));
  return {
    nstat: done.reduce((n, e) => n + Number(e.flows), 0),
    iface: done.length,
    internal: done.length + failed.length,
    cycles: done.length,
  };
}

async function count(measurement: string, where = ''): Promise<number> {
  const rows = (await influx1Query(influx.url, DB, `SELECT count(*) FROM "${measurement}" ${where}`))[0]
    ?.rows;
  const first = rows?.[0] ?? {};
  const field =
    { nstat: 'count_sendRate', nstat_interface: 'count_txBytes' }[measurement] ?? 'count_cycles_total_ok';
  return Number(first[field] ?? 0);
}

describe('delivery through an InfluxDB outage and a restart of nstats', () => {
  it('loses no point: hang, down, nstats restarted with points pending, server back, replayed in order', async () => {
    const spool = join(dir, 'spool');
    const a = await startDaemon(spool);
    await waitFor(
      async () => (await a.metrics())[written]! > 0,
      10_000,
      () => 'a first write',
    );

    // The server hangs: requests time out (1 s), points pile up in the spool; /readyz turns 503.
    const outageStart = Date.now();
    influx.freeze();
    await waitFor(
      async () => (await a.metrics())[spooled]! >= 18,
      20_000,
      () => '18 points spooled',
    );
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${a.port}/readyz`)).status === 503,
      10_000,
      () => '/readyz to fail',
    );
    // Then it is down: connections refused.
    influx.thaw();
    await influx.stop();
    await sleep(2000);
    const pendingAtStop = (await a.metrics())[spooled]!;
    expect(pendingAtStop).toBeGreaterThan(0);

    // nstats stopped mid-outage: it exits in time and leaves the points in the spool directory.
    const stopA = await a.stop();
    expect(stopA.exitCode).toBe(0);
    expect(stopA.ms).toBeLessThan(10_000);
    const kept = stopA.events.find((e) =>
      String(e.msg).includes('points kept in the spool for the next start'),
    );
    expect(kept, JSON.stringify(stopA.events.slice(-5))).toBeDefined();
    expect((await readdir(spool)).filter((f) => f.endsWith('.lp')).length).toBeGreaterThan(0);

    // Started again, still during the outage: it finds the spool and keeps adding to it.
    const b = await startDaemon(spool);
    await sleep(3000);
    expect((await b.metrics())[written]).toBe(0);
    const outageEnd = Date.now();
    await influx.start();
    await waitFor(
      async () => (await b.metrics())[spooled] === 0,
      30_000,
      () => 'the spool to empty',
    );
    const replayed = (await b.metrics())['nstats_points_total{outcome="replayed"}']!;
    expect(replayed).toBeGreaterThanOrEqual(kept!.points as number);
    await sleep(2000);
    const stopB = await b.stop();
    expect(stopB.exitCode).toBe(0);
    expect(stopB.events.some((e) => String(e.msg).includes('left in the spool by an earlier run'))).toBe(
      true,
    );

    // Every point both runs produced is in InfluxDB: none lost, none twice.
    const pa = produced(stopA.events);
    const pb = produced(stopB.events);
    expect(await count('nstat')).toBe(pa.nstat + pb.nstat);
    expect(await count('nstats_internal')).toBe(pa.internal + pb.internal);
    expect(await count('nstat_interface')).toBe(pa.iface + pb.iface);
    // With the time of the cycle that made them: the outage's points are dated inside it.
    const during = await count('nstat', `WHERE time > ${outageStart}ms AND time < ${outageEnd}ms`);
    expect(during).toBeGreaterThanOrEqual(6 * Math.floor((outageEnd - outageStart) / 1000 - 3));
    expect(await readdir(spool)).toEqual([]);
    console.log(
      `delivery: outage ${Math.round((outageEnd - outageStart) / 1000)} s, ${pa.nstat + pb.nstat} nstat points produced and found, ` +
        `${pendingAtStop} pending when nstats was stopped, ${replayed} replayed, stop ${stopA.ms} ms (outage) / ${stopB.ms} ms (server up)`,
    );
  }, 120_000);

  it('an unusable spool directory: `nstats run` will not start, `nstats check` says why and the fix', async () => {
    await writeFile(join(dir, 'not-a-dir'), '');
    const bad = join(dir, 'not-a-dir', 'spool');
    const env = cliEnv({
      NSTATS_INTERFACE: 'lo',
      NSTATS_IFTOP_PATH: iftop,
      NSTATS_DNS: 'false',
      INFLUX: new URL(influx.url).host,
      IDB: DB,
      NSTATS_SPOOL_DIR: bad,
    });
    const opts = { reject: false, extendEnv: false, stdin: 'ignore', env } as const;
    const run = await execa(process.execPath, [...nodeFlags(), NSTATS, 'run', '--max-cycles', '1'], opts);
    expect(run.exitCode).toBe(1);
    expect(String(run.stderr)).toContain(
      `spool: cannot create ${bad} (ENOTDIR): set NSTATS_SPOOL_DIR to a writable directory (an emptyDir volume in Kubernetes), or unset it to buffer in memory`,
    );
    const check = await execa(process.execPath, [...nodeFlags(), NSTATS, 'check'], opts);
    expect(check.exitCode).toBe(1);
    expect(String(check.stdout)).toMatch(
      new RegExp(
        `^FAIL spool: spool: cannot create ${bad} \\(ENOTDIR\\)\\. Fix: set NSTATS_SPOOL_DIR to a writable directory`,
        'm',
      ),
    );
    const good = await execa(process.execPath, [...nodeFlags(), NSTATS, 'check'], {
      ...opts,
      env: { ...env, NSTATS_SPOOL_DIR: join(dir, 'fresh-spool') },
    });
    expect(String(good.stdout)).toMatch(
      /^PASS spool: .*fresh-spool is writable, cap 64 MiB, 0 points waiting$/m,
    );
  });
});
