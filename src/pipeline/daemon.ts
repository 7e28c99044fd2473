import type { Config } from '../config/config.js';
import type { MetricRecord } from '../record/record.js';
import type { Logger } from '../log/logger.js';
import type { Sink } from '../sink/sink.js';
import type { CycleObserver } from '../health/self-metrics.js';
import type { Scheduler } from '../schedule/scheduler.js';
import type { Observation } from '../source/source.js';
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
}

/** What the daemon is built from; all made once at start-up. */
export interface DaemonDeps extends Omit<ObserveDeps, 'identity'> {
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
    const observation = await this.deps.source.collect(this.abort.signal);
    return this.deliver(observation, t0, cpu0);
  }

  /**
   * Names, builds and writes one observation's records. They are written even when the source
   * failed during the window (what it counted is kept); the cycle then fails, so it is counted
   * and backed off.
   */
  private async deliver(
    observation: Observation,
    t0 = performance.now(),
    cpu0 = process.cpuUsage(),
  ): Promise<CycleReport> {
    const { log } = this.deps;
    for (const issue of observation.issues.slice(0, 20)) {
      log.warn({ line: issue.line, raw: issue.raw }, `parse: line ${issue.line} skipped: ${issue.reason}`);
    }
    if (observation.ending === 'deadline') {
      log.info({ ending: observation.ending }, 'capture: iftop printed no table');
    }
    if (!observation.counters && !this.countersWarned) {
      this.countersWarned = true;
      log.warn(
        { error: observation.countersError },
        `capture: interface counters not readable, no nstat_interface points: ${observation.countersError ?? ''}`,
      );
    }
    const observed = await complete({ ...this.deps, identity: this.config.identity }, observation);
    const t1 = performance.now();
    // Resolves once the records are in the spool; delivery goes on in the background.
    await this.deps.sink.write(observed.records);
    if (observation.failure) throw observation.failure;
    const cpu = process.cpuUsage(cpu0);
    const seconds = observation.end.getTime() - observation.start.getTime();
    return {
      flows: observation.flows.length,
      points: observed.records.length,
      parseIssues: observation.issues.length,
      ending: observation.ending,
      durationMs: Math.round(performance.now() - t0),
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      captureMs: Math.round(seconds),
      parseMs: Math.round(observation.parseMs * 10) / 10,
      nameMs: Math.round(observed.resolveMs),
      writeMs: Math.round(performance.now() - t1),
      ...(observation.mode === 'continuous' ? { snapshots: observation.tables } : {}),
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
    const last = await this.deps.source.stop(deadline);
    if (last) {
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
