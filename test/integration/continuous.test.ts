import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNet, type TestNet } from '../helpers/netns.js';
import { iftopPids, logEvents, nstats } from '../helpers/nstats.js';
import { sendUdp } from '../helpers/traffic.js';
import { sleep, waitFor } from '../helpers/wait.js';

// Continuous mode on a real veth pair: one iftop runs all along, every tick writes the bytes of
// each flow since the last tick. The bytes written per peer, summed over the periods, must be
// within 2 % of the IP bytes the test sent: a steady flow, and bursts that start and stop
// between and across ticks. A slow keep-alive flow runs throughout: iftop closes a 2 s slot only
// when a packet arrives, so the last slot of a flow is counted when the next packet comes.
// The runs are stopped with SIGTERM 3 s after the measured traffic ends, not after a number of
// ticks: with `*/7` seconds the ticks fall at :49, :56, :00, so a count of ticks can end a run
// while the flows still send, and bytes in iftop's open slot at stop are never printed.

let net: TestNet;

beforeAll(async () => {
  net = await createTestNet({ extraPeers: 2 });
});

afterAll(async () => {
  await net?.destroy();
});

interface Totals {
  sent: number;
  received: number;
  periods: number;
}

/** nstat lines of stdout, bytes summed per receiver IP. */
function bytesPerPeer(stdout: string): Map<string, Totals> {
  const out = new Map<string, Totals>();
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('nstat,')) continue;
    const peer = /receiverIp=([^,\s]+)/.exec(line)?.[1];
    if (!peer) continue;
    const t = out.get(peer) ?? { sent: 0, received: 0, periods: 0 };
    t.sent += Number(/sentBytes=(\d+)i/.exec(line)?.[1] ?? 0);
    t.received += Number(/receivedBytes=(\d+)i/.exec(line)?.[1] ?? 0);
    t.periods++;
    out.set(peer, t);
  }
  return out;
}

/**
 * `nstats run` in continuous mode on the test net, returned once its iftop runs and has had a
 * second to open its capture (in an object: the run itself is a promise of its end).
 */
async function continuousRun(schedule: string, more: Record<string, string> = {}) {
  const run = nstats(['run'], {
    NSTATS_MODE: 'continuous',
    NSTATS_INTERFACE: net.hostIf,
    NSTATS_SCHEDULE: schedule,
    ...more,
    NSTATS_DNS: 'false',
    NSTATS_HOSTNAME: 'web-0',
  });
  await waitFor(
    async () => (await iftopPids(net.hostIf)).length > 0,
    15_000,
    () => 'iftop did not start',
  );
  await sleep(1000);
  return { run };
}

describe('continuous mode, real iftop on a veth pair', () => {
  it('writes per-peer bytes within 2 % of the bytes sent, steady and bursty', async () => {
    const [steadyPeer, burstPeer] = net.extraPeerV4 as [string, string];
    const run = nstats(['run'], {
      NSTATS_MODE: 'continuous',
      NSTATS_INTERFACE: net.hostIf,
      NSTATS_SCHEDULE: '*/7 * * * * *',
      NSTATS_DNS: 'false',
      NSTATS_HOSTNAME: 'web-0',
    });
    const keepAlive = sendUdp({
      from: 'host',
      net,
      to: net.peerV4,
      port: 9700,
      bitsPerSecond: 8 * 128 * 20,
      payloadBytes: 100,
      seconds: 26,
    });
    // The flows start once iftop runs (and has had a second to open its capture): bytes sent before
    // it started cannot be counted by anyone.
    await waitFor(
      async () => (await iftopPids(net.hostIf)).length > 0,
      15_000,
      () => 'iftop did not start',
    );
    await sleep(1000);
    const steady = sendUdp({
      from: 'host',
      net,
      to: steadyPeer,
      port: 9701,
      bitsPerSecond: 800_000,
      payloadBytes: 1000,
      seconds: 16,
    });
    let burstBytes = 0;
    for (const seconds of [1, 2, 0.5, 3, 1]) {
      const b = await sendUdp({
        from: 'host',
        net,
        to: burstPeer,
        port: 9702,
        bitsPerSecond: 4_000_000,
        payloadBytes: 1400,
        seconds,
      });
      burstBytes += b.ipBytes;
      await sleep(1700);
    }
    const steadyBytes = (await steady).ipBytes;
    await sleep(3000);
    run.kill('SIGTERM');
    const r = await run;
    await keepAlive.catch(() => undefined);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(await iftopPids(net.hostIf)).toEqual([]);
    const events = logEvents(String(r.stderr));
    const done = events.filter((e) => String(e.msg).startsWith('cycle: done'));
    expect(done.length).toBeGreaterThanOrEqual(3); // 2 or more ticks and the last period at stop
    expect(String(done.at(-1)?.msg)).toContain('at stop');
    expect(done[0]).toMatchObject({ ending: 'continuous' });
    const peers = bytesPerPeer(String(r.stdout));
    const s = peers.get(steadyPeer);
    const b = peers.get(burstPeer);
    const err = (got: number, want: number) => Math.abs(got - want) / want;
    console.log(
      `continuous: steady ${s?.sent} B written / ${steadyBytes} B sent (${(err(s?.sent ?? 0, steadyBytes) * 100).toFixed(2)} %) over ${s?.periods} periods; ` +
        `bursts ${b?.sent} B / ${burstBytes} B (${(err(b?.sent ?? 0, burstBytes) * 100).toFixed(2)} %) over ${b?.periods} periods; ` +
        `tables per period ${done.map((e) => String(e.snapshots)).join(', ')}`,
    );
    expect(s!.periods).toBeGreaterThanOrEqual(2);
    expect(err(s!.sent, steadyBytes)).toBeLessThan(0.02);
    expect(err(b!.sent, burstBytes)).toBeLessThan(0.02);
    // The interface's counters are written for every period too.
    const iface = String(r.stdout)
      .split('\n')
      .filter((l) => l.startsWith('nstat_interface,'));
    expect(iface.length).toBe(done.length);
  }, 90_000);

  it('10 s schedule, bursts both ways and idle gaps: every burst counted within 2 %, no keep-alive', async () => {
    // Bursts of a few seconds with idle gaps, sent to a peer and echoed back from it, as a pod
    // talks to a service now and then. Nothing else is on the link: the last slot of each burst is
    // printed only because nstats asks iftop for it (a key on its stdin) at each tick and at stop.
    // The run goes on idle for more than a tick after the last burst, and is then stopped.
    const peer = net.extraPeerV4[0]!;
    const { run } = await continuousRun('*/10 * * * * *');
    let out = 0;
    let back = 0;
    // Lengths and gaps chosen so bursts end at different points of iftop's 2 s slots.
    for (const [seconds, gapMs] of [
      [3.3, 5200],
      [2.7, 7900],
      [3.6, 4400],
      [1.4, 0],
    ] as const) {
      const common = { net, bitsPerSecond: 2_000_000, payloadBytes: 1000, seconds };
      const [o, b] = await Promise.all([
        sendUdp({ ...common, from: 'host', to: peer, port: 9720 }),
        sendUdp({ ...common, from: 'peer', to: net.hostV4, port: 9721, bindAddress: peer }),
      ]);
      out += o.ipBytes;
      back += b.ipBytes;
      await sleep(gapMs);
    }
    await sleep(15_000);
    run.kill('SIGTERM');
    const r = await run;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(await iftopPids(net.hostIf)).toEqual([]);
    const done = logEvents(String(r.stderr)).filter((e) => String(e.msg).startsWith('cycle: done'));
    let sent = 0;
    let received = 0;
    for (const line of String(r.stdout).split('\n')) {
      if (!line.startsWith('nstat,') || !line.includes(`receiverIp=${peer}`)) continue;
      sent += Number(/sentBytes=(\d+)i/.exec(line)?.[1] ?? 0);
      received += Number(/receivedBytes=(\d+)i/.exec(line)?.[1] ?? 0);
    }
    const err = (got: number, want: number) => (got - want) / want;
    console.log(
      `continuous, 10 s schedule, bursts: sent ${sent} B written / ${out} B (${(err(sent, out) * 100).toFixed(2)} %), ` +
        `received ${received} B / ${back} B (${(err(received, back) * 100).toFixed(2)} %); ` +
        `tables per period ${done.map((e) => String(e.snapshots)).join(', ')}`,
    );
    expect(Math.abs(err(sent, out))).toBeLessThan(0.02);
    expect(Math.abs(err(received, back))).toBeLessThan(0.02);
  }, 120_000);

  it("a tick every second under steady traffic: keys that meet iftop's own rotations count nothing twice", async () => {
    // With traffic on the link iftop rotates right after each whole second, as the schedule's
    // ticks come: the key of a tick often reaches iftop just after a rotation whose table is still
    // on its way, and iftop reprints that table. A reprint counted would add a whole slot.
    const { run } = await continuousRun('* * * * * *');
    const peer = net.extraPeerV4[1]!;
    const sent = await sendUdp({
      from: 'host',
      net,
      to: peer,
      port: 9730,
      bitsPerSecond: 8_000_000,
      payloadBytes: 1400,
      seconds: 12,
    });
    await sleep(3000);
    run.kill('SIGTERM');
    const r = await run;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const written = bytesPerPeer(String(r.stdout)).get(peer);
    const err = ((written?.sent ?? 0) - sent.ipBytes) / sent.ipBytes;
    console.log(
      `continuous, a tick every second: ${written?.sent} B written / ${sent.ipBytes} B sent (${(err * 100).toFixed(2)} %) over ${written?.periods} periods`,
    );
    expect(written!.periods).toBeGreaterThanOrEqual(5);
    expect(Math.abs(err)).toBeLessThan(0.02);
  }, 60_000);

  it('per-peer bytes plus the remainder add up to the interface counters (6 flows out, 1 in, limit 2)', async () => {
    // Five flows at different rates, of which iftop lists the 2 busiest (-L 2): the other three
    // and the keep-alive are written as the `(other flows)` remainder. Over the whole run, every
    // nstat point's bytes added up must equal what the kernel counted on the interface, less the
    // 14-byte Ethernet header of each frame (iftop counts IP bytes), both directions: sent
    // (six flows) and received (one). All traffic starts once
    // iftop runs, so the kernel saw nothing that iftop could not.
    const peers = net.extraPeerV4.slice(0, 2).concat([net.peerV4]);
    const { run } = await continuousRun('*/7 * * * * *', { NSTATS_FLOW_LIMIT: '2', NSTATS_PORTS: 'true' });
    const keepAlive = sendUdp({
      from: 'host',
      net,
      to: net.peerV4,
      port: 9710,
      bitsPerSecond: 8 * 128 * 20,
      payloadBytes: 100,
      seconds: 18,
    });
    // Ports make five flows out of three addresses.
    const flows = [
      [peers[0], 9711, 1_200_000],
      [peers[1], 9712, 900_000],
      [peers[2], 9713, 300_000],
      [peers[0], 9714, 200_000],
      [peers[1], 9715, 100_000],
    ] as const;
    // And one flow the other way, from a peer to the pod: the received direction.
    const inbound = sendUdp({
      from: 'peer',
      net,
      to: net.hostV4,
      port: 9716,
      bitsPerSecond: 400_000,
      payloadBytes: 1000,
      seconds: 12,
    });
    const sent = await Promise.all(
      flows.map(([to, port, bitsPerSecond]) =>
        sendUdp({ from: 'host', net, to: to!, port, bitsPerSecond, payloadBytes: 1000, seconds: 12 }),
      ),
    );
    const inBytes = (await inbound).ipBytes;
    await sleep(3000);
    run.kill('SIGTERM');
    const r = await run;
    const ka = await keepAlive;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const lines = String(r.stdout).split('\n');
    const field = (line: string, name: string) =>
      Number(new RegExp(`[ ,]${name}=(\\d+)i`).exec(line)?.[1] ?? 0);
    let listed = 0;
    let remainder = 0;
    let received = 0;
    for (const line of lines.filter((l) => l.startsWith('nstat,'))) {
      if (line.includes('sender=(other\\ flows)')) remainder += field(line, 'sentBytes');
      else listed += field(line, 'sentBytes');
      received += field(line, 'receivedBytes');
    }
    let txIp = 0;
    let rxIp = 0;
    for (const line of lines.filter((l) => l.startsWith('nstat_interface,'))) {
      txIp += field(line, 'sampleTxBytes') - 14 * field(line, 'sampleTxPackets');
      rxIp += field(line, 'sampleRxBytes') - 14 * field(line, 'sampleRxPackets');
    }
    const generated = sent.reduce((a, b) => a + b.ipBytes, 0) + ka.ipBytes;
    const err = (got: number, want: number) => Math.abs(got - want) / want;
    console.log(
      `continuous, limit 2 of 6 flows: listed ${listed} B + remainder ${remainder} B = ${listed + remainder} B sent; ` +
        `interface tx ${txIp} B of IP (${(err(listed + remainder, txIp) * 100).toFixed(2)} %), generated ${generated} B; ` +
        `received ${received} B, interface rx ${rxIp} B of IP, generated ${inBytes} B (${(err(received, rxIp) * 100).toFixed(2)} %)`,
    );
    expect(remainder, 'the flows beyond the limit are written as the remainder').toBeGreaterThan(0);
    // Every byte the generator sent left through the interface (and nothing else much did).
    expect(err(txIp, generated)).toBeLessThan(0.01);
    expect(err(listed + remainder, txIp)).toBeLessThan(0.02);
    expect(err(rxIp, inBytes)).toBeLessThan(0.01);
    expect(err(received, rxIp)).toBeLessThan(0.02);
  }, 90_000);
});
