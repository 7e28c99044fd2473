import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeKubeApi, pod, writeKubeconfig, type FakeKubeApi } from '../helpers/fake-kube-api.js';
import { expandInfluxQL, type VariableValue } from '../helpers/grafana-influxql.js';
import { createTestNet, type TestNet } from '../helpers/netns.js';
import { iftopPids, nstats, running, stop } from '../helpers/nstats.js';
import {
  createInflux1Database,
  dropInflux1Database,
  influx1Query,
  testServers,
  uniqueName,
  type Influx1Series,
} from '../helpers/servers.js';
import { sendUdp } from '../helpers/traffic.js';
import { sleep, waitFor } from '../helpers/wait.js';

// The InfluxQL dashboards (grafana/dashboards/influxql/) against real data: a sidecar `nstats run`
// (continuous mode, peers named by the in-process Kubernetes watch of a stand-in API server)
// captures a veth pair carrying known UDP rates to 12 peers and from 3 of them, into a real
// InfluxDB 1.6. Then every target of every panel and every variable query is run as Grafana would
// send it (macros and variables expanded as its InfluxDB data source does) and its result is
// checked against the traffic: rates within 10 %, top-N row counts, the right peers. `nstats setup`
// then rolls the data up and the long-term panels are checked against the raw points.

const DIR = new URL('../../grafana/dashboards/influxql/', import.meta.url);
const PEERS = 12;
/** Send rate to peer i (IP bits/s). */
const sendRate = (i: number) => (i + 1) * 40_000;
/** Receive rate from peer i: peers 0-2 send back. */
const receiveRate = (i: number) => (i < 3 ? 300_000 : 0);
/** 500 IP bytes per datagram: 528 bytes on the wire with Ethernet's 14 (the interface counts those). */
const PAYLOAD = 472;
const IP_BYTES = PAYLOAD + 28;
const FRAME_BYTES = IP_BYTES + 14;
const TICK_S = 10;
/**
 * Long enough for a complete 1-minute bucket (the panels' min interval) whose periods all lie
 * inside the traffic: the first full minute starts at most 72 s after the traffic does.
 */
const TRAFFIC_S = 140;
const TOLERANCE = 0.1;

interface Target {
  refId: string;
  query: string;
  resultFormat: string;
}
interface Panel {
  id: number;
  title: string;
  type: string;
  interval?: string;
  targets: Target[];
}
interface Variable {
  type: string;
  name: string;
  query: string;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

let net: TestNet | undefined;
let api: FakeKubeApi | undefined;
let dir: string | undefined;
let influx1Url: string;
let db: string | undefined;
let run: ReturnType<typeof nstats> | undefined;
const traffic: Array<Promise<unknown>> = [];

async function dashboard(uid: string): Promise<Dashboard> {
  return JSON.parse(await readFile(new URL(`${uid}.json`, DIR), 'utf8')) as Dashboard;
}

beforeAll(async () => {
  ({ influx1Url } = await testServers());
  net = await createTestNet({ extraPeers: PEERS - 1 });
  api = await createFakeKubeApi();
  dir = await mkdtemp(join(tmpdir(), 'nstats-grafana-'));
  db = uniqueName('nstats_grafana');
  await createInflux1Database(influx1Url, db);
});

afterAll(async () => {
  await stop(run);
  await Promise.allSettled(traffic);
  await api?.close();
  await net?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
  if (db) await dropInflux1Database(influx1Url, db);
});

/** Runs a query as Grafana would send it; throws on an InfluxDB error. */
async function run1(
  query: string,
  fromMs: number,
  toMs: number,
  vars: Record<string, VariableValue>,
  minInterval?: string,
) {
  const q = expandInfluxQL(query, { fromMs, toMs, minInterval, variables: vars });
  return { q, series: await influx1Query(influx1Url, db!, q) };
}

const within = (actual: number, expected: number, tol = TOLERANCE) =>
  Math.abs(actual - expected) <= tol * Math.abs(expected);

function expectRate(actual: unknown, expected: number, what: string): void {
  const a = Number(actual);
  expect(within(a, expected), `${what}: ${a} bits/s, expected ${expected} ± ${TOLERANCE * 100} %`).toBe(true);
}

/** Values of the first numeric column after time, one per row. */
const valuesOf = (s: Influx1Series): number[] => s.values.map((v) => Number(v[1]));

describe('the InfluxQL dashboards on a real capture in InfluxDB 1.6', () => {
  it('every panel query and variable returns the traffic that was sent', { timeout: 420_000 }, async () => {
    const n = net!;
    const fake = api!;
    const peerIps = [n.peerV4, ...n.extraPeerV4];
    const web = fake.add(
      'pods',
      pod({ namespace: 'shop', owner: { kind: 'Deployment', name: 'web' }, ip: n.hostV4, node: 'node-a' }),
    );
    const peers = peerIps.map((ip, i) => {
      const namespace = i % 2 ? 'db' : 'shop';
      const workload = `peer-${i}`;
      fake.add('pods', pod({ namespace, owner: { kind: 'Deployment', name: workload }, ip, node: 'node-b' }));
      return { i, ip, namespace, workload };
    });
    const byWorkload = new Map(peers.map((p) => [p.workload, p]));
    const podName = web.metadata.name;

    run = nstats(['run'], {
      NSTATS_MODE: 'continuous',
      NSTATS_SCHEDULE: `*/${TICK_S} * * * * *`,
      NSTATS_INTERFACE: n.hostIf,
      NSTATS_DNS: 'false',
      NSTATS_KUBERNETES: 'true',
      KUBECONFIG: writeKubeconfig(dir!, fake.url),
      POD_IP: n.hostV4,
      POD_NAME: podName,
      POD_NAMESPACE: 'shop',
      NSTATS_HOSTNAME: podName,
      INFLUX: new URL(influx1Url).host,
      IDB: db!,
    });
    await waitFor(
      async () => (await iftopPids(n.hostIf)).length > 0 || !running(run!),
      15_000,
      () => 'iftop did not start',
    );
    if (!running(run)) throw new Error(`nstats run exited: ${String((await run).stderr)}`);
    await sleep(1500);

    const t0 = Date.now();
    const flow = (
      from: 'host' | 'peer',
      to: string,
      bitsPerSecond: number,
      port: number,
      bindAddress?: string,
    ) => {
      const sent = sendUdp({
        from,
        net: n,
        to,
        port,
        bitsPerSecond,
        payloadBytes: PAYLOAD,
        seconds: TRAFFIC_S,
        bindAddress,
      });
      traffic.push(sent);
      sent.catch(() => undefined);
      return sent;
    };
    const sends = [
      ...peers.map((p) => flow('host', p.ip, sendRate(p.i), 9000 + p.i)),
      ...peers
        .filter((p) => receiveRate(p.i) > 0)
        .map((p) => flow('peer', n.hostV4, receiveRate(p.i), 9100 + p.i, p.ip)),
    ];
    await Promise.all(sends);
    const tEnd = Date.now();
    await sleep(TICK_S * 1000 + 1500);
    const r = await stop(run);
    run = undefined;
    expect(r?.exitCode, String(r?.stderr)).toBe(0);

    // Whole 1-minute buckets, each of whose six 10 s periods lies inside the traffic.
    const MIN = 60_000;
    const fromMs = Math.ceil((t0 + TICK_S * 1000 + 2000) / MIN) * MIN;
    const toMs = Math.floor((tEnd - 1000) / MIN) * MIN - 1;
    expect(toMs - fromMs, 'the traffic did not cover a whole minute bucket').toBeGreaterThan(MIN - 10);
    const totalSend = peers.reduce((s, p) => s + sendRate(p.i), 0);
    const totalReceive = peers.reduce((s, p) => s + receiveRate(p.i), 0);

    // Points per flow in the range (one per period), for the bytes a rate gives over it.
    const counts = new Map<string, number>();
    for (const s of await influx1Query(
      influx1Url,
      db!,
      `SELECT count("sendRate") FROM "nstat" WHERE time >= ${fromMs}ms AND time <= ${toMs}ms GROUP BY "receiver"`,
    )) {
      counts.set(s.tags.receiver!, Number(s.values[0]![1]));
    }
    expect([...counts.keys()].sort()).toEqual(peers.map((p) => p.workload).sort());
    const expectedBytes = (workload: string, rate: number) =>
      (rate / 8) * TICK_S * (counts.get(workload) ?? 0);

    const all = (extra: Partial<VariableValue> = {}): VariableValue => ({
      value: '$__all',
      regex: true,
      ...extra,
    });
    const pick = (...value: string[]): VariableValue => ({ value, regex: true });
    const podVars: Record<string, VariableValue> = {
      // Two selected pods, the second absent: Grafana's `(a|b)` form of a multi-value variable.
      namespace: pick('shop'),
      workload: all({ allValue: '.*' }),
      pod: pick(podName, 'web-other'),
      peer_namespace: all({ allValue: '.*' }),
      peer_workload: all({ allValue: '.*' }),
    };

    // Every variable's own query, with the variables before it.
    const varResults: Record<string, string[]> = {};
    for (const uid of ['nstats-pod', 'nstats-overview', 'nstats-trends', 'nstats-interface']) {
      const d = await dashboard(uid);
      const vars = { ...podVars, interface: pick(n.hostIf), long: { value: ['long'], regex: false } };
      for (const v of d.templating.list.filter((x) => x.type === 'query')) {
        const { q, series } = await run1(v.query, fromMs, toMs, vars);
        const values = series.flatMap((s) => s.values.map((row) => String(row[1])));
        expect(values.length, `${uid} variable ${v.name}: ${q} gave nothing`).toBeGreaterThan(0);
        varResults[`${uid}/${v.name}`] = values;
      }
    }
    expect(varResults['nstats-pod/namespace']).toContain('shop');
    expect(varResults['nstats-pod/workload']).toEqual(['web']);
    expect(varResults['nstats-pod/pod']).toEqual([podName]);
    expect(varResults['nstats-pod/peer_namespace']!.sort()).toEqual(['db', 'shop']);
    expect(varResults['nstats-pod/peer_workload']!.sort()).toEqual(peers.map((p) => p.workload).sort());
    expect(varResults['nstats-interface/interface']).toEqual([n.hostIf]);

    /** Every target of a dashboard, run; none may fail or be empty. */
    async function runAll(uid: string, vars: Record<string, VariableValue>, from = fromMs, to = toMs) {
      const d = await dashboard(uid);
      const out = new Map<string, { q: string; series: Influx1Series[] }>();
      for (const p of d.panels) {
        for (const t of p.targets) {
          const res = await run1(t.query, from, to, vars, p.interval);
          const rows = res.series.reduce((k, s) => k + s.values.length, 0);
          expect(rows, `${uid} "${p.title}" ${t.refId}: ${res.q} returned nothing`).toBeGreaterThan(0);
          out.set(`${p.title}/${t.refId}`, res);
        }
      }
      return out;
    }

    // --- Pod bandwidth ------------------------------------------------------------------------
    const pd = await runAll('nstats-pod', podVars);
    const one = (key: string) => {
      const res = pd.get(key)!;
      expect(res.series, key).toHaveLength(1);
      return res.series[0]!;
    };
    for (const v of valuesOf(one('Sending now/A'))) expectRate(v, totalSend, 'Sending now');
    for (const v of valuesOf(one('Receiving now/A'))) expectRate(v, totalReceive, 'Receiving now');
    for (const v of valuesOf(one('Send vs receive/send'))) expectRate(v, totalSend, 'Send vs receive: send');
    for (const v of valuesOf(one('Send vs receive/receive')))
      expectRate(v, totalReceive, 'Send vs receive: receive');
    const sentAll = peers.reduce((s, p) => s + expectedBytes(p.workload, sendRate(p.i)), 0);
    const receivedAll = peers.reduce((s, p) => s + expectedBytes(p.workload, receiveRate(p.i)), 0);
    expect(within(valuesOf(one('Sent over the range/A'))[0]!, sentAll)).toBe(true);
    expect(within(valuesOf(one('Received over the range/A'))[0]!, receivedAll)).toBe(true);

    for (const [key, rate] of [
      ['Egress by destination/A', sendRate],
      ['Ingress by source/A', receiveRate],
    ] as const) {
      const series = pd.get(key)!.series;
      expect(series.map((s) => s.tags.receiver).sort(), key).toEqual(peers.map((p) => p.workload).sort());
      for (const s of series) {
        const p = byWorkload.get(s.tags.receiver!)!;
        for (const v of valuesOf(s)) {
          if (rate(p.i) === 0) expect(v, `${key} ${p.workload}`).toBe(0);
          else expectRate(v, rate(p.i), `${key} ${p.workload}`);
        }
      }
    }

    // Top 10 by bytes both ways, and the rest (total - top 10) = the two smallest peers.
    const both = (p: (typeof peers)[number]) =>
      expectedBytes(p.workload, sendRate(p.i)) + expectedBytes(p.workload, receiveRate(p.i));
    const ranked = [...peers].sort((a, b) => both(b) - both(a));
    const top = one('Top peers by bytes/top');
    expect(top.values).toHaveLength(10);
    const topNames = top.rows.map((row) => String(row.receiver));
    expect(topNames.sort()).toEqual(
      ranked
        .slice(0, 10)
        .map((p) => p.workload)
        .sort(),
    );
    for (const row of top.rows) {
      const p = byWorkload.get(String(row.receiver))!;
      expect(
        within(Number(row.bytes), both(p)),
        `top peers ${p.workload}: ${String(row.bytes)} vs ${both(p)}`,
      ).toBe(true);
    }
    const rest =
      valuesOf(one('Top peers by bytes/total'))[0]! - valuesOf(one('Top peers by bytes/top10'))[0]!;
    const restExpected = ranked.slice(10).reduce((s, p) => s + both(p), 0);
    expect(within(rest, restExpected), `rest ${rest} vs ${restExpected}`).toBe(true);

    for (const [key, rate, field] of [
      ['Peers/A', sendRate, 'sent'],
      ['Peers/B', receiveRate, 'received'],
    ] as const) {
      const series = pd.get(key)!.series;
      expect(series).toHaveLength(PEERS);
      for (const s of series) {
        const p = byWorkload.get(s.tags.receiver!)!;
        expect(s.tags.receiverNamespace).toBe(p.namespace);
        expect(s.tags.receiverWorkload).toBe(p.workload);
        expect(s.tags.receiverKind).toBe('pod');
        const v = Number(s.rows[0]![field]);
        if (rate(p.i) === 0) expect(v).toBe(0);
        else expect(within(v, expectedBytes(p.workload, rate(p.i))), `${key} ${p.workload}`).toBe(true);
      }
    }

    // A peer namespace narrows the peers; a pod that is not there gives nothing.
    const dbOnly = await run1(
      (await dashboard('nstats-pod')).panels.find((p) => p.title === 'Egress by destination')!.targets[0]!
        .query,
      fromMs,
      toMs,
      { ...podVars, peer_namespace: pick('db') },
      '1m',
    );
    expect(dbOnly.series.map((s) => s.tags.receiver).sort()).toEqual(
      peers
        .filter((p) => p.namespace === 'db')
        .map((p) => p.workload)
        .sort(),
    );
    const egressQuery = (await dashboard('nstats-pod')).panels.find(
      (p) => p.title === 'Egress by destination',
    )!.targets[0]!.query;
    const nobody = await run1(egressQuery, fromMs, toMs, { ...podVars, pod: pick('web-other') }, '1m');
    expect(nobody.series).toEqual([]);

    // --- Namespace overview -------------------------------------------------------------------
    const ov = await runAll('nstats-overview', { namespace: pick('shop') });
    const ovOne = (key: string) => {
      const res = ov.get(key)!;
      expect(res.series, key).toHaveLength(1);
      return res.series[0]!;
    };
    for (const v of valuesOf(ovOne('Egress (sending side)/A'))) expectRate(v, totalSend, 'overview egress');
    for (const v of valuesOf(ovOne('Ingress (receiving side)/A')))
      expectRate(v, totalReceive, 'overview ingress');
    expect(valuesOf(ovOne('Pods reporting/A'))).toEqual([1]);
    const topPods = ovOne('Top talking pods/A');
    expect(topPods.rows.map((row) => row.pod)).toEqual([podName]);
    expect(within(Number(topPods.rows[0]!.bytes), sentAll + receivedAll)).toBe(true);
    expect(ovOne('Top talking workloads/A').rows.map((row) => row.workload)).toEqual(['web']);
    const edges = ov.get('Service map/edges')!.series;
    expect(edges).toHaveLength(PEERS);
    for (const e of edges) {
      expect(e.tags.sender).toBe('web');
      const p = byWorkload.get(e.tags.receiver!)!;
      expect(
        within(Number(e.rows[0]!.mainstat), expectedBytes(p.workload, sendRate(p.i))),
        `edge ${p.workload}`,
      ).toBe(true);
    }
    const flows = ovOne('Top flows/A');
    expect(flows.values).toHaveLength(PEERS); // top 20 of 12
    expect(flows.rows.every((row) => row.sender === 'web' && row.pod === podName)).toBe(true);

    // --- Interface counters --------------------------------------------------------------------
    // The counter rates are differences between buckets: the range starts one bucket earlier, so
    // the first whole bucket has a predecessor (its last point, 10 s before, lies in the traffic).
    const ifVars = { namespace: pick('shop'), pod: pick(podName), interface: pick(n.hostIf) };
    const itf = await runAll('nstats-interface', ifVars, fromMs - MIN, toMs);
    const frames = (rate: number) => (rate / 8 / IP_BYTES) * FRAME_BYTES * 8;
    const ifOne = (key: string) => {
      const res = itf.get(key)!;
      expect(res.series, key).toHaveLength(1);
      return res.series[0]!;
    };
    const full = (s: Influx1Series) => s.values.filter((v) => Number(v[0]) / 1e6 >= fromMs);
    for (const v of full(ifOne('Interface bit rate/tx'))) expectRate(v[1], frames(totalSend), 'interface tx');
    for (const v of full(ifOne('Interface bit rate/rx')))
      expectRate(v[1], frames(totalReceive), 'interface rx');
    for (const v of full(ifOne('Interface packet rate/tx')))
      expectRate(v[1], totalSend / 8 / IP_BYTES, 'tx packets/s');
    for (const v of full(ifOne('Interface packet rate/rx')))
      expectRate(v[1], totalReceive / 8 / IP_BYTES, 'rx packets/s');
    expect(full(ifOne('Interface bit rate/tx')).length).toBeGreaterThan(0);
    const ifBytes = valuesOf(ifOne('Bytes in the captures/interface'))[0]!;
    const flowBytes = valuesOf(ifOne('Bytes in the captures/flows'))[0]!;
    expect(within(ifBytes, (flowBytes * FRAME_BYTES) / IP_BYTES), `${ifBytes} vs ${flowBytes}`).toBe(true);

    // --- Long-term trends, from the roll-ups of `nstats setup` --------------------------------
    const setup = await nstats(['setup'], { INFLUX: new URL(influx1Url).host, IDB: db! });
    expect(setup.exitCode, `${String(setup.stdout)}\n${String(setup.stderr)}`).toBe(0);
    // Last week, as the continuous query would have rolled it up (for "Week over week").
    const weekAgo = Math.floor((Date.now() - 9 * 86_400_000) / 3_600_000) * 3_600_000;
    const res = await fetch(
      `${influx1Url}/write?${new URLSearchParams({ db: db!, rp: 'long', precision: 'ms' }).toString()}`,
      {
        method: 'POST',
        body: `nstat,hosts=${podName},namespace=shop,pod=${podName},receiver=peer-0 sentBytes=3000000i,receivedBytes=1000000i,sendRate=666.7,receiveRate=222.2 ${weekAgo}`,
      },
    );
    expect(res.status).toBe(204);

    const trendFrom = t0 - 3_600_000;
    const trendTo = Date.now();
    const tr = await runAll(
      'nstats-trends',
      { namespace: pick('shop'), pod: pick(podName), long: { value: ['long'], regex: false } },
      trendFrom,
      trendTo,
    );
    const raw = await influx1Query(
      influx1Url,
      db!,
      `SELECT "sentBytes", "receivedBytes", "sendRate", "receiveRate" FROM "autogen"."nstat" GROUP BY *`,
    );
    const rawRows = raw.flatMap((s) => s.rows);
    const rawBytes = (pred: (row: Record<string, unknown>) => boolean) =>
      rawRows.filter(pred).reduce((s, row) => s + Number(row.sentBytes) + Number(row.receivedBytes), 0);
    const daily = tr.get('Daily bytes per pod/A')!.series;
    expect(daily.map((s) => s.tags.pod)).toEqual([podName]);
    expect(valuesOf(daily[0]!).reduce((a, b) => a + b, 0)).toBe(rawBytes(() => true));
    const perPeer = tr.get('Daily bytes per peer/A')!.series;
    expect(perPeer.map((s) => s.tags.receiver).sort()).toEqual(peers.map((p) => p.workload).sort());
    for (const s of perPeer) {
      expect(
        valuesOf(s).reduce((a, b) => a + b, 0),
        s.tags.receiver,
      ).toBe(rawBytes((row) => row.receiver === s.tags.receiver));
    }
    // p95 of the pod's hourly rate: per hour, the sum over flows of each flow's hourly mean.
    for (const [key, field, col] of [
      ['95th-percentile rate per pod/A', 'sendRate', 'send p95'],
      ['95th-percentile rate per pod/B', 'receiveRate', 'receive p95'],
    ] as const) {
      const perHour = new Map<number, Map<string, number[]>>();
      for (const s of raw) {
        for (const row of s.rows) {
          const hour = Math.floor(Number(row.time) / 1e6 / 3_600_000);
          const bySeries = perHour.get(hour) ?? new Map<string, number[]>();
          perHour.set(hour, bySeries);
          const key2 = JSON.stringify(s.tags);
          bySeries.set(key2, [...(bySeries.get(key2) ?? []), Number(row[field])]);
        }
      }
      const hourly = [...perHour.values()]
        .map((bySeries) =>
          [...bySeries.values()].reduce((sum, v) => sum + v.reduce((a, b) => a + b, 0) / v.length, 0),
        )
        .sort((a, b) => a - b);
      const p95 = hourly[Math.ceil(hourly.length * 0.95) - 1]!;
      const row = tr.get(key)!.series[0]!.rows[0]!;
      expect(within(Number(row[col]), p95, 1e-6), `${key}: ${String(row[col])} vs ${p95}`).toBe(true);
    }
    const thisWeek = tr.get('Week over week/this')!.series;
    expect(thisWeek.map((s) => s.tags.pod)).toEqual([podName]);
    expect(Number(thisWeek[0]!.rows[0]!['last 7 days'])).toBe(rawBytes(() => true));
    const before = tr.get('Week over week/before')!.series;
    expect(Number(before[0]!.rows[0]!['the 7 days before'])).toBe(4_000_000);
  });
});
