/** What a resolver knows of one address. */
export interface PeerInfo {
  /**
   * The name to show for the peer (a point's `sender`/`receiver`). Absent when the resolver knows
   * something of the address but no name (the cluster knows it is `external`): later resolvers
   * are then asked for the name, and these tags are kept.
   */
  readonly name?: string;
  /**
   * More of what is known (a namespace, a workload, a kind), written as tags of the peer's side:
   * `namespace` becomes `senderNamespace` or `receiverNamespace`.
   */
  readonly tags?: Readonly<Record<string, string>>;
}

/** Counters of one resolver since start-up, by address asked. */
export interface ResolverCounts {
  /** Answered with a name. */
  hits: number;
  /** Known to have no name here. */
  misses: number;
  /** Failed, timed out, or not answered within the cycle's budget. */
  errors: number;
}

/**
 * From addresses to what is known of them. Adding a resolver is one new file implementing this,
 * and one line in `src/cli/build.ts` (buildResolvers).
 */
export interface Resolver {
  /** Its name in `/metrics` (`resolver` label) and logs. */
  readonly name: string;
  /**
   * What it knows of each address, by the time `budgetMs` has passed at most. An address it has
   * no answer for is absent; `errors` lists those that failed or were not answered in time.
   * Never rejects.
   */
  resolve(
    addresses: readonly string[],
    budgetMs: number,
  ): Promise<{ readonly found: Map<string, PeerInfo>; readonly errors: number }>;
  /** Stops lookups in flight (for one-shot commands). */
  close(): void;
}

/**
 * Resolvers asked in their configured order, sharing one budget: each is asked only for what the
 * ones before it did not name, the first name wins, and an address nobody names keeps its IP.
 * Tags of an answer without a name are kept and merged under the name a later resolver gives
 * (the earlier resolver's tags win); such an answer counts as a miss.
 */
export class ResolverChain {
  readonly counts: ReadonlyMap<string, ResolverCounts>;

  constructor(readonly resolvers: readonly Resolver[]) {
    this.counts = new Map(resolvers.map((r) => [r.name, { hits: 0, misses: 0, errors: 0 }]));
  }

  async resolve(addresses: Iterable<string>, budgetMs: number): Promise<Map<string, PeerInfo>> {
    const answers = new Map<string, PeerInfo>();
    let left = [...new Set(addresses)];
    const deadline = performance.now() + budgetMs;
    for (const resolver of this.resolvers) {
      if (left.length === 0) break;
      const counts = this.counts.get(resolver.name)!;
      const budget = Math.max(0, deadline - performance.now());
      const { found, errors } = await resolver.resolve(left, budget);
      let named = 0;
      for (const [address, info] of found) {
        const before = answers.get(address);
        const tags = before?.tags || info.tags ? { ...info.tags, ...before?.tags } : undefined;
        answers.set(address, { ...(info.name ? { name: info.name } : {}), ...(tags ? { tags } : {}) });
        if (info.name) named++;
      }
      counts.hits += named;
      counts.errors += errors;
      counts.misses += left.length - named - errors;
      left = left.filter((a) => !found.get(a)?.name);
    }
    return answers;
  }

  close(): void {
    for (const r of this.resolvers) r.close();
  }
}
