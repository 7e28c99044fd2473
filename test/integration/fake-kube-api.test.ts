import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  makeInformer,
  Watch,
  type V1Pod,
} from '@kubernetes/client-node';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createFakeKubeApi,
  node,
  pod,
  service,
  writeKubeconfig,
  type FakeKubeApi,
  type KubeObject,
} from '../helpers/fake-kube-api.js';
import { sleep, waitFor } from '../helpers/wait.js';

// The Kubernetes API stand-in driven by the real @kubernetes/client-node: kubeconfig loading, paged
// lists, watches with replay, bookmarks, 410 after compaction, cut and silent watches, injected
// failures, and a server that comes up after its client.

let dir: string;
/** Fakes and watches a test made, closed after it. */
const fakes: FakeKubeApi[] = [];
const watches: AbortController[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nstats-fake-kube-'));
});
afterEach(async () => {
  for (const c of watches.splice(0)) c.abort();
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fake (closed after the test) and a KubeConfig loaded from a kubeconfig file that points at it. */
async function fakeWithClient(
  opts: { listening?: boolean; token?: string } = {},
): Promise<{ api: FakeKubeApi; kc: KubeConfig; core: CoreV1Api }> {
  const api = await createFakeKubeApi(opts);
  fakes.push(api);
  const kc = new KubeConfig();
  const file = writeKubeconfig(dir, api.url, {
    ...(opts.token ? { token: opts.token } : {}),
    fileName: `kubeconfig-${api.port}`,
  });
  kc.loadFromFile(file);
  return { api, kc, core: kc.makeApiClient(CoreV1Api) };
}

interface WatchEvent {
  type: string;
  object: KubeObject & { code?: number; reason?: string; message?: string };
}

/** Starts a client-node watch; `done` resolves with what its done callback got. */
async function watchWith(
  kc: KubeConfig,
  path: string,
  params: Record<string, string | number | boolean | undefined>,
  requestTimeoutMs?: number,
): Promise<{ events: WatchEvent[]; done: Promise<unknown> }> {
  const watch = new Watch(kc);
  // Declared private in the .d.ts, but a plain field meant to be set (an inactivity timeout).
  if (requestTimeoutMs)
    (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = requestTimeoutMs;
  const events: WatchEvent[] = [];
  let settle: (err: unknown) => void = () => {};
  const done = new Promise<unknown>((resolve) => (settle = resolve));
  const controller = await watch.watch(
    path,
    params,
    (type, object) => events.push({ type, object: object as WatchEvent['object'] }),
    (err) => settle(err),
  );
  watches.push(controller);
  return { events, done };
}

/** Polls a synchronous condition (waitFor takes an async one). */
const until = (cond: () => boolean, ms: number, what: () => string) =>
  waitFor(() => Promise.resolve(cond()), ms, what);

const names = (items: readonly { metadata?: { name?: string } }[]) => items.map((i) => i.metadata?.name);

describe('kubeconfig', () => {
  it('loads from KUBECONFIG (loadFromDefault) and from a file; the bearer token is checked', async () => {
    const { api } = await fakeWithClient({ token: 's3cret' });
    api.add('pods', pod({ name: 'web-1' }));
    const good = writeKubeconfig(dir, api.url, { token: 's3cret', fileName: 'good' });

    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = good;
    const kc = new KubeConfig();
    try {
      kc.loadFromDefault();
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
    expect(kc.getCurrentCluster()).toMatchObject({ server: api.url, skipTLSVerify: true });
    expect(kc.getCurrentUser()?.token).toBe('s3cret');
    const list = await kc.makeApiClient(CoreV1Api).listPodForAllNamespaces();
    expect(names(list.items)).toEqual(['web-1']);

    const wrong = new KubeConfig();
    wrong.loadFromFile(writeKubeconfig(dir, api.url, { token: 'nope', fileName: 'wrong' }));
    const err: unknown = await wrong
      .makeApiClient(CoreV1Api)
      .listPodForAllNamespaces()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiException);
    expect((err as ApiException<unknown>).code).toBe(401);
    expect(api.requestCount({ verb: 'list' })).toBe(2);
  });

  it('client-node refuses an http:// server without insecure-skip-tls-verify', async () => {
    const { api } = await fakeWithClient();
    const file = writeKubeconfig(dir, api.url, { fileName: 'no-skip' });
    await writeFile(file, (await readFile(file, 'utf8')).replace(/^.*insecure-skip-tls-verify.*\n/m, ''));
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    await expect(kc.makeApiClient(CoreV1Api).listPodForAllNamespaces()).rejects.toThrow(
      'HTTP protocol is not allowed when skipTLSVerify is not set or false',
    );
    expect(api.requests).toHaveLength(0);
  });
});

describe('list', () => {
  it('pages with limit and continue over a consistent snapshot', async () => {
    const { api, core } = await fakeWithClient();
    for (const ns of ['default', 'shop']) {
      for (const n of ['a', 'b', 'c']) api.add('pods', pod({ name: `${n}-pod`, namespace: ns }));
    }
    api.add('pods', pod({ name: 'dns', namespace: 'kube-system' }));

    const pages: Array<{ names: unknown[]; rv?: string; remaining?: number; more: boolean }> = [];
    let token: string | undefined;
    do {
      const page = await core.listPodForAllNamespaces({ limit: 3, ...(token ? { _continue: token } : {}) });
      expect(page.kind).toBe('PodList');
      pages.push({
        names: page.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`),
        rv: page.metadata?.resourceVersion,
        remaining: page.metadata?.remainingItemCount,
        more: page.metadata?._continue !== undefined,
      });
      // Changes between pages are not seen by the pages still to come.
      if (!token) {
        api.remove('pods', 'shop', 'c-pod');
        api.add('pods', pod({ name: 'z-pod', namespace: 'shop' }));
      }
      token = page.metadata?._continue;
    } while (token);

    expect(pages.map((p) => p.names)).toEqual([
      ['default/a-pod', 'default/b-pod', 'default/c-pod'],
      ['kube-system/dns', 'shop/a-pod', 'shop/b-pod'],
      ['shop/c-pod'],
    ]);
    expect(new Set(pages.map((p) => p.rv))).toEqual(new Set(['8']));
    expect(pages.map((p) => p.remaining)).toEqual([4, 1, undefined]);
    expect(pages.map((p) => p.more)).toEqual([true, true, false]);

    const fresh = await core.listPodForAllNamespaces();
    expect(fresh.metadata?.resourceVersion).toBe(api.resourceVersion);
    const freshKeys = fresh.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`);
    expect(freshKeys).toContain('shop/z-pod');
    expect(freshKeys).not.toContain('shop/c-pod');
    expect(api.listCount('pods')).toBe(4);
    expect(api.requestCount({ query: { limit: '3' } })).toBe(3);
    expect(api.requestCount({ query: { continue: true } })).toBe(2);
  });

  it('an expired continue token answers 410 Expired, with a token that goes on at the latest state', async () => {
    const { api, core } = await fakeWithClient();
    for (const n of ['a', 'b', 'c', 'd']) api.add('pods', pod({ name: n }));
    const first = await core.listPodForAllNamespaces({ limit: 2 });
    api.add('pods', pod({ name: 'e' }));
    api.compact();

    const err: unknown = await core
      .listPodForAllNamespaces({ limit: 2, _continue: first.metadata?._continue })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiException);
    const e = err as ApiException<string>;
    expect(e.code).toBe(410);
    const status = JSON.parse(e.body) as { metadata: { continue?: string } };
    expect(status).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'Expired',
      code: 410,
      message: expect.stringMatching(/^The provided continue parameter is too old/) as unknown,
    });
    const rest = await core.listPodForAllNamespaces({ limit: 10, _continue: status.metadata.continue });
    expect(names(rest.items)).toEqual(['c', 'd', 'e']);
    expect(rest.metadata?.resourceVersion).toBe(api.resourceVersion);
  });

  it('serves services, nodes, namespaced lists, one object and selectors in the API shapes', async () => {
    const { api, core } = await fakeWithClient();
    api.add('pods', pod({ owner: { kind: 'Deployment', name: 'web', hash: '7d4b9c8f6' }, node: 'node-b' }));
    api.add(
      'pods',
      pod({ owner: { kind: 'StatefulSet', name: 'db', ordinal: 1 }, ips: ['10.244.1.7', 'fd00::7'] }),
    );
    api.add(
      'pods',
      pod({ owner: { kind: 'DaemonSet', name: 'proxy' }, namespace: 'kube-system', hostNetwork: true }),
    );
    api.add(
      'pods',
      pod({ owner: { kind: 'CronJob', name: 'backup', scheduledMinute: 28_000_000 }, phase: 'Succeeded' }),
    );
    api.add('services', service({ name: 'web', clusterIPs: ['10.96.0.10', 'fd00:10:96::a'] }));
    api.add('nodes', node({ name: 'node-b', internalIP: '192.168.49.3' }));

    const pods = await core.listPodForAllNamespaces({ labelSelector: 'app=web' });
    expect(pods.items).toHaveLength(1);
    const web = pods.items[0]!;
    expect(web.metadata?.name).toMatch(/^web-7d4b9c8f6-[a-z0-9]{5}$/);
    expect(web.metadata?.labels?.['pod-template-hash']).toBe('7d4b9c8f6');
    expect(web.metadata?.ownerReferences?.[0]).toMatchObject({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      name: 'web-7d4b9c8f6',
      controller: true,
      blockOwnerDeletion: true,
    });
    expect(web.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(
      names((await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=node-b' })).items),
    ).toEqual([web.metadata?.name]);
    expect(
      names((await core.listPodForAllNamespaces({ labelSelector: 'job-name, app notin (web)' })).items),
    ).toEqual([expect.stringMatching(/^backup-28000000-/)]);

    const system = await core.listNamespacedPod({ namespace: 'kube-system' });
    expect(system.items).toHaveLength(1);
    expect(system.items[0]?.spec?.hostNetwork).toBe(true);
    expect(system.items[0]?.status?.podIP).toBe(system.items[0]?.status?.hostIP);
    const db = await core.readNamespacedPod({ namespace: 'default', name: 'db-1' });
    expect(db.kind).toBe('Pod');
    expect(db.status?.podIPs).toEqual([{ ip: '10.244.1.7' }, { ip: 'fd00::7' }]);

    const svc = (await core.listServiceForAllNamespaces()).items[0];
    expect(svc?.spec).toMatchObject({
      clusterIP: '10.96.0.10',
      ipFamilies: ['IPv4', 'IPv6'],
      type: 'ClusterIP',
    });
    const nodes = await core.listNode();
    expect(nodes.kind).toBe('NodeList');
    expect(nodes.items[0]?.status?.addresses).toEqual([
      { type: 'InternalIP', address: '192.168.49.3' },
      { type: 'Hostname', address: 'node-b' },
    ]);

    // The raw JSON: list items carry no kind/apiVersion; a missing object is a NotFound Status.
    const raw = (await (await fetch(`${api.url}/api/v1/nodes`)).json()) as {
      kind: string;
      items: KubeObject[];
    };
    expect(raw.kind).toBe('NodeList');
    expect(raw.items[0]).not.toHaveProperty('kind');
    expect(raw.items[0]).not.toHaveProperty('apiVersion');
    const missing = await fetch(`${api.url}/api/v1/namespaces/default/pods/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ kind: 'Status', reason: 'NotFound', code: 404 });
  });
});

describe('watch', () => {
  it('sees ADDED, MODIFIED, DELETED and BOOKMARK in order after the resourceVersion', async () => {
    const { api, kc, core } = await fakeWithClient();
    const { resourceVersion } = (await core.listPodForAllNamespaces()).metadata ?? {};
    const { events, done } = await watchWith(kc, '/api/v1/pods', {
      resourceVersion,
      allowWatchBookmarks: true,
    });
    await api.waitForOpenWatches(1, 'pods');

    const p = api.add('pods', pod({ name: 'web', phase: 'Pending' }));
    api.modify('pods', { ...p, status: { ...p.status, phase: 'Running', podIP: '10.244.0.9' } });
    api.remove('pods', 'default', 'web');
    const deletedAt = api.resourceVersion;
    api.bookmark();
    await until(
      () => events.length >= 4,
      5000,
      () => JSON.stringify(events),
    );

    expect(events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK']);
    expect(events.map((e) => e.object.kind)).toEqual(['Pod', 'Pod', 'Pod', 'Pod']);
    expect(events.map((e) => Number(e.object.metadata.resourceVersion))).toEqual([
      Number(resourceVersion) + 1,
      Number(resourceVersion) + 2,
      Number(resourceVersion) + 3,
      Number(resourceVersion) + 3,
    ]);
    expect(events[2]?.object).toMatchObject({
      metadata: { resourceVersion: deletedAt },
      status: { phase: 'Running' },
    });
    expect(events[3]?.object).toEqual({
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { resourceVersion: deletedAt },
    });
    expect(
      api.requestCount({
        verb: 'watch',
        query: { watch: 'true', allowWatchBookmarks: 'true', resourceVersion: resourceVersion! },
      }),
    ).toBe(1);

    watches.pop()!.abort();
    await done;
    await until(
      () => api.openWatchCount() === 0,
      2000,
      () => `${api.openWatchCount()} watches open`,
    );
  });

  it('replays what followed the resourceVersion, then goes on live; without one it starts with ADDED for all', async () => {
    const { api, kc } = await fakeWithClient();
    const from = api.resourceVersion;
    const a = api.add('pods', pod({ name: 'a' }));
    api.add('pods', pod({ name: 'b' }));
    api.modify('pods', { ...a, metadata: { ...a.metadata, labels: { tier: 'front' } } });

    const replay = await watchWith(kc, '/api/v1/pods', { resourceVersion: from });
    const all = await watchWith(kc, '/api/v1/namespaces/default/pods', {});
    await api.waitForOpenWatches(2);
    api.add('pods', pod({ name: 'c' }));
    api.add('pods', pod({ name: 'other-ns', namespace: 'shop' }));
    await until(
      () => replay.events.length >= 5 && all.events.length >= 3,
      5000,
      () => 'events',
    );
    await sleep(100);

    expect(replay.events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual([
      'ADDED a',
      'ADDED b',
      'MODIFIED a',
      'ADDED c',
      'ADDED other-ns',
    ]);
    expect(all.events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual([
      'ADDED a',
      'ADDED b',
      'ADDED c',
    ]);
    expect(api.watchCount('pods')).toBe(2);
  });

  it('a watch from before the compaction gets one ERROR 410 event, then a clean end', async () => {
    const { api, kc } = await fakeWithClient();
    const from = api.resourceVersion;
    api.add('pods', pod({ name: 'a' }));
    api.add('pods', pod({ name: 'b' }));
    api.compact();

    const { events, done } = await watchWith(kc, '/api/v1/pods', { resourceVersion: from });
    expect(await done).toBeNull();
    expect(events).toEqual([
      {
        type: 'ERROR',
        object: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `too old resource version: ${from} (${api.resourceVersion})`,
          reason: 'Expired',
          code: 410,
        },
      },
    ]);

    // On the wire: a 200 chunked JSON stream of one line, then the end.
    const raw = await fetch(`${api.url}/api/v1/pods?watch=1&resourceVersion=${from}`);
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toBe('application/json');
    expect(raw.headers.get('transfer-encoding')).toBe('chunked');
    const text = await raw.text();
    expect(text.endsWith('}\n')).toBe(true);
    expect(
      text
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { type: string }).type),
    ).toEqual(['ERROR']);
  });

  it('a label selector turns leaving it into DELETED and entering it into ADDED', async () => {
    const { api, kc } = await fakeWithClient();
    const p = api.add('pods', pod({ name: 'x', labels: { app: 'web' } }));
    const { events } = await watchWith(kc, '/api/v1/pods', {
      resourceVersion: api.resourceVersion,
      labelSelector: 'app=web',
    });
    await api.waitForOpenWatches(1);
    const moved = api.modify('pods', { ...p, metadata: { ...p.metadata, labels: { app: 'db' } } });
    api.modify('pods', { ...moved, metadata: { ...moved.metadata, labels: { app: 'web' } } });
    await until(
      () => events.length >= 2,
      5000,
      () => JSON.stringify(events),
    );
    expect(events.map((e) => `${e.type} ${e.object.metadata.labels?.app}`)).toEqual([
      'DELETED db',
      'ADDED web',
    ]);
  });

  it('timeoutSeconds ends the watch cleanly', async () => {
    const { kc } = await fakeWithClient();
    const started = Date.now();
    const { done } = await watchWith(kc, '/api/v1/nodes', { timeoutSeconds: 1 });
    expect(await done).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('dropWatches() cuts the stream: done gets an error', async () => {
    const { api, kc } = await fakeWithClient();
    const { events, done } = await watchWith(kc, '/api/v1/services', {
      resourceVersion: api.resourceVersion,
    });
    await api.waitForOpenWatches(1, 'services');
    api.add('services', service({ name: 'web' }));
    await until(
      () => events.length === 1,
      5000,
      () => 'the ADDED event',
    );
    api.dropWatches();
    const err = await done;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error & { cause?: { code?: string } }).cause?.code).toBe('UND_ERR_SOCKET');
  });

  it("a silent watch is aborted by the client's inactivity timer", async () => {
    const { api, kc } = await fakeWithClient();
    api.silence(true);
    const started = Date.now();
    const { events, done } = await watchWith(
      kc,
      '/api/v1/pods',
      { resourceVersion: api.resourceVersion },
      1000,
    );
    await api.waitForOpenWatches(1);
    api.add('pods', pod({ name: 'held' }));
    const err = await done;
    expect((err as Error).name).toBe('TimeoutError');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(events).toEqual([]);
  });

  it('silence(false) sends what was held, in order; bookmarks meanwhile are dropped', async () => {
    const { api, kc } = await fakeWithClient();
    api.silence(true);
    const { events } = await watchWith(kc, '/api/v1/pods', {
      resourceVersion: api.resourceVersion,
      allowWatchBookmarks: true,
    });
    await api.waitForOpenWatches(1);
    api.add('pods', pod({ name: 'a' }));
    api.bookmark();
    api.add('pods', pod({ name: 'b' }));
    await sleep(200);
    expect(events).toEqual([]);
    api.silence(false);
    await until(
      () => events.length >= 2,
      5000,
      () => JSON.stringify(events),
    );
    await sleep(100);
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED a', 'ADDED b']);
  });
});

describe('faults', () => {
  it('failNext(n, code) answers the next n requests with a Status, lists and watches alike', async () => {
    const { api, kc, core } = await fakeWithClient();
    api.failNext(2, 503);
    for (let i = 0; i < 2; i++) {
      const err: unknown = await core.listPodForAllNamespaces().catch((e: unknown) => e);
      expect((err as ApiException<string>).code).toBe(503);
      expect(JSON.parse((err as ApiException<string>).body)).toMatchObject({
        reason: 'ServiceUnavailable',
        code: 503,
      });
    }
    await expect(core.listPodForAllNamespaces()).resolves.toMatchObject({ kind: 'PodList' });

    api.failNext(1, 500);
    const { done } = await watchWith(kc, '/api/v1/pods', {});
    expect(await done).toMatchObject({ statusCode: 500 });
    expect(api.requests.map((r) => r.status)).toEqual([503, 503, 200, 500]);
  });

  it('a client started while the server is down gets through once it is started', async () => {
    const { api, kc, core } = await fakeWithClient({ listening: false });
    api.add('pods', pod({ name: 'early' }));
    const informer = makeInformer<V1Pod>(kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
    const errors: unknown[] = [];
    const seen: string[] = [];
    let stopped = false;
    // ListWatch stops after an error that is not a 410 or a timeout: restarting is the caller's job.
    informer.on('error', (err) => {
      errors.push(err);
      if (!stopped) setTimeout(() => void informer.start(), 100);
    });
    informer.on('add', (p) => seen.push(p.metadata?.name ?? ''));
    try {
      await informer.start();
      await until(
        () => errors.length >= 2,
        5000,
        () => `${errors.length} errors`,
      );
      expect((errors[0] as Error & { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED');
      expect(seen).toEqual([]);

      await api.start();
      await until(
        () => seen.includes('early') && api.openWatchCount() === 1,
        5000,
        () => seen.join(),
      );
      api.add('pods', pod({ name: 'late' }));
      await until(
        () => seen.includes('late'),
        5000,
        () => seen.join(),
      );
      expect(api.requestCount({ verb: 'watch', query: { resourceVersion: '2' } })).toBe(1);
    } finally {
      stopped = true;
      await informer.stop();
    }
  });

  it('stop() cuts every connection and start() serves the same state on the same port', async () => {
    const { api, kc, core } = await fakeWithClient();
    api.add('nodes', node({ name: 'n1' }));
    const url = api.url;
    const { done } = await watchWith(kc, '/api/v1/nodes', { resourceVersion: api.resourceVersion });
    await api.waitForOpenWatches(1);
    await api.stop();
    expect(await done).toBeInstanceOf(Error);
    await expect(core.listNode()).rejects.toThrow();
    await api.start();
    expect(api.url).toBe(url);
    expect(names((await core.listNode()).items)).toEqual(['n1']);
  });

  it('close() ends open watches cleanly and leaves no server or socket behind', async () => {
    // This file's worker has no other TCP handles: once every fake is closed there are none.
    const tcp = () => process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP'));
    const { api, kc } = await fakeWithClient();
    const { done } = await watchWith(kc, '/api/v1/pods', {});
    await api.waitForOpenWatches(1);
    await api.close();
    expect(await done).toBeNull();
    await until(
      () => tcp().length === 0,
      3000,
      () => JSON.stringify(tcp()),
    );
    await expect(fetch(`${api.url}/api/v1/pods`)).rejects.toThrow();
  });
});
