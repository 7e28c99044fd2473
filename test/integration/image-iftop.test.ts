import { execa } from 'execa';
import { chmod, copyFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECURE_STDBUF } from '../../src/capture/iftop-stream.js';
import { createTestNet, type TestNet } from '../helpers/netns.js';
import { iftopPids, logEvents, nstatsVia } from '../helpers/nstats.js';
import { sendUdp } from '../helpers/traffic.js';
import { sleep, waitFor } from '../helpers/wait.js';

// Continuous mode as the image runs it: iftop has the file capability cap_net_raw+ep and nstats
// runs as an unprivileged user, so glibc runs iftop in secure-execution mode and ignores the
// LD_PRELOAD that `stdbuf -oL` sets. iftop's tables then reach nstats in 4 KB blocks, several
// periods late. The image installs libstdbuf.so in /usr/lib with the set-user-ID bit, which glibc
// does preload in that mode (src/capture/iftop-stream.ts, lineBuffering()). The first run below,
// without that library, shows the problem (so the test can fail); the second shows the fix.

const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'] as const;

let net: TestNet;
let dir: string;
let iftop: string;
let installedLib = false;

beforeAll(async () => {
  net = await createTestNet();
  // Not under /tmp: a tmpfs mounted nosuid would ignore the file capability.
  dir = await mkdtemp('/var/tmp/nstats-image-iftop-');
  await chmod(dir, 0o755);
  iftop = join(dir, 'iftop');
  await copyFile('/usr/sbin/iftop', iftop);
  await chmod(iftop, 0o755);
  await execa('setcap', ['cap_net_raw+ep', iftop]);
});

afterAll(async () => {
  if (installedLib) await rm(SECURE_STDBUF, { force: true });
  await rm(dir, { recursive: true, force: true });
  await net?.destroy();
});

/** Three 4 s periods of continuous mode on a steady flow; the tables each period got, and bytes. */
async function threePeriods(port: number) {
  const run = nstatsVia(NOBODY, ['run', '--max-cycles', '3'], {
    NSTATS_MODE: 'continuous',
    NSTATS_INTERFACE: net.hostIf,
    NSTATS_IFTOP_PATH: iftop,
    NSTATS_SCHEDULE: '*/4 * * * * *',
    NSTATS_DNS: 'false',
  });
  await waitFor(
    async () => (await iftopPids(net.hostIf)).length > 0,
    15_000,
    () => 'iftop did not start',
  );
  await sleep(500);
  const flow = sendUdp({
    from: 'host',
    net,
    to: net.peerV4,
    port,
    bitsPerSecond: 200_000,
    payloadBytes: 500,
    seconds: 20,
  });
  const r = await run;
  await flow.catch(() => undefined);
  expect(r.exitCode, String(r.stderr)).toBe(0);
  const done = logEvents(String(r.stderr)).filter((e) => String(e.msg).startsWith('cycle: done'));
  const tables = done.map((e) => Number(e.snapshots));
  const bytes = String(r.stdout)
    .split('\n')
    .filter((l) => l.startsWith('nstat,') && l.includes(`receiverIp=${net.peerV4}`))
    .map((l) => Number(/sentBytes=(\d+)i/.exec(l)?.[1] ?? 0));
  return { tables, bytes };
}

describe('continuous mode with iftop as in the image (file capability, unprivileged user)', () => {
  it('stdbuf alone has no effect; the set-user-ID libstdbuf.so makes the tables come as printed', async () => {
    expect((await stat(iftop)).mode & 0o777).toBe(0o755);
    const caps = await execa('getcap', [iftop]);
    expect(String(caps.stdout)).toContain('cap_net_raw=ep');

    // Without the library: stdbuf's preload is ignored, the tables come late, in blocks.
    let lib = await stat(SECURE_STDBUF).catch(() => undefined);
    expect(lib, `${SECURE_STDBUF} exists on this machine: the test cannot show the problem`).toBe(undefined);
    const before = await threePeriods(9801);
    console.log(
      `without ${SECURE_STDBUF}: tables per period ${before.tables.join(', ')}; bytes ${before.bytes.join(', ')}`,
    );
    // The first 4 KB block takes more than one 4 s period of tables to fill.
    expect(before.tables.slice(0, 3)).toContain(0);

    // With it, as the image installs it.
    await copyFile('/usr/libexec/coreutils/libstdbuf.so', SECURE_STDBUF);
    installedLib = true;
    await chmod(SECURE_STDBUF, 0o4755);
    lib = await stat(SECURE_STDBUF);
    expect(lib.mode & 0o4000).toBe(0o4000);
    const after = await threePeriods(9802);
    console.log(
      `with ${SECURE_STDBUF}: tables per period ${after.tables.join(', ')}; bytes ${after.bytes.join(', ')}`,
    );
    // A table every 2 s: each 4 s period after the first gets one or more as they are printed.
    expect(after.tables.slice(1, 3).every((n) => n >= 1)).toBe(true);
    expect(after.bytes.length).toBeGreaterThanOrEqual(2);
  }, 120_000);
});
