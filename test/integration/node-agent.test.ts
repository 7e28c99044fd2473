import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeKubeApi, pod, writeKubeconfig, type FakeKubeApi } from '../helpers/fake-kube-api.js';
import { createTestNet, PDEATHSIG, spawnInNs, trackChild, type TestNet } from '../helpers/netns.js';
import { iftopPids, logEvents, nstats, running, stop } from '../helpers/nstats.js';
import { createPodCgroup, type PodCgroup } from '../helpers/pod-cgroup.js';
import {
  createInflux1Database,
  dropInflux1Database,
  freePort,
  influx1Query,
  testServers,
  uniqueName,
} from '../helpers/servers.js';
import { sendUdp, type SendUdpResult } from '../helpers/traffic.js';
import { sleep, waitFor } from '../helpers/wait.js';

// `nstats node` on this machine, as a DaemonSet runs it: in the root network namespace with the
// machine's real /proc. Each "pod" is a network namespace made here with a veth pair to the root
// namespace and a process in it placed in a real cgroup of a pod's shape (cgroup v1 `pids`, cgroupfs
// driver; or the v2 mount, systemd driver). Pod A is named by a containerd bundle on disk (a fixture
// state directory), pod B by the Kubernetes API (a stand-in API server, NSTATS_KUBERNETES), pod C by
// nothing (its UID). C appears while the agent runs, B goes away while it runs. Traffic is real UDP
// from the root namespace to each pod's address; the points land in a real InfluxDB 1.6.

const TICK = '*/2 * * * * *';

interface FakePod {
  readonly net: TestNet;
  readonly cgroup: PodCgroup;
  readonly holder: ChildProcess;
}

let influx1Url: string;
let db: string | undefined;
let api: FakeKubeApi | undefined;
let dir: string | undefined;
let agent: ReturnType<typeof nstats> | undefined;
let stderr = '';
const pods: FakePod[] = [];
const cgroups: PodCgroup[] = [];
const nets: TestNet[] = [];
const traffic: Array<Promise<unknown>> = [];

/** A pod: a namespace with a process (`sleep`) in a pod-shaped cgroup. */
async function makePod(opts: Parameters<typeof createPodCgroup>[0] = {}): Promise<FakePod> {
  const net = await createTestNet();
  nets.push(net);
  const holder = spawnInNs(net, 'sleep', ['600'], { stdio: 'ignore' });
  // `ip netns exec` and setpriv exec: the PID is sleep's once its namespace is the net's.
  const nsOf = async (pid: number) => readlink(`/proc/${pid}/ns/net`).catch(() => '');
  const own = await readlink('/proc/self/ns/net');
  await waitFor(
    async () => (await nsOf(holder.pid!)) !== '' && (await nsOf(holder.pid!)) !== own,
    5000,
    () => 'sleep in its namespace',
  );
  const cgroup = createPodCgroup(opts);
  cgroups.push(cgroup);
  cgroup.add(holder.pid!);
  const p = { net, cgroup, holder };
  pods.push(p);
  return p;
}

function flow(p: FakePod, bitsPerSecond: number, seconds: number): Promise<SendUdpResult> {
  const sent = sendUdp({
    from: 'host',
    net: p.net,
    to: p.net.peerV4,
    port: 9911,
    bitsPerSecond,
    payloadBytes: 1000,
    seconds,
  });
  traffic.push(sent);
  sent.catch(() => undefined);
  return sent;
}

const events = () => logEvents(stderr);
const capturing = (pred: (e: Record<string, unknown>) => boolean) =>
  events().some((e) => String(e.msg).startsWith('node: capturing') && pred(e));

async function query(q: string): Promise<Array<Record<string, unknown>>> {
  return (await influx1Query(influx1Url, db!, q)).flatMap((s) => s.rows.map((r) => ({ ...s.tags, ...r })));
}

beforeAll(async () => {
  ({ influx1Url } = await testServers());
  db = uniqueName('nstats_node');
  await createInflux1Database(influx1Url, db);
  api = await createFakeKubeApi();
  dir = await mkdtemp(join(tmpdir(), 'nstats-node-'));
});

afterAll(async () => {
  await stop(agent);
  await Promise.allSettled(traffic);
  for (const p of pods) p.holder.kill('SIGKILL');
  for (const c of cgroups) c.destroy();
  for (const n of nets) await n.destroy();
  await api?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  if (db) await dropInflux1Database(influx1Url, db);
});

describe('nstats node: every pod network namespace of the node, into InfluxDB 1.6', () => {
  it('captures each pod with its name, picks up a new pod, drops a gone one, and skips non-pods', async () => {
    const a = await makePod({ hierarchy: 'pids', driver: 'cgroupfs' });
    const b = await makePod({ hierarchy: 'pids', driver: 'cgroupfs' });
    // A namespace with a process in no pod's cgroup: not a pod, not captured.
    const other = await createTestNet();
    nets.push(other);
    spawnInNs(other, 'sleep', ['600'], { stdio: 'ignore' });

    // Pod A's container, as containerd's bundle on disk names it.
    const containerd = join(dir!, 'containerd');
    const bundle = join(containerd, 'io.containerd.runtime.v2.task', 'k8s.io', a.cgroup.containerId);
    await mkdir(bundle, { recursive: true });
    await writeFile(
      join(bundle, 'config.json'),
      JSON.stringify({
        ociVersion: '1.1.0',
        annotations: {
          'io.kubernetes.cri.container-type': 'container',
          'io.kubernetes.cri.container-name': 'web',
          'io.kubernetes.cri.sandbox-name': 'web-0',
          'io.kubernetes.cri.sandbox-namespace': 'store',
          'io.kubernetes.cri.sandbox-uid': a.cgroup.uid,
        },
      }),
    );
    // Pod B, as the API knows it.
    const apiPod = api!.add(
      'pods',
      pod({
        namespace: 'shop',
        owner: { kind: 'Deployment', name: 'api' },
        uid: b.cgroup.uid,
        ip: b.net.peerV4,
        node: 'test-node',
      }),
    );

    const healthPort = await freePort();
    agent = nstats(['node'], {
      NSTATS_MODE: 'continuous',
      NSTATS_SCHEDULE: TICK,
      NSTATS_NODE_SCAN_SECONDS: '1',
      NSTATS_DNS: 'false',
      NSTATS_CONTAINERD_STATE: containerd,
      NSTATS_DOCKER_CONFIG: join(dir!, 'no-docker.json'),
      NSTATS_CRIO_STORAGE: join(dir!, 'no-crio'),
      NSTATS_KUBERNETES: 'true',
      KUBECONFIG: writeKubeconfig(dir!, api!.url),
      NSTATS_HEALTH_PORT: String(healthPort),
      NSTATS_HEALTH_HOST: '127.0.0.1',
      NODE_NAME: 'test-node',
      INFLUX: new URL(influx1Url).host,
      IDB: db!,
    });
    agent.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const proc = agent;
    // Named at once, or renamed once the API's first lists are in.
    const named = (name: string) =>
      capturing((e) => e.pod === name) ||
      events().some((e) => e.msg === 'node: pod renamed' && e.pod === name);
    await waitFor(
      () => Promise.resolve(!running(proc) || (named('web-0') && named(apiPod.metadata.name))),
      20_000,
      () => `pods A and B not captured with their names:\n${stderr.slice(-3000)}`,
    );
    expect(running(proc), stderr.slice(-2000)).toBe(true);
    await waitFor(
      async () => (await iftopPids(a.net.peerIf)).length > 0 && (await iftopPids(b.net.peerIf)).length > 0,
      10_000,
      () => 'an iftop in each pod',
    );
    expect(await iftopPids(other.peerIf), 'no capture in a namespace without a pod').toEqual([]);
    // Let iftop open its capture.
    await sleep(1500);

    const [sentA, sentB] = await Promise.all([flow(a, 2_000_000, 8), flow(b, 1_000_000, 8)]);

    // Pod C appears while the agent runs (cgroup v2, systemd driver, named by nothing).
    const c = await makePod({ hierarchy: 'unified', driver: 'systemd' });
    await waitFor(
      async () => capturing((e) => e.pod === c.cgroup.uid) && (await iftopPids(c.net.peerIf)).length > 0,
      10_000,
      () => `pod C not picked up:\n${stderr.slice(-2000)}`,
    );
    await sleep(1500);
    const sentC = await flow(c, 1_500_000, 6);

    // Pod B goes away: its capture ends, its iftop is gone.
    b.holder.kill('SIGKILL');
    await b.net.destroy();
    await waitFor(
      () =>
        Promise.resolve(
          events().some(
            (e) => String(e.msg).endsWith('is gone, its capture ends') && e.pod === apiPod.metadata.name,
          ),
        ),
      10_000,
      () => `pod B not dropped:\n${stderr.slice(-2000)}`,
    );
    await waitFor(
      async () => (await iftopPids(b.net.peerIf)).length === 0,
      5000,
      () => "B's iftop still runs",
    );

    // Two ticks more, so that every period is written.
    await sleep(4500);
    const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
    expect(metrics).toMatch(/nstats_node_captures\{netns="pod",named_by="containerd"\} 1/);
    expect(metrics).toMatch(/nstats_node_captures\{netns="pod",named_by="kubernetes"\} 0/);
    expect(metrics).toMatch(/nstats_node_captures\{netns="pod",named_by="cgroup"\} 1/);
    expect(metrics).toMatch(/nstats_node_namespaces_skipped\{reason="no_pod"\} [1-9]/);
    expect(metrics).toMatch(/nstats_node_captures_total\{event="ended"\} 1/);

    const byPod = await query(
      `SELECT sum(receivedBytes) AS bytes, count(receivedBytes) AS n FROM nstat WHERE receiverIp =~ /^198\\.18\\./ GROUP BY pod, namespace, node, hosts, senderIp`,
    );
    const of = (podName: string) => byPod.find((r) => r.pod === podName);
    const expectPod = (name: string, namespace: string | undefined, ip: string, sent: SendUdpResult) => {
      const row = of(name);
      expect(row, `points of pod ${name}: ${JSON.stringify(byPod)}`).toBeDefined();
      expect(row!.senderIp).toBe(ip);
      expect(row!.node).toBe('test-node');
      expect(row!.hosts).toBe(name);
      expect(row!.namespace || undefined).toBe(namespace || undefined);
      expect(Math.abs(Number(row!.bytes) - sent.ipBytes) / sent.ipBytes).toBeLessThan(0.1);
    };
    expectPod('web-0', 'store', a.net.peerV4, sentA);
    expectPod(apiPod.metadata.name, 'shop', b.net.peerV4, sentB);
    expectPod(c.cgroup.uid, '', c.net.peerV4, sentC);

    // Rates: the periods entirely inside A's traffic have its rate, within 10 %.
    const rateA = (sentA.ipBytes * 8) / (sentA.elapsedMs / 1000);
    const rates = await query(
      `SELECT receiveRate, sampleSeconds FROM nstat WHERE pod = 'web-0' AND receiveRate > 0`,
    );
    const inner = rates.map((r) => Number(r.receiveRate)).sort((x, y) => x - y);
    expect(inner.length).toBeGreaterThanOrEqual(3);
    const median = inner[Math.floor(inner.length / 2)]!;
    expect(Math.abs(median - rateA) / rateA).toBeLessThan(0.1);

    // The pods' interfaces and the node's own namespace, tagged as the node.
    const ifaces = await query(`SELECT last(rxBytes) FROM nstat_interface GROUP BY pod, hosts, interface`);
    expect(ifaces.find((r) => r.pod === 'web-0')?.interface).toBe(a.net.peerIf);
    expect(ifaces.some((r) => !r.pod && r.hosts === 'test-node')).toBe(true);
  }, 120_000);

  it('--list shows the pods, the node and a hostNetwork pod with its PIDs', async () => {
    // A process of a "hostNetwork pod": in the node's namespace, in a pod's cgroup.
    const hostPod = createPodCgroup({ hierarchy: 'pids' });
    cgroups.push(hostPod);
    const holder = spawn(PDEATHSIG[0], [...PDEATHSIG.slice(1), 'sleep', '600'], { stdio: 'ignore' });
    trackChild(holder);
    await waitFor(
      () => Promise.resolve(holder.pid !== undefined),
      2000,
      () => 'sleep started',
    );
    hostPod.add(holder.pid!);
    try {
      const r = await nstats(['node', '--list', '-f', 'json'], { NSTATS_DNS: 'false' });
      expect(r.exitCode, String(r.stderr)).toBe(0);
      const listing = JSON.parse(String(r.stdout)) as {
        namespaces: Array<{ kind: string; uid?: string; interface?: string; pids: number[] }>;
        hostNetworkPods: Array<{ uid: string; pids: number[] }>;
      };
      expect(listing.namespaces.filter((n) => n.kind === 'node')).toHaveLength(1);
      const a = pods[0]!;
      expect(listing.namespaces.find((n) => n.uid === a.cgroup.uid)).toMatchObject({
        kind: 'pod',
        interface: a.net.peerIf,
        pids: expect.arrayContaining([a.holder.pid]) as unknown,
      });
      expect(listing.hostNetworkPods.find((p) => p.uid === hostPod.uid)?.pids).toEqual([holder.pid]);
      const table = await nstats(['node', '--list'], { NSTATS_DNS: 'false' });
      expect(String(table.stdout)).toMatch(/hostNetwork pods in the node's namespace: [1-9]/);
    } finally {
      holder.kill('SIGKILL');
    }
  }, 30_000);
});
