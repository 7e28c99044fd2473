import { describe, expect, it } from 'vitest';
import { prng } from '../helpers/prng.js';
import { MAX_TAG_LENGTH, safeTagValue } from '../../src/record/tag-value.js';

// safeTagValue skips its slow path (Array.from over code points) when nothing needs replacing
// or cutting. Pinned here to the implementation without the shortcut.

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
function reference(value: string, fallback: string): string {
  const cleaned = Array.from(value.replace(CONTROL, '\uFFFD').replaceAll('\\', '/'))
    .slice(0, MAX_TAG_LENGTH)
    .join('')
    .trim();
  return cleaned === '' ? fallback : cleaned;
}

const PIECES = [
  ...'abc.-019',
  ' ',
  ',',
  '=',
  '\\',
  '"',
  '\n',
  '\t',
  '\u0000',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u009f',
  '\u00a0',
  '\u2028',
  '\u2029',
  '\ufeff',
  '\u3000',
  'é',
  '例',
  '😀',
  '\ud800',
  '\udc00',
];

describe('safeTagValue', () => {
  it('gives what it gave without its shortcut, on 50,000 random values', () => {
    const rnd = prng(5);
    const samples = [
      '',
      ' ',
      'a'.repeat(255),
      'a'.repeat(256),
      '😀'.repeat(200),
      `${'a'.repeat(254)}😀`,
      `${' '.repeat(300)}x`,
      `x${' '.repeat(300)}`,
      `${'a'.repeat(254)} b`,
    ];
    for (let i = 0; i < 50_000; i++) {
      const long = rnd() < 0.1;
      let s = '';
      for (let n = long ? 230 + Math.floor(rnd() * 40) : Math.floor(rnd() * 20); n > 0; n--)
        s += rnd() < 0.6 ? 'abcdefgh'[Math.floor(rnd() * 8)] : PIECES[Math.floor(rnd() * PIECES.length)];
      samples.push(s);
    }
    for (const s of samples) expect(safeTagValue(s, 'fb'), JSON.stringify(s)).toBe(reference(s, 'fb'));
  });
});
