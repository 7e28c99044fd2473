import { isIPv4 as netIsIPv4 } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { prng } from '../helpers/prng.js';
import { parseIftop } from '../../src/parse/iftop-parser.js';
import { isIPv4 } from '../../src/parse/text.js';
import { parseQuantity, quantityValue } from '../../src/parse/units.js';
import {
  parseIftop as referenceParseIftop,
  parseQuantity as referenceParseQuantity,
} from './reference/iftop-parser-v1.js';

// The parser was rewritten for speed (hand-written scanners, flow lines first, no array of
// lines). These tests pin it to the implementation it replaced (reference/iftop-parser-v1.ts):
// the same result, key order and -0 included, the same issues, on every input.

const DIR = new URL('../fixtures/iftop/', import.meta.url);
const CAPTURES = readdirSync(DIR)
  .filter((f) => f.endsWith('.txt'))
  .map((f) => [f, readFileSync(new URL(f, DIR), 'utf8')] as const);

/** JSON with -0 and non-finite numbers told apart. */
const json = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    Object.is(x, -0) ? '-0' : typeof x === 'number' && !Number.isFinite(x) ? `number ${x}` : x,
  );

function expectSameParse(text: string, what: string, maxIssues?: number): void {
  const options = maxIssues === undefined ? {} : { maxIssues };
  const fast = parseIftop(text, options);
  const reference = referenceParseIftop(text, options);
  expect(json(fast), what).toBe(json(reference));
}

const NUMBERS = [
  'NaN',
  '1e309b',
  '-1Kb',
  `${'9'.repeat(400)}Kb`,
  `${'9'.repeat(20)}b`,
  `${'9'.repeat(17)}.5MB`,
  '1.2.3Mb',
  'Infinityb',
  '0x10b',
  '',
  '١٢٣Kb',
  '1.Kb',
  '.5Kb',
  '01Kb',
  '1.0000000000000001b',
  '123456789012345.678b',
  '99999999999999999999999Tb',
  '5kb',
  '5Pb',
  '1,5Kb',
  '+1b',
  '1e3b',
  '3.3333333333333333333Gb',
];
const HOSTS = [
  '1.2.3.4:065535',
  '1.2.3.4:65536',
  '1.2.3.4:',
  ':80',
  '01.2.3.4',
  '256.1.1.1',
  '1.2.3',
  '1.2.3.4:80:90',
  '[fd00::1]',
  '[fd00::1]:',
  '[fd00:1:2:3:4:5:6:e:40001',
  '::ffff:1.2.3.4',
  '::1:80',
  'fe80::1%eth0',
  '١.٢.٣.٤',
  '1.2.3.4:1e3',
  '[1.2.3.4]:80',
  '1.2.3.4:123456',
];
const SPACES = [' ', '\t', '\u00a0', '\u2028', '\ufeff', '\u3000', '\v', '\r'];

function mutate(text: string, rnd: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const at = Math.floor(rnd() * text.length);
  switch (Math.floor(rnd() * 9)) {
    case 0:
      return text.slice(0, at);
    case 1: {
      const chars = [...text];
      for (let i = 0; i < 1 + rnd() * 20; i++)
        chars[Math.floor(rnd() * chars.length)] = String.fromCharCode(Math.floor(rnd() * 0x110));
      return chars.join('');
    }
    case 2:
      return `${text.slice(0, at)}${pick(['x', ' ', '=', '9', '\t', '-', '#']).repeat(1 + Math.floor(rnd() * 3000))}${text.slice(at)}`;
    case 3:
      return text.replace(/\d+(\.\d+)?[KMGT]?[bB]\b/g, (m) => (rnd() < 0.3 ? pick(NUMBERS) : m));
    case 4: {
      const lines = text.split('\n');
      for (let i = lines.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      }
      return lines.join(rnd() < 0.5 ? '\n' : '\r\n');
    }
    case 5:
      return text.replace(/\d+\.\d+\.\d+\.\d+(:\d+)?|\[[^\]\s]*\]:\d+/g, (m) =>
        rnd() < 0.3 ? pick(HOSTS) : m,
      );
    case 6:
      return text.replace(/ +/g, (m) => (rnd() < 0.05 ? pick(SPACES) : m));
    case 7: {
      const lines = text.split('\n');
      for (let k = 0; k < 3; k++) {
        const i = Math.floor(rnd() * lines.length);
        const tokens = lines[i]!.split(' ');
        tokens[Math.floor(rnd() * tokens.length)] = pick([...NUMBERS, ...HOSTS, '=>', '<=', '', '#', '1']);
        lines[i] = tokens.join(' ');
      }
      return lines.join('\n');
    }
    default:
      return text
        .replaceAll('=>', pick(['<=', '==>', '=>=>', '']))
        .replaceAll('\n', pick(['\n', '\n\n', '\u2028', '\r', '\r\n']));
  }
}

describe('parseIftop is the reference parser, faster', () => {
  it('on every fixture, with LF and CRLF, and cut short with few issues kept', () => {
    for (const [name, text] of CAPTURES) {
      expectSameParse(text, name);
      expectSameParse(text.replaceAll('\n', '\r\n'), `${name} CRLF`);
      expectSameParse(text.slice(0, text.length / 2), `${name} cut`, 3);
    }
    for (const text of ['', '\n', '\r\n', 'a', 'a\n\n', 'a\r\r\n', '\r', ' \n\t\n'])
      expectSameParse(text, json(text));
    // A flow's two lines at the end of the text, with and without newline, CRs, odd spaces.
    const heading =
      '   # Host name (port/service if enabled)            last 2s   last 10s   last 40s cumulative\n';
    const sent =
      '   1 10.0.0.1                                 =>     1.50Kb     2.00Kb     3.00Kb     4.00KB';
    const received =
      '     10.0.0.2                                 <=       10b        20b        30b        40B';
    for (const [a, b] of [
      ['\n', ''],
      ['\n', '\n'],
      ['\r\n', '\r'],
      ['\r\n', '\r\n'],
      ['\r\r\n', '\r\r'],
      ['\u00a0\n', '\u2028'],
      ['\n\n', '\n'],
      ['\n', '\n\r'],
      ['\t\n', ' \t\n   2 x'],
    ] as const) {
      expectSameParse(`${heading}${sent}${a}${received}${b}`, json([a, b]));
      expectSameParse(`${heading}${sent.replace('1.50Kb', '1.5.0Kb')}${a}${received}${b}`, json([a, b, 1]));
      expectSameParse(
        `${heading}${sent}${a}${received.replace('10.0.0.2', '10.0.0.256')}${b}`,
        json([a, b, 2]),
      );
    }
  });

  it('on 1,500 seeded mutations of the fixtures', () => {
    const flows = CAPTURES.filter(([, t]) => t.includes('=>'));
    for (let seed = 1; seed <= 1500; seed++) {
      const [name, text] = flows[seed % flows.length]!;
      expectSameParse(mutate(text, prng(seed)), `${name} seed ${seed}`);
    }
  }, 60_000);

  it('on flow lines with odd hosts and quantities', () => {
    const base = CAPTURES.find(([name]) => name === 'ipv4.txt')![1].split('\n');
    const at = base.findIndex((l) => l.includes('=>'));
    for (const host of [...HOSTS, '10.0.0.1', '1.2.3.4:80', 'fd00::1', '[fd00::1]:80']) {
      for (const q of ['1.50Kb', ...NUMBERS]) {
        const lines = [...base];
        lines[at] =
          `   1 ${host.padEnd(40)}${q.padStart(11)}${'2Kb'.padStart(11)}${'3Kb'.padStart(11)}${'4KB'.padStart(11)}`;
        lines[at + 1] =
          `     ${host.padEnd(40)}<=${q.padStart(9)}${'2Kb'.padStart(11)}${'3Kb'.padStart(11)}${q.replace('b', 'B').padStart(11)}`;
        expectSameParse(lines.join('\n'), `${host} ${q}`);
      }
    }
  });
});

describe('hand-written scanners', () => {
  it('quantityValue/parseQuantity read what the regular expression read, to the last bit', () => {
    const rnd = prng(7);
    const digits = (): string => String(Math.floor(rnd() * 10 ** Math.floor(rnd() * 19)));
    const samples = [...NUMBERS, '0b', '0B', '1.08MB', '0.1b', '1.7976931348623157Tb'];
    for (let i = 0; i < 50_000; i++) {
      const decimals = rnd() < 0.6 ? `.${digits().padStart(Math.floor(rnd() * 4), '0')}` : '';
      const prefix = ['', 'K', 'M', 'G', 'T', 'k', 'P'][Math.floor(rnd() * 7)]!;
      samples.push(`${digits()}${decimals}${prefix}${rnd() < 0.5 ? 'b' : 'B'}`);
    }
    for (const raw of samples) {
      const reference = referenceParseQuantity(raw);
      expect(json(parseQuantity(raw)), raw).toBe(json(reference));
      expect(Object.is(quantityValue(raw), reference ? reference.value : NaN), raw).toBe(true);
    }
  });

  it('isIPv4 is net.isIPv4', () => {
    const rnd = prng(11);
    const alphabet = '0123456789.....:a ';
    const samples = ['0.0.0.0', '255.255.255.255', '1.2.3.04', '1.2.3.4.', '.1.2.3', '1..2.3', '1.2.3.256'];
    for (let i = 0; i < 50_000; i++) {
      let s = '';
      for (let k = Math.floor(rnd() * 18); k > 0; k--) s += alphabet[Math.floor(rnd() * alphabet.length)];
      samples.push(s);
      const octets = [
        '0',
        '1',
        '00',
        '01',
        '9',
        '10',
        '99',
        '100',
        '199',
        '200',
        '249',
        '250',
        '255',
        '256',
        '300',
        '1000',
        '',
      ];
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
