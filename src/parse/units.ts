/**
 * iftop's quantities. iftop's `readable_size` scales by 1024 for bits and for bytes alike and
 * prints `b Kb Mb Gb Tb` (bits) or `B KB MB GB TB` (bytes). Read as powers of 1000, every K/M/G
 * value would be 2.4 % to 7.4 % low.
 */

/** A number with its unit, as iftop printed it, multiplied out. */
export interface Quantity {
  /** The value in the unit's base: bits for `b`, bytes for `B`. */
  readonly value: number;
  readonly unit: 'bits' | 'bytes';
}

/** 1024 to the power of the prefix `K`, `M`, `G` or `T` (a char code); 0 for anything else. */
function prefixScale(c: number): number {
  switch (c) {
    case 0x4b:
      return 1024;
    case 0x4d:
      return 1024 ** 2;
    case 0x47:
      return 1024 ** 3;
    case 0x54:
      return 1024 ** 4;
    default:
      return 0;
  }
}
/** Exact powers of ten, as far as a double holds them exactly. */
const TENS = Array.from({ length: 16 }, (_, i) => 10 ** i);
/** With this many digits or fewer, the digits as an integer are exact in a double. */
const EXACT_DIGITS = 15;

/**
 * Reads `799Kb`, `1.08MB`, `0b`: `^(\d+(?:\.\d+)?)([KMGT]?)([bB])$`. Returns the value in the
 * unit's base (bits for `b`, bytes for `B`, the last character), or NaN for anything else.
 *
 * Scanned by hand: it runs eight times per flow (bench/README.md, "Hand-written scanners"). The
 * value is the one `Number(digits) * 1024 ** n` gives: with at most 15 digits,
 * `integer / 10 ** decimals` divides two exact doubles, so it is the double nearest the decimal,
 * as `Number()` is. Longer numbers go through `Number()`.
 */
export function quantityValue(raw: string): number {
  let end = raw.length - 1;
  const base = raw.charCodeAt(end);
  if (base !== 0x62 /* b */ && base !== 0x42 /* B */) return NaN;
  const scale = prefixScale(raw.charCodeAt(end - 1));
  if (scale !== 0) end--;
  let digits = 0;
  let decimals = -1;
  let integer = 0;
  for (let i = 0; i < end; i++) {
    const c = raw.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      integer = integer * 10 + (c - 0x30);
      digits++;
      if (decimals >= 0) decimals++;
    } else if (c === 0x2e /* . */ && decimals < 0 && digits > 0) {
      decimals = 0;
    } else {
      return NaN;
    }
  }
  if (digits === 0 || decimals === 0) return NaN;
  const number =
    digits > EXACT_DIGITS
      ? Number(raw.slice(0, end))
      : decimals > 0
        ? integer / (TENS[decimals] ?? NaN)
        : integer;
  const value = scale === 0 ? number : number * scale;
  return Number.isFinite(value) ? value : NaN;
}

/** Reads `799Kb`, `1.08MB`, `0b` (see quantityValue). Returns undefined for anything else (never throws). */
export function parseQuantity(raw: string): Quantity | undefined {
  const value = quantityValue(raw);
  if (Number.isNaN(value)) return undefined;
  return { value, unit: raw.charCodeAt(raw.length - 1) === 0x62 ? 'bits' : 'bytes' };
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
