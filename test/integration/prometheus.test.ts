import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNet, type TestNet } from '../helpers/netns.js';
import { iftopPids, nstats } from '../helpers/nstats.js';
import { freePort, PROMTOOL, promQuery, startPrometheus, type RunningServer } from '../helpers/servers.js';
import { sendUdp } from '../helpers/traffic.js';
import { sleep, waitFor } from '../helpers/wait.js';

// The Prometheus sink with a real Prometheus server (Debian's package): nstats in continuous mode
// exposes its flows on the health port's /metrics, promtool lints that page, and a Prometheus the
// test starts scrapes it during real traffic on a veth pair; rate() must give the traffic's rate.

let net: TestNet;

beforeAll(async () => {
  net = await createTestNet({ extraPeers: 1 });
});

afterAll(async () => {
  await net?.destroy();
});

/** `promtool check metrics` on a page: its exit code and everything it said. */
async function promtool(page: string): Promise<{ exitCode: number; said: string }> {
  const r = await execa(PROMTOOL, ['check', 'metrics'], { input: page, reject: false });
  return { exitCode: r.exitCode ?? -1, said: `${String(r.stdout)}${String(r.stderr)}`.trim() };
}

/** `nstats run` in continuous mode with the Prometheus sink on a free health port. */
async function prometheusRun(schedule: string, more: Record<string, string> = {}) {
  const port = await freePort();
  const run = nstats(['run'], {
    NSTATS_MODE: 'continuous',
    NSTATS_INTERFACE: net.hostIf,
    NSTATS_SCHEDULE: schedule,
    NSTATS_SINKS: 'prometheus',
    NSTATS_HEALTH_PORT: String(port),
    NSTATS_HEALTH_HOST: '127.0.0.1',
    NSTATS_DNS: 'false',
    NSTATS_HOSTNAME: 'web-0',
    ...more,
  });
  return { port, run };
}

/** Resolves once nstats' iftop runs and has had a second to open its capture. */
async function iftopUp(): Promise<void> {
  await waitFor(
    async () => (await iftopPids(net.hostIf)).length > 0,
    15_000,
    () => 'iftop did not start',
  );
  await sleep(1000);
}

describe('Prometheus sink, real Prometheus and promtool', () => {
  it('rate() of the flow counters gives the traffic rate within 10 %; promtool finds nothing to say', async () => {
    // A tick every second: the counters move in 1 s steps, small against rate()'s window.
    const { port, run } = await prometheusRun('* * * * * *');
    let prometheus: RunningServer | undefined;
    try {
      prometheus = await startPrometheus([`127.0.0.1:${port}`], 1);
      await iftopUp();
      const bitsPerSecond = 2_000_000;
      const sending = sendUdp({
        from: 'host',
        net,
        to: net.peerV4,
        port: 9501,
        bitsPerSecond,
        payloadBytes: 1000,
        seconds: 45,
      });
      // 40 s in: Prometheus has scraped a steady counter for over 30 s.
      await sleep(40_000);
      const selector = `nstats_flow_sent_bytes_total{receiver_ip="${net.peerV4}",mode="continuous"}`;
      const raw = await promQuery(prometheus.url, `count_over_time(${selector}[30s])`);
      const [rate] = await promQuery(prometheus.url, `rate(${selector}[30s]) * 8`);
      const iface = await promQuery(prometheus.url, `rate(nstats_interface_transmit_bytes_total[30s]) * 8`);
      const page = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
      const sent = await sending;
      const actual = (sent.ipBytes * 8 * 1000) / sent.elapsedMs;
      expect(rate, 'no flow series in Prometheus').toBeDefined();
      expect(rate!.metric).toMatchObject({ hosts: 'web-0', interface: net.hostIf, sender_ip: net.hostV4 });
      console.log(
        `prometheus rate(): ${Math.round(rate!.value)} bit/s, sent ${Math.round(actual)} bit/s; interface ${Math.round(iface[0]?.value ?? 0)} bit/s; ${raw[0]?.value} samples in 30 s`,
      );
      expect(Math.abs(rate!.value - actual) / actual).toBeLessThan(0.1);
      // The interface's frames are the IP packets plus a 14-byte Ethernet header.
      expect(iface[0]?.value ?? 0).toBeGreaterThan(actual * 0.95);
      expect(iface[0]?.value ?? 0).toBeLessThan(actual * 1.1);
      // The page Prometheus scraped, linted: nothing to report, not even a warning.
      expect(page).toMatch(/^nstats_flow_sent_bytes_total\{/m);
      expect(await promtool(page)).toEqual({ exitCode: 0, said: '' });
    } finally {
      run.kill('SIGTERM');
      await run;
      await prometheus?.stop();
    }
  }, 150_000);

  it('promtool accepts the page with ports on, the overflow series and every family', async () => {
    const { port, run } = await prometheusRun('*/2 * * * * *', {
      NSTATS_SINKS: 'prometheus,stdout',
      NSTATS_PROMETHEUS_MAX_SERIES: '1',
      NSTATS_PORTS: 'true',
    });
    try {
      await iftopUp();
      await Promise.all(
        [9601, 9602, 9603].map((p) =>
          sendUdp({
            from: 'host',
            net,
            to: net.peerV4,
            port: p,
            bitsPerSecond: 200_000,
            payloadBytes: 500,
            seconds: 6,
          }),
        ),
      );
      await sleep(2500);
      const page = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
      expect(page).toMatch(/^nstats_flow_sent_bytes_total\{[^}]*receiver="\(overflow\)"[^}]*\} [1-9]/m);
      expect(page).toMatch(/^nstats_prometheus_overflow_records_total [1-9]/m);
      expect(await promtool(page)).toEqual({ exitCode: 0, said: '' });
    } finally {
      run.kill('SIGTERM');
      const r = await run;
      // stdout got the same records as line protocol.
      expect(String(r.stdout)).toMatch(/^nstat,hosts=web-0,interface=\S+,mode=continuous,/m);
    }
  }, 60_000);
});
