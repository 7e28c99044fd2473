import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { backfillFlux, countPoints, fluxString, taskFlux } from '../../src/setup/flux.js';
import { formatLine, SetupError } from '../../src/setup/report.js';
import { runSetup } from '../../src/setup/setup.js';
import { startInfluxStandIn, type FluxRow, type InfluxStandIn } from '../helpers/influx2-stand-in.js';

// nstats setup's InfluxDB 2.x path against an in-process stand-in of the 2.x HTTP API
// (test/helpers/influx2-stand-in.ts): what setup sends (paths, token, bodies, the task's Flux),
// and that a second run finds everything. The stand-in runs no Flux; no real InfluxDB 2.x was
// available for these tests.

const TOKEN = 'tok-2x-secret';
let stand: InfluxStandIn;

beforeEach(async () => {
  stand = await startInfluxStandIn(TOKEN);
});
afterEach(async () => {
  await stand.close();
});

const ORG_ID = 'aaaa000000000001';

async function setup(env: Record<string, string> = {}): Promise<string[]> {
  const config = loadConfig(
    {
      NSTATS_INFLUX_URL: stand.url,
      NSTATS_INFLUX_BUCKET: 'nstats',
      NSTATS_INFLUX_ORG: 'acme',
      NSTATS_INFLUX_TOKEN: TOKEN,
      ...env,
    },
    { hostname: () => 'h' },
  );
  const lines: string[] = [];
  await runSetup(config, (l) => lines.push(formatLine(l)), createLogger('silent'));
  return lines;
}

/** The rows the backfill's to() gives back: 2 nstat series x 2 hours, 1 interface series x 2 hours. */
function rollupRows(): FluxRow[] {
  const rows: FluxRow[] = [];
  for (const hour of ['2026-12-03T16:00:00Z', '2026-12-03T17:00:00Z']) {
    for (const receiver of ['db-0', 'cache-1']) {
      const fields = {
        sendRate: 1.5,
        sendRateMax: 3.5,
        receiveRate: 0.5,
        receiveRateMax: 1.5,
        sentBytes: 1000,
        receivedBytes: 10,
        samples: 6,
      };
      for (const [field, value] of Object.entries(fields))
        rows.push({
          _start: '1970-01-01T00:00:00Z',
          _stop: '2026-12-03T17:30:00Z',
          _time: hour,
          _value: value,
          _field: field,
          _measurement: 'nstat',
          hosts: 'web-0',
          receiver,
          sender: 'web-0',
        });
    }
    for (const field of [
      'sampleRxBytes',
      'sampleTxBytes',
      'sampleRxPackets',
      'sampleTxPackets',
      'sampleSeconds',
      'rxBytes',
      'txBytes',
      'rxPackets',
      'txPackets',
    ])
      rows.push({
        _start: '1970-01-01T00:00:00Z',
        _stop: '2026-12-03T17:30:00Z',
        _time: hour,
        _value: 72,
        _field: field,
        _measurement: 'nstat_interface',
        hosts: 'web-0',
        interface: 'eth0',
      });
  }
  return rows;
}

describe('nstats setup on InfluxDB 2.x (against the stand-in)', () => {
  it('sets the raw retention, creates the long bucket and the task, backfills; a second run finds it all', async () => {
    stand.buckets.push({ id: 'b0', orgID: ORG_ID, name: 'nstats', retentionRules: [] });
    stand.rollupRows = rollupRows();

    expect(await setup()).toEqual([
      `organization "acme": found (id ${ORG_ID})`,
      'bucket "nstats": changed (retention INF -> 7d)',
      'bucket "nstats_long": created (retention 400d)',
      'task "nstats_rollup_1h": created ("nstats" -> "nstats_long", every 1h (offset 5m) for the last 2h)',
      'backfill: created (6 points written to "nstats_long" from "nstats", up to now)',
    ]);
    // Every request carried the token.
    for (const r of stand.requests) expect(r.headers.authorization).toBe(`Token ${TOKEN}`);
    const calls = stand.requests.map((r) => `${r.method} ${r.path}?${r.query.toString()}`);
    expect(calls).toEqual([
      'GET /api/v2/orgs?org=acme',
      `GET /api/v2/buckets?orgID=${ORG_ID}&name=nstats`,
      'PATCH /api/v2/buckets/b0?',
      `GET /api/v2/buckets?orgID=${ORG_ID}&name=nstats_long`,
      'POST /api/v2/buckets?',
      `GET /api/v2/tasks?orgID=${ORG_ID}&name=nstats_rollup_1h`,
      'POST /api/v2/tasks?',
      `POST /api/v2/query?org=${ORG_ID}`,
      `POST /api/v2/query?org=${ORG_ID}`,
      `POST /api/v2/query?org=${ORG_ID}`,
    ]);
    const body = (i: number) => stand.requests[i]!.body as Record<string, unknown>;
    expect(body(2)).toEqual({ retentionRules: [{ type: 'expire', everySeconds: 604_800 }] });
    expect(body(4)).toEqual({
      orgID: ORG_ID,
      name: 'nstats_long',
      retentionRules: [{ type: 'expire', everySeconds: 400 * 86_400 }],
      description: 'nstats setup',
    });
    expect(body(6)).toMatchObject({ orgID: ORG_ID, status: 'active' });
    expect(body(6).flux).toBe(taskFlux({ rawBucket: 'nstats', longBucket: 'nstats_long', orgID: ORG_ID }));
    expect(stand.tasks).toMatchObject([
      { name: 'nstats_rollup_1h', every: '1h', offset: '5m', status: 'active' },
    ]);
    expect(body(8)).toMatchObject({ type: 'flux' });
    expect(body(8).query).toBe(
      backfillFlux({ rawBucket: 'nstats', longBucket: 'nstats_long', orgID: ORG_ID }),
    );

    stand.requests.length = 0;
    expect(await setup()).toEqual([
      `organization "acme": found (id ${ORG_ID})`,
      'bucket "nstats": found (retention 7d)',
      'bucket "nstats_long": found (retention 400d)',
      'task "nstats_rollup_1h": found ("nstats" -> "nstats_long", every 1h (offset 5m) for the last 2h)',
      'backfill: unchanged (6 points written to "nstats_long" from "nstats", up to now: the same points with the same values as before)',
    ]);
    expect(stand.requests.filter((r) => r.method !== 'GET' && r.path !== '/api/v2/query')).toEqual([]);
  });

  it('updates a task whose Flux differs or that is inactive, and takes NSTATS_LONG_BUCKET and the retentions', async () => {
    stand.tasks.push({
      id: 't0',
      orgID: ORG_ID,
      name: 'nstats_rollup_1h',
      flux: 'option task = {name: "nstats_rollup_1h", every: 1h}',
      status: 'inactive',
    });
    const lines = await setup({
      NSTATS_LONG_BUCKET: 'year',
      NSTATS_RAW_RETENTION: '2d',
      NSTATS_LONG_RETENTION: 'INF',
    });
    expect(lines).toContain('bucket "nstats": created (retention 2d)');
    expect(lines).toContain('bucket "year": created (retention INF)');
    expect(lines).toContain(
      'task "nstats_rollup_1h": changed (its Flux differed, it was inactive: updated; "nstats" -> "year", every 1h (offset 5m) for the last 2h)',
    );
    expect(lines).toContain('backfill: unchanged (no raw points in "nstats")');
    expect(stand.buckets.map((b) => [b.name, b.retentionRules])).toEqual([
      ['nstats', [{ type: 'expire', everySeconds: 2 * 86_400 }]],
      ['year', []],
    ]);
    const patch = stand.requests.find((r) => r.method === 'PATCH');
    expect(patch?.path).toBe('/api/v2/tasks/t0');
    expect(stand.tasks[0]).toMatchObject({ status: 'active' });
    expect(stand.tasks[0]!.flux).toContain('to(bucket: "year", orgID: "aaaa000000000001")');
  });

  it('says what is wrong: the token, the organization, the same bucket twice', async () => {
    const error = async (env: Record<string, string>) => {
      try {
        await setup(env);
      } catch (err) {
        return err instanceof SetupError || err instanceof Error ? err.message : String(err);
      }
      return 'no error';
    };
    expect(await error({ NSTATS_INFLUX_TOKEN: 'wrong' })).toBe(
      'setup: organization "acme": InfluxDB refused the credentials: 401 unauthorized access. Fix: check NSTATS_INFLUX_TOKEN (or NSTATS_INFLUX_TOKEN_FILE)',
    );
    expect(await error({ NSTATS_INFLUX_ORG: 'nope' })).toMatch(
      /^setup: organization "nope": InfluxDB refused GET \/api\/v2\/orgs: 404 organization name "nope" not found\. Fix: check NSTATS_INFLUX_ORG/,
    );
    stand.orgs.push({ id: 'bbbb000000000002', name: 'other' });
    const config = loadConfig(
      { NSTATS_INFLUX_URL: stand.url, NSTATS_INFLUX_BUCKET: 'nstats', NSTATS_INFLUX_TOKEN: TOKEN },
      { hostname: () => 'h' },
    );
    await expect(runSetup(config, () => undefined, createLogger('silent'))).rejects.toThrow(
      'setup: organization: the token sees 2 organizations ("acme", "other"). Fix: set NSTATS_INFLUX_ORG',
    );
    expect(await error({ NSTATS_LONG_BUCKET: 'nstats' })).toMatch(
      /NSTATS_LONG_BUCKET="nstats": expected another bucket than NSTATS_INFLUX_BUCKET/,
    );
  });
});

describe('the Flux of nstats setup', () => {
  const flux = taskFlux({ rawBucket: 'nstats', longBucket: 'nstats_long', orgID: 'o1' });

  it('is a task of every 1h with an offset, over the two whole hours before now()', () => {
    expect(flux).toMatch(
      /^import "date"\n\noption task = \{name: "nstats_rollup_1h", every: 1h, offset: 5m\}\n/,
    );
    expect(flux).toContain('stop = date.truncate(t: now(), unit: 1h)');
    expect(flux).toContain('start = time(v: int(v: stop) - 7200000000000)');
    expect(flux).toContain('|> range(start: start, stop: stop)');
    expect(flux).toContain('|> to(bucket: "nstats_long", orgID: "o1")');
  });

  it('rolls up with the same measurement and field names as the 1.x continuous queries', () => {
    const branch = (measurement: string, fields: string[], fn: string, as?: string) =>
      [
        `    |> filter(fn: (r) => r._measurement == "${measurement}" and (${fields.map((f) => `r._field == "${f}"`).join(' or ')}))`,
        `    |> aggregateWindow(every: 1h, fn: ${fn}, createEmpty: false, timeSrc: "_start")`,
        ...(as ? [`    |> set(key: "_field", value: "${as}")`] : []),
      ].join('\n');
    for (const b of [
      branch('nstat', ['sendRate', 'receiveRate'], 'mean'),
      branch('nstat', ['sendRate'], 'max', 'sendRateMax'),
      branch('nstat', ['receiveRate'], 'max', 'receiveRateMax'),
      branch('nstat', ['sentBytes', 'receivedBytes'], 'sum'),
      branch('nstat', ['sendRate'], 'count', 'samples'),
      branch(
        'nstat_interface',
        ['sampleRxBytes', 'sampleTxBytes', 'sampleRxPackets', 'sampleTxPackets', 'sampleSeconds'],
        'sum',
      ),
      branch('nstat_interface', ['rxBytes', 'txBytes', 'rxPackets', 'txPackets'], 'max'),
    ])
      expect(flux).toContain(b);
  });

  it('escapes names in string literals', () => {
    expect(fluxString('a"b\\c${x}')).toBe('"a\\"b\\\\c\\${x}"');
  });

  it('counts points, not fields, in the rows to() gives back', () => {
    expect(countPoints(rollupRows())).toBe(6);
  });
});
