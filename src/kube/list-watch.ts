import { ApiException, CoreV1Api, Watch, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import { backoff } from '../util/backoff.js';
import type { EventType, Relist, Resource } from './cluster-index.js';
import { errorText } from '../util/error-text.js';

export type { Resource } from './cluster-index.js';

/** The core/v1 resources the names service follows, cluster-wide. */
export const RESOURCES: readonly Resource[] = ['pods', 'services', 'nodes'];

/** Why a watch was started again (the `reason` label of `nstats_kube_watch_restarts_total`). */
export type RestartReason =
  /** The server ended the watch (its timeoutSeconds, or a clean close): resumed from the last version. */
  | 'ended'
  /** The watch failed (connection refused or dropped, an HTTP error, an ERROR event other than 410). */
  | 'error'
  /** Nothing came for `silenceMs` (not even a bookmark): the watchdog aborted it. */
  | 'silent'
  /** 410 Gone: the version it resumed from is compacted away; the resource is listed again. */
  | 'gone';
export const RESTART_REASONS: readonly RestartReason[] = ['ended', 'error', 'silent', 'gone'];

export interface ListWatchCounts {
  listsOk: number;
  listsFailed: number;
  restarts: Record<RestartReason, number>;
  events: Record<EventType | 'BOOKMARK', number>;
}

export interface ListWatchOptions {
  readonly resource: Resource;
  /** Items per list request (`limit`); the rest comes page by page (`continue`). */
  readonly pageSize: number;
  /** Asked of the server: end each watch after this long (it is then resumed). */
  readonly watchTimeoutSeconds: number;
  /** A watch that brings nothing, not even a bookmark, for this long is aborted and started again. */
  readonly silenceMs: number;
  /** Back-off of failed lists and watches: first wait and cap. */
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  readonly log: Logger;
  /** A (re)list begins: its pages go to the Relist, and `done()` once all have come. */
  onList(): Relist;
  onEvent(type: EventType, object: object): void;
}

/** The Watch field that bounds a watch's silence (ms), in @kubernetes/client-node 2.0.1. */
interface WatchdogField {
  requestTimeoutMs: number;
}

/** Whether this client version still has the silence bound where ListWatch sets it. */
export function watchdogField(watch: Watch): boolean {
  return typeof (watch as unknown as Partial<WatchdogField>).requestTimeoutMs === 'number';
}

interface ListPage {
  readonly items: readonly object[];
  readonly metadata?: { readonly resourceVersion?: string; readonly _continue?: string };
}

/**
 * One resource followed as client-go's reflector does it: a list (in pages) gives the full state
 * and a resourceVersion, then a watch from that version gives every change, with bookmarks so the
 * version stays fresh on a quiet resource. A watch the server ends is resumed from the last
 * version seen; one that fails is resumed after a back-off; a 410 Gone (the version is too old)
 * lists again. A watch that stays silent past `silenceMs` is aborted by the client's inactivity
 * timer (@kubernetes/client-node 2.0.1 and later: `Watch.requestTimeoutMs` counts time without
 * data, not the watch's age) and started again. Nothing here gives up: an API server that is down
 * is retried until `stop()`.
 */
export class ListWatch {
  readonly counts: ListWatchCounts = {
    listsOk: 0,
    listsFailed: 0,
    restarts: { ended: 0, error: 0, silent: 0, gone: 0 },
    events: { ADDED: 0, MODIFIED: 0, DELETED: 0, BOOKMARK: 0 },
  };
  /** Whether a list has completed at least once. */
  listed = false;
  private readonly api: CoreV1Api;
  private readonly watch: Watch;
  private readonly path: string;
  private resourceVersion: string | undefined;
  private failures = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private current: AbortController | undefined;
  private readonly firstList: Promise<void>;
  private resolveFirstList!: () => void;

  constructor(
    kc: KubeConfig,
    private readonly o: ListWatchOptions,
  ) {
    this.api = kc.makeApiClient(CoreV1Api);
    this.watch = new Watch(kc);
    // The client's inactivity bound is a private field (default 30 s); `watchdogField` checks
    // that it is still there.
    (this.watch as unknown as WatchdogField).requestTimeoutMs = o.silenceMs;
    this.path = `/api/v1/${o.resource}`;
    this.firstList = new Promise((resolve) => (this.resolveFirstList = resolve));
  }

  /** Starts following; resolves at once (see `listedOnce` for the first full state). */
  start(): void {
    void this.list();
  }

  /** Resolves when the first list is in. */
  listedOnce(): Promise<void> {
    return this.firstList;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.current?.abort();
  }

  private async list(): Promise<void> {
    if (this.stopped) return;
    const relist = this.o.onList();
    let items = 0;
    let cont: string | undefined;
    let version: string | undefined;
    try {
      do {
        const page = await this.page(cont);
        if (this.stopped) return;
        relist.page(page.items);
        items += page.items.length;
        cont = page.metadata?._continue || undefined;
        version = page.metadata?.resourceVersion;
      } while (cont);
    } catch (err) {
      this.counts.listsFailed++;
      // An expired continue token is a 410 as well: the next attempt starts from the first page.
      this.retry(err, `list ${this.o.resource}`, () => this.list());
      return;
    }
    this.counts.listsOk++;
    relist.done();
    this.resourceVersion = version;
    if (!this.listed) {
      this.listed = true;
      this.o.log.info({ resource: this.o.resource, items }, `kube: ${this.o.resource} listed: ${items}`);
      this.resolveFirstList();
    }
    this.failures = 0;
    void this.startWatch();
  }

  private page(cont: string | undefined): Promise<ListPage> {
    const param = { limit: this.o.pageSize, ...(cont ? { _continue: cont } : {}) };
    switch (this.o.resource) {
      case 'pods':
        return this.api.listPodForAllNamespaces(param);
      case 'services':
        return this.api.listServiceForAllNamespaces(param);
      case 'nodes':
        return this.api.listNode(param);
    }
  }

  private async startWatch(): Promise<void> {
    if (this.stopped) return;
    let gone = false;
    let failed: unknown;
    const query = {
      allowWatchBookmarks: true,
      timeoutSeconds: this.o.watchTimeoutSeconds,
      ...(this.resourceVersion ? { resourceVersion: this.resourceVersion } : {}),
    };
    const onEvent = (type: string, object: unknown): void => {
      const obj = object as { metadata?: { resourceVersion?: string }; code?: number; message?: string };
      switch (type) {
        case 'ADDED':
        case 'MODIFIED':
        case 'DELETED':
          this.counts.events[type]++;
          this.o.onEvent(type, obj);
          if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
          this.failures = 0;
          break;
        case 'BOOKMARK':
          this.counts.events.BOOKMARK++;
          if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
          break;
        case 'ERROR':
          if (obj.code === 410) gone = true;
          else failed = new Error(`watch error event: ${obj.code ?? '?'} ${obj.message ?? ''}`.trim());
          this.current?.abort();
          break;
      }
    };
    const done = (err: unknown): void => {
      this.current = undefined;
      if (this.stopped) return;
      if (gone) {
        this.counts.restarts.gone++;
        this.o.log.info(
          { resource: this.o.resource },
          `kube: ${this.o.resource} watch: 410 Gone, listing again`,
        );
        this.resourceVersion = undefined;
        void this.list();
        return;
      }
      const error = failed ?? err;
      if (!error) {
        this.counts.restarts.ended++;
        void this.startWatch();
        return;
      }
      const silent = error instanceof Error && error.name === 'TimeoutError';
      this.counts.restarts[silent ? 'silent' : 'error']++;
      this.retry(error, `watch ${this.o.resource}`, () => this.startWatch());
    };
    try {
      this.current = await this.watch.watch(this.path, query, onEvent, done);
    } catch (err) {
      done(err);
    }
  }

  /** Logs the failure (a warning the first time in a row, then debug) and tries again after a back-off. */
  private retry(err: unknown, what: string, again: () => Promise<void>): void {
    if (this.stopped) return;
    this.failures++;
    const ms = backoff(this.failures, this.o.retryMinMs, this.o.retryMaxMs);
    const message = describe(err);
    const log = this.failures === 1 ? this.o.log.warn.bind(this.o.log) : this.o.log.debug.bind(this.o.log);
    log(
      { resource: this.o.resource, attempt: this.failures, retryInMs: ms, err: message },
      `kube: ${what} failed (${message}); retrying in ${Math.round(ms / 100) / 10} s`,
    );
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void again(), ms);
  }
}

/** An API or network error in one line: the status and the server's message, or the cause. */
export function describe(err: unknown): string {
  if (err instanceof ApiException) {
    const body = err.body as { message?: unknown } | string | undefined;
    const text = typeof body === 'string' ? body : typeof body?.message === 'string' ? body.message : '';
    return `HTTP ${err.code}${text ? `: ${text.slice(0, 300)}` : ''}`;
  }
  return errorText(err);
}
