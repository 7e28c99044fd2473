import { Point } from '@influxdata/influxdb-client';
import { lineOf } from '../helpers/line.js';
import { describe, expect, it } from 'vitest';
import { prng } from '../helpers/prng.js';
import type { Endpoint, Flow } from '../../src/parse/types.js';
import { readFileSync } from 'node:fs';
import { parseIftop } from '../../src/parse/iftop-parser.js';
import {
  buildPoint,
  buildPoints,
  buildRecords,
  buildRemainderPoint,
  EPHEMERAL,
} from '../../src/record/points.js';
import { sampledObservation, tableRemainder } from '../../src/source/iftop-sampled.js';
import { encodeLines, timestamp } from '../../src/sink/line-protocol.js';
import { MAX_TAG_LENGTH, safeTagValue } from '../../src/record/tag-value.js';

const FLOW: Flow = {
  rank: 1,
  source: { address: '10.1.2.3', family: 4 },
  destination: { address: 'fd00::7', family: 6 },
  sent: { rates: { last2s: 1, last10s: 737280, last40s: 3 }, cumulativeBytes: 922624.4 },
  received: { rates: { last2s: 4, last10s: 4147.2, last40s: 6 }, cumulativeBytes: 5181.44 },
};
const TIME = new Date('2026-11-22T06:00:00.000Z');

function line(sourceName: string, destinationName: string, host = 'web-0', ports = false): string {
  const flow: Flow = ports
    ? { ...FLOW, source: { ...FLOW.source, port: 43210 }, destination: { ...FLOW.destination, port: 443 } }
    : FLOW;
  const p = buildPoint(
    { flow, sourceName, destinationName },
    { identity: { host, pod: 'web-0', namespace: 'shop', node: 'node-1' }, interface: 'eth0', time: TIME },
  );
  return lineOf(p);
}

/**
 * Splits a line-protocol line the way InfluxDB does (backslash escapes the next character;
 * unescaped space separates sections, unescaped comma separates tags, unescaped = splits key/value).
 */
function parseLine(l: string): {
  measurement: string;
  tags: Record<string, string>;
  fields: string;
  time: string;
} {
  const sections: string[] = [''];
  const parts: string[][] = [[]];
  let cur = '';
  for (let i = 0; i < l.length; i++) {
    const c = l[i]!;
    if (c === '\\' && i + 1 < l.length) {
      cur += l[i + 1];
      i++;
    } else if (c === ' ') {
      parts[parts.length - 1]!.push(cur);
      cur = '';
      parts.push([]);
      sections.push('');
    } else if (c === ',' && parts.length === 1) {
      parts[0]!.push(cur);
      cur = '';
    } else cur += c;
  }
  parts[parts.length - 1]!.push(cur);
  if (parts.length !== 3) throw new Error(`expected 3 sections, got ${parts.length}: ${l}`);
  const [head, fields, time] = parts as [string[], string[], string[]];
  const [measurement = '', ...tagPairs] = head;
  const tags: Record<string, string> = {};
  for (const pair of tagPairs) {
    const eq = pair.indexOf('=');
    tags[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { measurement, tags, fields: fields.join(' '), time: time.join(' ') };
}

describe('buildPoint', () => {
  it("keeps the seed's schema and adds bytes, IPs, interface and pod tags", () => {
    const l = line('a.example', 'b.example');
    expect(l).toBe(
      'nstat,hosts=web-0,interface=eth0,namespace=shop,node=node-1,pod=web-0,receiver=b.example,receiverIp=fd00::7,' +
        'sender=a.example,senderIp=10.1.2.3 receiveRate=4147.2,receivedBytes=5181i,sendRate=737280,sentBytes=922624i ' +
        String(TIME.getTime()),
    );
  });

  it('adds port tags with -P', () => {
    expect(parseLine(line('a', 'b', 'h', true)).tags).toMatchObject({
      senderPort: '43210',
      receiverPort: '443',
    });
  });

  const HOSTILE: Array<[string, string]> = [
    ['spaces', 'my host name'],
    ['commas', 'a,b,c'],
    ['equals', 'k=v'],
    ['quotes', 'say "hi"'],
    ['backslash inside', 'a\\b'],
    ['trailing backslash', 'evil\\'],
    ['backslash before comma', 'x\\,y'],
    ['newline', 'line1\nline2'],
    ['carriage return and tab', 'a\rb\tc'],
    ['NUL and DEL', 'a\u0000b\u007fc'],
    ['line separator', 'a\u2028b'],
    ['255+ characters', 'x'.repeat(300)],
    ['non-ASCII', 'bücher.例え.テスト'],
    ['only spaces', '   '],
    ['everything', ' ,=\\"\n\t\\'],
  ];

  it.each(HOSTILE)('a PTR name with %s never changes the shape of the point', (_what, name) => {
    const l = line(name, name, name);
    expect(l.split('\n')).toHaveLength(1);
    const parsed = parseLine(l);
    expect(parsed.measurement).toBe('nstat');
    expect(Object.keys(parsed.tags).sort()).toEqual(
      [
        'hosts',
        'interface',
        'namespace',
        'node',
        'pod',
        'receiver',
        'receiverIp',
        'sender',
        'senderIp',
      ].sort(),
    );
    expect(parsed.fields).toBe('receiveRate=4147.2,receivedBytes=5181i,sendRate=737280,sentBytes=922624i');
    expect(parsed.time).toBe(String(TIME.getTime()));
    expect(parsed.tags.sender).toBe(safeTagValue(name, '10.1.2.3'));
    expect(parsed.tags.receiver).toBe(safeTagValue(name, 'fd00::7'));
    expect(Array.from(parsed.tags.sender!).length).toBeLessThanOrEqual(MAX_TAG_LENGTH);
  });
});

describe('safeTagValue', () => {
  it('keeps ordinary and non-ASCII names as they are', () => {
    expect(safeTagValue('db-0.db.shop.svc.cluster.local', 'ip')).toBe('db-0.db.shop.svc.cluster.local');
    expect(safeTagValue('bücher.例え', 'ip')).toBe('bücher.例え');
    expect(safeTagValue('a b,c=d"e', 'ip')).toBe('a b,c=d"e');
  });

  it('replaces control characters and backslashes, cuts to 255 characters, falls back when empty', () => {
    expect(safeTagValue('a\nb', 'ip')).toBe('a\uFFFDb');
    expect(safeTagValue('evil\\', 'ip')).toBe('evil/');
    expect(safeTagValue('é'.repeat(300), 'ip')).toBe('é'.repeat(255));
    expect(safeTagValue('', 'ip')).toBe('ip');
    expect(safeTagValue('  ', 'ip')).toBe('ip');
  });
});

describe('buildRemainderPoint', () => {
  const ctx = {
    identity: { host: 'web-0', pod: 'web-0' },
    interface: 'eth0',
    time: new Date(1_700_000_000_000),
  };
  const capture = (name: string) =>
    parseIftop(readFileSync(new URL(`../fixtures/iftop/${name}.txt`, import.meta.url), 'utf8')).snapshots.at(
      -1,
    )!;

  it('carries what the flows iftop did not list add to its totals (10 of 40 flows listed)', () => {
    const snap = capture('default-limit');
    expect(snap.flows).toHaveLength(10);
    const line = lineOf(buildRemainderPoint(tableRemainder(snap, 10)!, ctx));
    expect(line).toMatch(
      /^nstat,hosts=web-0,interface=eth0,pod=web-0,receiver=\(other\\ flows\),sender=\(other\\ flows\) /,
    );
    const field = (k: string) => Number(new RegExp(`[ ,]${k}=([\\d.]+)i?`).exec(line)![1]);
    const listed = snap.flows.reduce((n, f) => n + f.sent.cumulativeBytes, 0);
    // Listed flows plus the remainder give iftop's total (8.59MB sent).
    expect(listed + field('sentBytes')).toBeCloseTo(snap.totals!.cumulative.sentBytes, -1);
    expect(field('sentBytes')).toBeGreaterThan(listed);
    // The same capture's 40 flows, listed by a second iftop with -L 100 (many-flows), hold what
    // the remainder claims, to iftop's rounding (3 significant digits).
    const all = capture('many-flows').flows.reduce((n, f) => n + f.sent.cumulativeBytes, 0);
    expect(Math.abs(all - (listed + field('sentBytes'))) / all).toBeLessThan(0.01);
  });

  it('is not written when iftop listed fewer flows than the limit', () => {
    const snap = capture('many-flows');
    expect(tableRemainder(snap, 100)).toBeUndefined();
    expect(tableRemainder(snap, snap.flows.length)).toBeDefined();
  });
});

describe('flow points', () => {
  // A flow's record, encoded, must be the line the client's Point writes with the tags and fields
  // the schema documents, whatever the names, ports and numbers hold.
  it("write the client Point's line, on 5,000 random hostile flows", () => {
    const rnd = prng(77);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const pieces = [
      'a',
      'Z',
      '0',
      '.',
      '-',
      ' ',
      ',',
      '=',
      '\\',
      '"',
      '\n',
      '\t',
      '\u0000',
      'é',
      '例',
      '\ud800',
      '',
    ];
    const text = (max: number): string => {
      let s = '';
      for (let n = Math.floor(rnd() * max); n > 0; n--) s += pick(pieces);
      return s;
    };
    const endpoint = (): Endpoint => {
      const address = pick(['10.0.0.1', 'fd00::7', '192.168.1.254', '::1']);
      const r = rnd();
      return r < 0.5
        ? { address, family: 4 }
        : r < 0.8
          ? { address, family: 4, port: Math.floor(rnd() * 65536) }
          : { address, family: 4, port: 50000, folded: true };
    };
    const number = (): number =>
      pick([0, -0, 1.5, 4147.2, 737280, 2 ** 53 + 2, 1e21, 9.3e18, -1, NaN, Infinity, rnd() * 1e12]);
    for (let i = 0; i < 5000; i++) {
      const flow: Flow = {
        rank: 1,
        source: endpoint(),
        destination: endpoint(),
        sent: { rates: { last2s: 0, last10s: number(), last40s: 0 }, cumulativeBytes: number() },
        received: { rates: { last2s: 0, last10s: number(), last40s: 0 }, cumulativeBytes: number() },
      };
      const named = { flow, sourceName: text(6), destinationName: text(6) };
      const identity = {
        host: text(5),
        ...(rnd() < 0.7 ? { pod: text(5) } : {}),
        ...(rnd() < 0.7 ? { namespace: text(5) } : {}),
        ...(rnd() < 0.7 ? { node: text(5) } : {}),
      };
      const iface = rnd() < 0.8 ? 'eth0' : text(4);
      const ctx = { identity, interface: iface, time: TIME };
      // The reference: the client's own Point, the tags and fields set as the schema documents.
      let reference: Point;
      {
        const port = (e: Endpoint) =>
          e.folded ? EPHEMERAL : e.port === undefined ? undefined : String(e.port);
        const p = new Point('nstat')
          .tag('hosts', safeTagValue(identity.host, 'unknown'))
          .tag('interface', safeTagValue(iface, 'unknown'));
        if (identity.pod) p.tag('pod', safeTagValue(identity.pod, 'unknown'));
        if (identity.namespace) p.tag('namespace', safeTagValue(identity.namespace, 'unknown'));
        if (identity.node) p.tag('node', safeTagValue(identity.node, 'unknown'));
        p.tag('receiver', safeTagValue(named.destinationName, flow.destination.address))
          .tag('receiverIp', flow.destination.address)
          .tag('sender', safeTagValue(named.sourceName, flow.source.address))
          .tag('senderIp', flow.source.address);
        const rp = port(flow.destination);
        if (rp !== undefined) p.tag('receiverPort', rp);
        const sp = port(flow.source);
        if (sp !== undefined) p.tag('senderPort', sp);
        const field = (set: () => void) => {
          try {
            set();
          } catch {
            // a value the client refuses: the encoder leaves the field out
          }
        };
        field(() => p.floatField('sendRate', flow.sent.rates.last10s));
        field(() => p.floatField('receiveRate', flow.received.rates.last10s));
        field(() => p.intField('sentBytes', Math.round(flow.sent.cumulativeBytes)));
        field(() => p.intField('receivedBytes', Math.round(flow.received.cumulativeBytes)));
        p.timestamp(TIME);
        reference = p;
      }
      const expected = reference.toLineProtocol({ convertTime: (t) => timestamp(t as Date, 'ms') });
      const lines = encodeLines(buildPoints([named], ctx), 'ms');
      expect(lines, JSON.stringify({ named, identity, iface })).toEqual(
        expected === undefined ? [] : [expected],
      );
    }
  });
});

describe('buildRecords: one observation, every record run writes', () => {
  const text = readFileSync(new URL('../fixtures/iftop/default-limit.txt', import.meta.url), 'utf8');
  const observation = {
    ...sampledObservation(text, {
      interface: 'eth0',
      flowLimit: 10,
      ports: false,
      foldPorts: true,
      command: 'iftop',
      start: new Date(0),
      end: new Date(12_000),
      ending: 'printed' as const,
      tables: 1,
    }),
    counters: {
      before: { rxBytes: 1, txBytes: 2, rxPackets: 1, txPackets: 1, at: new Date(0) },
      after: { rxBytes: 11, txBytes: 22, rxPackets: 2, txPackets: 3, at: new Date(12_000) },
    },
  };

  it('flows, then (other flows), then nstat_interface, each tagged with the mode, at the window end', () => {
    const lines = buildRecords(observation, new Map(), { host: 'web-0' }).map((r) => lineOf(r, 'ms'));
    expect(lines).toHaveLength(12);
    for (const l of lines)
      expect(l).toMatch(/^nstat(_interface)?,hosts=web-0,interface=eth0,mode=sampled[, ]/);
    for (const l of lines) expect(l).toMatch(/ 12000$/);
    expect(lines[10]).toMatch(/receiver=\(other\\ flows\),sender=\(other\\ flows\) /);
    expect(lines[11]).toMatch(/^nstat_interface,.* .*sampleTxBytes=20i/);
  });

  it("writes a resolver's name and its extra tags on the peer's side; an unnamed peer keeps its IP", () => {
    const first = observation.flows[0]!;
    const peers = new Map([
      [first.destination.address, { name: 'db-0', tags: { namespace: 'shop', kind: 'Pod', 'bad key': 'x' } }],
    ]);
    const line = lineOf(buildRecords(observation, peers, { host: 'web-0' })[0]!, 'ms');
    expect(line).toContain(',receiver=db-0,receiverIp=');
    expect(line).toContain(',receiverKind=Pod,receiverNamespace=shop,');
    expect(line).not.toContain('bad');
    expect(line).toContain(`,sender=${first.source.address},`);
  });
});
