import type { MetricRecord } from '../record/record.js';
import type { Sink, SinkStats } from './sink.js';

/**
 * Several sinks as one (NSTATS_SINKS with more than one): every record goes to each. Its stats,
 * which `/readyz` and the self-metrics read, are those of the first sink given, the one that
 * delivers to a server when there is one (the caller puts InfluxDB first).
 */
export class FanoutSink implements Sink {
  readonly name: string;

  constructor(private readonly sinks: readonly [Sink, ...Sink[]]) {
    this.name = sinks.map((s) => s.name).join('+');
  }

  get stats(): Readonly<SinkStats> {
    return this.sinks[0].stats;
  }

  async open(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.open()));
  }

  async write(records: readonly MetricRecord[]): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.write(records)));
  }

  async close(deadline?: number): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.close(deadline)));
  }
}
