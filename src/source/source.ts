import type { CaptureError } from '../capture/errors.js';
import type { IdentityConfig } from '../config/config.js';
import type { InterfaceCounters } from '../capture/interface-counters.js';
import type { Flow, ParseIssue, Totals } from '../parse/types.js';

/**
 * How an observation's rates were made, written as the `mode` tag of every point:
 * - `sampled`: one window of `sampleSeconds`; a flow's rates are iftop's 10 s averages at the
 *   window's end, its bytes what iftop counted for it during the window.
 * - `continuous`: the whole period since the last tick; a flow's bytes are exact for the period
 *   and its rates their mean over it.
 */
export type SourceMode = 'sampled' | 'continuous';

/** How an observation's window ended. */
export type ObservationEnding =
  /** The window ran its length and iftop printed its table. */
  | 'printed'
  /** The window ran its length and no table came (iftop printed nothing it could be made to). */
  | 'deadline'
  /** The window was cut short (a signal at `nstats once`, or the daemon stopping). */
  | 'aborted'
  /** A period of continuous capture. */
  | 'continuous';

/** Traffic beyond the flows listed: the source's totals minus the listed flows. */
export interface Remainder {
  readonly sentBytes: number;
  readonly receivedBytes: number;
  /** bits/s, in the same sense as the flows' rates of this mode. */
  readonly sendRate: number;
  readonly receiveRate: number;
}

/** What happened on the wire of one interface in one window. */
export interface Observation {
  readonly mode: SourceMode;
  readonly interface: string;
  /** The command that produced it (for messages and `once -f json`). */
  readonly command: string;
  readonly start: Date;
  readonly end: Date;
  readonly ending: ObservationEnding;
  /**
   * One per peer pair (and port, with ports on), busiest first: bytes each way in
   * `cumulativeBytes`, rates in bits/s (see SourceMode for what they mean).
   */
  readonly flows: readonly Flow[];
  /** Traffic of the flows beyond the flow limit; undefined when every flow was listed. */
  readonly remainder?: Remainder;
  /** The source's own totals at the end of the window, when it has them (sampled iftop). */
  readonly totals?: Totals;
  /** The interface's kernel counters at the window's start and end. */
  readonly counters?: { readonly before: InterfaceCounters; readonly after: InterfaceCounters };
  /** Why the counters are missing, when they are. */
  readonly countersError?: string;
  /** Tables the source read during the window. */
  readonly tables: number;
  /** Lines of the source's output that could not be read (at most 1,000 are kept). */
  readonly issues: readonly ParseIssue[];
  /** Milliseconds spent parsing the source's output. */
  readonly parseMs: number;
  /**
   * The capture failed during the window and nothing it printed covers the failure. What it
   * counted is still in the observation; the cycle writes it, then fails.
   */
  readonly failure?: CaptureError;
  /**
   * Whose traffic it is, when the source watches more than one pod (the node agent): the tags of
   * its points. Undefined: the configured identity (a sidecar's own pod).
   */
  readonly identity?: IdentityConfig;
}

/**
 * Where observations come from. Adding a source is one new file implementing this, and one line
 * in `src/cli/build.ts` (buildSource).
 */
export interface Source {
  readonly mode: SourceMode;
  /** Starts what runs across windows (a long-running capture); resolves when it runs. */
  start(): Promise<void>;
  /**
   * The next observation: for a sampled source, a new window of its length (cut short when
   * `signal` aborts); for a continuous one, the period since the last collect.
   * @throws CaptureError only when the capture cannot run at all before any window.
   */
  collect(signal?: AbortSignal): Promise<Observation>;
  /**
   * Stops the source (waiting for what it has open until `deadline` at most, ms since the epoch);
   * resolves with the last, shorter observation when the source held one.
   */
  stop(deadline?: number): Promise<Observation | undefined>;
}

/**
 * A source over many captures (the node agent: one per pod network namespace), each observation
 * tagged with its own `identity`. The daemon runs it as it runs a Source: on every tick all of its
 * observations go through the resolvers and records to the sinks, in one write.
 */
export interface MultiSource {
  readonly mode: SourceMode;
  readonly multi: true;
  start(): Promise<void>;
  /** An observation per capture: its period (or window) since the last collect. */
  collect(signal?: AbortSignal): Promise<readonly Observation[]>;
  /** Ends every capture; resolves with what each held since the last collect. */
  stop(deadline?: number): Promise<readonly Observation[]>;
}

export const isMultiSource = (s: Source | MultiSource): s is MultiSource => 'multi' in s && s.multi;
