import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { nstats } from '../helpers/nstats.js';
import { prng } from '../helpers/prng.js';
import {
  createInflux1Database,
  dropInflux1Database,
  freePort,
  influx1Query,
  influx1Write,
  influxIdent,
  startInflux1,
  testServers,
  uniqueName,
  type Influx1Series,
  type RunningServer,
} from '../helpers/servers.js';

// `nstats setup` against the real InfluxDB 1.6 of the test run: raw points written to autogen (the
// default before setup), setup run twice, and what InfluxDB then holds: the retention policies,
// the continuous queries, the backfilled 1 h points in the long policy (checked against sums,
// means, maxes and counts computed here from the raw points), tags kept as tags. The test server
// runs no continuous queries ([continuous_queries] enabled = false): what is in the long policy is
// the backfill's alone.

const HOUR = 3_600_000;

let url: string;
let db: string;

beforeAll(async () => {
  ({ influx1Url: url } = await testServers());
});
beforeEach(async () => {
  db = uniqueName('setup');
  await createInflux1Database(url, db);
});
afterEach(async () => {
  await dropInflux1Database(url, db);
});

const setup = (env: Record<string, string> = {}) =>
  nstats(['setup'], { NSTATS_INFLUX_URL: url, NSTATS_INFLUX_DATABASE: db, ...env });

interface RawPoint {
  readonly measurement: 'nstat' | 'nstat_interface';
  readonly tags: Readonly<Record<string, string>>;
  readonly fields: Readonly<Record<string, number>>;
  /** ms since the epoch */
  readonly time: number;
}

const FLOWS = [
  { hosts: 'web-0', sender: 'web-0', receiver: 'db-0', interface: 'eth0' },
  { hosts: 'web-0', sender: 'web-0', receiver: 'cache-1', interface: 'eth0' },
  { hosts: 'web-1', sender: 'web-1', receiver: 'db-0', interface: 'eth0' },
];
const INTERFACES = [
  { hosts: 'web-0', interface: 'eth0' },
  { hosts: 'web-1', interface: 'eth0' },
];

/** Every 7 minutes over the last 4 hours (5 hour buckets, the current partial one included). */
function rawPoints(now: number): RawPoint[] {
  const random = prng(20261203);
  const int = (max: number) => Math.floor(random() * max);
  const points: RawPoint[] = [];
  const counters = INTERFACES.map(() => ({ rx: 1_000_000, tx: 500_000, rxp: 1000, txp: 800 }));
  for (let t = now - 4 * HOUR + 60_000; t < now; t += 7 * 60_000) {
    FLOWS.forEach((tags, i) => {
      // Not every flow in every sample: series with gaps.
      if ((Math.floor(t / 60_000) + i) % 3 === 0) return;
      points.push({
        measurement: 'nstat',
        tags,
        time: t,
        fields: {
          sendRate: int(1e6) + 0.25,
          receiveRate: int(1e5) + 0.5,
          sentBytes: int(5e8),
          receivedBytes: int(5e7),
        },
      });
    });
    INTERFACES.forEach((tags, i) => {
      const c = counters[i]!;
      const d = { rx: int(1e7), tx: int(1e6), rxp: int(1e4), txp: int(1e3) };
      c.rx += d.rx;
      c.tx += d.tx;
      c.rxp += d.rxp;
      c.txp += d.txp;
      points.push({
        measurement: 'nstat_interface',
        tags,
        time: t,
        fields: {
          rxBytes: c.rx,
          txBytes: c.tx,
          rxPackets: c.rxp,
          txPackets: c.txp,
          sampleRxBytes: d.rx,
          sampleTxBytes: d.tx,
          sampleRxPackets: d.rxp,
          sampleTxPackets: d.txp,
          sampleSeconds: 12,
        },
      });
    });
  }
  return points;
}

const FLOATS = new Set(['sendRate', 'receiveRate', 'sampleSeconds']);

function line(p: RawPoint): string {
  const tags = Object.entries(p.tags)
    .map(([k, v]) => `,${k}=${v}`)
    .join('');
  const fields = Object.entries(p.fields)
    .map(([k, v]) => `${k}=${FLOATS.has(k) ? String(v) : `${v}i`}`)
    .join(',');
  return `${p.measurement}${tags} ${fields} ${p.time}`;
}

/** A series and time as one key, tags sorted. */
function seriesKey(measurement: string, tags: Readonly<Record<string, string>>, time: number): string {
  return JSON.stringify([measurement, Object.entries(tags).sort(([a], [b]) => a.localeCompare(b)), time]);
}

/** What the roll-up must hold: per measurement, series (tags) and hour. */
function expected(points: readonly RawPoint[]): Map<string, Record<string, number>> {
  const groups = new Map<string, RawPoint[]>();
  for (const p of points) {
    const key = seriesKey(p.measurement, p.tags, Math.floor(p.time / HOUR) * HOUR);
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  const out = new Map<string, Record<string, number>>();
  for (const [key, ps] of groups) {
    const f = (name: string) => ps.map((p) => p.fields[name]!);
    const sum = (name: string) => f(name).reduce((a, b) => a + b, 0);
    const max = (name: string) => Math.max(...f(name));
    out.set(
      key,
      ps[0]!.measurement === 'nstat'
        ? {
            sendRate: sum('sendRate') / ps.length,
            sendRateMax: max('sendRate'),
            receiveRate: sum('receiveRate') / ps.length,
            receiveRateMax: max('receiveRate'),
            sentBytes: sum('sentBytes'),
            receivedBytes: sum('receivedBytes'),
            samples: ps.length,
          }
        : {
            sampleRxBytes: sum('sampleRxBytes'),
            sampleTxBytes: sum('sampleTxBytes'),
            sampleRxPackets: sum('sampleRxPackets'),
            sampleTxPackets: sum('sampleTxPackets'),
            sampleSeconds: sum('sampleSeconds'),
            rxBytes: max('rxBytes'),
            txBytes: max('txBytes'),
            rxPackets: max('rxPackets'),
            txPackets: max('txPackets'),
          },
    );
  }
  return out;
}

/** The long policy's points, keyed as expected() keys them (times in ms). */
async function longPoints(): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>();
  for (const m of ['nstat', 'nstat_interface'] as const) {
    const series = await influx1Query(url, db, `SELECT * FROM ${influxIdent(db)}."long".${m} GROUP BY *`);
    for (const s of series) {
      for (const row of s.rows) {
        const fields = Object.fromEntries(
          s.columns.filter((c) => c !== 'time').map((c) => [c, row[c] as number]),
        );
        // Only the tags the raw series had: GROUP BY * names every tag key of the measurement.
        const tags = Object.fromEntries(Object.entries(s.tags).filter(([, v]) => v !== ''));
        out.set(seriesKey(m, tags, Number(row.time) / 1e6), fields);
      }
    }
  }
  return out;
}

const show = (q: string): Promise<Influx1Series[]> => influx1Query(url, db, q);

async function policies(): Promise<Array<Record<string, unknown>>> {
  return (await show(`SHOW RETENTION POLICIES ON ${influxIdent(db)}`))[0]!.rows;
}

async function continuousQueries(): Promise<Map<string, string>> {
  const mine = (await show('SHOW CONTINUOUS QUERIES')).find((s) => s.name === db);
  return new Map(mine?.rows.map((r) => [String(r.name), String(r.query)]) ?? []);
}

const lines = (stdout: unknown) => String(stdout).trim().split('\n');

describe('nstats setup on InfluxDB 1.6', () => {
  it('creates the policies, the continuous queries and the backfill, and a second run changes nothing', async () => {
    const now = Date.now();
    const raw = rawPoints(now);
    await influx1Write(url, db, raw.map(line), 'ms');

    const first = await setup();
    expect(first.exitCode, String(first.stderr)).toBe(0);
    expect(String(first.stderr)).toBe('');
    const out1 = lines(first.stdout);
    console.log(`first run:\n${out1.join('\n')}`);
    expect(out1.slice(0, 5)).toEqual([
      `database "${db}": found`,
      'retention policy "raw": created (duration 7d)',
      'retention policy "long": created (duration 400d)',
      'continuous query "nstat_1h": created ("raw" -> "long"."nstat", every 1h for the last 2h)',
      'continuous query "nstat_interface_1h": created ("raw" -> "long"."nstat_interface", every 1h for the last 2h)',
    ]);
    const want = expected(raw);
    expect(out1[5]).toBe(
      `backfill: created (${want.size} points written to "long" from "raw", "autogen", up to now)`,
    );
    const carried =
      /^default retention policy: changed \("autogen" -> "raw"; (\d+) points since (\S+) copied from "autogen" to "raw", which the continuous queries read\)$/.exec(
        out1[6] ?? '',
      );
    expect(carried, out1[6]).not.toBeNull();
    expect(out1).toHaveLength(7);

    // Retention policies: durations as InfluxDB shows them, raw the default now.
    const rps = await policies();
    expect(rps.find((r) => r.name === 'raw')).toMatchObject({ duration: '168h0m0s', default: true });
    expect(rps.find((r) => r.name === 'long')).toMatchObject({ duration: '9600h0m0s', default: false });
    expect(rps.find((r) => r.name === 'autogen')).toMatchObject({ default: false });

    // Continuous queries: both, from raw into long, tags kept (GROUP BY time(1h), *), resampled.
    const cqs = await continuousQueries();
    expect([...cqs.keys()].sort()).toEqual(['nstat_1h', 'nstat_interface_1h']);
    for (const m of ['nstat', 'nstat_interface']) {
      const q = cqs.get(`${m}_1h`)!;
      expect(q).toContain('RESAMPLE EVERY 1h FOR 2h');
      expect(q).toContain(`INTO ${db}.long.${m} FROM ${db}.raw.${m} GROUP BY time(1h), *`);
    }
    expect(cqs.get('nstat_1h')).toContain(
      'SELECT mean(sendRate) AS sendRate, max(sendRate) AS sendRateMax, mean(receiveRate) AS receiveRate, max(receiveRate) AS receiveRateMax, sum(sentBytes) AS sentBytes, sum(receivedBytes) AS receivedBytes, count(sendRate) AS samples',
    );

    // The backfill: one point per series and hour, sums exact, means and maxes right.
    const got = await longPoints();
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [key, fields] of want) {
      const g = got.get(key)!;
      for (const [name, value] of Object.entries(fields)) {
        if (name === 'sendRate' || name === 'receiveRate')
          expect(g[name], `${key} ${name}`).toBeCloseTo(value, 6);
        else expect(g[name], `${key} ${name}`).toBe(value);
      }
      expect(Object.keys(g).sort(), key).toEqual(Object.keys(fields).sort());
    }
    // At least 3 whole past hours per series, and several series per measurement.
    expect(new Set([...want.keys()].map((k) => (JSON.parse(k) as unknown[])[2])).size).toBeGreaterThanOrEqual(
      4,
    );

    // Tags are tags in the long policy, not fields.
    const tagKeys = (await show(`SHOW TAG KEYS ON ${influxIdent(db)} FROM "long"."nstat"`))[0]!.rows.map(
      (r) => r.tagKey,
    );
    expect(tagKeys.sort()).toEqual(['hosts', 'interface', 'receiver', 'sender']);
    const fieldKeys = (await show(`SHOW FIELD KEYS ON ${influxIdent(db)} FROM "long"."nstat"`))[0]!.rows;
    expect(Object.fromEntries(fieldKeys.map((r) => [r.fieldKey, r.fieldType]))).toEqual({
      receiveRate: 'float',
      receiveRateMax: 'float',
      receivedBytes: 'integer',
      samples: 'integer',
      sendRate: 'float',
      sendRateMax: 'float',
      sentBytes: 'integer',
    });
    const interfaceFields = (
      await show(`SHOW FIELD KEYS ON ${influxIdent(db)} FROM "long"."nstat_interface"`)
    )[0]!.rows;
    expect(interfaceFields.map((r) => r.fieldKey).sort()).toEqual(
      [
        'rxBytes',
        'txBytes',
        'rxPackets',
        'txPackets',
        'sampleRxBytes',
        'sampleTxBytes',
        'sampleRxPackets',
        'sampleTxPackets',
        'sampleSeconds',
      ].sort(),
    );

    // The points the continuous queries' next runs recompute were copied into raw.
    const since = Date.parse(carried![2]!);
    expect(since % HOUR).toBe(0);
    const recent = raw.filter((p) => p.time >= since);
    expect(Number(carried![1])).toBe(recent.length);
    const copied = await show(`SELECT count(sentBytes) FROM ${influxIdent(db)}."raw"."nstat"`);
    expect(copied[0]?.rows[0]?.count).toBe(recent.filter((p) => p.measurement === 'nstat').length);

    // Second run: everything found, the backfill writes the same values again.
    const second = await setup();
    expect(second.exitCode, String(second.stderr)).toBe(0);
    const out2 = lines(second.stdout);
    console.log(`second run:\n${out2.join('\n')}`);
    expect(out2).toHaveLength(7);
    for (const l of out2) expect(l).toMatch(/^[^:]+: (found|unchanged)\b/);
    expect(out2[1]).toBe('retention policy "raw": found (duration 7d, the default)');
    expect(out2[5]).toMatch(
      /^backfill: unchanged \(\d+ points written to "long" from "raw", up to now: the same points with the same values as before\)$/,
    );
    expect(out2[6]).toBe('default retention policy: found ("raw")');
    expect(await policies()).toEqual(rps);
    expect(await continuousQueries()).toEqual(cqs);
    expect(await longPoints()).toEqual(got);
  });

  it('alters a policy to the settings and replaces a continuous query whose text differs', async () => {
    expect((await setup()).exitCode).toBe(0);
    await show(`DROP CONTINUOUS QUERY "nstat_1h" ON ${influxIdent(db)}`);
    await show(
      `CREATE CONTINUOUS QUERY "nstat_1h" ON ${influxIdent(db)} BEGIN SELECT mean("sendRate") AS "sendRate" INTO ${influxIdent(db)}."long"."nstat" FROM ${influxIdent(db)}."raw"."nstat" GROUP BY time(1h), * END`,
    );
    const r = await setup({ NSTATS_RAW_RETENTION: '12h', NSTATS_LONG_RETENTION: 'INF' });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const out = lines(r.stdout);
    expect(out).toContain(
      'retention policy "raw": changed (duration 7d -> 12h, shard groups 1h, the default)',
    );
    expect(out).toContain('retention policy "long": changed (duration 400d -> INF)');
    expect(out).toContain(
      'continuous query "nstat_1h": changed (its text differed: dropped and created again; "raw" -> "long"."nstat", every 1h for the last 2h)',
    );
    expect(out).toContain(
      'continuous query "nstat_interface_1h": found ("raw" -> "long"."nstat_interface", every 1h for the last 2h)',
    );
    const rps = await policies();
    expect(rps.find((p) => p.name === 'raw')).toMatchObject({
      duration: '12h0m0s',
      shardGroupDuration: '1h0m0s',
    });
    expect(rps.find((p) => p.name === 'long')).toMatchObject({ duration: '0s' });
    expect((await continuousQueries()).get('nstat_1h')).toContain('RESAMPLE EVERY 1h FOR 2h');
  });

  it('with NSTATS_INFLUX_RETENTION_POLICY, uses that policy as raw and leaves the default alone', async () => {
    const r = await setup({ NSTATS_INFLUX_RETENTION_POLICY: 'week', NSTATS_LONG_RETENTION_POLICY: 'year' });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(lines(r.stdout)).toEqual([
      `database "${db}": found`,
      'retention policy "week": created (duration 7d)',
      'retention policy "year": created (duration 400d)',
      'continuous query "nstat_1h": created ("week" -> "year"."nstat", every 1h for the last 2h)',
      'continuous query "nstat_interface_1h": created ("week" -> "year"."nstat_interface", every 1h for the last 2h)',
      'backfill: unchanged (no raw points in "week", "autogen")',
      'default retention policy: found ("autogen", left as it is: NSTATS_INFLUX_RETENTION_POLICY names the raw policy)',
    ]);
    expect((await policies()).find((p) => p.default === true)?.name).toBe('autogen');
  });

  it('creates a database that is not there', async () => {
    const other = uniqueName('setup_new');
    try {
      const r = await setup({ NSTATS_INFLUX_DATABASE: other });
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(lines(r.stdout)[0]).toBe(`database "${other}": created`);
      const dbs = await influx1Query(url, '', 'SHOW DATABASES');
      expect(dbs[0]!.rows.map((x) => x.name)).toContain(other);
    } finally {
      await dropInflux1Database(url, other);
    }
  });
});

describe('nstats setup: errors', () => {
  it('refuses bad settings with exit code 2, naming variable, value and what is expected, and touches nothing', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [
        { NSTATS_RAW_RETENTION: '7 days' },
        'NSTATS_RAW_RETENTION="7 days": expected a duration of whole s, m, h, d or w, at least 1h (e.g. 7d, 36h, 2w, 1d12h), or INF to keep for ever',
      ],
      [{ NSTATS_LONG_RETENTION: '30m' }, 'NSTATS_LONG_RETENTION="30m": expected a duration'],
      [
        { NSTATS_LONG_RETENTION_POLICY: 'raw' },
        'NSTATS_LONG_RETENTION_POLICY="raw": expected another policy than the raw one',
      ],
      [
        { NSTATS_LONG_RETENTION_POLICY: 'a"b' },
        'NSTATS_LONG_RETENTION_POLICY="a\\"b": expected a retention policy name',
      ],
    ];
    for (const [env, message] of cases) {
      const r = await setup(env);
      expect(r.exitCode, JSON.stringify(env)).toBe(2);
      expect(String(r.stderr)).toContain(message);
      expect(String(r.stdout)).toBe('');
    }
    const none = await nstats(['setup'], {});
    expect(none.exitCode).toBe(2);
    expect(String(none.stderr)).toMatch(/NSTATS_INFLUX_URL=\(unset\): nstats setup needs InfluxDB/);
    expect(await policies()).toHaveLength(1);
  });

  it('says when InfluxDB does not answer (exit code 1)', async () => {
    const port = await freePort();
    const r = await setup({ NSTATS_INFLUX_URL: `http://127.0.0.1:${port}` });
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr).trim()).toBe(
      `nstats: setup: database "${db}": http://127.0.0.1:${port} does not answer: connect ECONNREFUSED 127.0.0.1:${port} (ECONNREFUSED). Fix: check NSTATS_INFLUX_URL (or INFLUX=host:port) and that InfluxDB is up and reachable from here`,
    );
  });

  it("shows InfluxDB's error text for a statement it refuses, after the lines of what was done", async () => {
    // sentBytes as a float in the long policy's shard: the backfill's integer sums conflict.
    const t = Date.now() - HOUR;
    await show(`CREATE RETENTION POLICY "long" ON ${influxIdent(db)} DURATION 400d REPLICATION 1`);
    const res = await fetch(`${url}/write?db=${db}&rp=long&precision=ms`, {
      method: 'POST',
      body: `nstat,hosts=web-0 sentBytes=1.5 ${t}`,
    });
    expect(res.status).toBe(204);
    await influx1Write(
      url,
      db,
      [`nstat,hosts=web-0 sendRate=1,receiveRate=1,sentBytes=10i,receivedBytes=1i ${t}`],
      'ms',
    );
    const r = await setup();
    expect(r.exitCode).toBe(1);
    expect(lines(r.stdout)).toContain('retention policy "long": found (duration 400d)');
    expect(String(r.stderr)).toMatch(
      /^nstats: setup: backfill: InfluxDB refused SELECT mean\("sendRate"\) .* INTO .*: partial write: field type conflict: .*sentBytes.*$/,
    );
  });
});

describe('nstats setup with authentication', () => {
  const ADMIN = 'nstats_admin';
  const WRITER = 'nstats_writer';
  const PASSWORD = 'pw-Setup-4711';
  let server: RunningServer;
  const query = async (q: string, auth = true) => {
    const res = await fetch(`${server.url}/query`, {
      method: 'POST',
      headers: auth ? { authorization: `Basic ${btoa(`${ADMIN}:${PASSWORD}`)}` } : {},
      body: new URLSearchParams({ q }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
  };
  beforeAll(async () => {
    server = await startInflux1({ auth: true });
    await query(`CREATE USER "${ADMIN}" WITH PASSWORD '${PASSWORD}' WITH ALL PRIVILEGES`, false);
    await query(`CREATE USER "${WRITER}" WITH PASSWORD '${PASSWORD}'`);
    await query('CREATE DATABASE "authdb"');
    await query(`GRANT ALL ON "authdb" TO "${WRITER}"`);
  });
  afterAll(async () => {
    await server?.stop();
  });
  const run = (user: string, password: string) =>
    nstats(['setup'], {
      NSTATS_INFLUX_URL: server.url,
      NSTATS_INFLUX_DATABASE: 'authdb',
      NSTATS_INFLUX_USERNAME: user,
      NSTATS_INFLUX_PASSWORD: password,
    });

  it('a wrong password: the 401 and the fix, never the password', async () => {
    const r = await run(ADMIN, 'not-the-password');
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr).trim()).toBe(
      'nstats: setup: database "authdb": InfluxDB refused the credentials: 401 authorization failed. Fix: check NSTATS_INFLUX_USERNAME / NSTATS_INFLUX_PASSWORD',
    );
    expect(String(r.stdout) + String(r.stderr)).not.toContain('not-the-password');
  });

  it('a user who is no admin: what InfluxDB says, and that setup needs an admin', async () => {
    const r = await run(WRITER, PASSWORD);
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(
      /^nstats: setup: retention policy "raw": InfluxDB refused CREATE RETENTION POLICY "raw" ON "authdb" DURATION 7d REPLICATION 1: 403 .*admin privilege.*\. Fix: nstats setup needs an InfluxDB admin user/,
    );
  });

  it('an admin: sets up with basic auth', async () => {
    const r = await run(ADMIN, PASSWORD);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(lines(r.stdout)[1]).toBe('retention policy "raw": created (duration 7d)');
    expect(String(r.stdout) + String(r.stderr)).not.toContain(PASSWORD);
  });
});
