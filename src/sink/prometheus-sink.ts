import type { PrometheusConfig } from '../config/config.js';
import type { Family, MetricsPage, Sample } from '../health/exposition.js';
import type { MetricRecord } from '../record/record.js';
import { INTERFACE_MEASUREMENT, MEASUREMENT } from '../record/points.js';
import { emptySinkStats, type Sink, type SinkStats } from './sink.js';

/** The sender/receiver of the series that takes the flows beyond NSTATS_PROMETHEUS_MAX_SERIES. */
export const OVERFLOW = '(overflow)';

/** The tags that name a flow's peers; the overflow series has none of them but its two names. */
const PEER_TAGS = new Set(['sender', 'receiver', 'senderIp', 'receiverIp', 'senderPort', 'receiverPort']);

/** `senderIp` -> `sender_ip`: Prometheus label names are snake_case. */
export function labelName(tag: string): string {
  return tag
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9_]/g, '_')
    .toLowerCase();
}

/** The counters of one `nstat_interface` field, named as node_exporter names its own. */
const INTERFACE_COUNTERS = [
  ['rxBytes', 'nstats_interface_receive_bytes_total', 'Bytes the interface received (kernel counter).'],
  ['txBytes', 'nstats_interface_transmit_bytes_total', 'Bytes the interface sent (kernel counter).'],
  ['rxPackets', 'nstats_interface_receive_packets_total', 'Packets the interface received (kernel counter).'],
  ['txPackets', 'nstats_interface_transmit_packets_total', 'Packets the interface sent (kernel counter).'],
] as const;

interface FlowSeries {
  readonly labels: Readonly<Record<string, string>>;
  sent: number;
  received: number;
  lastSeen: number;
}

interface InterfaceSeries {
  readonly labels: Readonly<Record<string, string>>;
  values: Record<string, number>;
  lastSeen: number;
}

function labelsOf(tags: Readonly<Record<string, string>>, keep: (tag: string) => boolean) {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(tags)) if (v !== '' && keep(k)) labels[labelName(k)] = v;
  return labels;
}

function getOrAdd(
  map: Map<string, FlowSeries>,
  key: string,
  labels: Readonly<Record<string, string>>,
  now: number,
): FlowSeries {
  let series = map.get(key);
  if (!series) {
    series = { labels, sent: 0, received: 0, lastSeen: now };
    map.set(key, series);
  }
  return series;
}

function keyOf(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The flows as Prometheus counters on the health port's `/metrics`: bytes each way per peer pair,
 * labelled with the `nstat` point's tags in snake_case, and the interface's kernel counters. Each
 * cycle's bytes are added to their series, so `rate()` over them is the traffic's rate (in
 * continuous mode every byte is counted; in sampled mode only the bytes of the sampled windows).
 * A flow series no cycle added to for `staleMs` is dropped. At most `maxSeries` flow series are
 * kept: a new peer pair beyond them is added into one `(overflow)` series per pod and interface,
 * and counted. Nothing is spooled: Prometheus reads the current values when it scrapes.
 */
export class PrometheusSink implements Sink, MetricsPage {
  readonly name = 'prometheus';
  readonly stats: SinkStats = emptySinkStats();
  /** One series per peer pair, at most maxSeries of them. */
  private readonly flows = new Map<string, FlowSeries>();
  /** The `(overflow)` series, one per pod and interface: what came beyond maxSeries. */
  private readonly overflows = new Map<string, FlowSeries>();
  private readonly interfaces = new Map<string, InterfaceSeries>();
  private overflowRecords = 0;
  private staleDropped = 0;

  constructor(
    private readonly config: PrometheusConfig,
    private readonly now: () => number = Date.now,
  ) {}

  open(): Promise<void> {
    return Promise.resolve();
  }

  write(records: readonly MetricRecord[]): Promise<void> {
    const now = this.now();
    this.stats.pointsReceived += records.length;
    for (const r of records) {
      if (r.measurement === MEASUREMENT) this.addFlow(r, now);
      else if (r.measurement === INTERFACE_MEASUREMENT) this.setInterface(r, now);
      else continue;
      this.stats.pointsWritten++;
    }
    this.prune(now);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private addFlow(r: MetricRecord, now: number): void {
    const labels = labelsOf(r.tags, () => true);
    const key = keyOf(labels);
    let series = this.flows.get(key);
    if (!series && this.flows.size >= this.config.maxSeries) {
      const shared = labelsOf(r.tags, (t) => !PEER_TAGS.has(t));
      const overflow = { ...shared, receiver: OVERFLOW, sender: OVERFLOW };
      series = getOrAdd(this.overflows, keyOf(overflow), overflow, now);
      this.overflowRecords++;
    }
    series ??= getOrAdd(this.flows, key, labels, now);
    const sent = r.fields.sentBytes;
    const received = r.fields.receivedBytes;
    if (sent && typeof sent.value === 'number') series.sent += sent.value;
    if (received && typeof received.value === 'number') series.received += received.value;
    series.lastSeen = now;
  }

  private setInterface(r: MetricRecord, now: number): void {
    const labels = labelsOf(r.tags, () => true);
    const values: Record<string, number> = {};
    for (const [field] of INTERFACE_COUNTERS) {
      const f = r.fields[field];
      if (f && typeof f.value === 'number') values[field] = f.value;
    }
    this.interfaces.set(keyOf(labels), { labels, values, lastSeen: now });
  }

  private prune(now: number): void {
    const stale = (s: { lastSeen: number }) => now - s.lastSeen >= this.config.staleMs;
    for (const map of [this.flows, this.overflows]) {
      for (const [key, s] of map) {
        if (stale(s)) {
          map.delete(key);
          this.staleDropped++;
        }
      }
    }
    for (const [key, s] of this.interfaces) if (stale(s)) this.interfaces.delete(key);
  }

  families(): Family[] {
    this.prune(this.now());
    const flows = [...this.flows.values(), ...this.overflows.values()];
    const ifaces = [...this.interfaces.values()];
    const sample = (labels: Readonly<Record<string, string>>, value: number): Sample => ({ labels, value });
    return [
      {
        name: 'nstats_flow_sent_bytes_total',
        help: 'IP bytes from sender to receiver, added up over the cycles (the nstat points sentBytes).',
        type: 'counter',
        samples: flows.map((s) => sample(s.labels, s.sent)),
      },
      {
        name: 'nstats_flow_received_bytes_total',
        help: 'IP bytes from receiver to sender, added up over the cycles (the nstat points receivedBytes).',
        type: 'counter',
        samples: flows.map((s) => sample(s.labels, s.received)),
      },
      ...INTERFACE_COUNTERS.map(([field, name, help]) => ({
        name,
        help,
        type: 'counter' as const,
        samples: ifaces
          .filter((s) => s.values[field] !== undefined)
          .map((s) => sample(s.labels, s.values[field]!)),
      })),
      {
        name: 'nstats_prometheus_flow_series',
        help: `Flow series kept now (at most NSTATS_PROMETHEUS_MAX_SERIES = ${this.config.maxSeries}, plus the overflow series).`,
        type: 'gauge',
        samples: [{ value: flows.length }],
      },
      {
        name: 'nstats_prometheus_overflow_records_total',
        help: 'Flow records added into the (overflow) series because the flow series were at their cap.',
        type: 'counter',
        samples: [{ value: this.overflowRecords }],
      },
      {
        name: 'nstats_prometheus_stale_series_dropped_total',
        help: 'Flow series dropped after NSTATS_PROMETHEUS_STALE_SECONDS without traffic.',
        type: 'counter',
        samples: [{ value: this.staleDropped }],
      },
    ];
  }
}
