import type { Logger } from '../log/logger.js';
import { defaultShardSeconds, formatDuration, INFINITE, parseGoDuration, sameDuration } from './duration.js';
import { rows, type InfluxqlClient, type InfluxqlSeries } from './influxql-client.js';
import { continuousQuery, ident, qualified, rollupSelect, sameStatement, timeLiteral } from './influxql.js';
import { InfluxRequestError, quoted, SetupError, type FailureKind, type SetupReporter } from './report.js';
import { RESAMPLE_FOR_SECONDS, ROLLUP_SECONDS, ROLLUPS } from './rollup.js';

/** What setup makes on InfluxDB 1.x. */
export interface V1SetupOptions {
  readonly database: string;
  /** The raw policy: NSTATS_INFLUX_RETENTION_POLICY, else `raw`. */
  readonly rawPolicy: string;
  /** Make the raw policy the database's default (NSTATS_INFLUX_RETENTION_POLICY unset). */
  readonly rawIsDefault: boolean;
  readonly rawSeconds: number;
  readonly longPolicy: string;
  readonly longSeconds: number;
  /** Longest one request of the backfill may take (each covers one day of raw points). */
  readonly backfillTimeoutMs: number;
  readonly log: Logger;
  readonly now?: () => number;
}

/** The backfill runs one request per this much raw data, so that none runs for long. */
export const BACKFILL_CHUNK_MS = 24 * 3600 * 1000;

const HOUR_MS = ROLLUP_SECONDS * 1000;

interface Policy {
  readonly name: string;
  readonly seconds: number;
  readonly shardSeconds: number;
  readonly isDefault: boolean;
}

/** The fix for a failure of a request to InfluxDB 1.x. */
function fixFor(kind: FailureKind): string | undefined {
  switch (kind) {
    case 'unreachable':
    case 'timeout':
      return 'check NSTATS_INFLUX_URL (or INFLUX=host:port) and that InfluxDB is up and reachable from here';
    case 'auth':
      return 'check NSTATS_INFLUX_USERNAME / NSTATS_INFLUX_PASSWORD';
    case 'forbidden':
      return 'nstats setup needs an InfluxDB admin user (one created WITH ALL PRIVILEGES): set NSTATS_INFLUX_USERNAME / NSTATS_INFLUX_PASSWORD to one';
    case 'not-found':
      return 'NSTATS_INFLUX_URL does not look like InfluxDB 1.x (no /query); for InfluxDB 2.x set NSTATS_INFLUX_BUCKET, NSTATS_INFLUX_ORG, NSTATS_INFLUX_TOKEN and NSTATS_INFLUX_API=v2';
    case 'refused':
      return undefined;
  }
}

/**
 * Sets up retention and the 1 h roll-up on InfluxDB 1.x, idempotently: the database, the raw and
 * long retention policies, one continuous query per measurement, a backfill of what is already
 * stored, and, last, the raw policy as the database's default (so that a run that fails midway
 * leaves the sidecars writing where they did, and the next run starts from the same default).
 * Reports one line per object as it is done.
 * @throws SetupError naming the object, with InfluxDB's error text and the fix.
 */
export async function setupV1(
  client: InfluxqlClient,
  o: V1SetupOptions,
  report: SetupReporter,
): Promise<void> {
  const now = o.now ?? Date.now;
  const db = o.database;
  const step = async <T>(object: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      if (err instanceof InfluxRequestError)
        throw new SetupError(object, err.message, fixFor(err.kind), { cause: err });
      throw err;
    }
  };

  const dbObject = `database ${quoted(db)}`;
  await step(dbObject, async () => {
    const [series] = await client.one('SHOW DATABASES');
    const names = series ? rows(series).map((r) => String(r.name)) : [];
    if (names.includes(db)) return report({ object: dbObject, status: 'found' });
    await client.one(`CREATE DATABASE ${ident(db)}`);
    report({ object: dbObject, status: 'created' });
  });

  const policies = await step(dbObject, async () =>
    readPolicies(await client.one(`SHOW RETENTION POLICIES ON ${ident(db)}`)),
  );
  const defaultBefore = policies.find((p) => p.isDefault)?.name;

  for (const [name, seconds] of [
    [o.rawPolicy, o.rawSeconds],
    [o.longPolicy, o.longSeconds],
  ] as const) {
    const object = `retention policy ${quoted(name)}`;
    await step(object, async () => {
      const found = policies.find((p) => p.name === name);
      const wanted = formatDuration(seconds);
      const isDefault = found?.isDefault ? ', the default' : '';
      if (!found) {
        await client.one(
          `CREATE RETENTION POLICY ${ident(name)} ON ${ident(db)} DURATION ${wanted} REPLICATION 1`,
        );
        return report({ object, status: 'created', detail: `duration ${wanted}` });
      }
      if (sameDuration(found.seconds, seconds))
        return report({ object, status: 'found', detail: `duration ${wanted}${isDefault}` });
      // InfluxDB refuses a duration shorter than the policy's shard groups: they shrink with it.
      const shard =
        seconds !== INFINITE && found.shardSeconds > seconds
          ? ` SHARD DURATION ${formatDuration(defaultShardSeconds(seconds))}`
          : '';
      await client.one(`ALTER RETENTION POLICY ${ident(name)} ON ${ident(db)} DURATION ${wanted}${shard}`);
      report({
        object,
        status: 'changed',
        detail: `duration ${formatDuration(found.seconds)} -> ${wanted}${shard ? `, shard groups ${formatDuration(defaultShardSeconds(seconds))}` : ''}${isDefault}`,
      });
    });
  }

  const shown = await step('continuous queries', async () => {
    const all = await client.one('SHOW CONTINUOUS QUERIES');
    const mine = all.find((s) => s.name === db);
    return new Map((mine ? rows(mine) : []).map((r) => [String(r.name), String(r.query)]));
  });
  for (const rollup of ROLLUPS) {
    const object = `continuous query ${quoted(rollup.continuousQuery)}`;
    await step(object, async () => {
      const wanted = continuousQuery(rollup, db, o.rawPolicy, o.longPolicy);
      const where = `${quoted(o.rawPolicy)} -> ${quoted(o.longPolicy)}.${quoted(rollup.measurement)}, every 1h for the last 2h`;
      const found = shown.get(rollup.continuousQuery);
      if (found === undefined) {
        await client.one(wanted);
        return report({ object, status: 'created', detail: where });
      }
      if (sameStatement(found, wanted)) return report({ object, status: 'found', detail: where });
      await client.run([`DROP CONTINUOUS QUERY ${ident(rollup.continuousQuery)} ON ${ident(db)}`, wanted]);
      report({ object, status: 'changed', detail: `its text differed: dropped and created again; ${where}` });
    });
  }

  // The raw points: the raw policy, and the policy the sidecars wrote to before setup (autogen,
  // usually). Read in one SELECT, so that a series with points in both is one series.
  const sources = [
    o.rawPolicy,
    ...(defaultBefore !== undefined && defaultBefore !== o.rawPolicy && defaultBefore !== o.longPolicy
      ? [defaultBefore]
      : []),
  ];
  await step('backfill', () => backfill(client, o, sources, now, report));

  const object = 'default retention policy';
  await step(object, async () => {
    if (!o.rawIsDefault) {
      return report({
        object,
        status: 'found',
        detail: `${defaultBefore === undefined ? 'none' : quoted(defaultBefore)}, left as it is: NSTATS_INFLUX_RETENTION_POLICY names the raw policy`,
      });
    }
    if (defaultBefore === o.rawPolicy)
      return report({ object, status: 'found', detail: quoted(o.rawPolicy) });
    await client.one(`ALTER RETENTION POLICY ${ident(o.rawPolicy)} ON ${ident(db)} DEFAULT`);
    const old = defaultBefore !== undefined && defaultBefore !== o.longPolicy ? defaultBefore : undefined;
    if (old === undefined)
      return report({
        object,
        status: 'changed',
        detail: `${defaultBefore === undefined ? 'none' : quoted(defaultBefore)} -> ${quoted(o.rawPolicy)}`,
      });
    // The continuous queries read only the raw policy, and their next two runs recompute the
    // hours since the start of the previous one: the points the old default got in those hours
    // are copied to the raw policy, else those hours would be rolled up without them. Copied after
    // the backfill, which reads both policies and would otherwise count them twice.
    const since = Math.floor(now() / HOUR_MS) * HOUR_MS - (RESAMPLE_FOR_SECONDS * 1000 - HOUR_MS);
    const from = ROLLUPS.map((r) => qualified(db, old, r.measurement)).join(', ');
    const [series] = await client.one(
      `SELECT * INTO ${ident(db)}.${ident(o.rawPolicy)}.:MEASUREMENT FROM ${from} WHERE time >= ${timeLiteral(since)} GROUP BY *`,
      { timeoutMs: o.backfillTimeoutMs },
    );
    report({
      object,
      status: 'changed',
      detail: `${quoted(old)} -> ${quoted(o.rawPolicy)}; ${written(series)} points since ${new Date(since).toISOString()} copied from ${quoted(old)} to ${quoted(o.rawPolicy)}, which the continuous queries read`,
    });
  });
}

function readPolicies(series: InfluxqlSeries[]): Policy[] {
  return (series[0] ? rows(series[0]) : []).map((r) => {
    const seconds = parseGoDuration(String(r.duration));
    const shardSeconds = parseGoDuration(String(r.shardGroupDuration));
    if (seconds === undefined || shardSeconds === undefined)
      throw new InfluxRequestError(
        'refused',
        `SHOW RETENTION POLICIES gave durations nstats cannot read: ${JSON.stringify(r)}`,
      );
    return { name: String(r.name), seconds, shardSeconds, isDefault: r.default === true };
  });
}

/** The `written` count of a SELECT ... INTO's answer. */
function written(series: InfluxqlSeries | undefined): number {
  const i = series?.columns.indexOf('written') ?? -1;
  return i < 0 ? 0 : Number(series?.values?.[0]?.[i] ?? 0);
}

/**
 * The long policy's fingerprint: count and sum of every field of each measurement. The same
 * before and after the backfill: the backfill wrote the points that were there, with the same
 * values.
 */
async function fingerprint(client: InfluxqlClient, o: V1SetupOptions): Promise<string> {
  const answers = await client.run(
    ROLLUPS.map((r) => `SELECT count(*), sum(*) FROM ${qualified(o.database, o.longPolicy, r.measurement)}`),
  );
  return JSON.stringify(answers);
}

/**
 * The roll-up of everything stored up to now (the current hour included: its continuous query
 * rewrites it when it ends, same time and tags), one day of raw points per request, from the
 * first raw point on.
 */
async function backfill(
  client: InfluxqlClient,
  o: V1SetupOptions,
  sources: readonly string[],
  now: () => number,
  report: SetupReporter,
): Promise<void> {
  const before = await fingerprint(client, o);
  const froms = ROLLUPS.flatMap((r) => sources.map((p) => qualified(o.database, p, r.measurement)));
  const first = await client.one(`SELECT * FROM ${froms.join(', ')} LIMIT 1`);
  const times = first.map((s) => Number(s.values?.[0]?.[s.columns.indexOf('time')])).filter(Number.isFinite);
  let total = 0;
  if (times.length > 0) {
    const end = now();
    for (
      let start = Math.floor(Math.min(...times) / HOUR_MS) * HOUR_MS;
      start <= end;
      start += BACKFILL_CHUNK_MS
    ) {
      const last = start + BACKFILL_CHUNK_MS > end;
      // The last request ends at the server's now(), so a point is not missed for clock skew.
      const where = `time >= ${timeLiteral(start)} AND ${last ? 'time <= now()' : `time < ${timeLiteral(start + BACKFILL_CHUNK_MS)}`}`;
      const answers = await client.run(
        ROLLUPS.map((r) =>
          rollupSelect(r, { database: o.database, from: sources, into: o.longPolicy }, where),
        ),
        { timeoutMs: o.backfillTimeoutMs },
      );
      const n = answers.reduce((sum, a) => sum + written(a[0]), 0);
      o.log.debug(
        { from: new Date(start).toISOString(), points: n },
        `setup: backfill of the day from ${new Date(start).toISOString()}: ${n} points`,
      );
      total += n;
    }
  }
  const after = await fingerprint(client, o);
  const what = `${total} points written to ${quoted(o.longPolicy)} from ${sources.map(quoted).join(', ')}, up to now`;
  const empty = JSON.stringify(ROLLUPS.map(() => []));
  if (before === after)
    report({
      object: 'backfill',
      status: 'unchanged',
      detail:
        total === 0
          ? `no raw points in ${sources.map(quoted).join(', ')}`
          : `${what}: the same points with the same values as before`,
    });
  else report({ object: 'backfill', status: before === empty ? 'created' : 'changed', detail: what });
}
