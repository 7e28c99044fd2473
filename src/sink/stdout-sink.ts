import type { MetricRecord } from '../record/record.js';
import { encodeLines, type Precision } from './line-protocol.js';
import { emptySinkStats, type Sink, type SinkStats } from './sink.js';

/** Writes line protocol, one point per line, to a stream (stdout when no InfluxDB is set). */
export class LineProtocolSink implements Sink {
  readonly name = 'stdout';
  readonly stats: SinkStats = emptySinkStats();

  constructor(
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly precision: Precision = 'ms',
  ) {}

  open(): Promise<void> {
    return Promise.resolve();
  }

  write(records: readonly MetricRecord[]): Promise<void> {
    this.stats.pointsReceived += records.length;
    const lines = encodeLines(records, this.precision);
    if (lines.length > 0) this.out.write(`${lines.join('\n')}\n`);
    this.stats.pointsWritten += lines.length;
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
