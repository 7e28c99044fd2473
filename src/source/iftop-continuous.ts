import type { CaptureError } from '../capture/errors.js';
import { readInterfaceCounters, type InterfaceCounters } from '../capture/interface-counters.js';
import { IftopStream, type IftopStreamOptions, type StreamLike } from '../capture/iftop-stream.js';
import type { CaptureConfig } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { ParseIssue } from '../parse/types.js';

import { FlowAccumulator } from './accumulator.js';
import type { Observation, Source } from './source.js';
import { backoff } from '../util/backoff.js';

/** What a continuous source runs: the capture settings, on one interface. */
export interface ContinuousOptions extends Pick<
  CaptureConfig,
  'flowLimit' | 'ports' | 'foldPorts' | 'iftopPath' | 'graceMs'
> {
  readonly interface: string;
  readonly log: Logger;
  /** Where the interface counters are read; default /sys/class/net. */
  readonly sysClassNet?: string;
  /** Reads the interface counters instead (another namespace's, for the node agent). */
  readonly readCounters?: () => Promise<InterfaceCounters>;
  /** A command iftop runs under (see IftopStreamOptions.wrapper). */
  readonly wrapper?: () => readonly string[];
  readonly makeStream?: (options: IftopStreamOptions) => StreamLike;
  /** Longest wait before restarting an iftop that exited. Default 60 s. */
  readonly maxRestartDelayMs?: number;
}

/**
 * Continuous mode: one iftop runs all the time, every table it prints is added to the current
 * period, and each tick of the schedule takes the period (exact bytes per flow since the last
 * tick) with the interface counters over the same span. An iftop that exits is restarted after
 * 1 s, doubling up to 60 s while it keeps failing; its tables up to then are kept.
 */
export class ContinuousIftopSource implements Source {
  readonly mode = 'continuous';
  private readonly stream: StreamLike;
  private readonly accumulator: FlowAccumulator;
  private issues: ParseIssue[] = [];
  private failure: CaptureError | undefined;
  private failuresInRow = 0;
  private snapshotsSinceTake = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private counters: InterfaceCounters | Error | undefined;
  private parseMsAtTake = 0;

  constructor(private readonly options: ContinuousOptions) {
    this.accumulator = new FlowAccumulator(options.flowLimit, options.foldPorts);
    const streamOptions: IftopStreamOptions = {
      interface: options.interface,
      flowLimit: options.flowLimit,
      ports: options.ports,
      iftopPath: options.iftopPath,
      graceMs: options.graceMs,
      ...(options.wrapper ? { wrapper: options.wrapper } : {}),
      onSnapshot: (snapshot) => {
        this.failuresInRow = 0;
        this.snapshotsSinceTake++;
        this.accumulator.add(snapshot);
      },
      onIssues: (issues) => {
        if (this.issues.length < 1000) this.issues.push(...issues.slice(0, 1000 - this.issues.length));
      },
      onExit: (error) => this.exited(error),
    };
    this.stream = (options.makeStream ?? ((o) => new IftopStream(o)))(streamOptions);
  }

  get command(): string {
    return this.stream.command;
  }

  /** Reads the counters and starts iftop. */
  async start(): Promise<void> {
    this.counters = await this.readCounters();
    this.accumulator.drain(new Date());
    this.stream.start();
  }

  private exited(error: CaptureError): void {
    this.failure = error;
    this.failuresInRow++;
    if (this.stopped) return;
    const delay = backoff(this.failuresInRow, 1000, this.options.maxRestartDelayMs ?? 60_000);
    this.options.log.error(
      { err: error, restartInMs: delay, failures: this.failuresInRow },
      `capture: iftop exited (${error.message}); restarting in ${Math.round(delay / 1000)} s`,
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) this.stream.start();
    }, delay);
    this.restartTimer.unref();
  }

  private readCounters(): Promise<InterfaceCounters | Error> {
    const read =
      this.options.readCounters ??
      (() => readInterfaceCounters(this.options.interface, this.options.sysClassNet));
    return read().catch((err: unknown) => err as Error);
  }

  /**
   * The period since the last collect (or start), ending once iftop has printed the slot that was
   * open, if one was due.
   */
  async collect(): Promise<Observation> {
    if (this.stream.running) await this.stream.closeSlot();
    return this.take(new Date());
  }

  /** The period up to `now`, as an observation. */
  private async take(now: Date): Promise<Observation> {
    const period = this.accumulator.drain(now);
    const after = await this.readCounters();
    const before = this.counters;
    this.counters = after;
    const issues = this.issues;
    this.issues = [];
    const failure = this.snapshotsSinceTake === 0 && !this.stream.running ? this.failure : undefined;
    this.snapshotsSinceTake = 0;
    const parseMs = this.stream.parseMs - this.parseMsAtTake;
    this.parseMsAtTake = this.stream.parseMs;
    const countersError =
      after instanceof Error ? after.message : before instanceof Error ? before.message : undefined;
    return {
      mode: 'continuous',
      interface: this.options.interface,
      command: this.stream.command,
      start: period.start,
      end: period.end,
      ending: 'continuous',
      flows: period.flows,
      ...(period.remainder ? { remainder: period.remainder } : {}),
      ...(before && !(before instanceof Error) && !(after instanceof Error)
        ? { counters: { before, after } }
        : { countersError: countersError ?? 'not read yet' }),
      tables: period.snapshots,
      issues,
      parseMs,
      ...(failure ? { failure } : {}),
    };
  }

  /**
   * Stops iftop once it has printed its open slot (waiting for it until `deadline` at most, ms
   * since the epoch), then SIGINT, then SIGKILL; and any pending restart. Resolves with what iftop
   * counted since the last collect: one last, shorter period.
   */
  async stop(deadline?: number): Promise<Observation> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.stream.stop(deadline);
    return this.take(new Date());
  }
}
