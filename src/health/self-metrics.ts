import type { DnsResolverStats } from '../enrich/dns-resolver.js';
import type { ResolverCounts } from '../enrich/resolver.js';
import type { CycleReport } from '../pipeline/daemon.js';
import { CAPTURE_FAILURES, CaptureError, type CaptureFailure } from '../capture/errors.js';
import { int, type Field, type MetricRecord } from '../record/record.js';
import { DROP_REASONS, type SinkStats } from '../sink/sink.js';
import { exposition, type Family } from './exposition.js';

/** What the daemon reports after each cycle; implemented by SelfMetrics, injectable for tests. */
export interface CycleObserver {
  cycleDone(report: CycleReport): void;
  cycleFailed(error: unknown): void;
}

/** Whether `/readyz` passes, and why not. */
export interface Readiness {
  readonly ready: boolean;
  readonly reason: string;
}

/**
 * nstats' own counters, kept as plain numbers and written in the Prometheus text format on scrape.
 * (prom-client would add about 20 MB of RSS to every pod for a dozen counters; the format is simple.)
 */
export class SelfMetrics implements CycleObserver {
  cyclesOk = 0;
  cyclesFailed = 0;
  parseErrors = 0;
  /** Failed captures by kind. */
  readonly captureFailures: Partial<Record<CaptureFailure, number>> = {};
  /** Seconds since the epoch of the last cycle that worked; 0 before the first. */
  lastSuccessSeconds = 0;
  lastCycleOk: boolean | undefined;

  constructor(
    private readonly sources: {
      sink: () => SinkStats;
      dns?: () => DnsResolverStats;
      /** Each resolver's counts, by its name, in the order they are asked. */
      resolvers?: () => ReadonlyMap<string, ResolverCounts>;
    },
    private readonly now: () => number = Date.now,
    /** `/readyz` fails once writes have failed this long. */
    private readonly sinkFailingMs = 300_000,
  ) {}

  cycleDone(report: CycleReport): void {
    this.cyclesOk++;
    this.parseErrors += report.parseIssues;
    this.lastSuccessSeconds = Math.floor(this.now() / 1000);
    this.lastCycleOk = true;
  }

  cycleFailed(error?: unknown): void {
    this.cyclesFailed++;
    this.lastCycleOk = false;
    if (error instanceof CaptureError) {
      this.captureFailures[error.failure] = (this.captureFailures[error.failure] ?? 0) + 1;
    }
  }

  /** Ready unless the last cycle failed or writes have failed longer than the threshold. */
  readiness(): Readiness {
    if (this.lastCycleOk === false) return { ready: false, reason: 'the last cycle failed' };
    const since = this.sources.sink().failingSince;
    if (since !== undefined && this.now() - since >= this.sinkFailingMs) {
      const s = Math.round((this.now() - since) / 1000);
      return { ready: false, reason: `writes to InfluxDB have failed for ${s} s` };
    }
    return { ready: true, reason: 'ready' };
  }

  /** Every metric family with its current samples. */
  families(): Family[] {
    const sink = this.sources.sink();
    const dns = this.sources.dns?.();
    const t = this.now();
    return [
      {
        name: 'nstats_cycles_total',
        help: 'Sampling cycles, by result (a failed cycle is a capture failure or an error).',
        type: 'counter',
        samples: [
          { labels: { result: 'ok' }, value: this.cyclesOk },
          { labels: { result: 'failed' }, value: this.cyclesFailed },
        ],
      },
      {
        name: 'nstats_capture_failures_total',
        help: `Captures that failed, by kind (${CAPTURE_FAILURES.join(', ')}).`,
        type: 'counter',
        samples: CAPTURE_FAILURES.map((kind) => ({
          labels: { kind },
          value: this.captureFailures[kind] ?? 0,
        })),
      },
      {
        name: 'nstats_parse_errors_total',
        help: 'iftop output lines that could not be read and were skipped.',
        type: 'counter',
        samples: [{ value: this.parseErrors }],
      },
      {
        name: 'nstats_dns_lookups_total',
        help: 'Reverse-DNS lookups by result (joined: one already in flight for the address).',
        type: 'counter',
        samples: dns
          ? (['hits', 'misses', 'timeouts', 'failures', 'joined'] as const).map((k) => ({
              labels: { result: k },
              value: dns[k],
            }))
          : [],
      },
      {
        name: 'nstats_resolver_peers_total',
        help: 'Peer addresses each resolver was asked to name, by result (hit: named; miss: no name there; error: failed or not answered within the cycle budget). A resolver is asked only for what the ones before it did not name.',
        type: 'counter',
        samples: [...(this.sources.resolvers?.() ?? new Map<string, ResolverCounts>())].flatMap(
          ([resolver, c]) => [
            { labels: { resolver, result: 'hit' }, value: c.hits },
            { labels: { resolver, result: 'miss' }, value: c.misses },
            { labels: { resolver, result: 'error' }, value: c.errors },
          ],
        ),
      },
      {
        name: 'nstats_points_total',
        help: 'Points by outcome: received by the sink, spooled (stored until acknowledged), written (acknowledged), replayed (written after a failed attempt or a restart), dropped (by reason).',
        type: 'counter',
        samples: [
          { labels: { outcome: 'received' }, value: sink.pointsReceived },
          { labels: { outcome: 'spooled' }, value: sink.pointsSpooled },
          { labels: { outcome: 'written' }, value: sink.pointsWritten },
          { labels: { outcome: 'replayed' }, value: sink.pointsReplayed },
          ...DROP_REASONS.map((reason) => ({
            labels: { outcome: 'dropped', reason },
            value: sink.pointsDropped[reason],
          })),
        ],
      },
      {
        name: 'nstats_write_errors_total',
        help: 'Write requests that failed, by HTTP status (network: no answer).',
        type: 'counter',
        samples: Object.entries(sink.writeErrors).map(([status, value]) => ({ labels: { status }, value })),
      },
      {
        name: 'nstats_spool_points',
        help: 'Points waiting in the spool for the server.',
        type: 'gauge',
        samples: [{ value: sink.spool.points }],
      },
      {
        name: 'nstats_spool_bytes',
        help: 'Bytes the spool holds.',
        type: 'gauge',
        samples: [{ value: sink.spool.bytes }],
      },
      {
        name: 'nstats_sink_failing_seconds',
        help: 'How long writes have been failing (0: they work).',
        type: 'gauge',
        samples: [
          { value: sink.failingSince === undefined ? 0 : Math.round((t - sink.failingSince) / 1000) },
        ],
      },
      {
        name: 'nstats_last_write_timestamp_seconds',
        help: 'When the server last acknowledged a write (0: never).',
        type: 'gauge',
        samples: [{ value: Math.floor((sink.lastWriteOk ?? 0) / 1000) }],
      },
      {
        name: 'nstats_last_success_timestamp_seconds',
        help: 'When the last cycle that worked ended (0: none yet).',
        type: 'gauge',
        samples: [{ value: this.lastSuccessSeconds }],
      },
    ];
  }

  /** The metrics page. */
  render(): string {
    return exposition(this.families());
  }

  /**
   * The same counters as one `nstats_internal` point (NSTATS_INTERNAL_METRICS): a field per
   * sample, named after the metric without `nstats_` and its label values,
   * e.g. `points_total_dropped_spool_full`.
   */
  toRecord(tags: Readonly<Record<string, string>>, time: Date): MetricRecord {
    const fields: Record<string, Field> = {};
    for (const f of this.families()) {
      for (const s of f.samples) {
        const suffix = Object.values(s.labels ?? {}).join('_');
        const name = `${f.name.replace(/^nstats_/, '')}${suffix ? `_${suffix}` : ''}`.replace(
          /[^a-z0-9_]/gi,
          '_',
        );
        fields[name] = int(Math.round(s.value));
      }
    }
    return { measurement: 'nstats_internal', tags, fields, time };
  }
}
