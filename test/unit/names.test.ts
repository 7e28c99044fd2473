import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { NamesResolver } from '../../src/enrich/names-resolver.js';
import { ResolverChain, type PeerInfo, type Resolver } from '../../src/enrich/resolver.js';
import {
  ClusterIndex,
  MIRROR_ANNOTATION,
  type Identity,
  type PodObject,
  type ServiceObject,
} from '../../src/kube/cluster-index.js';
import { peerInfoOf } from '../../src/kube/peer-info.js';
import { NamesServer, type NamesSource } from '../../src/names/names-server.js';
import {
  parseLookupRequest,
  parseLookupResponse,
  parsePodsRequest,
  parsePodsResponse,
  PODS_PATH,
} from '../../src/names/protocol.js';
import { NamesPodDirectory } from '../../src/node/pod-directory.js';
import { memoryLog } from '../helpers/log.js';

const pods = JSON.parse(
  readFileSync(new URL('../fixtures/kube/pods.json', import.meta.url), 'utf8'),
) as Record<string, PodObject>;
const services = JSON.parse(
  readFileSync(new URL('../fixtures/kube/services.json', import.meta.url), 'utf8'),
) as Record<string, ServiceObject>;

/** A names source over a real index, ready or not as the test says. */
function source(ready = true): NamesSource & { index: ClusterIndex; ready: boolean } {
  const index = new ClusterIndex(60_000);
  index.pod('ADDED', pods.deployment!);
  index.pod('ADDED', pods.statefulset!);
  index.service('ADDED', services.dualstack!);
  return {
    index,
    ready,
    waitingFor: 'first list of pods not in yet',
    lookup: (a: string): Identity => index.lookup(a) ?? { kind: 'external' },
    pod: (uid: string) => index.podByUid(uid),
    families: () => [],
  };
}

const servers: NamesServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

async function serve(src: NamesSource): Promise<string> {
  const server = new NamesServer(src);
  servers.push(server);
  const port = await server.start(0, '127.0.0.1');
  return `http://127.0.0.1:${port}`;
}

async function post(
  url: string,
  body: string,
  path = '/v1/lookup',
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json' },
  });
  return { status: res.status, json: await res.json() };
}

describe('names protocol', () => {
  it('takes IPv4 and IPv6 addresses and refuses anything else with a reason', () => {
    expect(parseLookupRequest('{"addresses":["10.0.0.1","fd00::1"]}')).toEqual(['10.0.0.1', 'fd00::1']);
    expect(() => parseLookupRequest('nope')).toThrow(/JSON body/);
    expect(() => parseLookupRequest('{"addresses":"10.0.0.1"}')).toThrow(/array/);
    expect(() => parseLookupRequest('{"addresses":["10.0.0.1","web-0"]}')).toThrow(/"web-0"/);
    expect(() => parseLookupRequest(JSON.stringify({ addresses: Array(10_001).fill('10.0.0.1') }))).toThrow(
      /at most 10000/,
    );
  });

  it('reads only well-formed identities from an answer', () => {
    const ids = parseLookupResponse({
      identities: {
        '10.0.0.1': { kind: 'pod', name: 'web', namespace: 'shop', extra: 1, pod: 7 },
        '10.0.0.2': { kind: 'spaceship' },
        '10.0.0.3': null,
      },
    });
    expect([...ids]).toEqual([['10.0.0.1', { kind: 'pod', name: 'web', namespace: 'shop' }]]);
    expect(() => parseLookupResponse({ names: {} })).toThrow(/identities/);
  });
});

describe('NamesServer', () => {
  it('answers every address asked: pods by workload, Services, and external for the rest', async () => {
    const url = await serve(source());
    const r = await post(url, '{"addresses":["10.244.1.17","10.96.14.2","192.0.2.9"]}');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      identities: {
        '10.244.1.17': {
          kind: 'pod',
          name: 'checkout',
          namespace: 'shop',
          workload: 'checkout',
          workloadKind: 'Deployment',
          pod: 'checkout-7d9f8c6b5-x2x9k',
          node: 'node-a',
        },
        '10.96.14.2': {
          kind: 'service',
          name: 'checkout',
          namespace: 'shop',
          workload: 'checkout',
          workloadKind: 'Service',
        },
        '192.0.2.9': { kind: 'external' },
      },
    });
  });

  it('400 for a bad body, 413 for a huge one, 503 until ready, 405 for GET; /readyz follows', async () => {
    const src = source(false);
    const url = await serve(src);
    expect(await post(url, '{"addresses":["x"]}')).toMatchObject({ status: 400 });
    expect((await post(url, 'x'.repeat((1 << 20) + 10))).status).toBe(413);
    expect(await post(url, '{"addresses":["10.0.0.1"]}')).toEqual({
      status: 503,
      json: { error: 'not ready: first list of pods not in yet' },
    });
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    expect((await fetch(`${url}/v1/lookup`)).status).toBe(405);
    src.ready = true;
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('nstats_names_requests_total{result="bad"} 2');
    expect(metrics).toContain('nstats_names_requests_total{result="not_ready"} 1');
  });
});

describe('pods by UID (POST /v1/pods, the node agent)', () => {
  it("answers each UID with its pod, a static pod's hash with its mirror, null for one unknown", async () => {
    const src = source();
    const mirror: PodObject = {
      ...pods.bare!,
      metadata: {
        ...pods.bare!.metadata,
        uid: 'aaaaaaaa-0000-4000-8000-000000000001',
        name: 'etcd-node-a',
        namespace: 'kube-system',
        annotations: { [MIRROR_ANNOTATION]: '0123456789abcdef0123456789abcdef' },
      },
    };
    src.index.pod('ADDED', mirror);
    const url = await serve(src);
    const uids = [
      '0b7e6f9a-1c1e-4a8e-9f49-3f2a1c0d9e11',
      '0123456789abcdef0123456789abcdef',
      'ffffffff-ffff-4fff-8fff-ffffffffffff',
    ];
    const r = await post(url, JSON.stringify({ uids }), PODS_PATH);
    expect(r.status).toBe(200);
    const body = r.json as { pods: Record<string, Identity | null> };
    expect(body.pods[uids[0]!]).toMatchObject({
      kind: 'pod',
      pod: 'checkout-7d9f8c6b5-x2x9k',
      namespace: 'shop',
    });
    expect(body.pods[uids[1]!]).toMatchObject({ kind: 'pod', pod: 'etcd-node-a', namespace: 'kube-system' });
    expect(body.pods[uids[2]!]).toBeNull();
    expect([...parsePodsResponse(body).keys()]).toEqual(uids.slice(0, 2));

    const { log } = memoryLog('debug');
    const directory = new NamesPodDirectory(url, 1000, log);
    const named = await directory.pods(uids);
    expect([...named.keys()]).toEqual(uids.slice(0, 2));
    src.index.pod('DELETED', mirror);
    expect(src.index.podByUid(uids[1]!)).toBeUndefined();
  });

  it('refuses what is not a pod UID, and says so', async () => {
    expect(() => parsePodsRequest('{"uids":["10.0.0.1"]}')).toThrow(/expected pod UIDs/);
    expect(() => parsePodsRequest('{"addresses":[]}')).toThrow(/expected \{"uids"/);
    const url = await serve(source());
    expect(await post(url, '{"uids":[1]}', PODS_PATH)).toMatchObject({ status: 400 });
  });

  it('a directory whose service is down answers nothing and warns once', async () => {
    const { log, events } = memoryLog('debug');
    const directory = new NamesPodDirectory('http://127.0.0.1:9', 500, log);
    expect((await directory.pods(['0b7e6f9a-1c1e-4a8e-9f49-3f2a1c0d9e11'])).size).toBe(0);
    expect((await directory.pods(['0b7e6f9a-1c1e-4a8e-9f49-3f2a1c0d9e11'])).size).toBe(0);
    expect(events.filter((e) => e.level === 'warn')).toHaveLength(1);
  });
});

describe('NamesResolver', () => {
  function resolver(url: string, more: { ttlSeconds?: number; podNames?: boolean; now?: () => number } = {}) {
    const { log, events } = memoryLog('debug');
    const r = new NamesResolver({
      url,
      timeoutMs: 1000,
      ttlSeconds: more.ttlSeconds ?? 30,
      cacheSize: 100,
      podNames: more.podNames ?? false,
      log,
      ...(more.now ? { now: more.now } : {}),
    });
    return { r, events };
  }

  it('names peers in one request, caches them for the TTL, and tags pods only when asked', async () => {
    const src = source();
    const url = await serve(src);
    let t = 1_000_000;
    const { r } = resolver(url, { now: () => t, podNames: true });
    const first = await r.resolve(['10.244.1.17', '192.0.2.9'], 1000);
    expect(first.errors).toBe(0);
    expect(first.found.get('10.244.1.17')).toEqual({
      name: 'checkout',
      tags: { kind: 'pod', namespace: 'shop', workload: 'checkout', pod: 'checkout-7d9f8c6b5-x2x9k' },
    });
    expect(first.found.get('192.0.2.9')).toEqual({ tags: { kind: 'external' } });
    // From the cache: a pod now gone is still named until the TTL ends.
    src.index.pod('DELETED', pods.deployment!);
    src.index.replace('pods', []);
    const gone = new ClusterIndex(0);
    src.lookup = (a) => gone.lookup(a) ?? { kind: 'external' };
    t += 29_000;
    expect((await r.resolve(['10.244.1.17'], 1000)).found.get('10.244.1.17')?.name).toBe('checkout');
    t += 2_000;
    expect((await r.resolve(['10.244.1.17'], 1000)).found.get('10.244.1.17')).toEqual({
      tags: { kind: 'external' },
    });
  });

  it('while the service is down or not ready: no answer, errors counted, one warning, one "again"', async () => {
    const src = source(false);
    const url = await serve(src);
    const { r, events } = resolver(url);
    for (let i = 0; i < 3; i++)
      expect(await r.resolve(['10.244.1.17'], 1000)).toEqual({ found: new Map(), errors: 1 });
    src.ready = true;
    expect((await r.resolve(['10.244.1.17'], 1000)).found.size).toBe(1);
    const down = resolver('http://127.0.0.1:1');
    expect((await down.r.resolve(['10.244.1.17', '10.0.0.2'], 1000)).errors).toBe(2);
    const warnings = events.filter((e) => e.level === 'warn').map((e) => String(e.msg));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /cannot name peers \(HTTP 503: not ready: first list of pods not in yet\); reverse DNS/,
    );
    expect(events.filter((e) => String(e.msg).includes('answers again'))).toHaveLength(1);
    expect(String(down.events.find((e) => e.level === 'warn')?.msg)).toMatch(/ECONNREFUSED/);
  });
});

describe('ResolverChain with a names resolver before DNS', () => {
  const dns = (names: Record<string, string>): Resolver => ({
    name: 'dns',
    resolve: (addresses) =>
      Promise.resolve({
        found: new Map(
          addresses.filter((a) => names[a]).map((a): [string, PeerInfo] => [a, { name: names[a]! }]),
        ),
        errors: 0,
      }),
    close: () => undefined,
  });
  const cluster: Resolver = {
    name: 'names',
    resolve: (addresses) =>
      Promise.resolve({
        found: new Map(
          addresses.map((a): [string, PeerInfo] =>
            a === '10.244.1.17'
              ? [
                  a,
                  peerInfoOf(
                    { kind: 'pod', name: 'checkout', namespace: 'shop', workload: 'checkout' },
                    false,
                  ),
                ]
              : [a, peerInfoOf({ kind: 'external' }, false)],
          ),
        ),
        errors: 0,
      }),
    close: () => undefined,
  };

  it('an external address keeps kind=external and gets its name from DNS; counts say who named it', async () => {
    const chain = new ResolverChain([cluster, dns({ '192.0.2.9': 'api.example.net', '10.244.1.17': 'x' })]);
    const got = await chain.resolve(['10.244.1.17', '192.0.2.9', '192.0.2.10'], 1000);
    expect(got.get('10.244.1.17')).toEqual({
      name: 'checkout',
      tags: { kind: 'pod', namespace: 'shop', workload: 'checkout' },
    });
    expect(got.get('192.0.2.9')).toEqual({ name: 'api.example.net', tags: { kind: 'external' } });
    expect(got.get('192.0.2.10')).toEqual({ tags: { kind: 'external' } });
    expect(chain.counts.get('names')).toEqual({ hits: 1, misses: 2, errors: 0 });
    expect(chain.counts.get('dns')).toEqual({ hits: 1, misses: 1, errors: 0 });
  });
});
