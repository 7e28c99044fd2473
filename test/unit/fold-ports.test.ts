import { lineOf } from '../helpers/line.js';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { foldEphemeralPorts } from '../../src/parse/fold-ports.js';
import { parseIftop } from '../../src/parse/iftop-parser.js';
import type { Flow } from '../../src/parse/types.js';
import { buildPoint } from '../../src/record/points.js';

const capture = (name: string) =>
  parseIftop(readFileSync(new URL(`../fixtures/iftop/${name}.txt`, import.meta.url), 'utf8')).snapshots.at(
    -1,
  )!;

const stats = (bytes: number, rate: number) => ({
  rates: { last2s: rate, last10s: rate, last40s: rate },
  cumulativeBytes: bytes,
});

function flow(rank: number, src: string, sport: number, dst: string, dport: number, bytes = 100): Flow {
  return {
    rank,
    source: { address: src, family: 4, port: sport },
    destination: { address: dst, family: 4, port: dport },
    sent: stats(bytes, bytes * 8),
    received: stats(bytes / 2, bytes * 4),
  };
}

describe('foldEphemeralPorts', () => {
  it('folds 30 real short TCP connections to one server port into one flow, bytes and rates added', () => {
    const flows = capture('ports-many').flows;
    const toServer = flows.filter((f) => f.destination.port === 5201 || f.source.port === 5201);
    expect(toServer.length).toBeGreaterThanOrEqual(25);
    const folded = foldEphemeralPorts(flows);
    const one = folded.filter((f) => f.destination.port === 5201);
    expect(one).toHaveLength(1);
    expect(one[0]!.source).toEqual({ address: '198.18.225.1', family: 4, folded: true });
    const sum = (fs: readonly Flow[], k: 'sent' | 'received') =>
      fs.reduce((n, f) => n + f[k].cumulativeBytes, 0);
    expect(sum(one, 'sent')).toBe(sum(toServer, 'sent'));
    expect(sum(one, 'received')).toBe(sum(toServer, 'received'));
    expect(sum(folded, 'sent')).toBe(sum(flows, 'sent'));
  });

  it('keeps the server port on either side, the lower one when both look ephemeral, both when neither does', () => {
    const folded = foldEphemeralPorts([
      flow(1, '10.0.0.1', 40000, '10.0.0.2', 443),
      flow(2, '10.0.0.1', 40001, '10.0.0.2', 443),
      flow(3, '10.0.0.1', 8080, '10.0.0.3', 51000),
      flow(4, '10.0.0.1', 50000, '10.0.0.4', 40000),
      flow(5, '10.0.0.1', 443, '10.0.0.5', 8443),
    ]);
    expect(folded.map((f) => [f.rank, f.source.port ?? '*', f.destination.port ?? '*'])).toEqual([
      [1, '*', 443],
      [3, 8080, '*'],
      [4, '*', 40000],
      [5, 443, 8443],
    ]);
    expect(folded[0]!.sent.cumulativeBytes).toBe(200);
    expect(folded[0]!.sent.rates.last10s).toBe(1600);
  });

  it('writes a folded port as the tag value ephemeral', () => {
    const [f] = foldEphemeralPorts([flow(1, '10.0.0.1', 40000, '10.0.0.2', 443)]);
    const line = lineOf(
      buildPoint(
        { flow: f!, sourceName: 'a', destinationName: 'b' },
        { identity: { host: 'h' }, interface: 'eth0', time: new Date(0) },
      ),
    );
    expect(line).toContain(',receiverPort=443,');
    expect(line).toContain(',senderPort=ephemeral ');
  });
});
