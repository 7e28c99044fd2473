import type { IdentityConfig } from '../config/config.js';
import type { PeerInfo, ResolverChain } from '../enrich/resolver.js';
import type { MetricRecord } from '../record/record.js';
import { buildRecords } from '../record/points.js';
import type { Observation, Source } from '../source/source.js';

/** What the stages between a source and the sinks need; made once at start-up. */
export interface ObserveDeps {
  readonly source: Source;
  /** Undefined: no naming, peers keep their IP. */
  readonly resolvers?: ResolverChain;
  /** Longest the resolvers may take per cycle, all together. */
  readonly resolveBudgetMs: number;
  readonly identity: IdentityConfig;
}

/** One window, from the source to its records. */
export interface Observed {
  readonly observation: Observation;
  /** What the resolvers knew of the observation's peers. */
  readonly peers: ReadonlyMap<string, PeerInfo>;
  readonly records: MetricRecord[];
  /** Milliseconds the resolvers took. */
  readonly resolveMs: number;
}

/**
 * Names the peers of an observation and builds its records: the one path from a source to the
 * sinks, for `nstats run` and `nstats once` alike.
 */
export async function complete(
  deps: Omit<ObserveDeps, 'source'>,
  observation: Observation,
): Promise<Observed> {
  const t0 = performance.now();
  const own = deps.identity.address;
  const peers = deps.resolvers
    ? await deps.resolvers.resolve(
        [
          ...(own ? [own] : []),
          ...observation.flows.flatMap((f) => [f.source.address, f.destination.address]),
        ],
        deps.resolveBudgetMs,
      )
    : new Map<string, PeerInfo>();
  const resolveMs = performance.now() - t0;
  // The pod's own workload, named like any peer from its own address (POD_IP).
  const workload = own ? peers.get(own)?.tags?.workload : undefined;
  const identity = workload && !deps.identity.workload ? { ...deps.identity, workload } : deps.identity;
  return { observation, peers, records: buildRecords(observation, peers, identity), resolveMs };
}

/** The source's next observation, named and made into records. */
export async function observe(deps: ObserveDeps, signal?: AbortSignal): Promise<Observed> {
  return complete(deps, await deps.source.collect(signal));
}
