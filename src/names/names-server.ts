import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { close, listen } from '../util/http-server.js';
import { exposition, type Family } from '../health/exposition.js';
import type { Identity } from '../kube/cluster-index.js';
import { LOOKUP_PATH, MAX_BODY_BYTES, parseLookupRequest, parsePodsRequest, PODS_PATH } from './protocol.js';

/** What the names server answers from: the cluster index, and whether it is ready. */
export interface NamesSource {
  readonly ready: boolean;
  /** Why it is not ready, for `/readyz` and 503 answers. */
  readonly waitingFor: string;
  lookup(address: string): Identity;
  /** The pod of a UID (the API's, or a static pod's hash); undefined when not known. */
  pod(uid: string): Identity | undefined;
  families(): Family[];
}

/**
 * `nstats names`' HTTP server: `POST /v1/lookup` and `POST /v1/pods` (see protocol.ts), `/livez`, `/readyz` (200 once
 * the first lists are in) and `/metrics`.
 */
export class NamesServer {
  private server: Server | undefined;
  private readonly requests = { ok: 0, bad: 0, notReady: 0 };
  private addresses = 0;
  private uids = 0;

  constructor(private readonly source: NamesSource) {}

  async start(port: number, host: string): Promise<number> {
    const server = createServer((req, res) => void this.handle(req, res));
    const bound = await listen(server, port, host);
    this.server = server;
    return bound;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await close(server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path === LOOKUP_PATH || path === PODS_PATH) {
      if (req.method !== 'POST') return void res.writeHead(405, { allow: 'POST' }).end();
      return this.lookup(req, res, path === PODS_PATH);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    if (path === '/livez') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    if (path === '/readyz') {
      const ready = this.source.ready;
      return void res
        .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ready ? 'ready\n' : `not ready: ${this.source.waitingFor}\n`);
    }
    if (path === '/metrics')
      return void res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(this.metrics());
    res
      .writeHead(404, { 'content-type': 'text/plain' })
      .end(`not found: ${LOOKUP_PATH}, ${PODS_PATH}, /livez, /readyz, /metrics\n`);
  }

  private async lookup(req: IncomingMessage, res: ServerResponse, byUid: boolean): Promise<void> {
    let body: string;
    try {
      body = await readBody(req, MAX_BODY_BYTES);
    } catch (err) {
      this.requests.bad++;
      return json(res, 413, { error: (err as Error).message });
    }
    let addresses: string[];
    try {
      addresses = byUid ? parsePodsRequest(body) : parseLookupRequest(body);
    } catch (err) {
      this.requests.bad++;
      return json(res, 400, { error: (err as Error).message });
    }
    if (!this.source.ready) {
      this.requests.notReady++;
      return json(res, 503, { error: `not ready: ${this.source.waitingFor}` });
    }
    this.requests.ok++;
    if (byUid) {
      const pods: Record<string, Identity | null> = {};
      for (const uid of addresses) pods[uid] = this.source.pod(uid) ?? null;
      this.uids += addresses.length;
      return json(res, 200, { pods });
    }
    const identities: Record<string, Identity> = {};
    for (const a of addresses) identities[a] = this.source.lookup(a);
    this.addresses += addresses.length;
    json(res, 200, { identities });
  }

  private metrics(): string {
    return exposition([
      {
        name: 'nstats_names_requests_total',
        help: 'Look-up requests, by result: ok, bad (400/413), not_ready (503).',
        type: 'counter',
        samples: [
          { labels: { result: 'ok' }, value: this.requests.ok },
          { labels: { result: 'bad' }, value: this.requests.bad },
          { labels: { result: 'not_ready' }, value: this.requests.notReady },
        ],
      },
      {
        name: 'nstats_names_addresses_total',
        help: 'Addresses answered.',
        type: 'counter',
        samples: [{ value: this.addresses }],
      },
      {
        name: 'nstats_names_pod_uids_total',
        help: 'Pod UIDs answered (POST /v1/pods, the node agent).',
        type: 'counter',
        samples: [{ value: this.uids }],
      },
      {
        name: 'nstats_names_ready',
        help: '1 once pods, Services and nodes have been listed.',
        type: 'gauge',
        samples: [{ value: this.source.ready ? 1 : 0 }],
      },
      ...this.source.families(),
    ]);
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** The request's body as text, refusing one larger than `max` bytes. */
function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        reject(new Error(`expected a body of at most ${max} bytes`));
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
