import type { Observed } from '../pipeline/observe.js';
import { nameFlows } from '../record/points.js';
import { formatBitRate, formatBytes } from '../parse/units.js';
import type { MetricRecord } from '../record/record.js';
import { encodeLines } from '../sink/line-protocol.js';
import { PRECISION } from '../sink/influx-sink.js';

function peer(name: string, address: string, port: number | undefined): string {
  const where =
    port === undefined ? address : address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  return name === address ? where : `${name} (${where})`;
}

/** An aligned table with human units (binary prefixes: K = 1024). */
export function formatTable({ observation, peers }: Observed): string {
  const header = ['#', 'sender', 'receiver', 'send (10s)', 'receive (10s)', 'sent', 'received'];
  const rows = nameFlows(observation.flows, peers).map(({ flow, sourceName, destinationName }) => [
    String(flow.rank),
    peer(sourceName, flow.source.address, flow.source.port),
    peer(destinationName, flow.destination.address, flow.destination.port),
    formatBitRate(flow.sent.rates.last10s),
    formatBitRate(flow.received.rates.last10s),
    formatBytes(flow.sent.cumulativeBytes),
    formatBytes(flow.received.cumulativeBytes),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const right = new Set([0, 3, 4, 5, 6]);
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const out = [line(header), ...rows.map(line)];
  const totals = observation.totals;
  if (totals) {
    out.push(
      '',
      `interface ${observation.interface}: send ${formatBitRate(totals.sendRate.last10s)}, receive ${formatBitRate(
        totals.receiveRate.last10s,
      )} (10 s); ${formatBytes(totals.cumulative.sentBytes)} sent, ${formatBytes(totals.cumulative.receivedBytes)} received`,
    );
  } else {
    out.push('', `interface ${observation.interface}: no traffic seen (${observation.ending})`);
  }
  if (observation.issues.length > 0) out.push(`${observation.issues.length} unreadable iftop lines skipped`);
  return `${out.join('\n')}\n`;
}

/** The sample as one JSON document (machine units: bits/s and bytes). */
export function formatJson({ observation, peers }: Observed): string {
  return `${JSON.stringify(
    {
      interface: observation.interface,
      mode: observation.mode,
      startedAt: observation.start,
      endedAt: observation.end,
      ending: observation.ending,
      flows: nameFlows(observation.flows, peers).map(({ flow, sourceName, destinationName }) => ({
        ...flow,
        source: { ...flow.source, name: sourceName },
        destination: { ...flow.destination, name: destinationName },
      })),
      totals: observation.totals ?? null,
      issues: observation.issues,
    },
    null,
    2,
  )}\n`;
}

/** The points `nstats run` would write, as line protocol. */
export function formatLines(records: readonly MetricRecord[]): string {
  return encodeLines(records, PRECISION)
    .map((l) => `${l}\n`)
    .join('');
}
