import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBlackholeDns, startDnsmasq, type DnsServer } from '../helpers/dnsmasq.js';
import { createTestNet, type TestNet } from '../helpers/netns.js';
import { iftopPids, nstats } from '../helpers/nstats.js';
import { sendUdp } from '../helpers/traffic.js';

interface JsonFlow {
  rank: number;
  source: { address: string; name: string; port?: number };
  destination: { address: string; name: string; port?: number };
  sent: { rates: { last2s: number; last10s: number; last40s: number }; cumulativeBytes: number };
  received: { rates: { last2s: number; last10s: number; last40s: number }; cumulativeBytes: number };
}
interface JsonSample {
  interface: string;
  ending: string;
  flows: JsonFlow[];
  totals: unknown;
  issues: unknown[];
}

const HOSTILE = 'cache 1, eu=west "x"';
let net: TestNet;
let dns: DnsServer;

beforeAll(async () => {
  net = await createTestNet({ extraPeers: 30 });
  dns = await startDnsmasq(net, [
    { address: net.peerV4, name: 'peer.nstats.test' },
    { address: net.peerV6, name: 'peer6.nstats.test' },
    { address: net.extraPeerV4[0]!, name: HOSTILE },
  ]);
});

afterAll(async () => {
  await dns?.stop();
  await net?.destroy();
});

async function waitForIftop(iface: string): Promise<void> {
  const t0 = performance.now();
  while ((await iftopPids(iface)).length === 0) {
    if (performance.now() - t0 > 10_000) throw new Error('no iftop started');
    await new Promise((r) => setTimeout(r, 50));
  }
  // iftop opens its capture a little after it starts.
  await new Promise((r) => setTimeout(r, 500));
}

function within(actual: number, expected: number, fraction: number): void {
  expect(actual, `expected ${actual} within ${fraction * 100} % of ${expected}`).toBeGreaterThanOrEqual(
    expected * (1 - fraction),
  );
  expect(actual, `expected ${actual} within ${fraction * 100} % of ${expected}`).toBeLessThanOrEqual(
    expected * (1 + fraction),
  );
}

describe('nstats once, real iftop on a veth pair', () => {
  it('finds IPv4 and IPv6 flows with rates within 10 % of the traffic sent, named by a real DNS server', async () => {
    const run = nstats(['once', '--interface', net.hostIf, '--seconds', '10', '--format', 'json'], {
      NSTATS_DNS_SERVERS: dns.server,
    });
    const traffic = await Promise.all([
      sendUdp({
        from: 'host',
        net,
        to: net.peerV4,
        port: 9001,
        bitsPerSecond: 800_000,
        payloadBytes: 1000,
        seconds: 15,
      }),
      sendUdp({
        from: 'host',
        net,
        to: net.peerV6,
        port: 9002,
        bitsPerSecond: 2_000_000,
        payloadBytes: 1200,
        seconds: 15,
      }),
      sendUdp({
        from: 'host',
        net,
        to: net.extraPeerV4[0]!,
        port: 9003,
        bitsPerSecond: 400_000,
        payloadBytes: 500,
        seconds: 15,
      }),
    ]);
    const r = await run;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const sample = JSON.parse(String(r.stdout)) as JsonSample;
    expect(sample.interface).toBe(net.hostIf);
    expect(sample.ending).toBe('printed');
    expect(sample.issues).toEqual([]);

    const byDest = new Map(sample.flows.map((f) => [f.destination.address, f]));
    const v4 = byDest.get(net.peerV4)!;
    const v6 = byDest.get(net.peerV6)!;
    const hostile = byDest.get(net.extraPeerV4[0]!)!;
    expect(v4 && v6 && hostile, JSON.stringify(sample.flows)).toBeTruthy();

    // Rates: iftop's 10 s column against the IP-level rate the sender kept.
    const rate = (t: (typeof traffic)[number]) => (t.ipBytes * 8 * 1000) / t.elapsedMs;
    within(v4.sent.rates.last10s, rate(traffic[0]), 0.1);
    within(v6.sent.rates.last10s, rate(traffic[1]), 0.1);
    within(hostile.sent.rates.last10s, rate(traffic[2]), 0.1);
    // Bytes: iftop ran 11-12 s of the 15 s of traffic.
    expect(v4.sent.cumulativeBytes).toBeGreaterThan((rate(traffic[0]) / 8) * 10);
    expect(v4.sent.cumulativeBytes).toBeLessThan((rate(traffic[0]) / 8) * 13);

    // Names: from dnsmasq's PTR records; the host side has none and keeps its IP.
    expect(v4.source).toMatchObject({ address: net.hostV4, name: net.hostV4 });
    expect(v4.destination.name).toBe('peer.nstats.test');
    expect(v6.destination.name).toBe('peer6.nstats.test');
    expect(hostile.destination.name).toBe(HOSTILE);
    expect(await iftopPids(net.hostIf)).toEqual([]);
  });

  it('keeps every flow (the seed kept 15): 31 peers, 31 flows', async () => {
    const run = nstats(['once', '--interface', net.hostIf, '--seconds', '10', '--format', 'json'], {
      NSTATS_DNS: 'false',
    });
    await Promise.all(
      net.extraPeerV4.map((to, i) =>
        sendUdp({
          from: 'host',
          net,
          to,
          port: 9100 + i,
          bitsPerSecond: 50_000 + i * 10_000,
          payloadBytes: 200,
          seconds: 15,
        }),
      ),
    );
    const r = await run;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const sample = JSON.parse(String(r.stdout)) as JsonSample;
    const peers = new Set(sample.flows.map((f) => f.destination.address));
    for (const p of net.extraPeerV4) expect(peers, p).toContain(p);
  });

  it('prints an aligned table and the line protocol `run` would write', async () => {
    const table = nstats(['once', '-i', net.hostIf, '-s', '10'], { NSTATS_DNS_SERVERS: dns.server });
    const lines = nstats(['once', '-i', net.hostIf, '-s', '10', '-f', 'line'], {
      NSTATS_DNS_SERVERS: dns.server,
      NSTATS_HOSTNAME: 'web-0',
    });
    await sendUdp({
      from: 'host',
      net,
      to: net.peerV4,
      port: 9004,
      bitsPerSecond: 300_000,
      payloadBytes: 1000,
      seconds: 15,
    });
    const [t, l] = await Promise.all([table, lines]);
    expect(t.exitCode, String(t.stderr)).toBe(0);
    const rows = String(t.stdout).split('\n');
    expect(rows[0]).toMatch(/^#\s+sender\s+receiver\s+send \(10s\)\s+receive \(10s\)\s+sent\s+received$/);
    const row = rows.find((x) => x.includes('peer.nstats.test'))!;
    expect(row).toMatch(/Kibit\/s/);
    expect(row.indexOf('peer.nstats.test')).toBe(rows[0]!.indexOf('receiver'));
    expect(l.exitCode, String(l.stderr)).toBe(0);
    expect(String(l.stdout)).toMatch(
      new RegExp(
        `^nstat,hosts=web-0,interface=${net.hostIf},mode=sampled,receiver=peer\\.nstats\\.test,receiverIp=${net.peerV4.replaceAll('.', '\\.')},sender=${net.hostV4.replaceAll('.', '\\.')},senderIp=\\S+ receiveRate=[\\d.e+]+,receivedBytes=\\d+i,sendRate=[\\d.e+]+,sentBytes=\\d+i \\d{13}$`,
        'm',
      ),
    );
    // As `run` writes it: the interface's counters too.
    expect(String(l.stdout)).toMatch(
      new RegExp(`^nstat_interface,hosts=web-0,interface=${net.hostIf},mode=sampled rxBytes=\\d+i,`, 'm'),
    );
  });

  // iftop -s N prints only if a packet comes after N s: a sample whose traffic stopped before
  // was lost whole. The sampled source has iftop print its open slot at the window's end.
  // The traffic starts about a second into the window (once iftop is up): 10 s of it ends about
  // 11 s in, a second before the 12 s window closes.
  it.each([6, 9, 10])(
    'keeps a sample whose traffic lasts only %i s of a 10 s sample: its flow and all its bytes',
    async (seconds) => {
      const run = nstats(['once', '-i', net.hostIf, '-s', '10', '-f', 'json'], { NSTATS_DNS: 'false' });
      await waitForIftop(net.hostIf);
      const sent = await sendUdp({
        from: 'host',
        net,
        to: net.peerV4,
        port: 9010 + seconds,
        bitsPerSecond: 400_000,
        payloadBytes: 800,
        seconds,
      });
      const r = await run;
      expect(r.exitCode, String(r.stderr)).toBe(0);
      const sample = JSON.parse(String(r.stdout)) as JsonSample;
      expect(sample.ending).toBe('printed');
      const flow = sample.flows.find((f) => f.destination.address === net.peerV4);
      expect(flow, JSON.stringify(sample)).toBeDefined();
      // The cumulative column has three significant digits.
      within(flow!.sent.cumulativeBytes, sent.ipBytes, 0.02);
    },
    40_000,
  );

  it('on an idle interface returns within the sample length + 5 s and leaves no iftop behind', async () => {
    const idle = await createTestNet();
    try {
      const t0 = performance.now();
      const r = await nstats(['once', '--interface', idle.hostIf, '--seconds', '10', '--format', 'json'], {
        NSTATS_DNS: 'false',
      });
      const elapsedMs = performance.now() - t0;
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(elapsedMs).toBeLessThan(15_000);
      const sample = JSON.parse(String(r.stdout)) as JsonSample;
      expect(['deadline', 'printed']).toContain(sample.ending);
      expect(await iftopPids(idle.hostIf)).toEqual([]);
      console.log(`idle once: ${Math.round(elapsedMs)} ms, ending ${sample.ending}`);
    } finally {
      await idle.destroy();
    }
  });

  it('a DNS server that never answers does not stretch the sample beyond the DNS budget', async () => {
    const blackhole = await startBlackholeDns(net, { port: 5353 });
    try {
      const t0 = performance.now();
      const run = nstats(['once', '-i', net.hostIf, '-s', '10', '-f', 'json'], {
        NSTATS_DNS_SERVERS: blackhole.server,
        NSTATS_DNS_TIMEOUT_MS: '5000',
        NSTATS_DNS_BUDGET_MS: '500',
      });
      const ended = run.then(() => performance.now());
      await sendUdp({
        from: 'host',
        net,
        to: net.peerV4,
        port: 9005,
        bitsPerSecond: 200_000,
        payloadBytes: 500,
        seconds: 15,
      });
      const r = await run;
      const elapsedMs = (await ended) - t0;
      expect(r.exitCode, String(r.stderr)).toBe(0);
      const sample = JSON.parse(String(r.stdout)) as JsonSample;
      const flow = sample.flows.find((f) => f.destination.address === net.peerV4)!;
      expect(flow.destination.name).toBe(net.peerV4);
      console.log(`blackhole DNS: once took ${Math.round(elapsedMs)} ms`);
      // iftop runs 12 s (printing at the first packet after), then at most the 0.5 s budget.
      expect(elapsedMs).toBeLessThan(12_000 + 1000 + 500 + 1500);
    } finally {
      await blackhole.stop();
    }
  });

  it('exits 1 naming the cause and the fix for an unknown interface, 2 for a bad setting', async () => {
    const r = await nstats(['once', '--interface', 'nstnosuch0']);
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(/interface nstnosuch0 does not exist.*Fix: .*NSTATS_INTERFACE/s);
    const bad = await nstats(['once', '--seconds', 'ten']);
    expect(bad.exitCode).toBe(2);
    expect(String(bad.stderr)).toMatch(/--seconds expects a whole number/);
    const badEnv = await nstats(['once'], { NSTATS_SAMPLE_SECONDS: '0' });
    expect(badEnv.exitCode).toBe(2);
    expect(String(badEnv.stderr)).toContain(
      'NSTATS_SAMPLE_SECONDS="0": expected a whole number from 10 to 3600',
    );
  });
});
