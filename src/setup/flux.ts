import { formatDuration } from './duration.js';
import { RESAMPLE_FOR_SECONDS, ROLLUP_SECONDS, ROLLUPS, type RollupField } from './rollup.js';

/**
 * The Flux setup sends to InfluxDB 2.x: the hourly roll-up task, the backfill and the long
 * bucket's fingerprint. Written from the same table as the 1.x continuous queries (rollup.ts):
 * same measurements, tags and field names, one point per series and hour at the hour's start.
 */

/** Name of the roll-up task. */
export const TASK_NAME = 'nstats_rollup_1h';

/** The task runs this long after each hour, so that points of the hour's last minute are in. */
export const TASK_OFFSET = '5m';

/** A Flux string literal: `\`, `"` and the start of an interpolation `${` escaped. */
export function fluxString(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&').replace(/\$\{/g, '\\${')}"`;
}

/** Where the roll-up reads and writes. */
export interface FluxTarget {
  readonly rawBucket: string;
  readonly longBucket: string;
  readonly orgID: string;
}

/**
 * Fields that share a measurement and an aggregate and keep their names go in one branch; a
 * renamed field (`sendRateMax`, `samples`) gets its own, where `set()` gives it its name.
 */
function branches(): Array<{ measurement: string; aggregate: string; fields: RollupField[] }> {
  const out: Array<{ measurement: string; aggregate: string; fields: RollupField[] }> = [];
  for (const r of ROLLUPS) {
    for (const f of r.fields) {
      const joint =
        f.name === f.of &&
        out.find(
          (b) =>
            b.measurement === r.measurement &&
            b.aggregate === f.aggregate &&
            b.fields[0]!.name === b.fields[0]!.of,
        );
      if (joint) joint.fields.push(f);
      else out.push({ measurement: r.measurement, aggregate: f.aggregate, fields: [f] });
    }
  }
  return out;
}

/** The roll-up of the raw points in [start, stop) (Flux expressions) into the long bucket. */
function rollupBody(t: FluxTarget, start: string, stop: string): string {
  const every = formatDuration(ROLLUP_SECONDS);
  const measurements = ROLLUPS.map((r) => `r._measurement == ${fluxString(r.measurement)}`).join(' or ');
  const parts = branches().map((b) => {
    const fields = b.fields.map((f) => `r._field == ${fluxString(f.of)}`).join(' or ');
    const renamed = b.fields.length === 1 && b.fields[0]!.name !== b.fields[0]!.of;
    return [
      `  data`,
      `    |> filter(fn: (r) => r._measurement == ${fluxString(b.measurement)} and (${fields}))`,
      `    |> aggregateWindow(every: ${every}, fn: ${b.aggregate}, createEmpty: false, timeSrc: "_start")`,
      ...(renamed ? [`    |> set(key: "_field", value: ${fluxString(b.fields[0]!.name)})`] : []),
    ].join('\n');
  });
  return [
    `data = from(bucket: ${fluxString(t.rawBucket)})`,
    `  |> range(start: ${start}, stop: ${stop})`,
    `  |> filter(fn: (r) => ${measurements})`,
    '',
    'union(tables: [',
    parts.join(',\n'),
    '])',
    `  |> to(bucket: ${fluxString(t.longBucket)}, orgID: ${fluxString(t.orgID)})`,
    '',
  ].join('\n');
}

/**
 * The task: every hour (TASK_OFFSET after it), the two hours just ended are rolled up again, so
 * points delivered late from a sidecar's spool are in (as RESAMPLE FOR 2h on 1.x). The range is
 * cut at whole hours from now() (the run's scheduled time), so a run started by hand never
 * writes a partial hour over a whole one.
 */
export function taskFlux(t: FluxTarget): string {
  return [
    'import "date"',
    '',
    `option task = {name: ${fluxString(TASK_NAME)}, every: ${formatDuration(ROLLUP_SECONDS)}, offset: ${TASK_OFFSET}}`,
    '',
    `stop = date.truncate(t: now(), unit: ${formatDuration(ROLLUP_SECONDS)})`,
    `start = time(v: int(v: stop) - ${RESAMPLE_FOR_SECONDS * 1e9})`,
    rollupBody(t, 'start', 'stop'),
  ].join('\n');
}

/**
 * The backfill: everything in the raw bucket up to now, the current hour included (the task
 * rewrites it when it ends: same time and tags, the values replaced).
 */
export function backfillFlux(t: FluxTarget): string {
  return rollupBody(t, '1970-01-01T00:00:00Z', 'now()');
}

/** Count and sum of every field of the long bucket, by measurement and field. */
export function fingerprintFlux(longBucket: string): string {
  const measurements = ROLLUPS.map((r) => `r._measurement == ${fluxString(r.measurement)}`).join(' or ');
  return [
    `data = from(bucket: ${fluxString(longBucket)})`,
    '  |> range(start: 1970-01-01T00:00:00Z)',
    `  |> filter(fn: (r) => ${measurements})`,
    '  |> group(columns: ["_measurement", "_field"])',
    '',
    'data |> count() |> yield(name: "count")',
    'data |> sum() |> yield(name: "sum")',
    '',
  ].join('\n');
}

/** Whether a task's stored Flux is this script (whitespace aside). */
export function sameFlux(stored: string, wanted: string): boolean {
  const norm = (s: string) => s.replace(/\s+/g, ' ').trim();
  return norm(stored) === norm(wanted);
}

/** Columns of a Flux result row that are no tag of the point written. */
const NOT_TAGS = new Set([
  '',
  'result',
  'table',
  '_start',
  '_stop',
  '_time',
  '_value',
  '_field',
  '_measurement',
]);

/** Points in the rows `to()` gave back: one per measurement, tag set and time (a row is one field). */
export function countPoints(rows: ReadonlyArray<Readonly<Record<string, unknown>>>): number {
  const keys = new Set<string>();
  for (const row of rows) {
    const tags = Object.keys(row)
      .filter((k) => !NOT_TAGS.has(k))
      .sort()
      .map((k) => [k, row[k]]);
    keys.add(JSON.stringify([row._measurement, row._time, tags]));
  }
  return keys.size;
}
