import { HttpError, InfluxDB, type Point, type Transport, type WriteApi } from '@influxdata/influxdb-client';
import type { InfluxConfig } from '../config/config.js';
import type { Sink, SinkStats } from './sink.js';
import { V1WriteTransport } from './v1-transport.js';

/** Timestamp precision of every write. */
export const PRECISION = 'ms';

/** Reports of the sink, for the daemon's log. */
export interface InfluxSinkEvents {
  /** A batch failed; `final` when it will not be retried. */
  onWriteFailed?(error: Error, lines: number, attempt: number, final: boolean): void;
  /** Lines dropped from the retry buffer (full, or retries expired). */
  onDropped?(lines: number): void;
}

/** True when the client will not retry this error (mirrors WriteApi's rule). */
function isFinal(error: Error, retriesLeft: number, expires: number): boolean {
  if (retriesLeft <= 0 || expires <= Date.now()) return true;
  return error instanceof HttpError && error.statusCode < 429;
}

/**
 * Writes points through `@influxdata/influxdb-client`'s WriteApi: batches of `batchSize` lines,
 * a request timeout, retries with exponential back-off for 5xx/429/network errors, a bounded retry
 * buffer, and a flush on close. `api: 'v1'` routes the same writes to `/write?db=` for InfluxDB
 * 1.x older than 1.8; lines are built by the client's Point either way.
 */
export class InfluxSink implements Sink {
  readonly name: string;
  readonly stats: SinkStats = { pointsReceived: 0, pointsWritten: 0, pointsFailed: 0 };
  private readonly writeApi: WriteApi;
  private readonly transport: Transport;
  private readonly probePath: string;

  constructor(config: InfluxConfig, events: InfluxSinkEvents = {}) {
    const base = new InfluxDB({
      url: config.url,
      timeout: config.timeoutMs,
      ...(config.token ? { token: config.token } : {}),
    });
    const target = config.api === 'v1' ? (config.database ?? '') : (config.bucket ?? '');
    this.name = `influxdb ${config.api} ${config.url} ${target}`;
    this.transport =
      config.api === 'v1'
        ? new V1WriteTransport(base.transport, {
            database: target,
            ...(config.retentionPolicy ? { retentionPolicy: config.retentionPolicy } : {}),
            ...(config.username ? { username: config.username } : {}),
            ...(config.password ? { password: config.password } : {}),
          })
        : base.transport;
    const client = config.api === 'v1' ? new InfluxDB({ url: config.url, transport: this.transport }) : base;
    const stats = this.stats;
    this.writeApi = client.getWriteApi(config.org, target, PRECISION, {
      batchSize: config.batchSize,
      // Flushed by the daemon after each cycle; no timer of the client's own keeps the process alive.
      flushInterval: 0,
      maxRetries: config.maxRetries,
      maxRetryTime: config.maxRetryTimeMs,
      maxBufferLines: config.maxBufferLines,
      minRetryDelay: 1000,
      maxRetryDelay: 15000,
      exponentialBase: 2,
      gzipThreshold: 1000,
      writeSuccess(lines: string[]) {
        stats.pointsWritten += lines.length;
      },
      writeFailed(error: Error, lines: string[], attempt: number, expires: number) {
        const final = isFinal(error, config.maxRetries + 1 - attempt, expires);
        stats.lastError = error.message;
        if (final) stats.pointsFailed += lines.length;
        events.onWriteFailed?.(error, lines.length, attempt, final);
        return undefined;
      },
      writeRetrySkipped(entry: { lines: string[] }) {
        stats.pointsFailed += entry.lines.length;
        events.onDropped?.(entry.lines.length);
      },
    });
    this.probePath = `/api/v2/write?org=${encodeURIComponent(config.org)}&bucket=${encodeURIComponent(target)}&precision=${PRECISION}`;
  }

  write(points: readonly Point[]): void {
    this.stats.pointsReceived += points.length;
    this.writeApi.writePoints([...points]);
  }

  flush(): Promise<void> {
    return this.writeApi.flush();
  }

  close(): Promise<void> {
    return this.writeApi.close();
  }

  /**
   * Checks reachability, auth and the bucket/database with an empty write to the same endpoint
   * the points go to (InfluxDB 1.6 answers 404 "database not found" to it, VictoriaMetrics 204).
   * Rejects with the client's HttpError (status code and server message).
   */
  async probe(): Promise<void> {
    await this.transport.request(this.probePath, '', {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
    });
  }
}
