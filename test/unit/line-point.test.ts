import { Point, type PointSettings } from '@influxdata/influxdb-client';
import { describe, expect, it } from 'vitest';
import { prng } from '../helpers/prng.js';
import { LinePoint, SharedTags } from '../../src/sink/line-point.js';

// LinePoint replaces the client's Point.toLineProtocol with a faster one. It must write the very
// same line for any point, whatever its names and values hold: PTR names can hold spaces, commas,
// "=", backslashes, quotes, control characters, non-ASCII, lone surrogates.

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

describe('LinePoint', () => {
  it('writes the same line as the client Point, on 20,000 random hostile points', () => {
    const rnd = prng(2024);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const text = (max: number): string => {
      let s = '';
      for (let n = Math.floor(rnd() * max); n > 0; n--) s += pick(PIECES);
      return s;
    };
    const key = (): string => (rnd() < 0.7 ? pick(KEYS) : text(4));
    for (let i = 0; i < 20_000; i++) {
      const shared: Record<string, string> = {};
      for (let n = Math.floor(rnd() * 5); n > 0; n--) shared[key()] = text(8);
      const name = rnd() < 0.9 ? pick(['nstat', 'nstat_interface', 'm e,a=s\nure', 'é']) : text(5);
      const point = new LinePoint(name, new SharedTags(shared));
      const reference = new Point(name);
      for (const [k, v] of Object.entries(shared)) reference.tag(k, v);
      const both = (f: (p: Point) => void): void => {
        f(point);
        f(reference);
      };
      for (let n = Math.floor(rnd() * 8); n > 0; n--) {
        const k = key();
        const v = rnd() < 0.1 ? '' : text(12);
        both((p) => p.tag(k, v));
      }
      if (rnd() < 0.1) {
        const m = rnd() < 0.3 ? '' : text(4);
        both((p) => p.measurement(m));
      }
      for (let n = Math.floor(rnd() * 5); n > 0; n--) {
        const k = rnd() < 0.5 ? pick(['sendRate', 'receiveRate', 'sentBytes', 'receivedBytes']) : key();
        const x = (rnd() - 0.3) * 10 ** Math.floor(rnd() * 12);
        switch (Math.floor(rnd() * 5)) {
          case 0:
            both((p) => p.floatField(k, x));
            break;
          case 1:
            both((p) => p.intField(k, x));
            break;
          case 2:
            both((p) => p.uintField(k, Math.abs(x)));
            break;
          case 3:
            both((p) => p.booleanField(k, x > 0));
            break;
          default: {
            const s = text(6);
            both((p) => p.stringField(k, s));
          }
        }
      }
      const time = pick([new Date(1_700_000_000_123), 1_700_000_000_123, '1700000000123', '', undefined]);
      both((p) => p.timestamp(time));
      const settings: Array<Partial<PointSettings> | undefined> = [
        { convertTime: (t) => (t === undefined ? 'now' : `<${String(t)}>`) },
        { convertTime: () => undefined },
        { defaultTags: { ...shared, [key()]: text(6), [key()]: text(6) }, convertTime: () => '1' },
      ];
      if (time !== undefined) settings.push(undefined, {}, { defaultTags: { [key()]: text(6) } });
      for (const s of settings) {
        expect(point.toLineProtocol(s), JSON.stringify({ shared, name, s })).toBe(
          reference.toLineProtocol(s),
        );
      }
    }
  });

  it('is a Point, and shared tags give way to the point own ones', () => {
    const shared = new SharedTags({ hosts: 'web 0', pod: 'p' });
    const p = new LinePoint('nstat', shared).tag('pod', 'mine').floatField('x', 1.5).timestamp('7');
    expect(p).toBeInstanceOf(Point);
    expect(p.toLineProtocol()).toBe('nstat,hosts=web\\ 0,pod=mine x=1.5 7');
    expect(new LinePoint('nstat', shared).floatField('x', 1).timestamp('7').toString()).toBe(
      'nstat,hosts=web\\ 0,pod=p x=1 7',
    );
    expect(new LinePoint('nstat', shared).toLineProtocol()).toBeUndefined();
  });
});
