import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseIftop } from '../../src/parse/iftop-parser.js';
import type { Endpoint, ParseIssue } from '../../src/parse/types.js';

const HEAD = '   # Host name (port/service if enabled)            last 2s   last 10s   last 40s cumulative';
const DIV = '-'.repeat(92);
const END = '='.repeat(92);
const TOTALS = [
  'Total send rate:                                      799Kb      720Kb      720Kb',
  'Total receive rate:                                  4.50Kb     4.05Kb     4.05Kb',
  'Total send and receive rate:                          804Kb      724Kb      724Kb',
  DIV,
  'Peak rate (sent/received/total):                      807Kb     4.50Kb      812Kb',
  'Cumulative (sent/received/total):                     901KB     5.06KB      906KB',
  END,
  '',
];

function table(flowLines: string[]): string[] {
  return [HEAD, DIV, ...flowLines, DIV, ...TOTALS];
}

const FLOW = [
  '   1 198.18.0.1                               =>      799Kb      720Kb      720Kb      901KB',
  '     198.18.0.2                               <=     4.50Kb     4.05Kb     4.05Kb     5.06KB',
];

describe('parseIftop', () => {
  it('reads one snapshot: endpoints, all four columns per direction, totals', () => {
    const r = parseIftop(['Listening on eth0', ...table(FLOW)].join('\n'));
    expect(r.issues).toEqual([]);
    expect(r.interface).toBe('eth0');
    expect(r.snapshots).toHaveLength(1);
    const s = r.snapshots[0]!;
    expect(s.line).toBe(2);
    expect(s.flows).toEqual([
      {
        rank: 1,
        source: { address: '198.18.0.1', family: 4 },
        destination: { address: '198.18.0.2', family: 4 },
        sent: {
          rates: { last2s: 799 * 1024, last10s: 720 * 1024, last40s: 720 * 1024 },
          cumulativeBytes: 901 * 1024,
        },
        received: {
          rates: { last2s: 4.5 * 1024, last10s: 4.05 * 1024, last40s: 4.05 * 1024 },
          cumulativeBytes: 5.06 * 1024,
        },
      },
    ]);
    expect(s.totals?.sendRate.last10s).toBe(720 * 1024);
    expect(s.totals?.receiveRate.last2s).toBe(4.5 * 1024);
    expect(s.totals?.totalRate.last40s).toBe(724 * 1024);
    expect(s.totals?.peak).toEqual({ sent: 807 * 1024, received: 4.5 * 1024, total: 812 * 1024 });
    expect(s.totals?.cumulative).toEqual({
      sentBytes: 901 * 1024,
      receivedBytes: 5.06 * 1024,
      totalBytes: 906 * 1024,
    });
  });

  it('reads IPv6 endpoints, and ports with -P (IPv6 as [address]:port)', () => {
    const lines = table([
      '   1 [fd00:18:1::1]:40312                     =>     1.00Mb     1.00Mb     1.00Mb     1.25MB',
      '     [fd00:18:1::2]:5201                      <=       0b         0b         0b         0B',
      '   2 198.18.1.1:53124                         =>       8Kb        8Kb        8Kb       10KB',
      '     198.18.1.2:53                            <=       8Kb        8Kb        8Kb       10KB',
    ]);
    const r = parseIftop(lines.join('\n'));
    expect(r.issues).toEqual([]);
    const [a, b] = r.snapshots[0]!.flows;
    expect(a?.source).toEqual({ address: 'fd00:18:1::1', family: 6, port: 40312 });
    expect(a?.destination).toEqual({ address: 'fd00:18:1::2', family: 6, port: 5201 });
    expect(b?.destination).toEqual({ address: '198.18.1.2', family: 4, port: 53 });
  });

  it('reads IPv6 without ports as plain addresses', () => {
    const r = parseIftop(
      table([
        '   1 fd00:18:1::1                             =>       1Kb        1Kb        1Kb       1KB',
        '     fd00:18:1::2                             <=       1Kb        1Kb        1Kb       1KB',
      ]).join('\n'),
    );
    expect(r.snapshots[0]!.flows[0]!.destination).toEqual({ address: 'fd00:18:1::2', family: 6 });
  });

  it('reads byte rates (-B) into bits/s', () => {
    const r = parseIftop(
      table([
        '   1 198.18.0.1                               =>     98.5KB     98.5KB     98.5KB      985KB',
        '     198.18.0.2                               <=       0B         0B         0B         0B',
      ]).join('\n'),
    );
    expect(r.snapshots[0]!.flows[0]!.sent.rates.last2s).toBeCloseTo(98.5 * 1024 * 8, 6);
    expect(r.snapshots[0]!.flows[0]!.sent.cumulativeBytes).toBeCloseTo(985 * 1024, 6);
  });

  it('reads repeated snapshots (continuous output)', () => {
    const text = ['Listening on eth0', ...table(FLOW), ...table(FLOW), ...table([])].join('\n');
    const r = parseIftop(text);
    expect(r.issues).toEqual([]);
    expect(r.snapshots.map((s) => s.flows.length)).toEqual([1, 1, 0]);
    expect(r.snapshots.map((s) => s.line)).toEqual([2, 2 + 13, 2 + 26]);
  });

  it('reads empty input and a capture with no table', () => {
    expect(parseIftop('')).toEqual({ snapshots: [], issues: [] });
    expect(parseIftop('Listening on eth0\n')).toEqual({ interface: 'eth0', snapshots: [], issues: [] });
  });

  it('reports a malformed line with its number and raw text, skips it and keeps the rest', () => {
    const lines = table([
      ...FLOW,
      '   2 198.18.0.3                               =>      12Qb      720Kb      720Kb      901KB',
      '     198.18.0.4                               <=     4.50Kb     4.05Kb     4.05Kb     5.06KB',
      '   3 not-an-ip                                =>      799Kb      720Kb      720Kb      901KB',
      '     198.18.0.6                               <=     4.50Kb     4.05Kb     4.05Kb     5.06KB',
      'garbage \u0000\u00ff',
      '   4 198.18.0.7                               =>      799Kb      720Kb      720Kb      901KB',
      '     198.18.0.8                               <=     4.50Kb     4.05Kb     4.05Kb     5.06KB',
    ]);
    const r = parseIftop(lines.join('\n'));
    expect(r.snapshots[0]!.flows.map((f) => f.rank)).toEqual([1, 4]);
    expect(r.snapshots[0]!.totals).toBeDefined();
    expect(r.issues).toEqual([
      { line: 5, raw: lines[4], reason: 'parsing "sent last 2s" (12Qb) as a rate failed' },
      { line: 7, raw: lines[6], reason: 'parsing "source" (not-an-ip) as an IP address failed' },
      { line: 9, raw: 'garbage \u0000\u00ff', reason: 'unrecognised line' },
    ]);
  });

  it('reports a "=>" line whose "<=" line is missing, and an orphan "<=" line', () => {
    const r = parseIftop(
      table([
        FLOW[0]!,
        FLOW[0]!,
        FLOW[1]!,
        '     198.18.0.9                               <=       1Kb        1Kb        1Kb       1KB',
      ]).join('\n'),
    );
    expect(r.snapshots[0]!.flows).toHaveLength(1);
    expect(r.issues.map((i) => [i.line, i.reason])).toEqual([
      [3, 'flow line "=>" without its "<=" line'],
      [6, 'flow line "<=" without its "=>" line'],
    ]);
  });

  it('keeps the flows of a truncated capture and says it was cut', () => {
    const text = ['Listening on eth0', HEAD, DIV, ...FLOW, DIV, TOTALS[0]!].join('\n');
    const r = parseIftop(text);
    expect(r.snapshots).toHaveLength(1);
    expect(r.snapshots[0]!.flows).toHaveLength(1);
    expect(r.snapshots[0]!.totals).toBeUndefined();
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]!.reason).toMatch(/ended before its totals block/);
  });

  it('rejects an out-of-range port', () => {
    const r = parseIftop(
      table([
        '   1 198.18.0.1:99999                         =>       1Kb        1Kb        1Kb       1KB',
        '     198.18.0.2:53                            <=       1Kb        1Kb        1Kb       1KB',
      ]).join('\n'),
    );
    expect(r.snapshots[0]!.flows).toEqual([]);
    expect(r.issues.map((i) => i.reason)).toEqual([
      'parsing "source" (198.18.0.1:99999) as address:port failed',
    ]);
  });

  it('cuts raw text to 200 characters and bounds the number of issues kept', () => {
    const long = 'x'.repeat(5000);
    const r = parseIftop(Array(50).fill(long).join('\n'), { maxIssues: 10 });
    expect(r.issues).toHaveLength(10);
    expect(r.issues[0]!.raw).toHaveLength(200);
  });

  it('reads CRLF line endings', () => {
    const r = parseIftop(table(FLOW).join('\r\n'));
    expect(r.issues).toEqual([]);
    expect(r.snapshots[0]!.flows).toHaveLength(1);
  });

  it('reads every real capture the same with CRLF line endings', () => {
    const dir = new URL('../fixtures/iftop/', import.meta.url);
    for (const name of readdirSync(dir).filter((f) => f.endsWith('.txt'))) {
      const text = readFileSync(new URL(name, dir), 'utf8');
      expect(parseIftop(text.replaceAll('\n', '\r\n')), name).toEqual(parseIftop(text));
    }
  });

  it.each([
    ['', []],
    ['\n', []],
    ['\r\n', []],
    ['\r', []],
    [' \n\t\n', []],
    ['a', [[1, 'a']]],
    ['a\n\n', [[1, 'a']]],
    // One CR is dropped before a newline, as text.split(/\r?\n/) would.
    ['a\r\r\n', [[1, 'a\r']]],
  ] as const)('cuts %j into lines: the issues are %j', (text, lines) => {
    expect(parseIftop(text)).toEqual({
      snapshots: [],
      issues: lines.map(([line, raw]) => ({ line, raw, reason: 'line outside a snapshot table' })),
    });
  });
});

describe("parseIftop on a flow's two lines at the end of the text", () => {
  const HEADING = `${HEAD}\n`;
  const SENT = '   1 10.0.0.1                                 =>     1.50Kb     2.00Kb     3.00Kb     4.00KB';
  const RECEIVED =
    '     10.0.0.2                                 <=       10b        20b        30b        40B';
  const BAD_SENT = SENT.replace('1.50Kb', '1.5.0Kb');
  const BAD_RECEIVED = RECEIVED.replace('10.0.0.2', '10.0.0.256');
  const ended = (line: number, raw: string): ParseIssue => ({
    line,
    raw,
    reason: 'snapshot from line 1 ended before its totals block',
  });

  // After the "=>" line, after the "<=" line; the end each of the two keeps in its raw text (one
  // CR before a newline is dropped, other whitespace kept); the "<=" line's number; and the line
  // after it, if any, with its number and the issue it gives.
  it.each<[string, string, string, string, number, [number, string, string?]?]>([
    ['\n', '', '', '', 3],
    ['\n', '\n', '', '', 3],
    ['\r\n', '\r', '', '\r', 3],
    ['\r\n', '\r\n', '', '', 3],
    ['\r\r\n', '\r\r', '\r', '\r\r', 3],
    ['\u00a0\n', '\u2028', '\u00a0', '\u2028', 3],
    // A blank line between the two lines of a flow is skipped.
    ['\n\n', '\n', '', '', 4],
    ['\n', '\n\r', '', '', 3, [4, '\r']],
    ['\t\n', ' \t\n   2 x', '\t', ' \t', 3, [4, '   2 x', 'unrecognised line']],
  ])('%j then %j', (a, b, sentEnd, receivedEnd, receivedLine, after) => {
    const last = (received: string): ParseIssue[] => [
      ...(after?.[2] ? [{ line: after[0], raw: after[1], reason: after[2] }] : []),
      after ? ended(after[0], after[1]) : ended(receivedLine, received + receivedEnd),
    ];

    const good = parseIftop(`${HEADING}${SENT}${a}${RECEIVED}${b}`);
    expect(good.snapshots).toHaveLength(1);
    expect(good.snapshots[0]!.flows).toEqual([
      {
        rank: 1,
        source: { address: '10.0.0.1', family: 4 },
        destination: { address: '10.0.0.2', family: 4 },
        sent: { rates: { last2s: 1.5 * 1024, last10s: 2048, last40s: 3072 }, cumulativeBytes: 4096 },
        received: { rates: { last2s: 10, last10s: 20, last40s: 30 }, cumulativeBytes: 40 },
      },
    ]);
    expect(good.issues).toEqual(last(RECEIVED));

    // A bad "=>" line is reported, and its "<=" line skipped without a second report.
    const badSent = parseIftop(`${HEADING}${BAD_SENT}${a}${RECEIVED}${b}`);
    expect(badSent.snapshots[0]!.flows).toEqual([]);
    expect(badSent.issues).toEqual([
      { line: 2, raw: BAD_SENT + sentEnd, reason: 'parsing "sent last 2s" (1.5.0Kb) as a rate failed' },
      ...last(RECEIVED),
    ]);

    const badReceived = parseIftop(`${HEADING}${SENT}${a}${BAD_RECEIVED}${b}`);
    expect(badReceived.snapshots[0]!.flows).toEqual([]);
    expect(badReceived.issues).toEqual([
      {
        line: receivedLine,
        raw: BAD_RECEIVED + receivedEnd,
        reason: 'parsing "destination" (10.0.0.256) as an IP address failed',
      },
      ...last(BAD_RECEIVED),
    ]);
  });
});

describe('parseIftop on odd hosts', () => {
  const ipv4 = (address: string, port?: number): Endpoint =>
    port === undefined ? { address, family: 4 } : { address, family: 4, port };
  const ipv6 = (address: string, port?: number): Endpoint =>
    port === undefined ? { address, family: 6 } : { address, family: 6, port };
  const NOT_IP = 'as an IP address failed';
  const BAD_PORT = 'as address:port failed';
  const CUT = 'failed: iftop cut the host to its 40-character column';

  // The host, then what it reads as: an endpoint, or the end of the issue's reason.
  it.each<[string, Endpoint | string]>([
    ['10.0.0.1', ipv4('10.0.0.1')],
    ['1.2.3.4:80', ipv4('1.2.3.4', 80)],
    ['1.2.3.4:0', ipv4('1.2.3.4', 0)],
    ['1.2.3.4:65535', ipv4('1.2.3.4', 65535)],
    ['1.2.3.4:00080', ipv4('1.2.3.4', 80)],
    ['fd00::1', ipv6('fd00::1')],
    ['[fd00::1]:80', ipv6('fd00::1', 80)],
    // Valid IPv6 addresses, so no port is taken from their end.
    ['::1:80', ipv6('::1:80')],
    ['::ffff:1.2.3.4', ipv6('::ffff:1.2.3.4')],
    ['fe80::1%eth0', ipv6('fe80::1%eth0')],
    ['[1.2.3.4]:80', ipv4('1.2.3.4', 80)],
    ['1.2.3.4:065535', BAD_PORT],
    ['1.2.3.4:65536', BAD_PORT],
    ['1.2.3.4:123456', BAD_PORT],
    ['1.2.3.4:', BAD_PORT],
    ['1.2.3.4:1e3', BAD_PORT],
    ['[fd00::1]:', BAD_PORT],
    ['[fd00::1]:065535', BAD_PORT],
    [':80', NOT_IP],
    ['01.2.3.4', NOT_IP],
    ['256.1.1.1', NOT_IP],
    ['1.2.3', NOT_IP],
    ['1.2.3.4:80:90', NOT_IP],
    ['\u0661.\u0662.\u0663.\u0664', NOT_IP],
    ['[fd00::1]', CUT],
    ['[fd00:1:2:3:4:5:6:e:40001', CUT],
  ])('%j', (host, expected) => {
    const peer = '198.18.0.9';
    const text = table([
      `   1 ${host.padEnd(40)} =>       1Kb        1Kb        1Kb       1KB`,
      `     ${peer.padEnd(40)} <=       1Kb        1Kb        1Kb       1KB`,
      `   2 ${peer.padEnd(40)} =>       1Kb        1Kb        1Kb       1KB`,
      `     ${host.padEnd(40)} <=       1Kb        1Kb        1Kb       1KB`,
    ]).join('\n');
    const r = parseIftop(text);
    if (typeof expected === 'string') {
      expect(r.snapshots[0]!.flows).toEqual([]);
      expect(r.issues.map((i) => [i.line, i.reason])).toEqual([
        [3, `parsing "source" (${host}) ${expected}`],
        [6, `parsing "destination" (${host}) ${expected}`],
      ]);
    } else {
      expect(r.issues).toEqual([]);
      expect(r.snapshots[0]!.flows.map((f) => [f.source, f.destination])).toEqual([
        [expected, ipv4(peer)],
        [ipv4(peer), expected],
      ]);
    }
  });
});
