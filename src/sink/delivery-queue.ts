import type { Logger } from '../log/logger.js';
import { backoff } from '../util/backoff.js';
import { emptySinkStats, type DropReason, type SinkStats } from './sink.js';
import type { Spool, SpoolBatch } from './spool.js';

/** The first retry waits this long; each failure in a row doubles it, up to `retryMaxMs`. */
export const RETRY_MIN_MS = 1000;

/** What a failed request means for the lines it carried. */
export type Verdict =
  /** No answer, a timeout, or the server is busy: the lines are kept and sent again later. */
  | 'retry'
  /**
   * The server refuses these lines (or a request this large): the request is sent again in
   * halves, and a single line still refused is dropped.
   */
  | 'rejected'
  /** The server refuses all writes (auth, missing target): nothing is sent until a probe passes. */
  | 'refused';

/** Why a transport's request failed; the only error a transport rejects with. */
export class DeliveryError extends Error {
  /** The answer's status code; undefined when there was no answer. */
  readonly status: number | undefined;
  /** How long the server asked to wait before the next request (ms); 0 when it did not say. */
  readonly retryAfterMs: number;

  /** @param message what the server said, as logs and `stats.lastError` show it */
  constructor(
    readonly verdict: Verdict,
    message: string,
    more: { status?: number | undefined; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, more.cause === undefined ? undefined : { cause: more.cause });
    this.name = 'DeliveryError';
    this.status = more.status;
    this.retryAfterMs = more.retryAfterMs ?? 0;
  }
}

/** Where lines go: one request per call. */
export interface DeliveryTransport {
  /**
   * Sends the lines in one request; no lines is a probe (an empty write: does the server accept
   * writes at all?). Resolves once the server has acknowledged them; rejects with a DeliveryError,
   * also when `signal` aborts the request.
   */
  send(lines: readonly string[], signal: AbortSignal): Promise<void>;
}

export interface DeliveryQueueOptions {
  readonly spool: Spool;
  readonly log: Logger;
  /** Most lines in one request. */
  readonly batchSize: number;
  /** Longest wait between retries (the back-off cap; also the pace of probes while writes are refused). */
  readonly retryMaxMs: number;
  readonly now?: () => number;
}

/**
 * The queue's state, the one place that says what it is doing. A request's failure is the
 * transport's verdict (for InfluxDB: retry on no answer, 5xx, 408, 429; rejected on 400, 422;
 * refused on other 4xx such as 401, 403, 404). Transitions:
 *
 * | state       | event                                       | next                                                     |
 * | ----------- | ------------------------------------------- | -------------------------------------------------------- |
 * | idle        | lines pushed, or left in the spool by a run | sending                                                  |
 * | sending     | the spool is empty                          | idle                                                     |
 * | sending     | verdict rejected                            | sending: the request split, only what is refused dropped |
 * | sending     | verdict retry                               | backing-off                                              |
 * | sending     | verdict refused                             | refused                                                  |
 * | sending     | the spool cannot be read                    | backing-off, for retryMaxMs                              |
 * | backing-off | the wait is over                            | sending                                                  |
 * | refused     | retryMaxMs later                            | probing: an empty write                                  |
 * | probing     | the empty write is accepted                 | sending                                                  |
 * | probing     | the empty write fails                       | refused                                                  |
 * | any         | close(deadline)                             | closing                                                  |
 * | closing     | the last pass ended, or the deadline came   | closed                                                   |
 *
 * Lines pushed while backing off, refused or probing only wait in the spool. The back-off is
 * `backoff()` from 1 s doubling up to retryMaxMs, or the server's Retry-After if longer (at most
 * 10 × retryMaxMs). In closing, a pass under way stops after its request; then, unless writes are
 * failing and the spool is on disk, a last pass (after a probe, if writes were refused) sends
 * what it can until the deadline, when the request under way is aborted.
 */
export type QueueState =
  | { readonly name: 'idle' }
  | { readonly name: 'sending'; readonly work: Promise<void> }
  | { readonly name: 'backing-off'; readonly timer: NodeJS.Timeout }
  | { readonly name: 'refused'; readonly timer: NodeJS.Timeout }
  | { readonly name: 'probing'; readonly work: Promise<void> }
  | { readonly name: 'closing' }
  | { readonly name: 'closed' };

/** Where a pass or a probe leads. */
type Next =
  { readonly to: 'idle' | 'sending' | 'refused' } | { readonly to: 'backing-off'; readonly ms: number };

/** Lines of one batch the server rejected, and its last answer. */
interface Rejected {
  lines: number;
  last?: DeliveryError;
}

/**
 * Delivers lines at least once: every push is stored in the spool (disk or memory) and removed
 * only when the transport has acknowledged it. Delivery runs in the background, oldest first, in
 * requests of at most `batchSize` lines. Replayed lines are sent exactly as they were pushed. It
 * knows lines and batches, not the server: the transport says what each failure means.
 */
export class DeliveryQueue {
  readonly stats: SinkStats = emptySinkStats();
  private current: QueueState = { name: 'idle' };
  private readonly spool: Spool;
  private readonly log: Logger;
  private readonly batchSize: number;
  private readonly retryMaxMs: number;
  private readonly now: () => number;
  /** Aborts the request under way: at the close deadline, and once closed. */
  private readonly abort = new AbortController();
  /** Failed requests in a row, for the back-off; 0 while writes work. */
  private failures = 0;
  /**
   * Batches below this id waited for an outage to end (or were left by an earlier run): their
   * delivery counts as a replay. Raised to the spool's next id when writes work again.
   */
  private replayBelow = 0;
  /** Failures already logged since the last accepted request (each is logged once). */
  private readonly reported = new Set<string>();

  constructor(
    private readonly transport: DeliveryTransport,
    options: DeliveryQueueOptions,
  ) {
    this.spool = options.spool;
    this.log = options.log;
    this.batchSize = options.batchSize;
    this.retryMaxMs = options.retryMaxMs;
    this.now = options.now ?? Date.now;
  }

  get state(): QueueState['name'] {
    return this.current.name;
  }

  /** Recovers the spool; lines an earlier run left are sent first. */
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

  /**
   * Stores the lines in the spool, in batches of at most `batchSize`, and starts delivery.
   * Resolves once they are stored (or dropped and counted when they cannot be).
   * @param received the points these lines stand for, counted as received (a record that encodes
   *   to no line still counts)
   */
  async push(lines: readonly string[], received = lines.length): Promise<void> {
    if (this.current.name === 'closing' || this.current.name === 'closed')
      throw new Error('sink: write after close');
    this.stats.pointsReceived += received;
    for (let i = 0; i < lines.length; i += this.batchSize) {
      const chunk = lines.slice(i, i + this.batchSize);
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

  /**
   * Stops delivery. A pass under way may finish its request until `deadline`; then, unless writes
   * are failing and the spool is on disk (where the lines wait for the next start), one last pass
   * sends what is left until the deadline. Whatever is still in a memory spool is counted dropped.
   */
  async close(deadline = Number.POSITIVE_INFINITY): Promise<void> {
    const before = this.current;
    if (before.name === 'closing' || before.name === 'closed') return;
    this.current = { name: 'closing' };
    if ('timer' in before) clearTimeout(before.timer);
    const left = deadline - this.now();
    const stopper = Number.isFinite(left)
      ? setTimeout(() => this.abort.abort(), Math.max(0, left))
      : undefined;
    try {
      // A pass sees the state change and stops after its request.
      if ('work' in before) await before.work;
      const failing = this.stats.failingSince !== undefined;
      if (
        this.spool.stats.batches > 0 &&
        !this.abort.signal.aborted &&
        !(failing && this.spool.kind === 'disk')
      ) {
        const refused = before.name === 'refused' || before.name === 'probing';
        if (!refused || (await this.probe()).to === 'sending') await this.guarded(this.pass(true));
      }
    } finally {
      clearTimeout(stopper);
      this.abort.abort();
    }
    this.current = { name: 'closed' };
    this.syncSpoolStats();
    const points = this.spool.stats.points;
    if (points > 0 && this.spool.kind === 'memory') {
      this.drop('shutdown', points);
    } else if (points > 0) {
      this.log.info(
        { spool: this.spool.location, points },
        `sink: ${points} points kept in the spool for the next start`,
      );
    }
  }

  /** Starts delivery when idle with something to send; in any other state the lines wait. */
  private kick(): void {
    if (this.current.name === 'idle' && this.spool.stats.batches > 0) this.start('sending');
  }

  private start(name: 'sending' | 'probing'): void {
    const work = this.guarded(name === 'sending' ? this.pass(false) : this.probe()).then((next) => {
      // Unless close() took over: then it decides what comes next.
      if ('work' in this.current && this.current.work === work) this.enter(next);
    });
    this.current = { name, work };
  }

  /** A pass or probe that never rejects: an unexpected failure (of the spool) is logged and waited out. */
  private guarded(run: Promise<Next>): Promise<Next> {
    return run.catch((err: unknown): Next => {
      this.log.error({ err }, `sink: delivery failed: ${(err as Error).message}`);
      return { to: 'backing-off', ms: this.retryMaxMs };
    });
  }

  /** Moves on from a finished pass or probe. */
  private enter(next: Next): void {
    switch (next.to) {
      case 'idle':
        // Lines pushed while the pass ended are sent now, not with the next push.
        this.current = { name: 'idle' };
        this.kick();
        return;
      case 'sending':
        this.start('sending');
        return;
      case 'backing-off': {
        const timer = setTimeout(() => this.start('sending'), next.ms).unref();
        this.current = { name: 'backing-off', timer };
        return;
      }
      case 'refused': {
        const timer = setTimeout(() => this.start('probing'), this.retryMaxMs).unref();
        this.current = { name: 'refused', timer };
        return;
      }
    }
  }

  /**
   * Sends the spool oldest first until it is empty or a request fails; a pass that is not the last
   * one stops once close() is called.
   */
  private async pass(last: boolean): Promise<Next> {
    while (!this.abort.signal.aborted && (last || this.current.name !== 'closing')) {
      let batches: SpoolBatch[];
      try {
        batches = await this.spool.take(this.batchSize);
      } catch (err) {
        this.log.error({ err }, `sink: cannot read the spool: ${(err as Error).message}`);
        return { to: 'backing-off', ms: this.retryMaxMs };
      }
      if (batches.length === 0) return { to: 'idle' };
      try {
        await this.deliver(batches);
      } catch (err) {
        // Batches already acknowledged are gone from the spool; releasing them does nothing.
        this.spool.release(batches.map((b) => b.id));
        if (!(err instanceof DeliveryError)) throw err;
        return this.failed(err);
      }
    }
    return { to: 'idle' };
  }

  /**
   * Sends batches taken together in one request (at most batchSize lines, unless one batch pushed
   * with a larger batchSize is more: then it goes in pieces), and removes them from the spool.
   * The server's rejection of a request is narrowed to the lines it refuses: a request of several
   * batches is sent again batch by batch, a batch by halves, down to the single lines refused,
   * which are dropped. Rejects with the DeliveryError of any other failure.
   */
  private async deliver(batches: readonly SpoolBatch[]): Promise<void> {
    const [first, ...more] = batches;
    if (!first) return;
    if (more.length > 0) {
      try {
        await this.request(batches.flatMap((b) => b.lines));
      } catch (err) {
        if (!isRejection(err)) throw err;
        for (const b of batches) await this.deliver([b]);
        return;
      }
      for (const b of batches) await this.book(b, { lines: 0 });
      return;
    }
    const rejected: Rejected = { lines: 0 };
    for (let i = 0; i < first.lines.length; i += this.batchSize)
      await this.sendNarrowing(first.lines.slice(i, i + this.batchSize), rejected);
    await this.book(first, rejected);
  }

  /** Sends the lines; when the server rejects them, their halves apart, and counts the single lines it refuses. */
  private async sendNarrowing(lines: readonly string[], rejected: Rejected): Promise<void> {
    try {
      await this.request(lines);
    } catch (err) {
      if (!isRejection(err)) throw err;
      if (lines.length === 1) {
        rejected.lines++;
        rejected.last = err;
        return;
      }
      const half = Math.ceil(lines.length / 2);
      await this.sendNarrowing(lines.slice(0, half), rejected);
      await this.sendNarrowing(lines.slice(half), rejected);
    }
  }

  /** One request; a failure is counted and rejects with a DeliveryError. */
  private async request(lines: readonly string[]): Promise<void> {
    try {
      await this.transport.send(lines, this.abort.signal);
    } catch (err) {
      throw this.counted(err);
    }
    this.accepted(lines.length);
  }

  /** The server took a request: writes work. */
  private accepted(lines: number): void {
    const t = this.now();
    if (this.stats.failingSince !== undefined) {
      this.replayBelow = this.spool.nextId;
      this.log.info(
        {
          outageMs: t - this.stats.failingSince,
          pending: this.spool.stats.points - lines,
          failures: this.failures,
        },
        `sink: writes work again after ${Math.round((t - this.stats.failingSince) / 1000)} s, replaying ${this.spool.stats.points} spooled points`,
      );
    }
    delete this.stats.failingSince;
    this.stats.lastWriteOk = t;
    this.failures = 0;
    this.reported.clear();
  }

  /** A batch is done: its lines delivered, or rejected for good. Removes it from the spool. */
  private async book(batch: SpoolBatch, rejected: Rejected): Promise<void> {
    await this.spool.ack([batch.id]);
    const delivered = batch.lines.length - rejected.lines;
    this.stats.pointsWritten += delivered;
    if (batch.id < this.replayBelow) this.stats.pointsReplayed += delivered;
    const last = rejected.last;
    if (last) {
      this.stats.pointsDropped.rejected += rejected.lines;
      const points = rejected.lines;
      this.once(last, () =>
        this.log.error(
          { status: last.status, points, message: last.message },
          `sink: the server refused ${points} points (${last.message}); they are dropped, not retried`,
        ),
      );
    }
    this.syncSpoolStats();
  }

  /** A request failed for a reason other than its lines: when to try again. */
  private failed(error: DeliveryError): Next {
    if (this.abort.signal.aborted) return { to: 'idle' };
    this.stats.failingSince ??= this.now();
    this.failures++;
    const { status, message } = error;
    const pending = this.spool.stats.points;
    if (error.verdict === 'refused') {
      this.once(error, () =>
        this.log.error(
          { status, message, pending, checkEveryMs: this.retryMaxMs },
          `sink: the server refuses writes (${message}): check the URL, token, org and bucket/database; points stay in the spool, not sent again until an empty test write every ${Math.round(this.retryMaxMs / 1000)} s is accepted`,
        ),
      );
      return { to: 'refused' };
    }
    const ms = Math.max(
      backoff(this.failures, RETRY_MIN_MS, this.retryMaxMs),
      Math.min(error.retryAfterMs, 10 * this.retryMaxMs),
    );
    const log = this.failures === 1 ? this.log.warn.bind(this.log) : this.log.debug.bind(this.log);
    log(
      { err: error.cause ?? error, status, attempt: this.failures, retryInMs: ms, pending },
      `sink: write failed (${message}); ${pending} points kept in the ${this.spool.kind} spool, retrying in ${Math.round(ms / 1000)} s`,
    );
    return { to: 'backing-off', ms };
  }

  /** While writes are refused: an empty write; accepted, the lines go again. */
  private async probe(): Promise<Next> {
    try {
      await this.transport.send([], this.abort.signal);
    } catch (err) {
      const error = this.counted(err);
      if (error.verdict === 'refused' && !this.abort.signal.aborted) {
        this.once(error, () =>
          this.log.error(
            { status: error.status, message: error.message },
            `sink: the server refuses writes (${error.message})`,
          ),
        );
      }
      return { to: 'refused' };
    }
    this.log.info('sink: the server accepts writes again');
    return { to: 'sending' };
  }

  /**
   * The transport's failure as a DeliveryError (anything else it throws is taken for no answer),
   * counted by status (`network`: no answer) with its message kept, unless close() aborted it.
   */
  private counted(err: unknown): DeliveryError {
    const error =
      err instanceof DeliveryError
        ? err
        : new DeliveryError('retry', err instanceof Error ? err.message : String(err), { cause: err });
    if (!this.abort.signal.aborted) {
      const key = statusKey(error);
      this.stats.writeErrors[key] = (this.stats.writeErrors[key] ?? 0) + 1;
      this.stats.lastError = error.message;
    }
    return error;
  }

  /** Reports a failure unless the same one (status and message) was reported since the last success. */
  private once(error: DeliveryError, report: () => void): void {
    const key = `${statusKey(error)} ${error.message}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    report();
  }

  /** Counts and logs points given up for a reason of the spool's (rejections are booked by book()). */
  private drop(reason: Exclude<DropReason, 'rejected'>, points: number, err?: unknown): void {
    this.stats.pointsDropped[reason] += points;
    const why: Record<typeof reason, string> = {
      'spool-full': `the spool reached its cap of ${this.spool.maxBytes} bytes, oldest dropped (NSTATS_SPOOL_MAX_MB)`,
      'spool-error': `cannot store them: ${(err as Error | undefined)?.message ?? ''}`,
      shutdown: 'still in memory at shutdown (set NSTATS_SPOOL_DIR to keep them across restarts)',
    };
    this.log.error({ err, reason, points }, `sink: ${points} points dropped: ${why[reason]}`);
  }

  private syncSpoolStats(): void {
    const s = this.spool.stats;
    this.stats.spool = { batches: s.batches, points: s.points, bytes: s.bytes };
  }
}

function isRejection(err: unknown): err is DeliveryError {
  return err instanceof DeliveryError && err.verdict === 'rejected';
}

/** A failure's key in `stats.writeErrors`: its status, `network` when there was no answer. */
function statusKey(error: DeliveryError): string {
  return String(error.status ?? 'network');
}
