import type { CaptureError } from '../capture/errors.js';
import { iftopSeconds } from '../capture/iftop-args.js';
import { IftopStream, type IftopStreamOptions, type StreamLike } from '../capture/iftop-stream.js';
import { readInterfaceCounters, type InterfaceCounters } from '../capture/interface-counters.js';
import type { CaptureConfig } from '../config/config.js';
import { foldEphemeralPorts } from '../parse/fold-ports.js';
import { parseIftop } from '../parse/iftop-parser.js';
import type { Snapshot } from '../parse/types.js';
import type { Observation, ObservationEnding, Remainder, Source } from './source.js';

/** What a sampled source runs: the capture settings, on one interface. */
export interface SampledIftopOptions extends Pick<
  CaptureConfig,
  'sampleSeconds' | 'flowLimit' | 'ports' | 'foldPorts' | 'iftopPath' | 'graceMs'
> {
  readonly interface: string;
  /** Where the interface counters are read; default /sys/class/net. */
  readonly sysClassNet?: string;
  /** Reads the interface counters instead (another namespace's, for the node agent). */
  readonly readCounters?: () => Promise<InterfaceCounters>;
  /** A command iftop runs under (see IftopStreamOptions.wrapper). */
  readonly wrapper?: () => readonly string[];
  readonly makeStream?: (options: IftopStreamOptions) => StreamLike;
}

/** After the window, how long iftop may take to close its open slot and print it. */
const SLOT_WAIT_MS = 2500;
/** When the window is cut short, the same, shorter: a user pressed Ctrl-C. */
const ABORT_SLOT_WAIT_MS = 1000;

/**
 * The traffic beyond the listed flows, from iftop's totals, when iftop listed as many flows as
 * its limit allowed (else it listed them all). iftop prints three significant digits, so the flows
 * and the remainder add up to its totals to about 0.5 %.
 */
export function tableRemainder(snapshot: Snapshot, flowLimit: number): Remainder | undefined {
  const t = snapshot.totals;
  if (!t || snapshot.flows.length < flowLimit) return undefined;
  let sent = 0;
  let received = 0;
  let sendRate = 0;
  let receiveRate = 0;
  for (const f of snapshot.flows) {
    sent += f.sent.cumulativeBytes;
    received += f.received.cumulativeBytes;
    sendRate += f.sent.rates.last10s;
    receiveRate += f.received.rates.last10s;
  }
  return {
    sendRate: Math.max(0, t.sendRate.last10s - sendRate),
    receiveRate: Math.max(0, t.receiveRate.last10s - receiveRate),
    sentBytes: Math.max(0, Math.round(t.cumulative.sentBytes - sent)),
    receivedBytes: Math.max(0, Math.round(t.cumulative.receivedBytes - received)),
  };
}

/** What one window of iftop text says: its last table read as the sample. */
export function sampledObservation(
  text: string | undefined,
  o: Pick<SampledIftopOptions, 'interface' | 'flowLimit' | 'ports' | 'foldPorts'> & {
    readonly command: string;
    readonly start: Date;
    readonly end: Date;
    readonly ending: ObservationEnding;
    readonly tables: number;
  },
): Observation {
  const t0 = performance.now();
  const parsed = text === undefined ? undefined : parseIftop(text);
  const snapshot = parsed?.snapshots.at(-1);
  const listed = snapshot?.flows ?? [];
  const flows = o.ports && o.foldPorts ? foldEphemeralPorts(listed) : listed;
  const remainder = snapshot ? tableRemainder(snapshot, o.flowLimit) : undefined;
  return {
    mode: 'sampled',
    interface: o.interface,
    command: o.command,
    start: o.start,
    end: o.end,
    ending: o.ending,
    flows,
    ...(remainder ? { remainder } : {}),
    ...(snapshot?.totals ? { totals: snapshot.totals } : {}),
    tables: o.tables,
    issues: parsed?.issues ?? [],
    parseMs: performance.now() - t0,
  };
}

/**
 * Sampled mode: each collect runs iftop for one window (the sample plus its partial first slot,
 * see iftopSeconds) and reads the last table it printed. iftop runs without `-s`, as in continuous
 * mode: its tables come as it prints them, and at the window's end the `u` key makes it close
 * and print its open slot (see IftopStream.closeSlot), then SIGINT stops it. So a sample whose
 * traffic stopped early in the window still has its table: `iftop -s N` would print only if a
 * packet came after N s. Where iftop's output cannot be made line-buffered (no stdbuf), the key
 * is not sent and the sample is iftop's last table before SIGINT, which misses at most the last
 * slot (2 s).
 */
export class SampledIftopSource implements Source {
  readonly mode = 'sampled';

  constructor(private readonly options: SampledIftopOptions) {}

  /** Nothing runs between windows. */
  start(): Promise<void> {
    return Promise.resolve();
  }

  async collect(signal?: AbortSignal): Promise<Observation> {
    const o = this.options;
    const before = await this.readCounters();
    let last: string | undefined;
    let rest: string | undefined;
    let tables = 0;
    let failure: CaptureError | undefined;
    let exited!: () => void;
    const exitedEarly = new Promise<void>((resolve) => (exited = resolve));
    const stream = (o.makeStream ?? ((options) => new IftopStream(options)))({
      interface: o.interface,
      flowLimit: o.flowLimit,
      ports: o.ports,
      iftopPath: o.iftopPath,
      graceMs: o.graceMs,
      ...(o.wrapper ? { wrapper: o.wrapper } : {}),
      onTable: (text, _at, complete) => {
        if (!complete) {
          rest = text;
          return;
        }
        last = text;
        tables++;
      },
      onExit: (error) => {
        failure = error;
        exited();
      },
    });
    const start = new Date();
    stream.start();
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => exited();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    await Promise.race([
      new Promise((resolve) => (timer = setTimeout(resolve, iftopSeconds(o.sampleSeconds) * 1000))),
      exitedEarly,
    ]);
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    const aborted = signal?.aborted === true;
    await stream.stop(Date.now() + (aborted ? ABORT_SLOT_WAIT_MS : SLOT_WAIT_MS));
    const end = new Date();
    // A table printed before iftop failed is a sample: its data is whole. An iftop that exited by
    // itself with status 0 printed what it had.
    if (last === undefined && failure && failure.exitCode !== 0 && !aborted) throw failure;
    const after = before instanceof Error ? before : await this.readCounters();
    const ending: ObservationEnding = aborted ? 'aborted' : last === undefined ? 'deadline' : 'printed';
    // Without a whole table, what came is read for its issues (it may be a table cut off).
    const observation = sampledObservation(last ?? rest, {
      ...o,
      command: stream.command,
      start,
      end,
      ending,
      tables,
    });
    if (before instanceof Error || after instanceof Error) {
      return { ...observation, countersError: (before instanceof Error ? before : (after as Error)).message };
    }
    return { ...observation, counters: { before, after } };
  }

  /** Nothing is held between windows: a window in progress ends through collect's signal. */
  stop(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  private readCounters(): Promise<InterfaceCounters | Error> {
    const read =
      this.options.readCounters ??
      (() => readInterfaceCounters(this.options.interface, this.options.sysClassNet));
    return read().catch((err: unknown) => err as Error);
  }
}
