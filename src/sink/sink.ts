import type { MetricRecord } from '../record/record.js';

/** Why points were given up: every reason, in the order metrics list them. */
export const DROP_REASONS = [
  // The spool was full: the oldest were dropped to make room.
  'spool-full',
  // The server refused the data itself (400/422): it will never be accepted.
  'rejected',
  // The spool could not store them (disk full, directory gone).
  'spool-error',
  // Still buffered in memory when the process stopped (no NSTATS_SPOOL_DIR).
  'shutdown',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** Counters and state of a sink since start-up. */
export interface SinkStats {
  /** Points handed to the sink. */
  pointsReceived: number;
  /** Points the server acknowledged (or printed, for stdout). */
  pointsWritten: number;
  /** Points given up, by reason. Every point received ends up written, spooled or here. */
  pointsDropped: Record<DropReason, number>;
  /** Points stored in the spool since start-up (all of them go through it). */
  pointsSpooled: number;
  /** Points replayed from the spool after a failed write or a restart. */
  pointsReplayed: number;
  /** What the spool holds now. */
  spool: { batches: number; points: number; bytes: number };
  /** Write requests that failed, by HTTP status (`network` when there was no answer). */
  writeErrors: Record<string, number>;
  /** When writes started failing (ms since the epoch); undefined while they work. */
  failingSince?: number;
  /** The last failure's message, if any. */
  lastError?: string;
  /** When the server last acknowledged a write (ms since the epoch). */
  lastWriteOk?: number;
}

export function emptySinkStats(): SinkStats {
  return {
    pointsReceived: 0,
    pointsWritten: 0,
    pointsDropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
    pointsSpooled: 0,
    pointsReplayed: 0,
    spool: { batches: 0, points: 0, bytes: 0 },
    writeErrors: {},
  };
}

/** The last stage: where points go. */
export interface Sink {
  readonly name: string;
  readonly stats: Readonly<SinkStats>;
  /** Prepares the sink (recovers a spool left by an earlier run). */
  open(): Promise<void>;
  /**
   * Takes points; resolves once they are safe (spooled, or printed). Never rejects for a server
   * failure: delivery goes on in the background.
   */
  write(records: readonly MetricRecord[]): Promise<void>;
  /**
   * Stops delivery: tries to send what is pending until `deadline` (ms since the epoch), then
   * leaves the rest in the spool (disk) or counts it dropped (memory). Nothing may be written after.
   */
  close(deadline?: number): Promise<void>;
}
