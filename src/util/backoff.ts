/**
 * Exponential back-off, the one formula every retry loop in nstats uses: the first wait after a
 * failure is `first`, each further failure in a row doubles it, and it never exceeds `max`. The
 * unit is the caller's (milliseconds, or schedule ticks).
 * @param failures failures in a row, 1 for the first
 */
export function backoff(failures: number, first: number, max: number): number {
  if (failures < 1) return 0;
  // 2 ** 1024 is Infinity; min() still gives max.
  return Math.min(first * 2 ** (failures - 1), max);
}
