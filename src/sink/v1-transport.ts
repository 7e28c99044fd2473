import type { CommunicationObserver, SendOptions, Transport } from '@influxdata/influxdb-client';

/** Where and how to write on an InfluxDB 1.x server older than 1.8 (no `/api/v2/write`). */
export interface V1Target {
  readonly database: string;
  readonly retentionPolicy?: string;
  readonly username?: string;
  readonly password?: string;
}

const PRECISION: Readonly<Record<string, string>> = { ns: 'n', us: 'u', ms: 'ms', s: 's' };

/** `/api/v2/write?org=..&bucket=..&precision=ms` -> `/write?db=..&rp=..&precision=ms`. */
export function v1WritePath(v2Path: string, target: V1Target): string {
  const query = new URLSearchParams(v2Path.slice(v2Path.indexOf('?') + 1));
  const params = new URLSearchParams({ db: target.database });
  if (target.retentionPolicy) params.set('rp', target.retentionPolicy);
  params.set('precision', PRECISION[query.get('precision') ?? 'ns'] ?? 'n');
  const consistency = query.get('consistency');
  if (consistency) params.set('consistency', consistency);
  return `/write?${params.toString()}`;
}

/** The `Authorization` header of basic auth for a v1 user (InfluxDB 1.x's HTTP authentication). */
export function basicAuthorization(username: string, password = ''): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/**
 * Lets the client's WriteApi (its batching, retries and back-off) write to InfluxDB 1.x before 1.8:
 * write requests are sent to `/write?db=` instead of `/api/v2/write`, with basic auth when a user is
 * set. Everything else passes through to the client's own transport unchanged.
 */
export class V1WriteTransport implements Transport {
  readonly chunkCombiner: Transport['chunkCombiner'];

  constructor(
    private readonly base: Transport,
    private readonly target: V1Target,
  ) {
    this.chunkCombiner = base.chunkCombiner;
  }

  private rewrite(path: string, options: SendOptions): [string, SendOptions] {
    if (!path.startsWith('/api/v2/write')) return [path, options];
    const headers = { ...options.headers };
    if (this.target.username !== undefined)
      headers.authorization = basicAuthorization(this.target.username, this.target.password);
    return [v1WritePath(path, this.target), { ...options, headers }];
  }

  send(
    path: string,
    body: string,
    options: SendOptions,
    callbacks?: Partial<CommunicationObserver<Uint8Array>>,
  ): void {
    const [p, o] = this.rewrite(path, options);
    this.base.send(p, body, o, callbacks);
  }

  request(
    path: string,
    body: unknown,
    options: SendOptions,
    responseStarted?: Parameters<Transport['request']>[3],
  ): Promise<unknown> {
    const [p, o] = this.rewrite(path, options);
    return this.base.request(p, body, o, responseStarted) as Promise<unknown>;
  }

  iterate(path: string, body: unknown, options: SendOptions): AsyncIterableIterator<Uint8Array> {
    const [p, o] = this.rewrite(path, options);
    return this.base.iterate(p, body, o);
  }
}
