import { LRUCache } from 'lru-cache';
import pLimit from 'p-limit';
import type { PeerInfo, Resolver } from './resolver.js';
import type { ReverseLookup } from './reverse-lookup.js';

/** Options of the reverse-DNS cache (see DnsConfig for the defaults). */
export interface DnsResolverOptions {
  /** Per-lookup bound, on top of the resolver's own timeout. */
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly cacheSize: number;
  readonly ttlSeconds: number;
  readonly negativeTtlSeconds: number;
  /** The clock, for the cache's TTLs; injectable. */
  readonly now?: () => number;
}

/** Counters of the naming stage since start-up. */
export interface DnsResolverStats {
  hits: number;
  misses: number;
  timeouts: number;
  failures: number;
  /** Lookups that joined one already in flight for the same address. */
  joined: number;
}

/** A cached answer: the name, or `null` for "no name" (negative entry), `failed` when the lookup did. */
type Entry = { readonly name: string | null; readonly failed?: true };

class LookupTimeout extends Error {
  override readonly name = 'LookupTimeout';
}

/**
 * Names peers by reverse DNS: an LRU cache with a TTL (names) and a shorter one (no name, failures),
 * a timeout per lookup, a bound on parallel lookups, and one lookup in flight per address.
 * `resolve` never waits past its budget: peers not named in time keep their IP for this cycle and
 * the lookups go on to fill the cache for the next.
 */
export class DnsResolver implements Resolver {
  readonly name = 'dns';
  readonly stats: DnsResolverStats = { hits: 0, misses: 0, timeouts: 0, failures: 0, joined: 0 };
  private readonly cache: LRUCache<string, Entry>;
  private readonly inFlight = new Map<string, Promise<Entry>>();
  private readonly limit: ReturnType<typeof pLimit>;

  constructor(
    private readonly lookup: ReverseLookup,
    private readonly options: DnsResolverOptions,
  ) {
    const now = options.now;
    this.cache = new LRUCache<string, Entry>({
      max: options.cacheSize,
      ttlAutopurge: false,
      // Read the clock on every get (its default caches it for 1 ms behind a timer).
      ttlResolution: 0,
      ...(now ? { perf: { now } } : {}),
    });
    this.limit = pLimit(options.concurrency);
  }

  /** The cached name of an address: a string, `null` for a cached "no name", undefined if not cached. */
  cached(address: string): string | null | undefined {
    return this.cache.get(address)?.name;
  }

  /** The name of one address, or null. Never rejects. */
  nameOf(address: string): Promise<string | null> {
    return this.entry(address).then((e) => e.name);
  }

  private entry(address: string): Promise<Entry> {
    const entry = this.cache.get(address);
    if (entry) {
      this.stats.hits++;
      return Promise.resolve(entry);
    }
    const running = this.inFlight.get(address);
    if (running) {
      this.stats.joined++;
      return running;
    }
    this.stats.misses++;
    const task = this.limit(() => this.query(address)).finally(() => this.inFlight.delete(address));
    this.inFlight.set(address, task);
    return task;
  }

  /**
   * Names many addresses within `budgetMs`: the names found in time. An address with no name is
   * absent; `errors` counts those whose lookup failed or had not answered when the budget ran out
   * (they go on, to fill the cache for the next cycle).
   */
  async resolve(
    addresses: readonly string[],
    budgetMs: number,
  ): Promise<{ found: Map<string, PeerInfo>; errors: number }> {
    const unique = [...new Set(addresses)];
    const found = new Map<string, PeerInfo>();
    let answered = 0;
    let failed = 0;
    const pending = unique.map((address) =>
      this.entry(address).then((e) => {
        answered++;
        if (e.name) found.set(address, { name: e.name });
        else if (e.failed) failed++;
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, budgetMs);
      timer.unref();
    });
    await Promise.race([Promise.all(pending), budget]);
    clearTimeout(timer);
    // A snapshot: names arriving later go to the cache, not into this cycle's answer.
    return { found: new Map(found), errors: failed + (unique.length - answered) };
  }

  /** Cancels lookups in flight (their addresses stay unnamed); for one-shot commands. */
  close(): void {
    this.lookup.cancel?.();
  }

  /** A TTL of 0 means "do not cache" (lru-cache would read 0 as "forever"). */
  private remember(address: string, entry: Entry, ttlSeconds: number): void {
    if (ttlSeconds > 0) this.cache.set(address, entry, { ttl: ttlSeconds * 1000 });
  }

  private async query(address: string): Promise<Entry> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const names = await Promise.race([
        this.lookup(address),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new LookupTimeout()), this.options.timeoutMs);
          timer.unref();
        }),
      ]);
      const entry: Entry = { name: names.find((n) => n.length > 0) ?? null };
      this.remember(address, entry, entry.name ? this.options.ttlSeconds : this.options.negativeTtlSeconds);
      return entry;
    } catch (err) {
      const timedOut = err instanceof LookupTimeout || (err as NodeJS.ErrnoException).code === 'ETIMEOUT';
      if (timedOut) this.stats.timeouts++;
      else this.stats.failures++;
      const entry: Entry = { name: null, failed: true };
      this.remember(address, entry, this.options.negativeTtlSeconds);
      return entry;
    } finally {
      clearTimeout(timer);
    }
  }
}
