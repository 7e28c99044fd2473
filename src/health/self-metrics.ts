import type { PeerNamerStats } from '../enrich/peer-namer.js';
import type { CycleReport } from '../pipeline/daemon.js';
import type { SinkStats } from '../sink/sink.js';

/** What the daemon reports after each cycle; implemented by SelfMetrics, injectable for tests. */
export interface CycleObserver {
  cycleDone(report: CycleReport): void;
  cycleFailed(error: unknown): void;
}

/** One sample of the Prometheus text format: `name{labels} value`. */
interface Sample {
  readonly labels?: Readonly<Record<string, string>>;
  readonly value: number;
}

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly samples: readonly Sample[];
}

function escapeLabel(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"');
}

/** Prometheus text exposition format 0.0.4 for a few metric families. */
export function exposition(families: readonly Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels ?? {});
      const l = labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
      out.push(`${f.name}${l} ${Number.isFinite(s.value) ? s.value : 0}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/**
 * nstats' own counters, kept as plain numbers and written in the Prometheus text format on scrape.
 * (prom-client would add about 20 MB of RSS to every pod for eight counters; the format is simple.)
 */
export class SelfMetrics implements CycleObserver {
  cyclesOk = 0;
  cyclesFailed = 0;
  parseErrors = 0;
  /** Seconds since the epoch of the last cycle that worked; 0 before the first. */
  lastSuccessSeconds = 0;
  lastCycleOk: boolean | undefined;

  constructor(
    private readonly sources: { sink: () => SinkStats; dns?: () => PeerNamerStats },
    private readonly now: () => number = Date.now,
  ) {}

  cycleDone(report: CycleReport): void {
    this.cyclesOk++;
    this.parseErrors += report.parseIssues;
    this.lastSuccessSeconds = Math.floor(this.now() / 1000);
    this.lastCycleOk = true;
  }

  cycleFailed(_error?: unknown): void {
    this.cyclesFailed++;
    this.lastCycleOk = false;
  }

  /** The metrics page. */
  render(): string {
    const sink = this.sources.sink();
    const dns = this.sources.dns?.();
    return exposition([
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
        name: 'nstats_points_total',
        help: 'Points by outcome: received by the sink, written (acknowledged), failed (given up or rejected).',
        type: 'counter',
        samples: [
          { labels: { outcome: 'received' }, value: sink.pointsReceived },
          { labels: { outcome: 'written' }, value: sink.pointsWritten },
          { labels: { outcome: 'failed' }, value: sink.pointsFailed },
        ],
      },
      {
        name: 'nstats_last_success_timestamp_seconds',
        help: 'When the last cycle that worked ended (0: none yet).',
        type: 'gauge',
        samples: [{ value: this.lastSuccessSeconds }],
      },
    ]);
  }
}
