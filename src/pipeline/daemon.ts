import type { Config } from '../config/config.js';
import type { MetricRecord } from '../record/record.js';
import type { Logger } from '../log/logger.js';
import {
  buildInterfacePoint,
  buildPeriodRemainderPoint,
  buildPoints,
  buildRemainderPoint,
} from '../sink/points.js';
import type { ContinuousSource } from './continuous.js';
import type { Sink } from '../sink/sink.js';
import type { CycleObserver } from '../health/self-metrics.js';
import type { Scheduler } from '../schedule/scheduler.js';
import { nameFlows, takeSample, type SampleDeps } from './sample.js';

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
export interface DaemonDeps extends SampleDeps {
  readonly sink: Sink;
  readonly log: Logger;
  readonly makeScheduler: (job: () => Promise<void>) => Scheduler;
  /** Told of every cycle's outcome (self-metrics, health). */
  readonly observer?: CycleObserver;
  /** After each cycle, a point of nstats' own counters to write too (NSTATS_INTERNAL_METRICS). */
  readonly selfPoint?: (time: Date) => MetricRecord;
  /** Continuous mode (NSTATS_MODE=continuous): one running iftop; each tick takes its period. */
  readonly continuous?: ContinuousSource;
}

/**
 * `nstats run`: on every tick, capture -> parse -> name -> points -> sink. A failing cycle is
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
    if (this.deps.continuous) {
      const source = this.deps.continuous;
      this.startingSource = source.start().catch((err: unknown) => {
        log.error({ err }, `capture: cannot start iftop: ${(err as Error).message}`);
      });
    }
    this.scheduler.start();
    log.info(
      {
        interface: this.config.capture.interface,
        mode: this.deps.continuous ? 'continuous' : 'sampled',
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
          // Back off: after the n-th failure in a row skip 2^(n-1) - 1 ticks, at most 7.
          this.failures++;
          this.skipTicks = Math.min(2 ** (this.failures - 1), MAX_BACKOFF_TICKS) - 1;
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
    if (this.deps.continuous) return this.continuousCycle(this.deps.continuous);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const sample = await takeSample(this.deps, this.config.capture, this.abort.signal);
    for (const issue of sample.issues.slice(0, 20)) {
      this.deps.log.warn(
        { line: issue.line, raw: issue.raw },
        `parse: line ${issue.line} skipped: ${issue.reason}`,
      );
    }
    if (!sample.snapshot) {
      this.deps.log.info(
        { ending: sample.capture.ending },
        'capture: iftop printed no table (no traffic after the sample)',
      );
    }
    const ctx = {
      identity: this.config.identity,
      interface: sample.interface,
      time: sample.capture.endedAt,
    };
    const points = buildPoints(sample.flows, ctx);
    const remainder = sample.snapshot
      ? buildRemainderPoint(sample.snapshot, this.config.capture.flowLimit, ctx)
      : undefined;
    if (remainder) points.push(remainder);
    if (sample.counters) {
      points.push(buildInterfacePoint(sample.counters, ctx));
    } else if (!this.countersWarned) {
      this.countersWarned = true;
      this.deps.log.warn(
        { error: sample.countersError },
        `capture: interface counters not readable, no nstat_interface points: ${sample.countersError ?? ''}`,
      );
    }
    const t1 = performance.now();
    // Resolves once the points are in the spool; delivery goes on in the background.
    await this.deps.sink.write(points);
    const cpu = process.cpuUsage(cpu0);
    return {
      flows: sample.flows.length,
      points: points.length,
      parseIssues: sample.issues.length,
      ending: sample.capture.ending,
      durationMs: Math.round(performance.now() - t0),
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      captureMs: Math.round(sample.timings.captureMs),
      parseMs: Math.round(sample.timings.parseMs * 10) / 10,
      nameMs: Math.round(sample.timings.nameMs),
      writeMs: Math.round(performance.now() - t1),
      ...(this.deps.namer ? { dns: { ...this.deps.namer.stats } } : {}),
    };
  }

  /**
   * Continuous mode: the period since the last tick, with exact bytes per flow, its remainder and
   * the interface counters over the same span. Its points are written even when iftop failed during
   * the period (what it counted is kept); the cycle then fails, so it is counted and backed off.
   */
  private async continuousCycle(source: ContinuousSource): Promise<CycleReport> {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await this.startingSource;
    const take = await source.take();
    const now = take.period.end;
    for (const issue of take.issues.slice(0, 20)) {
      this.deps.log.warn({ line: issue.line, raw: issue.raw }, `parse: line skipped: ${issue.reason}`);
    }
    const t1 = performance.now();
    const flows = take.period.flows;
    const named = await nameFlows(this.deps, flows);
    const t2 = performance.now();
    const ctx = { identity: this.config.identity, interface: this.config.capture.interface, time: now };
    const seconds = (take.period.end.getTime() - take.period.start.getTime()) / 1000;
    const points = buildPoints(named, ctx);
    const remainder = buildPeriodRemainderPoint(take.period.remainder, Math.max(seconds, 0.001), ctx);
    if (remainder) points.push(remainder);
    if (take.counters) points.push(buildInterfacePoint(take.counters, ctx));
    const t3 = performance.now();
    await this.deps.sink.write(points);
    if (take.failure) throw take.failure;
    const cpu = process.cpuUsage(cpu0);
    return {
      flows: flows.length,
      points: points.length,
      parseIssues: take.issues.length,
      ending: 'continuous',
      durationMs: Math.round(performance.now() - t0),
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      captureMs: Math.round(seconds * 1000),
      parseMs: 0,
      nameMs: Math.round(t2 - t1),
      writeMs: Math.round(performance.now() - t3),
      snapshots: take.period.snapshots,
      ...(this.deps.namer ? { dns: { ...this.deps.namer.stats } } : {}),
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
    if (this.deps.continuous) {
      // iftop stops; what it counted since the last tick is written as one last, shorter period.
      await this.startingSource;
      await this.deps.continuous.stop(deadline);
      await this.continuousCycle(this.deps.continuous).then(
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
