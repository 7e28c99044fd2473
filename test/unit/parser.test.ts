import { describe, expect, it } from 'vitest';
import { parseIftop } from '../../src/parse/iftop-parser.js';

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
});
