import { LRUCache } from 'lru-cache';
import pLimit from 'p-limit';
import type { ReverseLookup } from './resolver.js';

/** Options of the reverse-DNS cache (see DnsConfig for the defaults). */
export interface PeerNamerOptions {
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
export interface PeerNamerStats {
  hits: number;
  misses: number;
  timeouts: number;
  failures: number;
  /** Lookups that joined one already in flight for the same address. */
  joined: number;
}

/** A cached answer: the name, or `null` for "no name" (negative entry). */
type Entry = { name: string | null };

class LookupTimeout extends Error {
  override readonly name = 'LookupTimeout';
}

/**
 * Names peers by reverse DNS: an LRU cache with a TTL (names) and a shorter one (no name, failures),
 * a timeout per lookup, a bound on parallel lookups, and one lookup in flight per address.
 * `nameAll` never waits past its budget: peers not named in time keep their IP for this cycle and
 * the lookups go on to fill the cache for the next.
 */
export class PeerNamer {
  readonly stats: PeerNamerStats = { hits: 0, misses: 0, timeouts: 0, failures: 0, joined: 0 };
  private readonly cache: LRUCache<string, Entry>;
  private readonly inFlight = new Map<string, Promise<string | null>>();
  private readonly limit: ReturnType<typeof pLimit>;

  constructor(
    private readonly lookup: ReverseLookup,
    private readonly options: PeerNamerOptions,
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
  name(address: string): Promise<string | null> {
    const entry = this.cache.get(address);
    if (entry) {
      this.stats.hits++;
      return Promise.resolve(entry.name);
    }
    const running = this.inFlight.get(address);
    if (running) {
      this.stats.joined++;
      return running;
    }
    this.stats.misses++;
    const task = this.limit(() => this.resolve(address)).finally(() => this.inFlight.delete(address));
    this.inFlight.set(address, task);
    return task;
  }

  /**
   * Names many addresses within `budgetMs`. The map holds every address: its name, or the address
   * itself when it has none or was not named in time.
   */
  async nameAll(addresses: Iterable<string>, budgetMs: number): Promise<Map<string, string>> {
    const unique = [...new Set(addresses)];
    const names = new Map<string, string>(unique.map((a) => [a, a]));
    const pending = unique.map((address) =>
      this.name(address).then((name) => {
        if (name) names.set(address, name);
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
    return new Map(names);
  }

  /** Cancels lookups in flight (their addresses stay unnamed); for one-shot commands. */
  close(): void {
    this.lookup.cancel?.();
  }

  /** A TTL of 0 means "do not cache" (lru-cache would read 0 as "forever"). */
  private remember(address: string, name: string | null, ttlSeconds: number): void {
    if (ttlSeconds > 0) this.cache.set(address, { name }, { ttl: ttlSeconds * 1000 });
  }

  private async resolve(address: string): Promise<string | null> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const names = await Promise.race([
        this.lookup(address),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new LookupTimeout()), this.options.timeoutMs);
          timer.unref();
        }),
      ]);
      const name = names.find((n) => n.length > 0) ?? null;
      this.remember(address, name, name ? this.options.ttlSeconds : this.options.negativeTtlSeconds);
      return name;
    } catch (err) {
      const timedOut = err instanceof LookupTimeout || (err as NodeJS.ErrnoException).code === 'ETIMEOUT';
      if (timedOut) this.stats.timeouts++;
      else this.stats.failures++;
      this.remember(address, null, this.options.negativeTtlSeconds);
      return null;
    } finally {
      clearTimeout(timer);
    }
  }
}
