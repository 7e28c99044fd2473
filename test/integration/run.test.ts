import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsmasq, type DnsServer } from '../helpers/dnsmasq.js';
import { createTestNet, type TestNet } from '../helpers/netns.js';
import { iftopPids, logEvents, nstats } from '../helpers/nstats.js';
import {
  createInflux1Database,
  dropInflux1Database,
  influx1Query,
  testServers,
  uniqueName,
  vmExport,
} from '../helpers/servers.js';
import { sendUdp } from '../helpers/traffic.js';

// A PTR name chosen to break the seed's hand-built lines: spaces, commas, '=', quotes, a backslash.
const HOSTILE = 'cache 1, eu=west "x"';
const HOSTILE_TAG = HOSTILE;

let net: TestNet;
let dns: DnsServer;
let influx1Url: string;
let vmUrl: string;

beforeAll(async () => {
  ({ influx1Url, vmUrl } = await testServers());
  net = await createTestNet();
  dns = await startDnsmasq(net, [{ address: net.peerV4, name: HOSTILE }]);
});

afterAll(async () => {
  await dns?.stop();
  await net?.destroy();
});

/** `nstats run` for one cycle (a 10 s sample, scheduled every 2 s) while UDP flows to the peer. */
async function oneCycle(env: Record<string, string>, bitsPerSecond: number) {
  const run = nstats(['run', '--max-cycles', '1'], {
    NSTATS_INTERFACE: net.hostIf,
    NSTATS_SAMPLE_SECONDS: '10',
    NSTATS_SCHEDULE: '*/2 * * * * *',
    NSTATS_DNS_SERVERS: dns.server,
    NSTATS_HOSTNAME: 'web-0',
    POD_NAME: 'web-0',
    POD_NAMESPACE: 'shop',
    NODE_NAME: 'node-1',
    ...env,
  });
  const traffic = await sendUdp({
    from: 'host',
    net,
    to: net.peerV4,
    port: 9200,
    bitsPerSecond,
    payloadBytes: 1000,
    seconds: 16,
  });
  const r = await run;
  expect(r.exitCode, String(r.stderr)).toBe(0);
  const events = logEvents(String(r.stderr));
  const done = events.find((e) => e.component === undefined && String(e.msg).startsWith('cycle: done'));
  expect(done, String(r.stderr)).toBeDefined();
  expect(await iftopPids(net.hostIf)).toEqual([]);
  return { r, events, rate: (traffic.ipBytes * 8 * 1000) / traffic.elapsedMs };
}

describe('nstats run writes nstat points', () => {
  it('to InfluxDB 1.6 through /write?db= (the seed variables INFLUX and IDB)', async () => {
    const db = uniqueName('nstats');
    await createInflux1Database(influx1Url, db);
    try {
      const { rate, events } = await oneCycle({ INFLUX: new URL(influx1Url).host, IDB: db }, 800_000);
      expect(String(events.find((e) => e.msg === 'daemon: started')?.sink)).toContain('influxdb v1');
      const series = await influx1Query(influx1Url, db, 'SELECT * FROM nstat');
      const rows = series.flatMap((s) => s.rows);
      const row = rows.find((x) => x.receiverIp === net.peerV4);
      expect(row, JSON.stringify(rows)).toBeDefined();
      expect(row).toMatchObject({
        hosts: 'web-0',
        sender: net.hostV4,
        receiver: HOSTILE_TAG,
        senderIp: net.hostV4,
        receiverIp: net.peerV4,
        interface: net.hostIf,
        pod: 'web-0',
        namespace: 'shop',
        node: 'node-1',
      });
      const sendRate = row!.sendRate as number;
      expect(sendRate).toBeGreaterThan(rate * 0.9);
      expect(sendRate).toBeLessThan(rate * 1.1);
      expect(row!.sentBytes as number).toBeGreaterThan((rate / 8) * 10);
      expect(typeof row!.receiveRate).toBe('number');
      expect(Number.isInteger(row!.receivedBytes)).toBe(true);
      // The interface's own counters, one point per cycle: what the veth passed during the capture,
      // frames of 1000 B payload + 28 B UDP/IP + 14 B Ethernet, at the IP-level rate sent.
      const iface = (await influx1Query(influx1Url, db, 'SELECT * FROM nstat_interface'))[0]?.rows ?? [];
      expect(iface).toHaveLength(1);
      expect(iface[0]).toMatchObject({ hosts: 'web-0', interface: net.hostIf, pod: 'web-0' });
      const seconds = iface[0]!.sampleSeconds as number;
      const expected = (rate / 8) * seconds * (1042 / 1028);
      const txBytes = iface[0]!.sampleTxBytes as number;
      console.log(`nstat_interface: ${txBytes} B sent in ${seconds} s, ${Math.round(expected)} B expected`);
      expect(txBytes).toBeGreaterThan(expected * 0.95);
      expect(txBytes).toBeLessThan(expected * 1.05);
      expect(iface[0]!.txBytes as number).toBeGreaterThanOrEqual(txBytes);
      // The seed's dashboards query these exact names.
      const seed = await influx1Query(
        influx1Url,
        db,
        'SELECT "sendRate","receiveRate" FROM "nstat" GROUP BY "hosts","sender","receiver"',
      );
      expect(seed.some((s) => s.tags.receiver === HOSTILE_TAG && s.tags.hosts === 'web-0')).toBe(true);
    } finally {
      await dropInflux1Database(influx1Url, db);
    }
  });

  it('to VictoriaMetrics through /api/v2/write', async () => {
    // A pod name as Kubernetes makes them: lowercase letters, digits and hyphens.
    const pod = uniqueName('pod').replaceAll('_', '-');
    const { rate } = await oneCycle(
      { NSTATS_INFLUX_URL: vmUrl, NSTATS_INFLUX_BUCKET: 'nstats', POD_NAME: pod },
      1_600_000,
    );
    const series = await vmExport(vmUrl, `{__name__="nstat_sendRate",pod="${pod}"}`);
    const s = series.find((x) => x.metric.receiverIp === net.peerV4);
    expect(s, JSON.stringify(series)).toBeDefined();
    expect(s!.metric).toMatchObject({
      hosts: 'web-0',
      receiver: HOSTILE_TAG,
      sender: net.hostV4,
      interface: net.hostIf,
    });
    expect(s!.values[0]!).toBeGreaterThan(rate * 0.9);
    expect(s!.values[0]!).toBeLessThan(rate * 1.1);
    const bytes = await vmExport(vmUrl, `{__name__="nstat_sentBytes",pod="${pod}"}`);
    expect(bytes.length).toBeGreaterThan(0);
  });

  it('to stdout as line protocol when no InfluxDB is configured, with JSON logs on stderr', async () => {
    const { r, events } = await oneCycle({}, 400_000);
    const lines = String(r.stdout).trim().split('\n');
    const line = lines.find((l) => l.includes(`receiverIp=${net.peerV4}`));
    expect(line, String(r.stdout)).toMatch(
      /^nstat,hosts=web-0,interface=\S+,mode=sampled,namespace=shop,node=node-1,pod=web-0,receiver=cache\\ 1\\,\\ eu\\=west\\ "x",/,
    );
    for (const e of events) expect(e.raw, 'every log line is JSON').toBeUndefined();
    const done = events.find((e) => String(e.msg).startsWith('cycle: done'))!;
    expect(done).toMatchObject({ level: 'info', app: 'nstats', ending: 'printed' });
    expect(done.points).toBeGreaterThan(0);
    console.log(`cycle: ${JSON.stringify(done)}`);
  });
});

describe('nstats check', () => {
  it('passes against a reachable InfluxDB 1.6 with the database, one line per check', async () => {
    const db = uniqueName('nstats');
    await createInflux1Database(influx1Url, db);
    try {
      const r = await nstats(['check'], {
        NSTATS_INTERFACE: net.hostIf,
        INFLUX: new URL(influx1Url).host,
        IDB: db,
        NSTATS_DNS_SERVERS: dns.server,
      });
      expect(r.exitCode, String(r.stdout)).toBe(0);
      const lines = String(r.stdout).trim().split('\n');
      expect(lines.map((l) => l.split(':')[0])).toEqual([
        'PASS config',
        'PASS iftop',
        'PASS capture',
        'PASS dns',
        'PASS influxdb',
        'PASS spool',
      ]);
    } finally {
      await dropInflux1Database(influx1Url, db);
    }
  });

  it('fails with the fix for a missing database, a dead server and an unknown interface', async () => {
    const r = await nstats(['check'], {
      NSTATS_INTERFACE: 'nstnosuch0',
      INFLUX: new URL(influx1Url).host,
      IDB: 'nstats_missing_db',
      NSTATS_DNS: 'false',
    });
    expect(r.exitCode).toBe(1);
    const out = String(r.stdout);
    expect(out).toMatch(/^FAIL capture: no interface nstnosuch0\. Fix: .*NSTATS_INTERFACE/m);
    expect(out).toMatch(
      /^FAIL influxdb: .*HTTP 404.*Fix: create the database: CREATE DATABASE "nstats_missing_db"/m,
    );
    const dead = await nstats(['check'], {
      NSTATS_INTERFACE: net.hostIf,
      NSTATS_INFLUX_URL: 'http://127.0.0.1:9',
      NSTATS_INFLUX_BUCKET: 'b',
      NSTATS_DNS: 'false',
    });
    expect(dead.exitCode).toBe(1);
    expect(String(dead.stdout)).toMatch(/^FAIL influxdb: .*Fix: check NSTATS_INFLUX_URL/m);
  });

  it('reports bad settings with exit code 2', async () => {
    const r = await nstats(['check'], { NSTATS_SCHEDULE: 'sometimes', NSTATS_INFLUX_TOKEN: 'hunter2' });
    expect(r.exitCode).toBe(2);
    expect(String(r.stdout)).toMatch(
      /^FAIL config: .*NSTATS_SCHEDULE="sometimes": expected a cron expression/,
    );
    expect(String(r.stdout) + String(r.stderr)).not.toContain('hunter2');
  });
});
