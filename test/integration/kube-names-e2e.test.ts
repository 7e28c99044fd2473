import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createFakeKubeApi,
  node,
  pod,
  service,
  writeKubeconfig,
  type FakeKubeApi,
} from '../helpers/fake-kube-api.js';
import { createTestNet, type TestNet } from '../helpers/netns.js';
import { iftopPids, logEvents, nstats, running, stop } from '../helpers/nstats.js';
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

// End to end, the way it runs in a cluster: `nstats names` lists and watches the (stand-in) API
// server through a kubeconfig file, and a sidecar `nstats run` on a real veth pair asks it to name
// the peers before writing to a real InfluxDB 1.6. The sidecar's own pod is the Deployment `web`
// (both host-side addresses, dual-stack); the peers are a Deployment's pod (IPv4), a StatefulSet's
// pod (IPv6), a node and a Service. Then the Deployment's pod is deleted and, within the grace
// period, its IPv4 address goes to a pod of another workload in another namespace: points written
// during the gap still name the old pod, points once the new pod holds the address name the new one
// (README: "a pod that takes the address over is named at once"), and the bytes of the flow add up
// across the change of name.

/**
 * How long a deleted pod's address stays named (names service): longer than the test waits for the
 * new name, so a new name that came only with the end of the grace period would be seen as late.
 */
const GRACE_SECONDS = 12;
/** How long the sidecar keeps an answer of the names service. */
const TTL_SECONDS = 1;
/** Continuous mode, a period every 2 s. */
const TICK_MS = 2000;
/**
 * A period's point is written only if iftop printed a table in it, and iftop's 2 s slots (a slot
 * ends at the first packet after 2 s, or at the tick's key once it is due) drift against the
 * ticks: now and then a period gets no table, and one may get two. Under steady traffic a slot
 * ends at most a few ms past 2 s, so of two periods in a row at least one has the flow's point.
 */
const TICKS_TO_A_POINT = 2;
/** Slack around a change for the time between a period's end and its look-up. */
const SLACK_MS = 300;

/** Traffic timeline, from the moment iftop captures (ms). */
const REMOVE_AT_MS = 8000;
/** Within the grace period after the deletion, and long enough for a point in the gap. */
const ADD_AT_MS = REMOVE_AT_MS + TICKS_TO_A_POINT * TICK_MS + 2 * SLACK_MS + 400;
const A_SECONDS = 21;
const OTHERS_SECONDS = 7;

let net: TestNet | undefined;
let api: FakeKubeApi | undefined;
let dir: string | undefined;
let influx1Url: string;
let db: string | undefined;
let names: ReturnType<typeof nstats> | undefined;
let run: ReturnType<typeof nstats> | undefined;
/** Traffic under way: awaited before the net goes, also when the test failed midway. */
const traffic: Array<Promise<unknown>> = [];

beforeAll(async () => {
  ({ influx1Url } = await testServers());
  net = await createTestNet({ extraPeers: 2 });
  api = await createFakeKubeApi();
  dir = await mkdtemp(join(tmpdir(), 'nstats-kube-e2e-'));
  db = uniqueName('nstats_kube');
  await createInflux1Database(influx1Url, db);
});

afterAll(async () => {
  await stop(run);
  await stop(names);
  await Promise.allSettled(traffic);
  await api?.close();
  await net?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
  if (db) await dropInflux1Database(influx1Url, db);
});

type Row = Record<string, unknown>;

/** Every nstat point written so far, oldest first, with `t` = its time in ms since the epoch. */
async function points(): Promise<Array<Row & { t: number }>> {
  const series = await influx1Query(influx1Url, db!, 'SELECT * FROM nstat');
  return series
    .flatMap((s) => s.rows)
    .map((r) => ({ ...r, t: Number(r.time) / 1e6 }))
    .sort((a, b) => a.t - b.t);
}

const sum = (rows: readonly Row[], field: string): number =>
  rows.reduce((n, r) => n + Number(r[field] ?? 0), 0);

describe('nstats run named by nstats names from the Kubernetes API, into InfluxDB 1.6', () => {
  it('names peers by workload, Service and node, and follows an IP that a new pod takes over', async () => {
    const n = net!;
    const fake = api!;
    const a = n.peerV4; // Deployment checkout in shop, then Deployment search in catalog
    const b = n.peerV6; // StatefulSet redis in shop
    const [nodeIp, serviceIp] = n.extraPeerV4 as [string, string];

    const web = fake.add(
      'pods',
      pod({
        namespace: 'shop',
        owner: { kind: 'Deployment', name: 'web' },
        ips: [n.hostV4, n.hostV6],
        node: 'node-a',
      }),
    );
    const checkout = fake.add(
      'pods',
      pod({ namespace: 'shop', owner: { kind: 'Deployment', name: 'checkout' }, ip: a, node: 'node-b' }),
    );
    fake.add(
      'pods',
      pod({ namespace: 'shop', owner: { kind: 'StatefulSet', name: 'redis', ordinal: 0 }, ip: b }),
    );
    fake.add('nodes', node({ name: 'node-b', internalIP: nodeIp }));
    fake.add('services', service({ name: 'payments', namespace: 'shop', clusterIP: serviceIp }));

    const port = await freePort();
    names = nstats(['names'], {
      KUBECONFIG: writeKubeconfig(dir!, fake.url),
      NSTATS_NAMES_PORT: String(port),
      NSTATS_NAMES_HOST: '127.0.0.1',
      NSTATS_KUBE_GRACE_SECONDS: String(GRACE_SECONDS),
    });
    const namesProc = names;
    let readyz = '';
    await waitFor(
      async () => {
        if (!running(namesProc)) return true;
        try {
          const r = await fetch(`http://127.0.0.1:${port}/readyz`);
          readyz = `${r.status} ${await r.text()}`;
          return r.status === 200;
        } catch (e) {
          readyz = String(e);
          return false;
        }
      },
      10_000,
      () => `nstats names not ready: ${readyz}`,
    );
    if (!running(namesProc)) throw new Error(`nstats names exited: ${String((await namesProc).stderr)}`);

    run = nstats(['run'], {
      NSTATS_MODE: 'continuous',
      NSTATS_SCHEDULE: '*/2 * * * * *',
      NSTATS_INTERFACE: n.hostIf,
      NSTATS_DNS: 'false',
      NSTATS_NAMES_URL: `http://127.0.0.1:${port}`,
      NSTATS_NAMES_TTL_SECONDS: String(TTL_SECONDS),
      POD_IP: n.hostV4,
      POD_NAME: web.metadata.name,
      POD_NAMESPACE: 'shop',
      NSTATS_HOSTNAME: web.metadata.name,
      INFLUX: new URL(influx1Url).host,
      IDB: db!,
    });
    // Traffic starts once iftop runs and has had a second to open its capture: bytes sent before
    // it could not be counted by anyone.
    await waitFor(
      async () => (await iftopPids(n.hostIf)).length > 0 || !running(run!),
      15_000,
      () => 'iftop did not start',
    );
    if (!running(run)) throw new Error(`nstats run exited: ${String((await run).stderr)}`);
    await sleep(1000);

    const t0 = Date.now();
    const flow = (to: string, port: number, bitsPerSecond: number, payloadBytes: number, seconds: number) => {
      const sent = sendUdp({ from: 'host', net: n, to, port, bitsPerSecond, payloadBytes, seconds });
      traffic.push(sent);
      // Awaited below; when the test fails first, afterAll waits for it instead.
      sent.catch(() => undefined);
      return sent;
    };
    const toA = flow(a, 9801, 800_000, 1000, A_SECONDS);
    const others = Promise.all([
      flow(b, 9802, 1_200_000, 1200, OTHERS_SECONDS),
      flow(nodeIp, 9803, 200_000, 500, OTHERS_SECONDS),
      flow(serviceIp, 9804, 300_000, 800, OTHERS_SECONDS),
    ]);
    // Failing here, before the IP changes hands, says the naming does not work at all.
    let seen: Row[] = [];
    await waitFor(
      async () => {
        seen = await points();
        return ['checkout', 'redis'].every((w) => seen.some((p) => p.receiverWorkload === w));
      },
      REMOVE_AT_MS - 1000,
      () => `no points for checkout and redis: ${JSON.stringify(seen.map((p) => p.receiver))}`,
    );

    await sleep(t0 + REMOVE_AT_MS - Date.now());
    const removedAt = Date.now();
    fake.remove('pods', 'shop', checkout.metadata.name);
    await sleep(t0 + ADD_AT_MS - Date.now());
    const addedAt = Date.now();
    fake.add(
      'pods',
      pod({ namespace: 'catalog', owner: { kind: 'Deployment', name: 'search' }, ip: a, node: 'node-c' }),
    );
    let firstSearch: (Row & { t: number }) | undefined;
    await waitFor(
      async () => {
        firstSearch = (await points()).find((p) => p.receiverIp === a && p.receiver === 'search');
        return firstSearch !== undefined;
      },
      (GRACE_SECONDS + TTL_SECONDS) * 1000 + TICKS_TO_A_POINT * TICK_MS,
      () => 'no point names search',
    );

    const sentA = await toA;
    const [sentB, sentNode, sentService] = await others;
    // The last period of a flow is printed at the next tick; the rest at stop.
    await sleep(TICK_MS + 1000);
    const r = await stop(run);
    run = undefined;
    expect(r?.exitCode, String(r?.stderr)).toBe(0);
    expect(await iftopPids(n.hostIf)).toEqual([]);
    // The change of hands came through the watch (one list, then the two events).
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('nstats_kube_lists_total{resource="pods",result="ok"} 1\n');
    expect(metrics).toContain('nstats_kube_watch_events_total{resource="pods",type="ADDED"} 1\n');
    expect(metrics).toContain('nstats_kube_watch_events_total{resource="pods",type="DELETED"} 1\n');
    expect(metrics).toMatch(/^nstats_names_requests_total\{result="ok"\} [1-9]/m);
    const nr = await stop(names);
    names = undefined;
    expect(nr?.exitCode, String(nr?.stderr)).toBe(0);
    // Neither process warned: the names service answered every look-up.
    for (const out of [r, nr]) {
      const bad = logEvents(String(out?.stderr)).filter((e) => e.raw !== undefined || e.level !== 'info');
      expect(bad).toEqual([]);
    }

    const all = await points();
    const to = (ip: string) => all.filter((p) => p.receiverIp === ip);
    // Every point carries the sidecar's own workload; its flows have its own pod as the sender,
    // from its IPv4 and its IPv6 address alike.
    for (const p of all) expect(p.workload, JSON.stringify(p)).toBe('web');
    const iface = (await influx1Query(influx1Url, db!, 'SELECT * FROM nstat_interface')).flatMap(
      (s) => s.rows,
    );
    expect(iface.length).toBeGreaterThan(0);
    for (const p of iface) expect(p.workload, JSON.stringify(p)).toBe('web');
    for (const p of [a, b, nodeIp, serviceIp].flatMap(to)) {
      expect(p, JSON.stringify(p)).toMatchObject({
        sender: 'web',
        senderKind: 'pod',
        senderNamespace: 'shop',
        senderWorkload: 'web',
      });
    }
    expect(to(b).length).toBeGreaterThan(0);
    for (const p of to(b)) {
      expect(p).toMatchObject({
        receiver: 'redis',
        receiverKind: 'pod',
        receiverNamespace: 'shop',
        receiverWorkload: 'redis',
        senderIp: n.hostV6,
      });
    }
    expect(to(nodeIp).length).toBeGreaterThan(0);
    for (const p of to(nodeIp)) {
      expect(p).toMatchObject({ receiver: 'node/node-b', receiverKind: 'node' });
      // A tag a point lacks comes back as null from SELECT *.
      expect(p.receiverNamespace ?? null, 'a node has no namespace').toBeNull();
    }
    expect(to(serviceIp).length).toBeGreaterThan(0);
    for (const p of to(serviceIp)) {
      expect(p).toMatchObject({
        receiver: 'payments',
        receiverKind: 'service',
        receiverNamespace: 'shop',
        receiverWorkload: 'payments',
      });
    }

    // Address A: checkout until it is deleted and through the gap (its grace period), search once
    // the new pod holds it and the sidecar's cached answer has expired; in the periods around each
    // change either name.
    const checkoutTags = { receiver: 'checkout', receiverNamespace: 'shop', receiverWorkload: 'checkout' };
    const searchTags = { receiver: 'search', receiverNamespace: 'catalog', receiverWorkload: 'search' };
    for (const p of to(a)) {
      expect(p).toMatchObject({ receiverKind: 'pod', senderIp: n.hostV4 });
      const what = JSON.stringify({ receiver: p.receiver, t: new Date(p.t).toISOString() });
      if (p.t < addedAt - SLACK_MS) expect(p, what).toMatchObject(checkoutTags);
      else if (p.t > addedAt + TTL_SECONDS * 1000 + SLACK_MS) expect(p, what).toMatchObject(searchTags);
      else expect(['checkout', 'search'], what).toContain(p.receiver);
    }
    const inGap = to(a).filter((p) => p.t > removedAt + SLACK_MS && p.t < addedAt - SLACK_MS);
    expect(inGap.length, 'a period ends between the deletion and the new pod').toBeGreaterThan(0);
    const lateSearch = to(a).filter((p) => p.t > addedAt + TTL_SECONDS * 1000 + SLACK_MS);
    expect(lateSearch.length).toBeGreaterThanOrEqual(2);
    // Named at once (not when the old pod's grace period ends): by the first period with the
    // flow's point once the sidecar's cached answer has expired.
    expect(firstSearch!.t - addedAt).toBeLessThan(TTL_SECONDS * 1000 + TICKS_TO_A_POINT * TICK_MS + SLACK_MS);
    expect(firstSearch!.t).toBeLessThan(removedAt + GRACE_SECONDS * 1000);

    // Bytes: what iftop counted is what was sent, the flow to A across its change of name too.
    const err = (written: number, sent: SendUdpResult) => (written - sent.ipBytes) / sent.ipBytes;
    const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
    const bytesTo = (ip: string, receiver?: string) =>
      sum(
        to(ip).filter((p) => receiver === undefined || p.receiver === receiver),
        'sentBytes',
      );
    const written = {
      checkout: bytesTo(a, 'checkout'),
      search: bytesTo(a, 'search'),
      redis: bytesTo(b),
      node: bytesTo(nodeIp),
      service: bytesTo(serviceIp),
    };
    const errA = err(written.checkout + written.search, sentA);
    console.log(
      `kube names e2e: A ${a} checkout ${written.checkout} B + search ${written.search} B written / ` +
        `${sentA.ipBytes} B sent (${pct(errA)}); redis ${b} ${written.redis} B / ${sentB.ipBytes} B ` +
        `(${pct(err(written.redis, sentB))}); node ${written.node} B / ${sentNode.ipBytes} B; ` +
        `service ${written.service} B / ${sentService.ipBytes} B; ` +
        `search named ${Math.round(firstSearch!.t - addedAt)} ms after the new pod took A ` +
        `(${inGap.length} point(s) in the ${addedAt - removedAt} ms gap still said checkout)`,
    );
    expect(written.checkout).toBeGreaterThan(0);
    expect(written.search).toBeGreaterThan(0);
    expect(Math.abs(errA)).toBeLessThan(0.03);
    expect(Math.abs(err(written.redis, sentB))).toBeLessThan(0.03);
    expect(Math.abs(err(written.node, sentNode))).toBeLessThan(0.03);
    expect(Math.abs(err(written.service, sentService))).toBeLessThan(0.03);
  }, 60_000);
});
