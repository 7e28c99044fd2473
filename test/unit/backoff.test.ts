import { describe, expect, it } from 'vitest';
import { backoff } from '../../src/util/backoff.js';

describe('backoff', () => {
  it('starts at `first`, doubles with each failure in a row, and stops at `max`', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoff(n, 1000, 30_000))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 30_000, 30_000,
    ]);
    // Schedule ticks: every tick, then every 2nd, 4th, and at most every 8th.
    expect([1, 2, 3, 4, 5].map((n) => backoff(n, 1, 8))).toEqual([1, 2, 4, 8, 8]);
    expect(backoff(5000, 1000, 60_000)).toBe(60_000);
    expect(backoff(0, 1000, 60_000)).toBe(0);
  });
});
