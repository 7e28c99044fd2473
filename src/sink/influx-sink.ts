import type { MetricRecord } from '../record/record.js';
import type { InfluxConfig } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { DeliveryQueue } from './delivery-queue.js';
import { InfluxTransport } from './influx-transport.js';
import { encodeLines } from './line-protocol.js';
import type { Sink, SinkStats } from './sink.js';
import type { Spool } from './spool.js';

/** Timestamp precision of every write (and of the lines in the spool). */
export const PRECISION = 'ms';

export interface InfluxSinkOptions {
  readonly spool: Spool;
  readonly log: Logger;
  /** Longest wait between retries (the back-off cap; also the pace while writes are refused). */
  readonly retryMaxMs: number;
  readonly now?: () => number;
}

/**
 * Writes points to InfluxDB (v2 or v1) at least once: records are encoded as line protocol and
 * handed to a DeliveryQueue, which keeps them in the spool until the server has acknowledged them
 * (see delivery-queue.ts for retries, rejected lines, refused writes and shutdown). Replayed lines
 * keep their original timestamps, and a point written twice (a crash between the server's answer
 * and the spool's removal) overwrites itself: same series, same time.
 */
export class InfluxSink implements Sink {
  readonly name: string;
  private readonly transport: InfluxTransport;
  private readonly queue: DeliveryQueue;

  constructor(config: InfluxConfig, options: InfluxSinkOptions) {
    this.transport = new InfluxTransport(config, PRECISION);
    this.name = this.transport.name;
    this.queue = new DeliveryQueue(this.transport, {
      spool: options.spool,
      log: options.log,
      batchSize: config.batchSize,
      retryMaxMs: options.retryMaxMs,
      ...(options.now ? { now: options.now } : {}),
    });
  }

  get stats(): Readonly<SinkStats> {
    return this.queue.stats;
  }

  /** Recovers the spool; points an earlier run left are replayed first. */
  open(): Promise<void> {
    return this.queue.open();
  }

  write(records: readonly MetricRecord[]): Promise<void> {
    return this.queue.push(encodeLines(records, PRECISION), records.length);
  }

  close(deadline?: number): Promise<void> {
    return this.queue.close(deadline);
  }

  /**
   * An empty write to the endpoint the points go to: checks reachability, auth and the
   * bucket/database. Rejects with the client's HttpError (status code and server message).
   */
  probe(): Promise<void> {
    return this.transport.probe();
  }
}
