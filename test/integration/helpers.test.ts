// Self-test of the integration-test helpers: test nets, paced UDP, dnsmasq, InfluxDB 1.6 and
// VictoriaMetrics. Traffic goes only to the test net's own addresses and loopback.
import dns from 'node:dns';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startBlackholeDns, startDnsmasq, reverseName } from '../helpers/dnsmasq.js';
import { createTestNet, ifStat, REGISTRY_DIR, type TestNet } from '../helpers/netns.js';
import {
  createInflux1Database,
  dropInflux1Database,
  influx1Query,
  influx1Write,
  testServers,
  uniqueName,
  vmExport,
  vmWrite,
  type VmSeries,
} from '../helpers/servers.js';
import { sendUdp } from '../helpers/traffic.js';

describe('test net', () => {
  let net: TestNet;
  beforeAll(async () => {
    net = await createTestNet({ extraPeers: 2 });
  });
  afterAll(async () => {
    await net?.destroy();
  });

  it('has the documented shape', () => {
    const n = net.subnet;
    expect(net).toMatchObject({
      hostV4: `198.18.${n}.1`,
      peerV4: `198.18.${n}.2`,
      hostV6: `fd00:18:${n}::1`,
      peerV6: `fd00:18:${n}::2`,
      extraPeerV4: [`198.18.${n}.10`, `198.18.${n}.11`],
      extraPeerV6: [`fd00:18:${n}::10`, `fd00:18:${n}::11`],
    });
    expect(net.ns).toMatch(/^nst-[0-9a-f]{6}$/);
    expect(net.hostIf.length).toBeLessThanOrEqual(15);
    expect(net.peerIf.length).toBeLessThanOrEqual(15);
    expect(existsSync(`/sys/class/net/${net.hostIf}`)).toBe(true);
    expect(existsSync(`/run/netns/${net.ns}`)).toBe(true);
  });

  it('execInPeer runs inside the namespace', async () => {
    const { stdout } = await net.execInPeer('ip', ['-br', 'addr', 'show', 'dev', net.peerIf]);
    expect(stdout).toContain(`${net.peerV4}/24`);
    expect(stdout).toContain(`${net.extraPeerV4[1]}/24`);
  });

  it('sends 2 s of 1 Mbit/s UDP from host to peer, visible in tx_bytes', async () => {
    const before = ifStat(net.hostIf, 'tx_bytes');
    const beforePkts = ifStat(net.hostIf, 'tx_packets');
    const t0 = Date.now();
    const r = await sendUdp({
      from: 'host',
      net,
      to: net.peerV4,
      port: 9000,
      bitsPerSecond: 1_000_000,
      payloadBytes: 1000,
      seconds: 2,
    });
    const took = Date.now() - t0;
    // 1e6 * 2 / 8 / 1028 = 243.2 -> 243 datagrams of 1028 IP bytes
    expect(r.packets).toBe(243);
    expect(r.ipBytes).toBe(243 * 1028);
    expect(r.elapsedMs).toBeGreaterThan(1900);
    expect(r.elapsedMs).toBeLessThan(2300);
    expect(took).toBeLessThan(6000);
    expect(r.received).toEqual({ packets: 243, payloadBytes: 243_000 });
    // tx_bytes counts Ethernet frames: + 14 bytes of header per packet.
    const dBytes = ifStat(net.hostIf, 'tx_bytes') - before;
    const dPkts = ifStat(net.hostIf, 'tx_packets') - beforePkts;
    expect(dPkts).toBe(243);
    expect(dBytes).toBe(243 * (1028 + 14));
  });

  it('sends IPv6 from an extra peer address to the host', async () => {
    const before = ifStat(net.hostIf, 'rx_bytes');
    const r = await sendUdp({
      from: 'peer',
      net,
      to: net.hostV6,
      port: 9001,
      bindAddress: net.extraPeerV6[0],
      bitsPerSecond: 200_000,
      payloadBytes: 452,
      seconds: 1,
    });
    expect(r.packets).toBe(50); // 2e5 / 8 / 500
    expect(r.ipBytes).toBe(50 * 500);
    expect(r.received?.packets).toBe(50);
    expect(ifStat(net.hostIf, 'rx_bytes') - before).toBe(50 * (500 + 14));
  });

  it('refuses destinations outside the test net and loopback', async () => {
    await expect(
      sendUdp({
        from: 'host',
        net,
        to: '192.0.2.1',
        port: 9,
        bitsPerSecond: 1000,
        payloadBytes: 10,
        seconds: 1,
      }),
    ).rejects.toThrow(/refusing/);
  });

  it('answers PTR queries through dnsmasq, also for hostile names', async () => {
    const records = [
      { address: net.peerV4, name: 'peer.example.test' },
      { address: net.peerV6, name: 'peer6.example.test' },
      { address: net.extraPeerV4[0]!, name: 'with space, comma=equals.example' },
      { address: net.extraPeerV4[1]!, name: 'quo"te\\back;semi.example' },
      { address: net.extraPeerV6[0]!, name: 'bücher.example' },
      { address: net.extraPeerV6[1]!, name: `${'a'.repeat(63)}.example` },
    ];
    const srv = await startDnsmasq(net, records);
    try {
      for (const server of srv.servers) {
        const r = new dns.promises.Resolver({ timeout: 2000, tries: 1 });
        r.setServers([server]);
        expect(await r.reverse(net.peerV4)).toEqual(['peer.example.test']);
        expect(await r.reverse(net.peerV6)).toEqual(['peer6.example.test']);
        expect(await r.reverse(net.extraPeerV4[0]!)).toEqual(['with space, comma=equals.example']);
        expect(await r.reverse(net.extraPeerV4[1]!)).toEqual(['quo\\"te\\\\back\\;semi.example']);
        expect(await r.reverse(net.extraPeerV6[0]!)).toEqual(['xn--bcher-kva.example']);
        expect(await r.reverse(net.extraPeerV6[1]!)).toEqual([`${'a'.repeat(63)}.example`]);
        await expect(r.reverse(net.hostV4)).rejects.toMatchObject({ code: 'ENOTFOUND' });
      }
      const q = srv.queries();
      expect(q).toContainEqual({ type: 'PTR', name: reverseName(net.peerV4), from: net.hostV4 });
      expect(q.filter((x) => x.type === 'PTR')).toHaveLength(14);
    } finally {
      await srv.stop();
    }
  });

  it('rejects names dnsmasq cannot serve with a clear error', async () => {
    await expect(
      startDnsmasq(net, [{ address: net.peerV4, name: `${'b'.repeat(64)}.example` }]),
    ).rejects.toThrow(/rejects the PTR record/);
  });

  it('has a DNS server that never answers', async () => {
    const bh = await startBlackholeDns(net);
    try {
      const r = new dns.promises.Resolver({ timeout: 300, tries: 1 });
      r.setServers([bh.server]);
      await expect(r.resolvePtr(reverseName(net.peerV4))).rejects.toMatchObject({ code: 'ETIMEOUT' });
      // reverse() falls back to /etc/hosts after the DNS timeout, so a timeout looks like ENOTFOUND.
      await expect(r.reverse(net.peerV4)).rejects.toMatchObject({ code: 'ENOTFOUND' });
    } finally {
      await bh.stop();
    }
  });

  it('destroy() removes namespace, veth and lock, and is idempotent', async () => {
    const other = await createTestNet();
    const sleeper = other.execInPeer('sleep', ['300']);
    await other.destroy();
    await other.destroy();
    await expect(sleeper).rejects.toMatchObject({ isTerminated: true, signal: 'SIGKILL' });
    expect(existsSync(`/sys/class/net/${other.hostIf}`)).toBe(false);
    expect(existsSync(`/run/netns/${other.ns}`)).toBe(false);
    expect(existsSync(`${REGISTRY_DIR}/${other.subnet}.json`)).toBe(false);
  });
});

describe('servers', () => {
  it('provides URLs on loopback', async () => {
    const { influx1Url, vmUrl } = await testServers();
    expect(influx1Url).toBe(inject('influx1Url'));
    expect(influx1Url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(vmUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('writes to InfluxDB 1.6 and reads back', async () => {
    const { influx1Url } = await testServers();
    const db = uniqueName('selftest');
    await createInflux1Database(influx1Url, db);
    try {
      const ts = 1_700_000_000_000_000_000n;
      await influx1Write(influx1Url, db, `nstat,peer=a\\ b\\,c,pod=p1 rx=1i,tx=2.5 ${ts}`);
      const series = await influx1Query(influx1Url, db, 'SELECT * FROM nstat');
      expect(series).toHaveLength(1);
      expect(series[0]!.rows).toEqual([
        { time: 1_700_000_000_000_000_000, peer: 'a b,c', pod: 'p1', rx: 1, tx: 2.5 },
      ]);
      const grouped = await influx1Query(influx1Url, db, 'SELECT sum(rx) FROM nstat GROUP BY peer');
      expect(grouped[0]!.tags).toEqual({ peer: 'a b,c' });
      // InfluxDB 1.6 has no v2 write endpoint.
      const v2 = await fetch(`${influx1Url}/api/v2/write?bucket=${db}`, { method: 'POST', body: 'x v=1' });
      expect(v2.status).toBe(404);
    } finally {
      await dropInflux1Database(influx1Url, db);
    }
  });

  it('writes to VictoriaMetrics via /api/v2/write and reads back with export', async () => {
    const { vmUrl } = await testServers();
    const m = uniqueName('selftest');
    const ts = 1_700_000_000_000_000_000n; // older than VM's default retention: needs -retentionPeriod
    await vmWrite(vmUrl, `${m},peer=a\\ b\\,c=d,pod=p1 rx=1i,tx=2.5 ${ts}`);
    const series = await vmExport(vmUrl, `{__name__=~"${m}_.*"}`, { minSeries: 2 });
    const byName: Record<string, VmSeries> = Object.fromEntries(
      series.map((s) => [s.metric.__name__ ?? '', s] as const),
    );
    expect(Object.keys(byName).sort()).toEqual([`${m}_rx`, `${m}_tx`]);
    expect(byName[`${m}_rx`]).toEqual({
      metric: { __name__: `${m}_rx`, peer: 'a b,c=d', pod: 'p1' },
      values: [1],
      timestamps: [1_700_000_000_000],
    });
    expect(byName[`${m}_tx`]!.values).toEqual([2.5]);
    // /write?db= adds a db label
    await fetch(`${vmUrl}/write?db=${m}`, { method: 'POST', body: `${m}_w value=7` });
    const w = await vmExport(vmUrl, `${m}_w_value`);
    expect(w[0]!.metric).toEqual({ __name__: `${m}_w_value`, db: m });
  });
});
