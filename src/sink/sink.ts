import type { Point } from '@influxdata/influxdb-client';

/** Counters of a sink since start-up. */
export interface SinkStats {
  /** Points handed to the sink. */
  pointsReceived: number;
  /** Points the server acknowledged (or printed, for stdout). */
  pointsWritten: number;
  /** Points given up after retries or rejected by the server. */
  pointsFailed: number;
  /** The last write error's message, if any. */
  lastError?: string;
}

/** The last stage: where points go. */
export interface Sink {
  readonly name: string;
  readonly stats: SinkStats;
  /** Queues points; returns once they are buffered (never throws for a server failure). */
  write(points: readonly Point[]): void;
  /** Sends what is buffered and waits for the answer. Rejects when the send failed. */
  flush(): Promise<void>;
  /** Flushes and releases resources; nothing may be written after. */
  close(): Promise<void>;
}
