import { Point } from '@influxdata/influxdb-client';
import { describe, expect, it } from 'vitest';
import { prng } from '../helpers/prng.js';
import type { Field, MetricRecord } from '../../src/record/record.js';
import { encodeLines, timestamp, type Precision } from '../../src/sink/line-protocol.js';

// The encoder must write the very line the client's Point writes for the same measurement, tags,
// fields and time, whatever they hold: PTR names can hold spaces, commas, "=", backslashes,
// quotes, control characters, non-ASCII, lone surrogates.

const PIECES = [
  ...'abcxyz019.-_:/',
  ' ',
  ',',
  '=',
  '\\',
  '"',
  "'",
  '\n',
  '\r',
  '\t',
  '\u0000',
  '\u007f',
  '\u0085',
  '\u00a0',
  '\u2028',
  '\ufeff',
  'é',
  '例',
  '😀',
  '\ud800',
  '\udc00',
  'db-0.db.shop.svc.cluster.local',
];
const KEYS = [
  'hosts',
  'interface',
  'pod',
  'receiver',
  'sender',
  'senderIp',
  'zz',
  'Z',
  '',
  ' ',
  'a b',
  'k=v',
  'a,b',
  '0',
  '10',
  '2',
  '__proto__',
  'constructor',
  'é',
  '\n',
];

describe('encodeLines', () => {
  it('writes the client Point line, on 20,000 random hostile records', () => {
    const rnd = prng(2024);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const text = (max: number): string => {
      let s = '';
      for (let n = Math.floor(rnd() * max); n > 0; n--) s += pick(PIECES);
      return s;
    };
    const key = (): string => (rnd() < 0.7 ? pick(KEYS) : text(4));
    const records: MetricRecord[] = [];
    const references: Point[] = [];
    for (let i = 0; i < 20_000; i++) {
      const measurement = rnd() < 0.9 ? pick(['nstat', 'nstat_interface', 'm e,a=s\nure', 'é', '']) : text(5);
      const reference = new Point(measurement);
      const tags: Record<string, string> = {};
      for (let n = Math.floor(rnd() * 10); n > 0; n--) {
        const k = key();
        const v = rnd() < 0.1 ? '' : text(12);
        tags[k] = v;
        reference.tag(k, v);
      }
      const fields: Record<string, Field> = {};
      for (let n = Math.floor(rnd() * 5); n > 0; n--) {
        const k = rnd() < 0.5 ? pick(['sendRate', 'receiveRate', 'sentBytes', 'receivedBytes']) : key();
        const x = pick([
          NaN,
          Infinity,
          -Infinity,
          9.3e18,
          -9.3e18,
          (rnd() - 0.3) * 10 ** Math.floor(rnd() * 12),
        ]);
        // A value the client refuses is left out by the encoder: the reference goes without it.
        const refuse = () => {
          delete (reference.fields as Record<string, string>)[k];
        };
        switch (Math.floor(rnd() * 4)) {
          case 0:
            fields[k] = { type: 'float', value: x };
            try {
              reference.floatField(k, x);
            } catch {
              refuse();
            }
            break;
          case 1:
            fields[k] = { type: 'int', value: x };
            try {
              reference.intField(k, x);
            } catch {
              refuse();
            }
            break;
          case 2:
            fields[k] = { type: 'bool', value: x > 0 };
            reference.booleanField(k, x > 0);
            break;
          default: {
            const s = text(6);
            fields[k] = { type: 'string', value: s };
            reference.stringField(k, s);
          }
        }
      }
      const time = new Date(pick([1_700_000_000_123, 0, 1_700_000_000_123 + i]));
      reference.timestamp(time);
      records.push({ measurement, tags, fields, time });
      references.push(reference);
    }
    for (const precision of ['ns', 'us', 'ms', 's'] as const satisfies readonly Precision[]) {
      const expected = references
        .map((p) => p.toLineProtocol({ convertTime: (t) => timestamp(t as Date, precision) }))
        .filter((l): l is string => l !== undefined);
      const lines = encodeLines(records, precision);
      expect(lines).toHaveLength(expected.length);
      for (let i = 0; i < lines.length; i++) expect(lines[i]).toBe(expected[i]);
    }
  });

  it('writes the client Point line for runs of records that share tags, as a cycle makes them', () => {
    // The encoder reuses the text of the tags a record shares with the record before it: runs
    // where one tag at a time changes (to another value, to empty, back), the key set grows or
    // shrinks, or the measurement changes, must still give the client's line for every record.
    const rnd = prng(77);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const values = ['web-0', 'web 0', 'a,b', 'x=y', '', 'eth0', '10.0.0.1', '\\n', 'é'];
    let tags: Record<string, string> = { hosts: 'web-0', interface: 'eth0', pod: 'web-0', receiver: 'r' };
    let measurement = 'nstat';
    const records: MetricRecord[] = [];
    const expected: string[] = [];
    const time = new Date(1_700_000_000_000);
    for (let i = 0; i < 5000; i++) {
      const r = rnd();
      if (r < 0.6) {
        const keys = Object.keys(tags);
        tags = { ...tags, [pick(keys)]: pick(values) };
      } else if (r < 0.75) {
        tags = { ...tags, [pick(['sender', 'senderIp', 'a', 'zz', 'node'])]: pick(values) };
      } else if (r < 0.85) {
        const keys = Object.keys(tags);
        const drop = pick(keys);
        tags = Object.fromEntries(keys.filter((k) => k !== drop).map((k) => [k, tags[k]!]));
      } else if (r < 0.9) {
        measurement = pick(['nstat', 'nstat_interface', 'm e']);
      }
      // Some records share the very object, some an equal copy.
      const own = rnd() < 0.5 ? tags : { ...tags };
      records.push({ measurement, tags: own, fields: { sentBytes: { type: 'int', value: i } }, time });
      const p = new Point(measurement).intField('sentBytes', i).timestamp(time);
      for (const [k, v] of Object.entries(own)) p.tag(k, v);
      expected.push(p.toLineProtocol({ convertTime: (t) => timestamp(t as Date, 'ms') })!);
    }
    const lines = encodeLines(records, 'ms');
    expect(lines).toHaveLength(expected.length);
    for (let i = 0; i < lines.length; i++) expect(lines[i]).toBe(expected[i]);
  });

  it('gives no line for a record without a measurement or without a field it can write', () => {
    const time = new Date(7);
    expect(
      encodeLines([{ measurement: '', tags: {}, fields: { x: { type: 'int', value: 1 } }, time }], 'ms'),
    ).toEqual([]);
    expect(encodeLines([{ measurement: 'm', tags: { a: 'b' }, fields: {}, time }], 'ms')).toEqual([]);
    expect(
      encodeLines([{ measurement: 'm', tags: {}, fields: { x: { type: 'float', value: NaN } }, time }], 'ms'),
    ).toEqual([]);
    expect(
      encodeLines(
        [
          {
            measurement: 'm',
            tags: { b: 'x y', a: '', '': 'z' },
            fields: { y: { type: 'float', value: 1.5 }, x: { type: 'int', value: 2.7 } },
            time,
          },
        ],
        'ms',
      ),
    ).toEqual(['m,b=x\\ y x=2i,y=1.5 7']);
  });

  it('writes a time in each precision', () => {
    const d = new Date(1_700_000_000_123);
    expect(timestamp(d, 'ms')).toBe('1700000000123');
    expect(timestamp(d, 's')).toBe('1700000000');
    expect(timestamp(d, 'us')).toBe('1700000000123000');
    expect(timestamp(d, 'ns')).toBe('1700000000123000000');
  });
});
