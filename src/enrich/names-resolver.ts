import { HttpError } from '@influxdata/influxdb-client';
import { LRUCache } from 'lru-cache';
import type { Identity } from '../kube/cluster-index.js';
import { peerInfoOf } from '../kube/peer-info.js';
import type { Logger } from '../log/logger.js';
import { LOOKUP_PATH, MAX_ADDRESSES, parseLookupResponse } from '../names/protocol.js';
import { HttpTransport } from '../sink/http-transport.js';
import type { PeerInfo, Resolver } from './resolver.js';
import { errorText } from '../util/error-text.js';

export interface NamesResolverOptions {
  /** The names service's base URL. */
  readonly url: string;
  readonly timeoutMs: number;
  /** How long an answer is kept. */
  readonly ttlSeconds: number;
  readonly cacheSize: number;
  readonly podNames: boolean;
  readonly log: Logger;
  readonly now?: () => number;
}

/**
 * Peers named by the cluster's names service (`nstats names`): the addresses not in the cache go
 * in one look-up (a few when there are more than MAX_ADDRESSES), bounded by the cycle's budget and
 * the request timeout. Answers are kept for `ttlSeconds`, external ones too (DNS then names them).
 * While the service cannot be reached or is not ready, nothing is answered (the addresses count
 * as errors) and the next resolver names the peers: that is logged once as a warning, and once
 * more when the service answers again.
 */
export class NamesResolver implements Resolver {
  readonly name = 'names';
  private readonly transport: HttpTransport;
  private readonly cache: LRUCache<string, Identity>;
  private failing: string | undefined;
  private abort = new AbortController();

  constructor(private readonly o: NamesResolverOptions) {
    this.transport = new HttpTransport({ url: o.url, timeoutMs: o.timeoutMs });
    this.cache = new LRUCache<string, Identity>({
      max: o.cacheSize,
      ttl: Math.max(1, o.ttlSeconds * 1000),
      ttlAutopurge: false,
      ttlResolution: 0,
      ...(o.now ? { perf: { now: o.now } } : {}),
    });
  }

  async resolve(
    addresses: readonly string[],
    budgetMs: number,
  ): Promise<{ found: Map<string, PeerInfo>; errors: number }> {
    const found = new Map<string, PeerInfo>();
    const missing: string[] = [];
    for (const a of addresses) {
      const id = this.o.ttlSeconds > 0 ? this.cache.get(a) : undefined;
      if (id) found.set(a, peerInfoOf(id, this.o.podNames));
      else missing.push(a);
    }
    if (missing.length === 0) return { found, errors: 0 };
    let errors = 0;
    const deadline = AbortSignal.timeout(Math.max(1, Math.min(budgetMs, this.o.timeoutMs)));
    const signal = AbortSignal.any([deadline, this.abort.signal]);
    for (let i = 0; i < missing.length; i += MAX_ADDRESSES) {
      const part = missing.slice(i, i + MAX_ADDRESSES);
      try {
        const answer = await this.transport.request(
          LOOKUP_PATH,
          { addresses: part },
          { method: 'POST', signal, headers: { accept: 'application/json' } },
        );
        const identities = parseLookupResponse(answer);
        for (const a of part) {
          const id = identities.get(a);
          if (!id) {
            errors++;
            continue;
          }
          this.cache.set(a, id);
          found.set(a, peerInfoOf(id, this.o.podNames));
        }
        this.recovered();
      } catch (err) {
        errors += part.length;
        this.failed(err, deadline.aborted);
      }
    }
    return { found, errors };
  }

  close(): void {
    this.abort.abort();
    this.abort = new AbortController();
  }

  private failed(err: unknown, timedOut: boolean): void {
    const why = timedOut ? 'no answer within the budget' : reason(err);
    if (this.failing === undefined) {
      this.o.log.warn(
        { url: this.o.url, err: why },
        `names: the names service at ${this.o.url} cannot name peers (${why}); reverse DNS and the IP name them until it answers`,
      );
    } else {
      this.o.log.debug({ url: this.o.url, err: why }, `names: look-up failed (${why})`);
    }
    this.failing = why;
  }

  private recovered(): void {
    if (this.failing === undefined) return;
    this.o.log.info({ url: this.o.url }, `names: the names service at ${this.o.url} answers again`);
    this.failing = undefined;
  }
}

function reason(err: unknown): string {
  if (err instanceof HttpError) {
    const json = err.json as { error?: unknown } | undefined;
    return `HTTP ${err.statusCode}${typeof json?.error === 'string' ? `: ${json.error}` : ''}`;
  }
  return errorText(err);
}
