import { readdirSync, readFileSync } from 'node:fs';
import { isIPv4 as netIsIPv4 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { prng } from '../helpers/prng.js';
import { parseIftop } from '../../src/parse/iftop-parser.js';
import { isIPv4 } from '../../src/parse/text.js';
import type { ParseResult } from '../../src/parse/types.js';
import { parseQuantity, quantityValue } from '../../src/parse/units.js';

const DIR = new URL('../fixtures/iftop/', import.meta.url);
const CAPTURES = readdirSync(DIR)
  .filter((f) => f.endsWith('.txt'))
  .map((f) => readFileSync(new URL(f, DIR), 'utf8'))
  .filter((t) => t.includes('=>'));

const NUMBERS = [
  'NaN',
  '1e309b',
  '-1Kb',
  '9'.repeat(400) + 'Kb',
  '1.2.3Mb',
  'Infinityb',
  '0x10b',
  '',
  '١٢٣Kb',
];

/** One mutation of a real capture: truncation, byte flips, a huge line, bad numbers, binary. */
function mutate(text: string, rnd: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const at = Math.floor(rnd() * text.length);
  switch (Math.floor(rnd() * 7)) {
    case 0:
      return text.slice(0, at);
    case 1: {
      const chars = [...text];
      for (let i = 0; i < 1 + rnd() * 20; i++)
        chars[Math.floor(rnd() * chars.length)] = String.fromCharCode(Math.floor(rnd() * 0x110));
      return chars.join('');
    }
    case 2:
      return `${text.slice(0, at)}${pick(['x', ' ', '=', '9', '\t']).repeat(200_000 + Math.floor(rnd() * 800_000))}${text.slice(at)}`;
    case 3:
      return text.replace(/\d+(\.\d+)?[KMGT]?[bB]\b/g, (m) => (rnd() < 0.3 ? pick(NUMBERS) : m));
    case 4:
      return Array.from({ length: 2000 + Math.floor(rnd() * 20000) }, () =>
        String.fromCharCode(Math.floor(rnd() * 256)),
      ).join('');
    case 5: {
      const lines = text.split('\n');
      for (let i = lines.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      }
      return lines.join(rnd() < 0.5 ? '\n' : '\r\n');
    }
    default:
      return text
        .replaceAll('=>', pick(['<=', '==>', '=>=>', '']))
        .replaceAll('\n', pick(['\n', '\n\n', '\u2028']));
  }
}

/** The result is well formed whatever the input: every number finite, every issue bounded. */
function wellFormed(r: ParseResult): void {
  expect(r.issues.length).toBeLessThanOrEqual(1000);
  for (const issue of r.issues) {
    expect(issue.raw.length).toBeLessThanOrEqual(200);
    expect(Number.isInteger(issue.line) && issue.line > 0).toBe(true);
  }
  for (const s of r.snapshots) {
    for (const f of s.flows) {
      for (const d of [f.sent, f.received]) {
        for (const v of [d.rates.last2s, d.rates.last10s, d.rates.last40s, d.cumulativeBytes]) {
          expect(Number.isFinite(v) && v >= 0, `value ${v}`).toBe(true);
        }
      }
      expect([4, 6]).toContain(f.source.family);
    }
  }
}

describe('parser fuzz (mutated real captures)', () => {
  it('never throws and always returns a well-formed result: 1,500 seeded mutations', () => {
    for (let seed = 1; seed <= 1500; seed++) {
      const rnd = prng(seed);
      const input = mutate(CAPTURES[seed % CAPTURES.length]!, rnd);
      let result: ParseResult | undefined;
      expect(() => (result = parseIftop(input)), `seed ${seed}`).not.toThrow();
      wellFormed(result!);
    }
  }, 120_000);

  it('keeps its memory bounded on 20 MB of garbage: issues capped, raw text cut', () => {
    const rnd = prng(42);
    const line = () =>
      Array.from({ length: 80 }, () => String.fromCharCode(32 + Math.floor(rnd() * 95))).join('');
    const input = Array.from({ length: 250_000 }, line).join('\n');
    const r = parseIftop(input);
    expect(r.issues).toHaveLength(1000);
    expect(JSON.stringify(r).length).toBeLessThan(400_000);
  }, 60_000);
});

/** quantityValue's contract: its regular expression, then `Number(digits) * 1024 ** n` if finite. */
function quantitySpec(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)([bB])$/.exec(raw);
  if (!m) return NaN;
  const value = Number(m[1]) * 1024 ** (m[2] ? 'KMGT'.indexOf(m[2]) + 1 : 0);
  return Number.isFinite(value) ? value : NaN;
}

describe('hand-written scanners', () => {
  it.each<[string, number]>([
    ['01Kb', 1024],
    ['0.1b', 0.1],
    ['1.08MB', 1.08 * 1024 ** 2],
    // More than 15 digits: the double nearest the decimal, as Number() gives it.
    ['1.0000000000000001b', 1],
    ['123456789012345.678b', 123456789012345.67],
    ['9007199254740993b', 9007199254740992],
    [`${'9'.repeat(20)}b`, 1e20],
    [`${'9'.repeat(17)}.5MB`, 1e17 * 1024 ** 2],
    ['3.3333333333333333333Gb', 3.3333333333333335 * 1024 ** 3],
    ['99999999999999999999999Tb', 1e23 * 1024 ** 4],
    ...[
      ...['', 'NaN', 'Infinityb', '1e309b', '1e3b', '0x10b', '-1Kb', '+1b', '1,5Kb', '1.2.3Mb'],
      ...['1.Kb', '.5Kb', '5kb', '5Pb', '\u0661\u0662\u0663Kb', `${'9'.repeat(400)}Kb`],
    ].map((raw): [string, number] => [raw, NaN]),
  ])('quantityValue(%j) is %d', (raw, value) => {
    expect(quantityValue(raw)).toBe(value);
  });

  it('quantityValue/parseQuantity read what their regular expression reads, to the last bit', () => {
    const rnd = prng(7);
    const digits = (): string => String(Math.floor(rnd() * 10 ** Math.floor(rnd() * 19)));
    const samples = ['0b', '0B', '1.7976931348623157Tb'];
    for (let i = 0; i < 50_000; i++) {
      const decimals = rnd() < 0.6 ? `.${digits().padStart(Math.floor(rnd() * 4), '0')}` : '';
      const prefix = ['', 'K', 'M', 'G', 'T', 'k', 'P'][Math.floor(rnd() * 7)]!;
      samples.push(`${digits()}${decimals}${prefix}${rnd() < 0.5 ? 'b' : 'B'}`);
    }
    expect(samples.filter((s) => !Number.isNaN(quantitySpec(s))).length).toBeGreaterThan(10_000);
    for (const raw of samples) {
      const value = quantitySpec(raw);
      expect(Object.is(quantityValue(raw), value), raw).toBe(true);
      expect(parseQuantity(raw), raw).toEqual(
        Number.isNaN(value) ? undefined : { value, unit: raw.endsWith('b') ? 'bits' : 'bytes' },
      );
    }
  });

  it('isIPv4 is net.isIPv4', () => {
    const rnd = prng(11);
    const alphabet = '0123456789.....:a ';
    const octets = ['0', '1', '00', '01', '9', '10', '99', '100', '199', '200', '249', '250', '255'];
    octets.push('256', '300', '1000', '');
    const samples = ['0.0.0.0', '255.255.255.255', '1.2.3.04', '1.2.3.4.', '.1.2.3', '1..2.3', '1.2.3.256'];
    for (let i = 0; i < 50_000; i++) {
      let s = '';
      for (let k = Math.floor(rnd() * 18); k > 0; k--) s += alphabet[Math.floor(rnd() * alphabet.length)];
      samples.push(s);
      const quad = Array.from(
        { length: 3 + Math.floor(rnd() * 3) },
        () => octets[Math.floor(rnd() * octets.length)],
      );
      samples.push(quad.join('.'));
    }
    expect(samples.filter((s) => netIsIPv4(s)).length).toBeGreaterThan(1000);
    for (const s of samples) {
      expect(isIPv4(s), s).toBe(netIsIPv4(s));
      expect(isIPv4(`xx${s}:1`, 2, s.length + 2), s).toBe(netIsIPv4(s));
    }
  });
});
