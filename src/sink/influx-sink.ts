import { HttpError, type Transport } from '@influxdata/influxdb-client';
import type { MetricRecord } from '../record/record.js';
import type { InfluxConfig } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { emptySinkStats, type DropReason, type Sink, type SinkStats } from './sink.js';
import type { Spool, SpoolBatch } from './spool.js';
import { HttpTransport } from './http-transport.js';
import { encodeLines } from './line-protocol.js';
import { V1WriteTransport } from './v1-transport.js';
import { backoff } from '../util/backoff.js';

/** Timestamp precision of every write (and of the lines in the spool). */
export const PRECISION = 'ms';

/** The first retry waits this long; each failure in a row doubles it, up to `retryMaxMs`. */
export const RETRY_MIN_MS = 1000;

/** How a failed write is handled. */
export type WriteFailure =
  /** No answer, a timeout, 5xx, 408 or 429: the server may take it later; kept and retried. */
  | 'retry'
  /** 400/422: the server refuses these lines themselves; retrying cannot help, they are dropped. */
  | 'reject'
  /** Other 4xx (auth, missing bucket or database, too large): kept, retried slowly, reported. */
  | 'blocked';

/** The HTTP status of a write error, or undefined when there was no answer. */
export function statusOf(error: unknown): number | undefined {
  return error instanceof HttpError ? error.statusCode : undefined;
}

export function classifyWriteError(error: unknown): WriteFailure {
  const status = statusOf(error);
  if (status === undefined || status >= 500 || status === 408 || status === 429) return 'retry';
  if (status === 400 || status === 422) return 'reject';
  return 'blocked';
}

/** The server's Retry-After (seconds, as HTTP has it) in ms; 0 when absent. */
export function retryAfterMs(error: unknown): number {
  if (!(error instanceof HttpError)) return 0;
  const raw = error.headers?.['retry-after'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  return value !== undefined && /^\d+$/.test(value.trim()) ? Number(value) * 1000 : 0;
}

/** The server's own words: its JSON `error`/`message`, else the body, else the status line. */
export function serverMessage(error: unknown): string {
  if (error instanceof HttpError) {
    const json = error.json as { error?: unknown; message?: unknown } | undefined;
    const fromJson = [json?.error, json?.message].find((v): v is string => typeof v === 'string');
    const text = fromJson ?? error.body ?? error.message;
    return `${error.statusCode} ${text.trim().slice(0, 500)}`;
  }
  return error instanceof Error ? error.message : String(error);
}

export interface InfluxSinkOptions {
  readonly spool: Spool;
  readonly log: Logger;
  /** Longest wait between retries (the back-off cap; also the pace while writes are refused). */
  readonly retryMaxMs: number;
  readonly now?: () => number;
}

/**
 * Writes points to InfluxDB through a Transport of the `@influxdata/influxdb-client` contract
 * (HttpTransport), at least once:
 * every batch first goes to the spool (disk or memory), and is removed only when the server has
 * acknowledged it. Delivery runs in the background, oldest first, in requests of at most
 * `batchSize` lines; failures back off (1 s doubling up to `retryMaxMs`, or the server's
 * Retry-After). Replayed lines keep their original timestamps, and a point written twice (a crash
 * between the server's answer and the spool's removal) overwrites itself: same series, same time.
 */
export class InfluxSink implements Sink {
  readonly name: string;
  readonly stats: SinkStats = emptySinkStats();
  private readonly transport: Transport;
  private readonly writePath: string;
  private readonly spool: Spool;
  private readonly log: Logger;
  private readonly now: () => number;
  private sending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private nextAttemptAt = 0;
  private failures = 0;
  private closed = false;
  /** Delivery during close() only. */
  private finalPass = false;
  private readonly abort = new AbortController();
  /**
   * Batches below this id waited for an outage to end (or were left by an earlier run): their
   * delivery counts as a replay. Raised to the spool's next id when writes work again.
   */
  private replayBelow = 0;
  /** After a 400 on several batches at once, that many are sent one at a time to find the bad ones. */
  private isolateLeft = 0;
  /**
   * After a refusal (401, 403, 404, 413...), the points are not sent again until an empty write
   * (probe()) is accepted: the server's answer is checked, not its patience.
   */
  private blocked = false;
  /** Refusals already logged since the last success (each is logged once). */
  private readonly reported = new Set<string>();

  constructor(
    private readonly config: InfluxConfig,
    options: InfluxSinkOptions,
  ) {
    this.spool = options.spool;
    this.log = options.log;
    this.now = options.now ?? Date.now;
    const base = new HttpTransport({
      url: config.url,
      timeoutMs: config.timeoutMs,
      ...(config.token ? { token: config.token } : {}),
    });
    const target = config.api === 'v1' ? (config.database ?? '') : (config.bucket ?? '');
    this.name = `influxdb ${config.api} ${config.url} ${target}`;
    this.transport =
      config.api === 'v1'
        ? new V1WriteTransport(base, {
            database: target,
            ...(config.retentionPolicy ? { retentionPolicy: config.retentionPolicy } : {}),
            ...(config.username ? { username: config.username } : {}),
            ...(config.password ? { password: config.password } : {}),
          })
        : base;
    this.writePath = `/api/v2/write?org=${encodeURIComponent(config.org)}&bucket=${encodeURIComponent(target)}&precision=${PRECISION}`;
  }

  /** Recovers the spool; points an earlier run left are replayed first. */
  async open(): Promise<void> {
    const found = await this.spool.open();
    this.replayBelow = this.spool.nextId;
    this.syncSpoolStats();
    if (found.points > 0) {
      this.log.info(
        { spool: this.spool.location, points: found.points, bytes: found.bytes, batches: found.batches },
        `sink: ${found.points} points left in the spool by an earlier run will be replayed`,
      );
      this.kick();
    }
  }

  async write(records: readonly MetricRecord[]): Promise<void> {
    if (this.closed) throw new Error('sink: write after close');
    this.stats.pointsReceived += records.length;
    const lines = encodeLines(records, PRECISION);
    for (let i = 0; i < lines.length; i += this.config.batchSize) {
      const chunk = lines.slice(i, i + this.config.batchSize);
      try {
        const dropped = await this.spool.append(chunk);
        this.stats.pointsSpooled += chunk.length;
        if (dropped > 0) this.drop('spool-full', dropped);
      } catch (err) {
        this.drop('spool-error', chunk.length, err);
      }
    }
    this.syncSpoolStats();
    this.kick();
  }

  /** Starts a delivery pass unless one runs or a back-off is pending. */
  private kick(): void {
    if (this.sending || (this.closed && !this.finalPass) || this.spool.stats.batches === 0) return;
    const wait = this.nextAttemptAt - this.now();
    if (wait > 0) {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.kick();
      }, wait).unref();
      return;
    }
    this.sending = this.deliver().finally(() => {
      this.sending = undefined;
      // Points appended while the pass ended are sent now, not with the next cycle's.
      if (!this.closed) this.kick();
    });
  }

  /** Sends the spool oldest first until it is empty or a write fails. */
  private async deliver(): Promise<void> {
    if (this.blocked && !(await this.probeBlocked())) return;
    while (!this.abort.signal.aborted && (!this.closed || this.finalPass)) {
      let batches: SpoolBatch[];
      try {
        batches = await this.spool.take(this.isolateLeft > 0 ? 1 : this.config.batchSize);
      } catch (err) {
        this.log.error({ err }, `sink: cannot read the spool: ${(err as Error).message}`);
        this.backOff(this.config.retryMaxMs);
        return;
      }
      if (batches.length === 0) return;
      const ids = batches.map((b) => b.id);
      const points = batches.reduce((n, b) => n + b.lines.length, 0);
      try {
        // One request for the batches taken together (at most batchSize lines, unless one batch
        // written with a larger NSTATS_INFLUX_BATCH_SIZE is more: then it goes in pieces).
        const lines = batches.length === 1 ? batches[0]!.lines : batches.flatMap((b) => b.lines);
        for (let i = 0; i < lines.length; i += this.config.batchSize)
          await this.send(lines.slice(i, i + this.config.batchSize));
      } catch (err) {
        this.spool.release(ids);
        if (!this.failed(err, batches)) return;
        await this.spool.ack(ids);
        if (this.isolateLeft > 0) this.isolateLeft--;
        this.drop('rejected', points);
        this.syncSpoolStats();
        continue;
      }
      if (this.stats.failingSince !== undefined) this.replayBelow = this.spool.nextId;
      const replayed = batches.filter((b) => b.id < this.replayBelow).reduce((n, b) => n + b.lines.length, 0);
      await this.spool.ack(ids);
      if (this.isolateLeft > 0) this.isolateLeft--;
      this.succeeded(points, replayed);
    }
  }

  private async send(lines: readonly string[]): Promise<void> {
    await this.transport.request(this.writePath, lines.join('\n'), {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      gzipThreshold: 1000,
      signal: this.abort.signal,
    });
  }

  private succeeded(points: number, replayed: number): void {
    const t = this.now();
    if (this.stats.failingSince !== undefined) {
      this.log.info(
        {
          outageMs: t - this.stats.failingSince,
          pending: this.spool.stats.points,
          failures: this.failures,
        },
        `sink: writes work again after ${Math.round((t - this.stats.failingSince) / 1000)} s, replaying ${this.spool.stats.points + points} spooled points`,
      );
    }
    delete this.stats.failingSince;
    this.stats.pointsWritten += points;
    this.stats.pointsReplayed += replayed;
    this.stats.lastWriteOk = t;
    this.failures = 0;
    this.nextAttemptAt = 0;
    this.reported.clear();
    this.syncSpoolStats();
  }

  /**
   * Books a failed write. Returns true when the batches are to be removed (refused for good),
   * false when they stay for a later attempt.
   */
  private failed(error: unknown, batches: readonly SpoolBatch[]): boolean {
    const status = statusOf(error);
    const kind = classifyWriteError(error);
    const message = serverMessage(error);
    const key = this.countError(error);
    const points = batches.reduce((n, b) => n + b.lines.length, 0);
    if (this.abort.signal.aborted) return false;
    if (kind === 'reject' && batches.length > 1) {
      // One bad line fails the whole request: try the batches one by one, drop only the bad one.
      this.isolateLeft = batches.length;
      return false;
    }
    if (kind === 'reject') {
      this.once(`${key} ${message}`, () =>
        this.log.error(
          { status, points, message },
          `sink: the server refused ${points} points (${message}); they are dropped, not retried`,
        ),
      );
      return true;
    }
    this.stats.failingSince ??= this.now();
    this.failures++;
    if (kind === 'blocked') {
      this.once(`${key} ${message}`, () =>
        this.log.error(
          { status, message, pending: this.spool.stats.points, checkEveryMs: this.config.retryMaxMs },
          `sink: the server refuses writes (${message}): check the URL, token, org and bucket/database; points stay in the spool, not sent again until an empty test write every ${Math.round(this.config.retryMaxMs / 1000)} s is accepted`,
        ),
      );
      this.blocked = true;
      this.backOff(this.config.retryMaxMs);
      return false;
    }
    const delay = Math.max(
      backoff(this.failures, RETRY_MIN_MS, this.config.retryMaxMs),
      Math.min(retryAfterMs(error), 10 * this.config.retryMaxMs),
    );
    const log = this.failures === 1 ? this.log.warn.bind(this.log) : this.log.debug.bind(this.log);
    log(
      { err: error, status, attempt: this.failures, retryInMs: delay, pending: this.spool.stats.points },
      `sink: write failed (${message}); ${this.spool.stats.points} points kept in the ${this.spool.kind} spool, retrying in ${Math.round(delay / 1000)} s`,
    );
    this.backOff(delay);
    return false;
  }

  /** While blocked: true once an empty write is accepted (then the points go again). */
  private async probeBlocked(): Promise<boolean> {
    try {
      await this.probe();
      this.blocked = false;
      this.log.info('sink: the server accepts writes again');
      return true;
    } catch (err) {
      const key = this.countError(err);
      if (classifyWriteError(err) === 'blocked') {
        this.once(`${key} ${this.stats.lastError}`, () =>
          this.log.error(
            { status: statusOf(err), message: this.stats.lastError },
            `sink: the server refuses writes (${this.stats.lastError})`,
          ),
        );
      }
      this.backOff(this.config.retryMaxMs);
      return false;
    }
  }

  /** Counts a failed request by status (`network`: no answer) and keeps its message; returns the key. */
  private countError(error: unknown): string {
    const key = String(statusOf(error) ?? 'network');
    this.stats.writeErrors[key] = (this.stats.writeErrors[key] ?? 0) + 1;
    this.stats.lastError = serverMessage(error);
    return key;
  }

  private backOff(ms: number): void {
    this.nextAttemptAt = this.now() + ms;
  }

  private once(key: string, report: () => void): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    report();
  }

  private drop(reason: DropReason, points: number, err?: unknown): void {
    this.stats.pointsDropped[reason] += points;
    const why: Record<DropReason, string> = {
      'spool-full': `the spool reached its cap of ${this.spool.maxBytes} bytes, oldest dropped (NSTATS_SPOOL_MAX_MB)`,
      rejected: 'refused by the server',
      'spool-error': `cannot store them: ${(err as Error | undefined)?.message ?? ''}`,
      shutdown: 'still in memory at shutdown (set NSTATS_SPOOL_DIR to keep them across restarts)',
    };
    if (reason !== 'rejected') {
      this.log.error({ err, reason, points }, `sink: ${points} points dropped: ${why[reason]}`);
    }
  }

  private syncSpoolStats(): void {
    const s = this.spool.stats;
    this.stats.spool = { batches: s.batches, points: s.points, bytes: s.bytes };
  }

  /**
   * Stops delivery. A pass under way may finish until `deadline`; then, unless writes are failing
   * and the spool is on disk (where the points wait for the next start), one last pass sends what
   * is left. Whatever is still in a memory spool is counted dropped.
   */
  async close(deadline = Number.POSITIVE_INFINITY): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const left = deadline - this.now();
    const stopper = Number.isFinite(left)
      ? setTimeout(() => this.abort.abort(), Math.max(0, left))
      : undefined;
    try {
      await this.sending;
      const failing = this.stats.failingSince !== undefined;
      if (
        this.spool.stats.batches > 0 &&
        !this.abort.signal.aborted &&
        !(failing && this.spool.kind === 'disk')
      ) {
        this.finalPass = true;
        this.nextAttemptAt = 0;
        this.kick();
        await this.sending;
      }
    } finally {
      clearTimeout(stopper);
      this.abort.abort();
    }
    this.syncSpoolStats();
    const left_ = this.spool.stats.points;
    if (left_ > 0 && this.spool.kind === 'memory') {
      this.drop('shutdown', left_);
    } else if (left_ > 0) {
      this.log.info(
        { spool: this.spool.location, points: left_ },
        `sink: ${left_} points kept in the spool for the next start`,
      );
    }
  }

  /**
   * Checks reachability, auth and the bucket/database with an empty write to the same endpoint
   * the points go to (InfluxDB 1.6 answers 404 "database not found" to it, VictoriaMetrics 204).
   * Rejects with the client's HttpError (status code and server message).
   */
  async probe(): Promise<void> {
    await this.transport.request(this.writePath, '', {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      signal: this.abort.signal,
    });
  }
}
