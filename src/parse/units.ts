/**
 * iftop's quantities. iftop's `readable_size` scales by 1024 for bits and for bytes alike and
 * prints `b Kb Mb Gb Tb` (bits) or `B KB MB GB TB` (bytes). The seed pipeline read these as powers
 * of 1000 and so under-reported every K/M/G value by 2.4 % to 7.4 %.
 */

const POWERS: Readonly<Record<string, number>> = { '': 0, K: 1, M: 2, G: 3, T: 4 };

/** A number with its unit, as iftop printed it, multiplied out. */
export interface Quantity {
  /** The value in the unit's base: bits for `b`, bytes for `B`. */
  readonly value: number;
  readonly unit: 'bits' | 'bytes';
}

const QUANTITY = /^(\d+(?:\.\d+)?)([KMGT]?)([bB])$/;

/** Reads `799Kb`, `1.08MB`, `0b`. Returns undefined for anything else (never throws). */
export function parseQuantity(raw: string): Quantity | undefined {
  const match = QUANTITY.exec(raw);
  if (!match) return undefined;
  const [, digits = '', prefix = '', base = ''] = match;
  const value = Number(digits) * 1024 ** (POWERS[prefix] ?? 0);
  if (!Number.isFinite(value)) return undefined;
  return { value, unit: base === 'b' ? 'bits' : 'bytes' };
}

/** A rate column in bits/s, whether iftop printed bits (default) or bytes (`-B`). */
export function rateToBitsPerSecond(q: Quantity): number {
  return q.unit === 'bits' ? q.value : q.value * 8;
}

const BIT_UNITS = ['bit/s', 'Kibit/s', 'Mibit/s', 'Gibit/s', 'Tibit/s'];
const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

function scale(n: number, units: readonly string[]): string {
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${units[i]}`;
}

/** `822400` -> `803 Kibit/s` (binary prefixes, named as such). */
export function formatBitRate(bitsPerSecond: number): string {
  return scale(bitsPerSecond, BIT_UNITS);
}

/** `1132462` -> `1.08 MiB`. */
export function formatBytes(bytes: number): string {
  return scale(bytes, BYTE_UNITS);
}
