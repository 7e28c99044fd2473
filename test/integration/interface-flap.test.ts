import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNet, type TestNet } from '../helpers/netns.js';
import { iftopPids, logEvents, nstats } from '../helpers/nstats.js';
import { sendUdp } from '../helpers/traffic.js';
import { waitFor } from '../helpers/wait.js';

// The pod's interface disappears under a running daemon and comes back: the daemon logs and counts
// the failed cycles, backs off, and writes points again by itself once the interface is back.

let net: TestNet;

beforeAll(async () => {
  net = await createTestNet();
});
afterAll(async () => {
  await net?.destroy();
});

/** Re-creates the veth pair of the test net with its IPv4 addresses (IPv6 is not needed here). */
async function recreate(): Promise<void> {
  await execa('ip', ['link', 'add', net.hostIf, 'type', 'veth', 'peer', 'name', net.peerIf, 'netns', net.ns]);
  await execa('ip', ['addr', 'add', `${net.hostV4}/24`, 'dev', net.hostIf]);
  await execa('ip', ['-n', net.ns, 'addr', 'add', `${net.peerV4}/24`, 'dev', net.peerIf]);
  await execa('ip', ['link', 'set', net.hostIf, 'up']);
  await execa('ip', ['-n', net.ns, 'link', 'set', net.peerIf, 'up']);
}

describe('the interface disappears and comes back', () => {
  it('cycles fail while it is gone, and points come again without a restart', async () => {
    const daemon = nstats(['run'], {
      NSTATS_INTERFACE: net.hostIf,
      NSTATS_SCHEDULE: '*/2 * * * * *',
      NSTATS_DNS: 'false',
    });
    let stdout = '';
    daemon.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    let stderr = '';
    daemon.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      // Gone: deleting the root-side end removes the pair. No traffic is sent while it is gone.
      await execa('ip', ['link', 'del', net.hostIf]);
      const failures = () => (stderr.match(/cycle: failed: capture: interface/g) ?? []).length;
      await waitFor(
        async () => Promise.resolve(failures() >= 3),
        30_000,
        () => stderr,
      );
      expect(failures(), stderr).toBeGreaterThanOrEqual(3);

      await recreate();
      const route = await execa('ip', ['route', 'get', net.peerV4]);
      expect(String(route.stdout), 'traffic to the peer stays on the test link').toContain(
        `dev ${net.hostIf}`,
      );
      const until = Date.now() + 60_000;
      while (!stdout.includes(`receiverIp=${net.peerV4}`) && Date.now() < until) {
        await sendUdp({
          from: 'host',
          net,
          to: net.peerV4,
          port: 9600,
          bitsPerSecond: 300_000,
          payloadBytes: 1000,
          seconds: 5,
        });
      }
      expect(stdout, stderr).toContain(`receiverIp=${net.peerV4}`);
      const failed = logEvents(stderr).filter((e) => String(e.msg).startsWith('cycle: failed'));
      expect(failed[0]?.msg).toMatch(/interface \S+ does not exist/);
    } finally {
      daemon.kill('SIGTERM');
      await daemon;
      for (const pid of await iftopPids(net.hostIf)) process.kill(pid, 'SIGKILL');
    }
  }, 150_000);
});
