/**
 * A stand-in for the Kubernetes API server on 127.0.0.1 (random port) for integration tests: core/v1
 * `pods`, `services` and `nodes`, listed and watched over the same HTTP protocol and JSON shapes as a
 * real kube-apiserver, with switches for the failures a client must survive.
 *
 * Emulated: one resourceVersion counter over all resources (etcd's revision); lists with `limit` and
 * `continue` served from a consistent snapshot (the token is the apiserver's: base64url of
 * `{"v":"meta.k8s.io/v1","rv":N,"start":"<ns>/<name>\u0000"}`; once compacted past N it answers 410
 * Expired with a `metadata.continue` token that goes on at the latest state, as the apiserver does);
 * `resourceVersionMatch=Exact` lists at that revision; watches from an RV replay what followed it,
 * watches without one (or from "0") start with ADDED for every object; a watch from before the
 * compaction gets one ERROR 410 event and the stream ends; BOOKMARK events on demand to watches that
 * set `allowWatchBookmarks`; `timeoutSeconds` ends a watch cleanly (fractions allowed, for fast
 * tests); equality and set-based `labelSelector`, and `fieldSelector` (`a.b=x`, `!=`) on any field
 * path; with a selector, a watch sees an object leaving it as DELETED and entering it as ADDED;
 * namespaced paths; GET of one object; a bearer token check (401).
 * Not emulated: writes over HTTP (tests change state through add/modify/remove), graceful pod deletion
 * (deletionTimestamp, then DELETED), other API groups, discovery, /version, protobuf, the apiserver's
 * per-resource whitelist of field selectors, its default watch timeout, and "too large resource
 * version" (a watch from a future RV just waits).
 *
 * How @kubernetes/client-node 2.0.1 talks to it (read from its dist/ source):
 *   - It sends with undici's fetch. KubeConfig refuses an `http://` server unless the cluster has
 *     `insecure-skip-tls-verify: true` ("HTTP protocol is not allowed when skipTLSVerify is not set or
 *     false"), so writeKubeconfig sets it. With it set, each request gets a new undici Agent.
 *   - CoreV1Api: listPodForAllNamespaces -> GET /api/v1/pods, listServiceForAllNamespaces ->
 *     /api/v1/services, listNode -> /api/v1/nodes, listNamespacedPod -> /api/v1/namespaces/{ns}/pods,
 *     `Accept: application/json, *\/*;q=0.8`, `User-Agent: kubernetes-client-javascript/2.0.1`. The
 *     object-style parameter `_continue` goes out as `continue`; the others keep their names
 *     (`limit`, `resourceVersion`, `resourceVersionMatch`, `labelSelector`, `fieldSelector`,
 *     `allowWatchBookmarks`, `timeoutSeconds`, `watch`), only when defined. The list's
 *     `metadata.continue` comes back as `metadata._continue`, and timestamps as Dates. A non-2xx
 *     answer throws ApiException with `code` and `body` = the raw response text (401: body undefined).
 *   - Watch.watch(path, params, cb, done): GET <server><path>?watch=true&<params, each .toString()>,
 *     e.g. `allowWatchBookmarks=true`, with `Accept: *\/*` and `User-Agent: undici`.
 *     It splits the body into lines and calls cb(type, object, event) for each JSON line (bad lines are skipped). `done` is called once: null
 *     on a clean end (also after an ERROR event the server follows with the end), an Error with
 *     `statusCode` for a non-200 answer, the fetch error for a refused or cut connection.
 *     `watch.requestTimeoutMs` (default 30000) is a connect timeout, then an inactivity timeout
 *     reset by every chunk: on expiry done gets a DOMException named `TimeoutError`. The .d.ts
 *     declares it private, so TypeScript code sets it through a cast.
 *   - makeInformer/ListWatch: lists with the given function, then watches from the list's RV with only
 *     `resourceVersion` (no bookmarks, no timeoutSeconds); relists after a 410, re-watches after a clean
 *     end or a TimeoutError, but after any other error it emits `error` and stops: restarting it is
 *     the caller's business.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { finished } from 'node:stream';
import { timestamp } from './kube-objects.js';
import { freePort } from './servers.js';

export type Resource = 'pods' | 'services' | 'nodes';
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

const KINDS: Record<Resource, { kind: string; namespaced: boolean }> = {
  pods: { kind: 'Pod', namespaced: true },
  services: { kind: 'Service', namespaced: true },
  nodes: { kind: 'Node', namespaced: false },
};

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  generateName?: string;
  /** Namespaced resources only; add() defaults it to `default`. */
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
}

/** An object in the API's JSON shape. The store keeps it without `kind` and `apiVersion`. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: object;
  status?: object;
}

/** One request the fake received. */
export interface ApiRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Undefined for paths the fake does not serve. */
  resource?: Resource;
  /** From a namespaced path. */
  namespace?: string;
  verb: 'list' | 'watch' | 'get' | 'other';
  /** The status code answered (a watch's is 200 even when it then sends ERROR). */
  status: number;
}

/** What requestCount() counts: every given field must match; a query value `true` means "present". */
export interface RequestMatch {
  verb?: ApiRequest['verb'];
  resource?: Resource;
  namespace?: string;
  query?: Record<string, string | true>;
}

export interface FakeKubeApiOptions {
  /** Listen from the start (default true). With false the port is chosen but refuses until start(). */
  listening?: boolean;
  /** When set, every request must carry `Authorization: Bearer <token>`, else 401. */
  token?: string;
}

interface Change {
  rv: number;
  resource: Resource;
  type: EventType;
  /** The object after the change; for DELETED its last state with the deletion's RV. */
  object: KubeObject;
  /** The object before the change (undefined for ADDED): what a snapshot read undoes to. */
  prev: KubeObject | undefined;
}

interface Watcher {
  resource: Resource;
  namespace: string | undefined;
  bookmarks: boolean;
  filter: Filter;
  req: IncomingMessage;
  res: ServerResponse;
  /** Lines held back while the fake is silenced, sent in order by silence(false). */
  held: string[];
  timer: NodeJS.Timeout | undefined;
}

type Filter = (obj: KubeObject) => boolean;

const WATCH_TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

const CONTINUE_EXPIRED =
  'The provided continue parameter is too old to display a consistent list result. You can start a new ' +
  'list without the continue parameter, or use the continue token in this response to retrieve the ' +
  'remainder of the results. Continuing with the provided token results in an inconsistent list - objects ' +
  'that were created, modified, or deleted between the time the first chunk was returned and now may show ' +
  'up in the list.';

/** A metav1.Status failure, fields in the apiserver's order. */
export function statusBody(
  code: number,
  message: string,
  extra: { metadata?: object; details?: object } = {},
) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: extra.metadata ?? {},
    status: 'Failure',
    message,
    reason: REASONS[code] ?? '',
    ...(extra.details ? { details: extra.details } : {}),
    code,
  };
}

/** Store key, in the order etcd lists: `<namespace>/<name>`, or `<name>` for cluster-scoped objects. */
function keyOf(resource: Resource, obj: KubeObject): string {
  return KINDS[resource].namespaced ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

function withKind(resource: Resource, obj: KubeObject): KubeObject {
  return { kind: KINDS[resource].kind, apiVersion: 'v1', ...obj };
}

function bare<T extends KubeObject>(obj: T): T {
  const copy = structuredClone(obj);
  delete copy.kind;
  delete copy.apiVersion;
  return copy;
}

function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64url');
}

function decodeContinue(token: string): { rv: number; start: string } | undefined {
  try {
    const c = JSON.parse(Buffer.from(token, 'base64url').toString()) as {
      v?: unknown;
      rv?: unknown;
      start?: unknown;
    };
    if (c.v !== 'meta.k8s.io/v1' || typeof c.rv !== 'number' || c.rv === 0 || typeof c.start !== 'string')
      return undefined;
    return { rv: c.rv, start: c.start };
  } catch {
    return undefined;
  }
}

/** A value at a dotted field path as a selector compares it ('' when absent). */
function fieldValue(obj: KubeObject, path: string): string {
  let v: unknown = obj;
  for (const part of path.split('.'))
    v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}

/** The filter for `labelSelector` and `fieldSelector`, or the message of a 400 for a bad one. */
function parseSelectors(labelSelector: string | null, fieldSelector: string | null): Filter | string {
  const tests: Filter[] = [];
  for (const req of labelSelector?.match(/(?:[^,(]|\([^)]*\))+/g) ?? []) {
    const r = req.trim();
    let m: RegExpExecArray | null;
    if ((m = /^!\s*([\w./-]+)$/.exec(r))) {
      const k = m[1]!;
      tests.push((o) => o.metadata.labels?.[k] === undefined);
    } else if ((m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(r))) {
      const [k, op, set] = [m[1]!, m[2], new Set(m[3]!.split(',').map((s) => s.trim()))];
      tests.push((o) => {
        const v = o.metadata.labels?.[k];
        return op === 'in' ? v !== undefined && set.has(v) : v === undefined || !set.has(v);
      });
    } else if ((m = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(r))) {
      const [k, op, want] = [m[1]!, m[2], m[3]!];
      tests.push((o) => (o.metadata.labels?.[k] === want) === (op !== '!='));
    } else if ((m = /^([\w./-]+)$/.exec(r))) {
      const k = m[1]!;
      tests.push((o) => o.metadata.labels?.[k] !== undefined);
    } else {
      return `unable to parse requirement: ${r}`;
    }
  }
  for (const req of fieldSelector ? fieldSelector.split(',') : []) {
    const m = /^\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(req);
    if (!m) return `invalid selector: '${fieldSelector}'; can't understand '${req}'`;
    const [path, op, want] = [m[1]!, m[2], m[3]!];
    tests.push((o) => (fieldValue(o, path) === want) === (op !== '!='));
  }
  return (o) => tests.every((t) => t(o));
}

/** The API server stand-in. Make one with createFakeKubeApi(). */
export class FakeKubeApi {
  /** Base URL, e.g. http://127.0.0.1:41234 (the same across stop() and start()). */
  readonly url: string;
  /** Every request received, oldest first. */
  readonly requests: ApiRequest[] = [];

  private readonly server: Server;
  private readonly store: Record<Resource, Map<string, KubeObject>> = {
    pods: new Map(),
    services: new Map(),
    nodes: new Map(),
  };
  /** Changes after the compaction point, oldest first. */
  private changes: Change[] = [];
  private rv = 1;
  private compacted = 1;
  private readonly watchers = new Set<Watcher>();
  private silenced = false;
  private failures = { left: 0, code: 500, message: '' };
  private listening = false;
  private closed = false;
  private waiters: Array<() => void> = [];

  constructor(
    readonly port: number,
    private readonly token?: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.server = createServer((req, res) => this.handle(req, res));
  }

  /** The current resourceVersion (a string of an integer, like etcd's revision). */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** Stores a new object (bumps the RV, stamps uid/creationTimestamp if absent) and emits ADDED. */
  add<T extends KubeObject>(resource: Resource, obj: T): T {
    const o = bare(obj);
    if (KINDS[resource].namespaced) o.metadata.namespace ??= 'default';
    else delete o.metadata.namespace;
    const key = keyOf(resource, o);
    if (this.store[resource].has(key)) throw new Error(`FakeKubeApi: ${resource} "${key}" already exists`);
    o.metadata.uid ??= randomUUID();
    o.metadata.creationTimestamp ??= timestamp();
    return this.commit(resource, 'ADDED', o, undefined);
  }

  /** Replaces a stored object (keeping its uid and creationTimestamp unless given) and emits MODIFIED. */
  modify<T extends KubeObject>(resource: Resource, obj: T): T {
    const o = bare(obj);
    if (KINDS[resource].namespaced) o.metadata.namespace ??= 'default';
    const prev = this.store[resource].get(keyOf(resource, o));
    if (!prev) throw new Error(`FakeKubeApi: ${resource} "${keyOf(resource, o)}" not found`);
    o.metadata.uid ??= prev.metadata.uid;
    o.metadata.creationTimestamp ??= prev.metadata.creationTimestamp;
    return this.commit(resource, 'MODIFIED', o, prev);
  }

  /** Deletes an object (namespace ignored for nodes) and emits DELETED with its last state at the new RV. */
  remove(resource: Resource, namespace: string | undefined, name: string): KubeObject {
    const key = KINDS[resource].namespaced ? `${namespace ?? 'default'}/${name}` : name;
    const prev = this.store[resource].get(key);
    if (!prev) throw new Error(`FakeKubeApi: ${resource} "${key}" not found`);
    return this.commit(resource, 'DELETED', structuredClone(prev), prev);
  }

  /** A copy of a stored object (without kind/apiVersion), or undefined. */
  get(resource: Resource, namespace: string | undefined, name: string): KubeObject | undefined {
    const key = KINDS[resource].namespaced ? `${namespace ?? 'default'}/${name}` : name;
    const o = this.store[resource].get(key);
    return o && structuredClone(o);
  }

  /** Forgets the changes up to `rv` (default: the current RV): watches and continue tokens from before it get 410. */
  compact(rv: string | number = this.rv): void {
    const target = Math.min(Number(rv), this.rv);
    if (!(target > this.compacted)) return;
    this.compacted = target;
    this.changes = this.changes.filter((c) => c.rv > target);
  }

  /** Sends a BOOKMARK at the current RV to the open watches that asked for bookmarks (none while silenced). */
  bookmark(): void {
    if (this.silenced) return;
    for (const w of this.watchers) {
      if (!w.bookmarks) continue;
      const object = {
        kind: KINDS[w.resource].kind,
        apiVersion: 'v1',
        metadata: { resourceVersion: this.resourceVersion },
      };
      write(w, JSON.stringify({ type: 'BOOKMARK', object }) + '\n');
    }
  }

  /** Destroys the connections of all open watches mid-stream (no final chunk): the client sees an error. */
  dropWatches(): void {
    for (const w of this.watchers) {
      this.detach(w);
      w.req.socket.destroy();
    }
  }

  /**
   * With true, open watches and watches opened from now on get nothing more (their 200 and headers
   * are sent), as over a dead connection: events are held per watch and sent in order by
   * silence(false), a watch's `timeoutSeconds` end waits too; bookmarks asked for meanwhile are
   * dropped, and what a watch held is lost if it closes first. Lists are not affected.
   */
  silence(on: boolean): void {
    this.silenced = on;
    if (on) return;
    for (const w of this.watchers) {
      for (const line of w.held.splice(0)) write(w, line);
    }
  }

  /** The next `n` requests (of any kind) are answered `code` with a Status body. */
  failNext(n: number, code = 500, message = `FakeKubeApi: injected failure (${code})`): void {
    this.failures = { left: n, code, message };
  }

  /** Starts listening (again) on the same port. */
  async start(): Promise<void> {
    if (this.closed) throw new Error('FakeKubeApi: start() after close()');
    if (this.listening) return;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.listening = true;
  }

  /** Stops listening and destroys every connection, watches included, as if the process died. State is kept. */
  async stop(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    for (const w of this.watchers) this.detach(w);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /** Ends every watch cleanly and shuts the server down. Idempotent. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.watchers].map(
        (w) =>
          new Promise<void>((resolve) => {
            this.detach(w);
            finished(w.res, () => resolve());
            w.res.end();
          }),
      ),
    );
    await this.stop();
    this.closed = true;
  }

  /** List requests received (any status), for one resource or all. */
  listCount(resource?: Resource): number {
    return this.requestCount({ verb: 'list', ...(resource ? { resource } : {}) });
  }

  /** Watch requests received (any status), for one resource or all. */
  watchCount(resource?: Resource): number {
    return this.requestCount({ verb: 'watch', ...(resource ? { resource } : {}) });
  }

  /** Watches open now, for one resource or all. */
  openWatchCount(resource?: Resource): number {
    return [...this.watchers].filter((w) => !resource || w.resource === resource).length;
  }

  /** Requests matching every field of `match`. */
  requestCount(match: RequestMatch = {}): number {
    return this.requests.filter(
      (r) =>
        (match.verb === undefined || r.verb === match.verb) &&
        (match.resource === undefined || r.resource === match.resource) &&
        (match.namespace === undefined || r.namespace === match.namespace) &&
        Object.entries(match.query ?? {}).every(([k, v]) => (v === true ? k in r.query : r.query[k] === v)),
    ).length;
  }

  /** Resolves once `count` watches (of `resource`, if given) are open; rejects after `timeoutMs`. */
  async waitForOpenWatches(count: number, resource?: Resource, timeoutMs = 5000): Promise<void> {
    const reached = () => this.openWatchCount(resource) >= count;
    if (reached()) return;
    let timer: NodeJS.Timeout | undefined;
    let waiter: (() => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        waiter = () => {
          if (reached()) resolve();
        };
        this.waiters.push(waiter);
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `FakeKubeApi: ${this.openWatchCount(resource)} of ${count} watches open after ${timeoutMs} ms`,
              ),
            ),
          timeoutMs,
        );
      });
    } finally {
      clearTimeout(timer);
      this.waiters = this.waiters.filter((w) => w !== waiter);
    }
  }

  // -------------------------------------------------------------------------------------------
  // state

  private commit<T extends KubeObject>(
    resource: Resource,
    type: EventType,
    obj: T,
    prev: KubeObject | undefined,
  ): T {
    this.rv++;
    obj.metadata.resourceVersion = String(this.rv);
    const key = keyOf(resource, obj);
    if (type === 'DELETED') this.store[resource].delete(key);
    else this.store[resource].set(key, obj);
    const change: Change = { rv: this.rv, resource, type, object: obj, prev };
    this.changes.push(change);
    for (const w of this.watchers) this.sendChange(w, change);
    return structuredClone(obj);
  }

  /** The objects of `resource` as they were at `rv` (not before the compaction point), sorted by key. */
  private stateAt(resource: Resource, rv: number): Array<[string, KubeObject]> {
    const state = new Map(this.store[resource]);
    for (let i = this.changes.length - 1; i >= 0; i--) {
      const c = this.changes[i]!;
      if (c.rv <= rv) break;
      if (c.resource !== resource) continue;
      if (c.prev) state.set(keyOf(resource, c.prev), c.prev);
      else state.delete(keyOf(resource, c.object));
    }
    return [...state].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  // -------------------------------------------------------------------------------------------
  // HTTP

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    const q = url.searchParams;
    const route = routeOf(url.pathname);
    const watch = route !== undefined && route.name === undefined && WATCH_TRUE.has(q.get('watch') ?? '');
    const record: ApiRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(q),
      ...(route ? { resource: route.resource } : {}),
      ...(route?.namespace !== undefined ? { namespace: route.namespace } : {}),
      verb: !route ? 'other' : route.name !== undefined ? 'get' : watch ? 'watch' : 'list',
      status: 0,
    };
    this.requests.push(record);
    const reply = (code: number, body: unknown): void => {
      record.status = code;
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };

    if (this.failures.left > 0) {
      this.failures.left--;
      return reply(this.failures.code, statusBody(this.failures.code, this.failures.message));
    }
    if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) {
      return reply(401, statusBody(401, 'Unauthorized'));
    }
    if (!route)
      return reply(404, statusBody(404, 'the server could not find the requested resource', { details: {} }));
    if (req.method !== 'GET') {
      return reply(405, statusBody(405, `the server does not allow this method on the requested resource`));
    }
    const rvParam = q.get('resourceVersion');
    if (rvParam && !/^\d+$/.test(rvParam)) {
      return reply(400, statusBody(400, `resourceVersion: Invalid value: "${rvParam}": must be an integer`));
    }
    const filter = parseSelectors(q.get('labelSelector'), q.get('fieldSelector'));
    if (typeof filter === 'string') return reply(400, statusBody(400, filter));
    const { resource, namespace, name } = route;
    const inNs = (o: KubeObject) => namespace === undefined || o.metadata.namespace === namespace;

    if (name !== undefined) {
      const key = KINDS[resource].namespaced ? `${namespace}/${name}` : name;
      const o = this.store[resource].get(key);
      if (!o)
        return reply(
          404,
          statusBody(404, `${resource} "${name}" not found`, { details: { name, kind: resource } }),
        );
      return reply(200, withKind(resource, o));
    }

    if (watch) {
      record.status = 200;
      return this.serveWatch(req, res, resource, namespace, q, (o) => inNs(o) && filter(o));
    }

    const [code, list] = this.list(resource, q, (o) => inNs(o) && filter(o));
    return reply(code, list);
  }

  /** A list response: the status code and the List (or Status) body. */
  private list(resource: Resource, q: URLSearchParams, filter: Filter): [number, unknown] {
    const rvParam = q.get('resourceVersion');
    let at = this.rv;
    let start = '';
    const token = q.get('continue');
    if (token) {
      const c = decodeContinue(token);
      if (!c) return [400, statusBody(400, `continue key is not valid: ${token}`)];
      if (c.rv > 0 && c.rv < this.compacted) {
        const metadata = { continue: encodeContinue(-1, c.start) };
        return [410, statusBody(410, CONTINUE_EXPIRED, { metadata })];
      }
      at = c.rv > 0 ? Math.min(c.rv, this.rv) : this.rv;
      start = c.start;
    } else if (rvParam && q.get('resourceVersionMatch') === 'Exact') {
      const n = Number(rvParam);
      if (n < this.compacted)
        return [410, statusBody(410, `too old resource version: ${n} (${this.compacted})`)];
      at = Math.min(n, this.rv);
    }
    const all = this.stateAt(resource, at).filter(([key, o]) => key >= start && filter(o));
    const limit = Number(q.get('limit') ?? 0);
    const page = limit > 0 ? all.slice(0, limit) : all;
    const metadata: Record<string, unknown> = { resourceVersion: String(at) };
    if (page.length < all.length) {
      metadata.continue = encodeContinue(at, `${page.at(-1)![0]}\u0000`);
      if (!q.get('labelSelector') && !q.get('fieldSelector'))
        metadata.remainingItemCount = all.length - page.length;
    }
    return [
      200,
      { kind: `${KINDS[resource].kind}List`, apiVersion: 'v1', metadata, items: page.map(([, o]) => o) },
    ];
  }

  private serveWatch(
    req: IncomingMessage,
    res: ServerResponse,
    resource: Resource,
    namespace: string | undefined,
    q: URLSearchParams,
    filter: Filter,
  ): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    const rvParam = q.get('resourceVersion');
    const from = rvParam && rvParam !== '0' ? Number(rvParam) : undefined;
    if (from !== undefined && !(from >= this.compacted)) {
      const object = statusBody(410, `too old resource version: ${rvParam} (${this.compacted})`);
      res.end(JSON.stringify({ type: 'ERROR', object }) + '\n');
      return;
    }
    const w: Watcher = {
      resource,
      namespace,
      bookmarks: WATCH_TRUE.has(q.get('allowWatchBookmarks') ?? ''),
      filter,
      req,
      res,
      held: [],
      timer: undefined,
    };
    if (from === undefined) {
      for (const [, o] of this.stateAt(resource, this.rv)) {
        if (filter(o)) this.send(w, 'ADDED', withKind(resource, o));
      }
      if (WATCH_TRUE.has(q.get('sendInitialEvents') ?? '') && w.bookmarks) {
        const metadata = {
          resourceVersion: this.resourceVersion,
          annotations: { 'k8s.io/initial-events-end': 'true' },
        };
        this.send(w, 'BOOKMARK', { kind: KINDS[resource].kind, apiVersion: 'v1', metadata });
      }
    } else {
      for (const c of this.changes) if (c.rv > from) this.sendChange(w, c);
    }
    const timeoutSeconds = Number(q.get('timeoutSeconds') ?? 0);
    if (timeoutSeconds > 0) {
      // A silenced watch stands for a dead connection: not even its end comes through.
      const end = (): void => {
        if (this.silenced) {
          w.timer = setTimeout(end, 100);
          return;
        }
        this.detach(w);
        res.end();
      };
      w.timer = setTimeout(end, timeoutSeconds * 1000);
    }
    this.watchers.add(w);
    res.on('close', () => this.detach(w));
    this.notify();
  }

  /**
   * Sends a change as the watch sees it through its namespace and selectors: an object that stops
   * matching is DELETED for it, one that starts matching is ADDED.
   */
  private sendChange(w: Watcher, c: Change): void {
    if (c.resource !== w.resource) return;
    const before = c.prev !== undefined && w.filter(c.prev);
    const after = c.type !== 'DELETED' && w.filter(c.object);
    let type: EventType;
    if (before && after) type = 'MODIFIED';
    else if (after) type = 'ADDED';
    else if (before) type = 'DELETED';
    else return;
    this.send(w, type, withKind(w.resource, c.object));
  }

  private send(w: Watcher, type: string, object: object): void {
    const line = JSON.stringify({ type, object }) + '\n';
    if (this.silenced) w.held.push(line);
    else write(w, line);
  }

  /** Takes a watch out of the open set (before its response ends, so nothing is written after). */
  private detach(w: Watcher): void {
    clearTimeout(w.timer);
    if (this.watchers.delete(w)) this.notify();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Writes to a watch response unless it has ended (a write after end is an unhandled 'error'). */
function write(w: Watcher, line: string): void {
  if (!w.res.writableEnded && !w.res.destroyed) w.res.write(line);
}

/** The route of an API path, or undefined for paths the fake does not serve. */
function routeOf(path: string): { resource: Resource; namespace?: string; name?: string } | undefined {
  let m = /^\/api\/v1\/(pods|services|nodes)(?:\/([^/]+))?$/.exec(path);
  if (m) {
    const resource = m[1] as Resource;
    if (m[2] !== undefined && resource !== 'nodes') return undefined;
    return { resource, ...(m[2] !== undefined ? { name: decodeURIComponent(m[2]) } : {}) };
  }
  m = /^\/api\/v1\/namespaces\/([^/]+)\/(pods|services)(?:\/([^/]+))?$/.exec(path);
  if (!m) return undefined;
  return {
    resource: m[2] as Resource,
    namespace: decodeURIComponent(m[1]!),
    ...(m[3] !== undefined ? { name: decodeURIComponent(m[3]) } : {}),
  };
}

/** Starts a fake API server on 127.0.0.1 (random free port); close() it when done. */
export async function createFakeKubeApi(opts: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const api = new FakeKubeApi(await freePort(), opts.token);
  if (opts.listening ?? true) await api.start();
  return api;
}

/**
 * Writes `<dir>/kubeconfig` (or `fileName`): one cluster, user and context, all named `fake`,
 * pointing at `url`. `insecure-skip-tls-verify: true` is there because client-node refuses http://
 * servers without it. Returns the file's path.
 */
export function writeKubeconfig(
  dir: string,
  url: string,
  opts: { token?: string; namespace?: string; fileName?: string } = {},
): string {
  const path = join(dir, opts.fileName ?? 'kubeconfig');
  const q = (s: string) => JSON.stringify(s);
  const lines = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: fake',
    '    cluster:',
    `      server: ${q(url)}`,
    '      insecure-skip-tls-verify: true',
    'users:',
    '  - name: fake',
    opts.token === undefined ? '    user: {}' : `    user:\n      token: ${q(opts.token)}`,
    'contexts:',
    '  - name: fake',
    '    context:',
    '      cluster: fake',
    '      user: fake',
    `      namespace: ${q(opts.namespace ?? 'default')}`,
    'current-context: fake',
    'preferences: {}',
    '',
  ];
  writeFileSync(path, lines.join('\n'));
  return path;
}

export * from './kube-objects.js';
