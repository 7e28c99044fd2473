import type { Config } from '../config/config.js';
import type { MetricRecord } from '../record/record.js';
import type { Logger } from '../log/logger.js';
import type { Sink } from '../sink/sink.js';
import type { CycleObserver } from '../health/self-metrics.js';
import type { Scheduler } from '../schedule/scheduler.js';
import { isMultiSource, type MultiSource, type Observation, type Source } from '../source/source.js';
import { backoff } from '../util/backoff.js';
import { complete, type ObserveDeps } from './observe.js';

/** After failures in a row, at most one tick in this many runs a cycle. */
export const MAX_BACKOFF_TICKS = 8;

/** The outcome of one cycle, also logged as one `cycle: done` event. */
export interface CycleReport {
  readonly flows: number;
  readonly points: number;
  readonly parseIssues: number;
  readonly ending: string;
  readonly durationMs: number;
  /** CPU time of nstats itself (user + system, not iftop's). */
  readonly cpuMs: number;
  readonly captureMs: number;
  readonly parseMs: number;
  readonly nameMs: number;
  readonly writeMs: number;
  /** Reverse-DNS counters since start-up (hits, misses, timeouts, failures, joined). */
  readonly dns?: Readonly<Record<string, number>>;
  /** Continuous mode: iftop tables added into the period. */
  readonly snapshots?: number;
  /** A multi-source (the node agent): captures that made an observation, and those that failed. */
  readonly captures?: number;
  readonly capturesFailed?: number;
}

/** What the daemon is built from; all made once at start-up. */
export interface DaemonDeps extends Omit<ObserveDeps, 'identity' | 'source'> {
  readonly source: Source | MultiSource;
  readonly sink: Sink;
  readonly log: Logger;
  readonly makeScheduler: (job: () => Promise<void>) => Scheduler;
  /** Told of every cycle's outcome (self-metrics, health). */
  readonly observer?: CycleObserver;
  /** After each cycle, a point of nstats' own counters to write too (NSTATS_INTERNAL_METRICS). */
  readonly selfPoint?: (time: Date) => MetricRecord;
  /** Reverse-DNS counters for the cycle's log line. */
  readonly dnsStats?: () => Readonly<Record<string, number>>;
}

/**
 * `nstats run`: on every tick, source -> resolvers -> records -> sink, the same for every source. A failing cycle is
 * logged and counted, and the schedule goes on, backing off while cycles keep failing (1, 2, 4,
 * then every 8th tick) and back to every tick after one works. `stop()` stops the schedule, ends a
 * running capture cleanly (SIGINT to iftop, keeping what it printed), and closes the sink.
 */
export class Daemon {
  private scheduler: Scheduler | undefined;
  private running: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private cycles = 0;
  private stopped = false;
  /** Failed cycles in a row, and ticks still to skip because of them (back-off). */
  private failures = 0;
  private skipTicks = 0;
  private startingSource: Promise<void> | undefined;
  /** The interface counters could not be read (told once). */
  private countersWarned = false;
  private readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    private readonly deps: DaemonDeps,
    private readonly config: Config & { capture: { interface: string } },
    private readonly maxCycles?: number,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  /** Starts the schedule; resolves when the daemon has stopped. */
  run(): Promise<void> {
    const { log } = this.deps;
    this.scheduler = this.deps.makeScheduler(() => this.tick());
    this.startingSource = this.deps.source.start().catch((err: unknown) => {
      log.error({ err }, `capture: cannot start iftop: ${(err as Error).message}`);
    });
    this.scheduler.start();
    log.info(
      {
        interface: this.config.capture.interface,
        mode: this.deps.source.mode,
        schedule: this.config.schedule,
        sink: this.deps.sink.name,
        nextRun: this.scheduler.nextRun(),
      },
      'daemon: started',
    );
    return this.done;
  }

  /** One cycle; errors are logged, never thrown (the schedule must go on). */
  tick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.skipTicks > 0) {
      this.skipTicks--;
      this.deps.log.debug(
        { failures: this.failures, skipTicks: this.skipTicks },
        'daemon: backing off, tick skipped',
      );
      return Promise.resolve();
    }
    const cycle = this.cycle()
      .then(
        (report) => {
          this.failures = 0;
          this.deps.observer?.cycleDone(report);
          this.deps.log.info(report, `cycle: done, ${report.points} points`);
        },
        (err: unknown) => {
          // Back off: after the n-th failure in a row run every 2^(n-1)-th tick, at most every 8th.
          this.failures++;
          this.skipTicks = backoff(this.failures, 1, MAX_BACKOFF_TICKS) - 1;
          this.deps.observer?.cycleFailed(err);
          this.deps.log.error({ err }, `cycle: failed: ${err instanceof Error ? err.message : String(err)}`);
        },
      )
      .then(() => this.writeSelfPoint())
      .finally(() => {
        this.running = undefined;
        this.cycles++;
        if (this.maxCycles !== undefined && this.cycles >= this.maxCycles)
          void this.stop('max cycles reached');
      });
    this.running = cycle;
    return cycle;
  }

  private async writeSelfPoint(): Promise<void> {
    if (!this.deps.selfPoint) return;
    try {
      await this.deps.sink.write([this.deps.selfPoint(new Date())]);
    } catch (err) {
      this.deps.log.warn({ err }, `sink: cannot write nstats_internal: ${(err as Error).message}`);
    }
  }

  private async cycle(): Promise<CycleReport> {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await this.startingSource;
    const source = this.deps.source;
    const observations = isMultiSource(source)
      ? await source.collect(this.abort.signal)
      : [await source.collect(this.abort.signal)];
    return this.deliver(observations, t0, cpu0);
  }

  /**
   * Names, builds and writes the observations' records, in one write. They are written even when
   * a capture failed during the window (what it counted is kept); the cycle then fails, so it is
   * counted and backed off. With many captures (the node agent), a failed one is logged with its
   * pod and the cycle fails only when every capture failed.
   */
  private async deliver(
    observations: readonly Observation[],
    t0 = performance.now(),
    cpu0 = process.cpuUsage(),
  ): Promise<CycleReport> {
    const { log } = this.deps;
    const multi = isMultiSource(this.deps.source);
    for (const observation of observations) {
      const who = observation.identity ? { pod: observation.identity.pod ?? observation.identity.host } : {};
      for (const issue of observation.issues.slice(0, 20)) {
        log.warn(
          { ...who, line: issue.line, raw: issue.raw },
          `parse: line ${issue.line} skipped: ${issue.reason}`,
        );
      }
      if (observation.ending === 'deadline') {
        log.info({ ...who, ending: observation.ending }, 'capture: iftop printed no table');
      }
      if (!observation.counters && !this.countersWarned) {
        this.countersWarned = true;
        log.warn(
          { ...who, error: observation.countersError },
          `capture: interface counters not readable, no nstat_interface points: ${observation.countersError ?? ''}`,
        );
      }
      if (multi && observation.failure) {
        log.warn(
          { ...who, err: observation.failure },
          `${who.pod ?? 'capture'}: ${observation.failure.message}`,
        );
      }
    }
    const observed = await Promise.all(
      observations.map((o) => complete({ ...this.deps, identity: o.identity ?? this.config.identity }, o)),
    );
    const t1 = performance.now();
    const records = observed.flatMap((o) => o.records);
    // Resolves once the records are in the spool; delivery goes on in the background.
    await this.deps.sink.write(records);
    const failed = observations.flatMap((o) => (o.failure ? [o.failure] : []));
    if (failed.length > 0 && (!multi || failed.length === observations.length)) throw failed[0]!;
    const cpu = process.cpuUsage(cpu0);
    const first = observations[0];
    const sum = (f: (o: Observation) => number) => observations.reduce((n, o) => n + f(o), 0);
    return {
      flows: sum((o) => o.flows.length),
      points: records.length,
      parseIssues: sum((o) => o.issues.length),
      ending: first?.ending ?? this.deps.source.mode,
      durationMs: Math.round(performance.now() - t0),
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      captureMs: Math.round(Math.max(0, ...observations.map((o) => o.end.getTime() - o.start.getTime()))),
      parseMs: Math.round(sum((o) => o.parseMs) * 10) / 10,
      nameMs: Math.round(Math.max(0, ...observed.map((o) => o.resolveMs))),
      writeMs: Math.round(performance.now() - t1),
      ...(this.deps.source.mode === 'continuous' ? { snapshots: sum((o) => o.tables) } : {}),
      ...(multi ? { captures: observations.length, capturesFailed: failed.length } : {}),
      ...(this.deps.dnsStats ? { dns: { ...this.deps.dnsStats() } } : {}),
    };
  }

  /**
   * Stops the schedule, ends a running capture (its points are spooled), and closes the sink: it
   * may deliver until `deadline` (ms since the epoch), then what is left stays in the spool.
   * Idempotent.
   */
  async stop(reason: string, deadline?: number): Promise<void> {
    if (this.stopped) return this.done;
    this.stopped = true;
    const { log } = this.deps;
    log.info({ reason }, `daemon: stopping (${reason})`);
    await this.scheduler?.stop();
    this.abort.abort();
    await this.running;
    // The source stops; what it held since the last tick is written as one last, shorter window.
    await this.startingSource;
    const stopped = await this.deps.source.stop(deadline);
    const last = stopped === undefined ? [] : 'mode' in stopped ? [stopped] : stopped;
    if (last.length > 0) {
      await this.deliver(last).then(
        (report) => log.info(report, `cycle: done, ${report.points} points (the last, at stop)`),
        (err: unknown) => log.warn({ err }, `cycle: the last period at stop: ${(err as Error).message}`),
      );
    }
    try {
      await this.deps.sink.close(deadline);
    } catch (err) {
      log.error({ err }, `sink: close failed: ${(err as Error).message}`);
    }
    const { pointsReceived, pointsWritten, pointsDropped, spool } = this.deps.sink.stats;
    log.info(
      { cycles: this.cycles, pointsReceived, pointsWritten, pointsDropped, spooled: spool.points },
      'daemon: stopped',
    );
    this.resolveDone();
    return this.done;
  }
}
