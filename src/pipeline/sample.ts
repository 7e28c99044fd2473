import type { Capture, CaptureResult } from '../capture/capture.js';
import { readInterfaceCounters, type InterfaceCounters } from '../capture/interface-counters.js';
import type { CaptureConfig } from '../config/config.js';
import type { PeerNamer } from '../enrich/peer-namer.js';
import { foldEphemeralPorts } from '../parse/fold-ports.js';
import { parseIftop } from '../parse/iftop-parser.js';
import type { Flow, ParseIssue, Snapshot } from '../parse/types.js';
import type { NamedFlow } from '../sink/points.js';

/** One sample taken through capture -> parse -> enrich. */
export interface Sample {
  readonly interface: string;
  readonly capture: CaptureResult;
  /** The last table iftop printed; undefined when it printed none (an idle interface). */
  readonly snapshot?: Snapshot;
  readonly flows: readonly NamedFlow[];
  readonly issues: readonly ParseIssue[];
  /**
   * The interface's kernel counters just before and just after the capture; undefined when they
   * cannot be read (the reason is in `countersError`).
   */
  readonly counters?: { readonly before: InterfaceCounters; readonly after: InterfaceCounters };
  readonly countersError?: string;
  /** Milliseconds spent in each stage. */
  readonly timings: { readonly captureMs: number; readonly parseMs: number; readonly nameMs: number };
}

/** What a sample needs, built once at start-up. */
export interface SampleDeps {
  readonly capture: Capture;
  /** Undefined: no naming, peers keep their IP. */
  readonly namer?: PeerNamer;
  readonly dnsBudgetMs: number;
  /** Where the interface counters are read; default /sys/class/net. */
  readonly sysClassNet?: string;
}

/** Names both peers of every flow within the DNS budget; a peer without a name keeps its IP. */
export async function nameFlows(
  deps: Pick<SampleDeps, 'namer' | 'dnsBudgetMs'>,
  flows: readonly Flow[],
): Promise<NamedFlow[]> {
  const names = deps.namer
    ? await deps.namer.nameAll(
        flows.flatMap((f) => [f.source.address, f.destination.address]),
        deps.dnsBudgetMs,
      )
    : new Map<string, string>();
  return flows.map((flow) => ({
    flow,
    sourceName: names.get(flow.source.address) ?? flow.source.address,
    destinationName: names.get(flow.destination.address) ?? flow.destination.address,
  }));
}

/** Captures on an interface, parses iftop's text and names the peers of every flow. */
export async function takeSample(
  deps: SampleDeps,
  capture: CaptureConfig & { readonly interface: string },
  signal?: AbortSignal,
): Promise<Sample> {
  const t0 = performance.now();
  const read = () => readInterfaceCounters(capture.interface, deps.sysClassNet);
  const before = await read().catch((err: unknown) => err as Error);
  const result = await deps.capture.capture({
    interface: capture.interface,
    sampleSeconds: capture.sampleSeconds,
    flowLimit: capture.flowLimit,
    ports: capture.ports,
    ...(signal ? { signal } : {}),
  });
  const after = before instanceof Error ? before : await read().catch((err: unknown) => err as Error);
  const t1 = performance.now();
  const parsed = parseIftop(result.text);
  const snapshot = parsed.snapshots.at(-1);
  const t2 = performance.now();
  const listed = snapshot?.flows ?? [];
  const flows = capture.ports && capture.foldPorts ? foldEphemeralPorts(listed) : listed;
  const named = await nameFlows(deps, flows);
  const t3 = performance.now();
  return {
    interface: capture.interface,
    capture: result,
    ...(snapshot ? { snapshot } : {}),
    flows: named,
    issues: parsed.issues,
    ...(before instanceof Error || after instanceof Error
      ? { countersError: (before instanceof Error ? before : (after as Error)).message }
      : { counters: { before, after } }),
    timings: { captureMs: t1 - t0, parseMs: t2 - t1, nameMs: t3 - t2 },
  };
}
