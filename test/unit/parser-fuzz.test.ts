import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { prng } from '../helpers/prng.js';
import { parseIftop } from '../../src/parse/iftop-parser.js';
import type { ParseResult } from '../../src/parse/types.js';

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
