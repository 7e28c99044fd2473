import { formatDuration } from './duration.js';
import { RESAMPLE_FOR_SECONDS, ROLLUP_SECONDS, type Rollup } from './rollup.js';

/**
 * The InfluxQL setup sends (1.x), as text: identifiers always double-quoted and escaped as
 * InfluxDB's own QuoteIdent does, so any database or policy name works.
 */

/** An identifier in double quotes, `\` and `"` escaped. */
export function ident(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** `"db"."rp"."measurement"`. */
export function qualified(database: string, policy: string, measurement: string): string {
  return [database, policy, measurement].map(ident).join('.');
}

/** Where a roll-up reads and writes: the database, the raw policies it reads, the long policy. */
export interface RollupTarget {
  readonly database: string;
  /** Policies read, merged: a series with points in two of them is one series. */
  readonly from: readonly string[];
  readonly into: string;
}

/**
 * The roll-up of one measurement into the long policy: one point per series and hour, at the
 * hour's start, same measurement and tags (`GROUP BY *` keeps tags as tags; without it they would
 * become fields). `fill(none)`: an hour without raw points writes nothing, so it never overwrites
 * an hour the long policy already holds.
 */
export function rollupSelect(rollup: Rollup, target: RollupTarget, where?: string): string {
  const fields = rollup.fields.map((f) => `${f.aggregate}(${ident(f.of)}) AS ${ident(f.name)}`).join(', ');
  const from = target.from.map((p) => qualified(target.database, p, rollup.measurement)).join(', ');
  const into = qualified(target.database, target.into, rollup.measurement);
  return (
    `SELECT ${fields} INTO ${into} FROM ${from}${where ? ` WHERE ${where}` : ''}` +
    ` GROUP BY time(${formatDuration(ROLLUP_SECONDS)}), * fill(none)`
  );
}

/**
 * The continuous query of one measurement: every hour, the two hours just ended are computed
 * again from the raw policy (RESAMPLE ... FOR 2h), so points delivered late from a sidecar's spool
 * are rolled up too; an hour computed again replaces its points (same time and tags).
 */
export function continuousQuery(rollup: Rollup, database: string, raw: string, long: string): string {
  const select = rollupSelect(rollup, { database, from: [raw], into: long });
  return (
    `CREATE CONTINUOUS QUERY ${ident(rollup.continuousQuery)} ON ${ident(database)}` +
    ` RESAMPLE EVERY ${formatDuration(ROLLUP_SECONDS)} FOR ${formatDuration(RESAMPLE_FOR_SECONDS)}` +
    ` BEGIN ${select} END`
  );
}

/**
 * Whether InfluxDB's text of a statement (`SHOW CONTINUOUS QUERIES` shows identifiers unquoted
 * where they need no quotes) is this statement: equal once double quotes are dropped and
 * whitespace is collapsed. Names cannot hold a double quote (the settings refuse it).
 */
export function sameStatement(shown: string, expected: string): boolean {
  const norm = (s: string) => s.replaceAll('"', '').replace(/\s+/g, ' ').trim();
  return norm(shown) === norm(expected);
}

/** A time in InfluxQL: an RFC 3339 string literal. */
export function timeLiteral(ms: number): string {
  return `'${new Date(ms).toISOString()}'`;
}
