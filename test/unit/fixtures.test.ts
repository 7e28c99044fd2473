import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseIftop } from '../../src/parse/iftop-parser.js';
import type { ParseResult } from '../../src/parse/types.js';

const DIR = new URL('../fixtures/iftop/', import.meta.url);
const NAMES = readdirSync(DIR)
  .filter((f) => f.endsWith('.txt'))
  .map((f) => f.slice(0, -4))
  .sort();

/** Replaces every number by an object compared to 1e-9 relative (iftop values like 1.08 * 2^20). */
function close(value: unknown): unknown {
  if (typeof value === 'number')
    return expect.closeTo(value, Math.max(0, 9 - Math.ceil(Math.log10(Math.abs(value) + 1))));
  if (Array.isArray(value)) return value.map(close);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, close(v)]));
  return value;
}

describe('parser on real iftop captures (test/fixtures/iftop)', () => {
  it('has the fixtures the issue asks for', () => {
    for (const name of [
      'ipv4',
      'ipv6',
      'ports',
      'idle',
      'many-flows',
      'continuous',
      'high-rate',
      'high-rate-bytes',
    ]) {
      expect(NAMES).toContain(name);
    }
  });

  it.each(NAMES)('%s.txt parses to %s.expected.json', (name) => {
    const text = readFileSync(new URL(`${name}.txt`, DIR), 'utf8');
    const expected = JSON.parse(readFileSync(new URL(`${name}.expected.json`, DIR), 'utf8')) as ParseResult;
    expect(parseIftop(text)).toEqual(close(expected));
  });
});
