/**
 * Retention durations, in whole seconds (0: infinite), as the settings give them, as InfluxDB 1.x
 * shows them (`168h0m0s`, a Go duration) and as InfluxQL takes them (`7d`, `INF`).
 */

/** Infinite retention: InfluxQL's `INF`, shown by InfluxDB 1.x as `0s`, by 2.x as no expire rule. */
export const INFINITE = 0;

/** Shortest retention InfluxDB (1.x and 2.x) accepts. */
export const MIN_RETENTION_SECONDS = 3600;

/** Longest: what InfluxDB's int64 nanoseconds can hold, in whole seconds. */
const MAX_RETENTION_SECONDS = 9_223_372_036;

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** What a retention setting must look like (the message of a ConfigError). */
export const RETENTION_EXPECTED =
  'expected a duration of whole s, m, h, d or w, at least 1h (e.g. 7d, 36h, 2w, 1d12h), or INF to keep for ever';

/**
 * A retention setting in seconds: one or more `<whole number><unit>` parts (`7d`, `1d12h`), units
 * s, m, h, d, w, at least 1h in all; or `INF` (any case) for infinite (0). Undefined for anything
 * else (`7 days`, `1.5d`, `30m`, `7D`).
 */
export function parseRetention(text: string): number | undefined {
  const v = text.trim();
  if (/^inf$/i.test(v)) return INFINITE;
  if (!/^(?:\d+[smhdw])+$/.test(v)) return undefined;
  let seconds = 0;
  for (const [, n, unit] of v.matchAll(/(\d+)([smhdw])/g)) seconds += Number(n) * UNIT_SECONDS[unit!]!;
  return seconds >= MIN_RETENTION_SECONDS && seconds <= MAX_RETENTION_SECONDS ? seconds : undefined;
}

const GO_UNIT_SECONDS: Readonly<Record<string, number>> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  μs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};

/**
 * A Go duration as InfluxDB 1.x shows it in `SHOW RETENTION POLICIES` (`168h0m0s`, `0s`,
 * `1h30m0.5s`) in seconds; undefined when it is not one.
 */
export function parseGoDuration(text: string): number | undefined {
  const v = text.trim();
  if (!/^(?:\d+(?:\.\d+)?(?:ns|us|µs|μs|ms|s|m|h))+$/.test(v)) return undefined;
  let seconds = 0;
  for (const [, n, unit] of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)/g))
    seconds += Number(n) * GO_UNIT_SECONDS[unit!]!;
  return seconds;
}

/** Two durations in seconds are the same retention (to the millisecond: Go's text rounds). */
export function sameDuration(a: number, b: number): boolean {
  return Math.abs(a - b) < 1e-3;
}

/**
 * Seconds as an InfluxQL duration literal in its largest whole unit (`7d`, `36h`, `90m`); 0 is
 * `INF`. Also how setup's output shows a retention.
 */
export function formatDuration(seconds: number): string {
  if (seconds === INFINITE) return 'INF';
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${Math.round(seconds)}s`;
}

/**
 * The shard group duration InfluxDB 1.x gives a retention policy created without one: 1h below
 * 2 days, 1 day below 180 days, 7 days from 180 days on and for INF.
 */
export function defaultShardSeconds(retentionSeconds: number): number {
  if (retentionSeconds === INFINITE || retentionSeconds >= 180 * 86_400) return 7 * 86_400;
  if (retentionSeconds >= 2 * 86_400) return 86_400;
  return 3600;
}
