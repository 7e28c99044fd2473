import { execa, type ResultPromise } from 'execa';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
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
} from '../helpers/fake-kube-api.js';
import { cliEnv, nodeFlags, nstats, NSTATS } from '../helpers/nstats.js';
import { freePort } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

// The real `nstats names` against a stand-in API server (test/helpers/fake-kube-api.ts) that
// speaks the list and watch protocol, found through KUBECONFIG by the real client library: the
// first list, watch events, a server down at start, a dropped connection, a 410 Gone after
// compaction, a silent watch, and what /metrics counts of each.

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nstats-names-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Names {
  readonly url: string;
  readonly proc: ResultPromise;
  /** Its stderr so far (JSON events). */
  log(): string;
  lookup(addresses: string[]): Promise<Record<string, Record<string, string>>>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  ready(): Promise<boolean>;
}

const running: Names[] = [];
const apis: FakeKubeApi[] = [];
afterEach(async () => {
  for (const n of running.splice(0)) {
    n.proc.kill('SIGTERM');
    await n.proc;
  }
  for (const a of apis.splice(0)) await a.close();
});

async function api(listening = true): Promise<FakeKubeApi> {
  const a = await createFakeKubeApi({ listening });
  apis.push(a);
  return a;
}

async function startNames(a: FakeKubeApi, env: Record<string, string> = {}): Promise<Names> {
  const port = await freePort();
  const kubeconfig = writeKubeconfig(dir, a.url, { fileName: `kubeconfig-${port}` });
  const proc = execa(process.execPath, [...nodeFlags(), NSTATS, 'names'], {
    reject: false,
    extendEnv: false,
    stdin: 'ignore',
    env: cliEnv({
      KUBECONFIG: kubeconfig,
      HOME: dir,
      NSTATS_NAMES_PORT: String(port),
      NSTATS_NAMES_HOST: '127.0.0.1',
      NSTATS_LOG_LEVEL: 'debug',
      ...env,
    }),
  });
  const url = `http://127.0.0.1:${port}`;
  let stderr = '';
  proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const names: Names = {
    url,
    proc,
    log: () => stderr,
    async lookup(addresses) {
      const res = await fetch(`${url}/v1/lookup`, { method: 'POST', body: JSON.stringify({ addresses }) });
      if (res.status !== 200) throw new Error(`lookup: HTTP ${res.status}: ${await res.text()}`);
      return ((await res.json()) as { identities: Record<string, Record<string, string>> }).identities;
    },
    async metric(name, labels = {}) {
      const text = await (await fetch(`${url}/metrics`)).text();
      const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
      for (const line of text.split('\n')) {
        if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
        if (want.every((w) => line.includes(w))) return Number(line.split(' ').at(-1));
      }
      return Number.NaN;
    },
    async ready() {
      try {
        return (await fetch(`${url}/readyz`)).status === 200;
      } catch {
        return false;
      }
    },
  };
  running.push(names);
  await waitFor(
    async () => {
      try {
        return (await fetch(`${url}/livez`)).status === 200;
      } catch {
        return false;
      }
    },
    10_000,
    () => `nstats names never answered /livez: ${stderr}`,
  );
  return names;
}

const checkout = () =>
  pod({
    namespace: 'shop',
    owner: { kind: 'Deployment', name: 'checkout' },
    ips: ['10.244.1.17', 'fd00:10:244:1::11'],
  });

describe('nstats names against a stand-in Kubernetes API', () => {
  it('lists through KUBECONFIG, names pods by workload, Services and nodes; follows watch events', async () => {
    const a = await api();
    a.add('pods', checkout());
    a.add(
      'pods',
      pod({ namespace: 'shop', owner: { kind: 'StatefulSet', name: 'redis' }, ip: '10.244.2.5' }),
    );
    a.add(
      'pods',
      pod({
        namespace: 'kube-system',
        owner: { kind: 'DaemonSet', name: 'kube-proxy' },
        hostNetwork: true,
        node: 'node-a',
        hostIP: '192.168.49.2',
      }),
    );
    a.add(
      'services',
      service({ name: 'checkout', namespace: 'shop', clusterIPs: ['10.96.0.10', 'fd00:10:96::a'] }),
    );
    a.add('nodes', node({ name: 'node-a', internalIP: '192.168.49.2' }));
    const n = await startNames(a);
    await waitFor(
      () => n.ready(),
      10_000,
      () => n.log(),
    );
    const ids = await n.lookup([
      '10.244.1.17',
      'fd00:10:244:1::11',
      '10.244.2.5',
      '10.96.0.10',
      'fd00:10:96::a',
      '192.168.49.2',
      '192.0.2.1',
    ]);
    expect(ids['10.244.1.17']).toMatchObject({
      kind: 'pod',
      name: 'checkout',
      namespace: 'shop',
      workload: 'checkout',
      workloadKind: 'Deployment',
    });
    expect(ids['fd00:10:244:1::11']).toMatchObject({ name: 'checkout' });
    expect(ids['10.244.2.5']).toMatchObject({ kind: 'pod', name: 'redis', workloadKind: 'StatefulSet' });
    expect(ids['10.96.0.10']).toMatchObject({ kind: 'service', name: 'checkout' });
    expect(ids['fd00:10:96::a']).toMatchObject({ kind: 'service', name: 'checkout' });
    expect(ids['192.168.49.2'], 'the hostNetwork pod’s address is the node’s').toEqual({
      kind: 'node',
      name: 'node/node-a',
      node: 'node-a',
    });
    expect(ids['192.0.2.1']).toEqual({ kind: 'external' });

    // A pod made while watching.
    a.add('pods', pod({ name: 'debug', namespace: 'default', ip: '10.244.3.9' }));
    await waitFor(
      async () => (await n.lookup(['10.244.3.9']))['10.244.3.9']?.kind === 'pod',
      5_000,
      () => 'pod added',
    );
    expect((await n.lookup(['10.244.3.9']))['10.244.3.9']).toMatchObject({
      name: 'debug',
      workloadKind: 'Pod',
    });
    expect(
      await n.metric('nstats_kube_watch_events_total', { resource: 'pods', type: 'ADDED' }),
    ).toBeGreaterThanOrEqual(1);
    expect(await n.metric('nstats_kube_objects', { resource: 'pods' })).toBe(4);
    expect(await n.metric('nstats_kube_lists_total', { resource: 'pods', result: 'ok' })).toBe(1);
  });

  it('a deleted pod stays named for NSTATS_KUBE_GRACE_SECONDS, and its IP goes to the newest pod at once', async () => {
    const a = await api();
    const old = checkout();
    a.add('pods', old);
    const n = await startNames(a, { NSTATS_KUBE_GRACE_SECONDS: '2' });
    await waitFor(
      () => n.ready(),
      10_000,
      () => n.log(),
    );
    a.remove('pods', 'shop', old.metadata.name);
    await waitFor(
      async () => (await n.metric('nstats_kube_addresses', { state: 'departed' })) === 2,
      5_000,
      () => 'departed',
    );
    expect((await n.lookup(['10.244.1.17']))['10.244.1.17']).toMatchObject({ name: 'checkout' });
    const gone = Date.now();
    await waitFor(
      async () => (await n.lookup(['10.244.1.17']))['10.244.1.17']?.kind === 'external',
      6_000,
      () => 'grace',
    );
    expect(Date.now() - gone).toBeGreaterThan(1_000);
    // IP reuse: a newer pod of another workload takes the address, and wins over the old one's
    // grace period at once.
    const again = checkout();
    a.add('pods', again);
    await waitFor(
      async () => (await n.lookup(['10.244.1.17']))['10.244.1.17']?.name === 'checkout',
      5_000,
      () => 'back',
    );
    a.remove('pods', 'shop', again.metadata.name);
    const t = Date.now();
    a.add(
      'pods',
      pod({ namespace: 'catalog', owner: { kind: 'Deployment', name: 'search' }, ip: '10.244.1.17' }),
    );
    await waitFor(
      async () => (await n.lookup(['10.244.1.17']))['10.244.1.17']?.name === 'search',
      5_000,
      () => 'reuse',
    );
    expect(Date.now() - t, 'named before the grace period of the pod gone ended').toBeLessThan(1_500);
  });

  it('an API server down at start: /livez 200 and /readyz 503 at once, ready when the server comes up', async () => {
    const a = await api(false);
    a.add('pods', checkout());
    const n = await startNames(a);
    expect(await n.ready()).toBe(false);
    const notReady = await fetch(`${n.url}/v1/lookup`, {
      method: 'POST',
      body: '{"addresses":["10.244.1.17"]}',
    });
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({
      error: 'not ready: first list of pods, services, nodes not in yet',
    });
    await waitFor(
      async () => (await n.metric('nstats_kube_lists_total', { resource: 'pods', result: 'failed' })) >= 1,
      5_000,
      () => 'a failed list',
    );
    await a.start();
    await waitFor(
      () => n.ready(),
      15_000,
      () => n.log(),
    );
    expect((await n.lookup(['10.244.1.17']))['10.244.1.17']).toMatchObject({ name: 'checkout' });
  });

  it('a dropped watch is resumed from its last version, nothing missed; a 410 lists again', async () => {
    const a = await api();
    // No grace period: a pod the re-list no longer has is unknown at once.
    const n = await startNames(a, { NSTATS_KUBE_GRACE_SECONDS: '0' });
    await waitFor(
      () => n.ready(),
      10_000,
      () => n.log(),
    );
    await a.waitForOpenWatches(3, undefined, 5_000);
    a.dropWatches();
    // Changes while the watch is down come with the resumed watch (replayed from its version).
    const p = checkout();
    a.add('pods', p);
    await waitFor(
      async () => (await n.lookup(['10.244.1.17']))['10.244.1.17']?.kind === 'pod',
      10_000,
      () => 'resumed',
    );
    expect(
      await n.metric('nstats_kube_watch_restarts_total', { resource: 'pods', reason: 'error' }),
    ).toBeGreaterThanOrEqual(1);
    expect(await n.metric('nstats_kube_lists_total', { resource: 'pods', result: 'ok' })).toBe(1);

    // Compacted past the watch's version while it is down: the resumed watch gets 410 Gone, and
    // the list that follows sees a pod deleted meanwhile (no DELETED event will ever come for it).
    await a.waitForOpenWatches(3, undefined, 10_000);
    a.dropWatches();
    a.remove('pods', 'shop', p.metadata.name);
    a.compact();
    await waitFor(
      async () => (await n.lookup(['10.244.1.17']))['10.244.1.17']?.kind === 'external',
      15_000,
      () => n.log(),
    );
    expect(
      await n.metric('nstats_kube_watch_restarts_total', { resource: 'pods', reason: 'gone' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      await n.metric('nstats_kube_lists_total', { resource: 'pods', result: 'ok' }),
    ).toBeGreaterThanOrEqual(2);
  });

  it('a watch that goes silent (a dead connection) is aborted after NSTATS_KUBE_WATCH_SILENCE_SECONDS and started again', async () => {
    const a = await api();
    const n = await startNames(a, { NSTATS_KUBE_WATCH_SILENCE_SECONDS: '2' });
    await waitFor(
      () => n.ready(),
      10_000,
      () => n.log(),
    );
    a.silence(true);
    await waitFor(
      async () =>
        (await n.metric('nstats_kube_watch_restarts_total', { resource: 'pods', reason: 'silent' })) >= 1,
      8_000,
      () => n.log(),
    );
    a.silence(false);
    a.add('pods', checkout());
    await waitFor(
      async () => (await n.lookup(['10.244.1.17']))['10.244.1.17']?.kind === 'pod',
      10_000,
      () => 'after silence',
    );
  });

  it('nstats check: PASS names for a ready service, FAIL with the fix for one that is down', async () => {
    const a = await api();
    const n = await startNames(a);
    await waitFor(
      () => n.ready(),
      10_000,
      () => n.log(),
    );
    const base = { NSTATS_IFTOP_PATH: '/nonexistent/iftop', NSTATS_INTERFACE: 'lo', NSTATS_DNS: 'false' };
    const up = await nstats(['check'], { ...base, NSTATS_NAMES_URL: n.url });
    expect(String(up.stdout)).toMatch(new RegExp(`^PASS names: ${n.url} is ready$`, 'm'));
    const down = await nstats(['check'], {
      ...base,
      NSTATS_NAMES_URL: `http://127.0.0.1:${await freePort()}`,
    });
    expect(String(down.stdout)).toMatch(
      /^FAIL names: http:\/\/127\.0\.0\.1:\d+: fetch failed \(ECONNREFUSED\)\. Fix: check NSTATS_NAMES_URL/m,
    );
    const kubeconfig = writeKubeconfig(dir, a.url, { fileName: 'kubeconfig-check' });
    const inProcess = await nstats(['check'], {
      ...base,
      NSTATS_KUBERNETES: 'true',
      KUBECONFIG: kubeconfig,
      HOME: dir,
    });
    expect(String(inProcess.stdout)).toMatch(
      new RegExp(`^PASS kubernetes: ${a.url} lists pods, services and nodes$`, 'm'),
    );
    a.failNext(
      3,
      403,
      'pods is forbidden: User "system:serviceaccount:shop:default" cannot list resource "pods"',
    );
    const forbidden = await nstats(['check'], {
      ...base,
      NSTATS_KUBERNETES: 'true',
      KUBECONFIG: kubeconfig,
      HOME: dir,
    });
    expect(String(forbidden.stdout)).toMatch(
      /^FAIL kubernetes: .*HTTP 403.*Fix: give the ServiceAccount get\/list\/watch/m,
    );
  });

  it('NSTATS_KUBERNETES=true: `nstats run` names peers from its own watch, and its /metrics has the watch', async () => {
    const a = await api();
    a.add(
      'pods',
      pod({
        namespace: 'shop',
        owner: { kind: 'Deployment', name: 'web' },
        ips: ['198.18.225.1', 'fd00:18:225::1'],
      }),
    );
    a.add(
      'pods',
      pod({
        namespace: 'shop',
        owner: { kind: 'StatefulSet', name: 'db' },
        ips: ['198.18.225.2', 'fd00:18:225::2'],
      }),
    );
    // A stand-in iftop printing a real capture between 198.18.225.1 and .2 (and their IPv6).
    const fixture = fileURLToPath(new URL('../fixtures/iftop/ports.txt', import.meta.url));
    const iftop = join(dir, 'iftop-ports');
    await writeFile(iftop, `#!/bin/sh\ncat '${fixture}'\n`);
    await chmod(iftop, 0o755);
    const port = await freePort();
    const run = execa(process.execPath, [...nodeFlags(), NSTATS, 'run', '--max-cycles', '3'], {
      reject: false,
      extendEnv: false,
      stdin: 'ignore',
      env: cliEnv({
        NSTATS_INTERFACE: 'lo',
        NSTATS_IFTOP_PATH: iftop,
        NSTATS_SCHEDULE: '* * * * * *',
        NSTATS_DNS: 'false',
        NSTATS_KUBERNETES: 'true',
        KUBECONFIG: writeKubeconfig(dir, a.url, { fileName: 'kubeconfig-run' }),
        HOME: dir,
        POD_IP: '198.18.225.1',
        NSTATS_HEALTH_PORT: String(port),
        NSTATS_HEALTH_HOST: '127.0.0.1',
      }),
    });
    let metrics = '';
    await waitFor(
      async () => {
        try {
          metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
          return /nstats_kube_lists_total\{resource="pods",result="ok"\} 1/.test(metrics);
        } catch {
          return false;
        }
      },
      10_000,
      () => metrics,
    );
    const r = await run;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const lines = String(r.stdout)
      .split('\n')
      .filter((l) => l.startsWith('nstat,'));
    // The last cycle's flow to db's IPv4 address: both sides named by workload, with their tags.
    const flow = lines.filter((l) => l.includes('receiverIp=198.18.225.2,')).at(-1) ?? '';
    for (const tag of [
      'receiver=db',
      'receiverKind=pod',
      'receiverNamespace=shop',
      'receiverWorkload=db',
      'sender=web',
      'senderKind=pod',
      'senderWorkload=web',
      'workload=web',
    ])
      expect(flow.split(' ')[0]!.split(','), String(r.stdout)).toContain(tag);
    expect(lines.filter((l) => l.includes('receiverIp=fd00:18:225::2,')).at(-1)).toContain('receiver=db,');
  });
});
