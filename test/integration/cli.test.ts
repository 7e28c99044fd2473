import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { copyFile, cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNet, type TestNet } from '../helpers/netns.js';
import {
  cliEnv,
  iftopPids,
  logEvents,
  nodeFlags,
  NSTATS,
  nstats,
  nstatsOnTerminal,
  nstatsVia,
} from '../helpers/nstats.js';
import { freePort } from '../helpers/servers.js';
import { sendUdp } from '../helpers/traffic.js';
import { sleep, waitFor } from '../helpers/wait.js';

interface JsonSample {
  interface: string;
  ending: string;
  flows: Array<{
    source: { address: string };
    destination: { address: string };
    sent: { rates: { last10s: number }; cumulativeBytes: number };
  }>;
}

let net: TestNet;

beforeAll(async () => {
  net = await createTestNet();
});

afterAll(async () => {
  await net?.destroy();
});

/** UDP from the pod side to the test net's peer, long enough to outlast a 12 s capture. */
/**
 * Traffic for `nstats once -s 10`: it starts once `iftops` iftop processes run on the interface
 * (and have had a second to open their capture), and outlasts their 10 s, since iftop prints its
 * table only for a packet after them. Traffic started with the CLI for a fixed time could run out
 * before a slow start-up reached its 10 s: no table, "no traffic seen".
 */
async function trafficForOnce(port: number, iftops = 1) {
  await waitFor(
    async () => (await iftopPids(net.hostIf)).length >= iftops,
    15_000,
    () => `${iftops} iftop(s) did not start`,
  );
  await sleep(1000);
  return traffic(port, 13);
}

function traffic(port: number, seconds = 15) {
  return sendUdp({
    from: 'host',
    net,
    to: net.peerV4,
    port,
    bitsPerSecond: 400_000,
    payloadBytes: 1000,
    seconds,
  });
}

describe('nstats run: graceful shutdown', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`on ${signal} while iftop captures: exits 0 within 3 s, leaves no iftop, logs the stop`, async () => {
      expect(await iftopPids(net.hostIf), 'no iftop on the interface before the test').toEqual([]);
      const daemon = nstats(['run'], {
        NSTATS_INTERFACE: net.hostIf,
        NSTATS_SCHEDULE: '*/2 * * * * *',
        NSTATS_SAMPLE_SECONDS: '10',
        NSTATS_DNS: 'false',
      });
      let exited = false;
      const result = daemon.finally(() => (exited = true));
      try {
        let stderr = '';
        daemon.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        await waitFor(
          async () => {
            if (exited) throw new Error(`nstats run exited early: ${stderr}`);
            return (await iftopPids(net.hostIf)).length > 0;
          },
          15_000,
          () => `no iftop on ${net.hostIf}; stderr: ${stderr}`,
        );
        const t0 = performance.now();
        expect(daemon.kill(signal)).toBe(true);
        // (execa itself sends SIGKILL 5 s after a SIGTERM that did not end the process.)
        const r = await Promise.race([result, sleep(10_000).then(() => undefined)]);
        const stopMs = performance.now() - t0;
        expect(r, `nstats run still running 10 s after ${signal}; stderr: ${stderr}`).toBeDefined();
        console.log(`run: stopped ${Math.round(stopMs)} ms after ${signal}`);
        expect(stopMs, String(r!.stderr)).toBeLessThan(3000);
        expect(r!.signal, String(r!.stderr)).toBeUndefined();
        expect(r!.exitCode, String(r!.stderr)).toBe(0);
        expect(await iftopPids(net.hostIf)).toEqual([]);

        const events = logEvents(String(r!.stderr));
        for (const e of events) expect(e.raw, 'every stderr line is JSON').toBeUndefined();
        const msgs = events.map((e) => String(e.msg));
        expect(msgs).toContain('daemon: started');
        const stopping = msgs.indexOf(`daemon: stopping (${signal})`);
        const stopped = msgs.indexOf('daemon: stopped');
        expect(stopping, msgs.join('\n')).toBeGreaterThanOrEqual(0);
        expect(stopped, msgs.join('\n')).toBeGreaterThan(stopping);
        expect(
          msgs.filter((m) => m.startsWith('cycle: failed')),
          msgs.join('\n'),
        ).toEqual([]);
      } finally {
        if (!exited) daemon.kill('SIGKILL');
        await result;
        // A failed stop can orphan the iftop this daemon started; end it so later tests start clean.
        for (const pid of await iftopPids(net.hostIf)) process.kill(pid, 'SIGKILL');
      }
    });
  }
});

describe('stopping nstats never leaves iftop behind', () => {
  it('nstats once on SIGINT: ends the capture, prints what it has, exits 0', async () => {
    const once = nstats(['once', '-i', net.hostIf, '-f', 'json'], { NSTATS_DNS: 'false' });
    try {
      await waitFor(
        async () => (await iftopPids(net.hostIf)).length > 0,
        10_000,
        () => 'no iftop started',
      );
      const t0 = performance.now();
      once.kill('SIGINT');
      const r = await once;
      expect(performance.now() - t0).toBeLessThan(3000);
      expect(r.signal, String(r.stderr)).toBeUndefined();
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect((JSON.parse(String(r.stdout)) as JsonSample).ending).toBe('aborted');
      expect(await iftopPids(net.hostIf)).toEqual([]);
    } finally {
      once.kill('SIGKILL');
      await once;
    }
  });

  it('nstats run killed with SIGKILL: its iftop dies with it (parent-death signal)', async () => {
    const daemon = nstats(['run'], {
      NSTATS_INTERFACE: net.hostIf,
      NSTATS_SCHEDULE: '*/2 * * * * *',
      NSTATS_DNS: 'false',
    });
    try {
      await waitFor(
        async () => (await iftopPids(net.hostIf)).length > 0,
        10_000,
        () => 'no iftop started',
      );
      daemon.kill('SIGKILL');
      await daemon;
      await waitFor(
        async () => (await iftopPids(net.hostIf)).length === 0,
        2000,
        () => 'iftop outlived nstats',
      );
    } finally {
      for (const pid of await iftopPids(net.hostIf)) process.kill(pid, 'SIGKILL');
    }
  });

  it('a closed stdout pipe (`nstats --help | head -c 10`) is not an error', async () => {
    // head exits after 10 bytes; the help's later writes then hit EPIPE (most runs, not all: 5 tries).
    // The bundle runs as a program here, through its own shebang (`env -S MALLOC_MMAP_THRESHOLD_=32768
    // node`, node = the Node 24 first on PATH).
    for (let i = 0; i < 5; i++) {
      const r = await execa('sh', ['-c', `"${NSTATS}" --help | head -c 10`], {
        reject: false,
        env: cliEnv(),
        extendEnv: false,
      });
      expect(String(r.stdout)).toBe('Usage: nst');
      expect(String(r.stderr)).toBe('');
    }
  });
});

describe('nstats run: the shutdown bound', () => {
  it('exits within NSTATS_SHUTDOWN_TIMEOUT_MS when the sink is stuck on a server that never answers', async () => {
    // Delivery gets until 1 s before the bound, then the write is aborted; with no spool directory
    // the points still in memory are counted dropped and logged.
    // A TCP server on loopback that accepts and never answers: the write hangs until its 60 s timeout.
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    const daemon = nstats(['run'], {
      NSTATS_INTERFACE: net.hostIf,
      NSTATS_SCHEDULE: '*/2 * * * * *',
      NSTATS_DNS: 'false',
      NSTATS_INFLUX_URL: `http://127.0.0.1:${port}`,
      NSTATS_INFLUX_BUCKET: 'b',
      NSTATS_INFLUX_TIMEOUT_MS: '60000',
      NSTATS_SHUTDOWN_TIMEOUT_MS: '2000',
    });
    try {
      const sending = traffic(9500);
      // Wait until a write is hanging on the silent server.
      await waitFor(
        async () => Promise.resolve(sockets.length > 0),
        20_000,
        () => 'no write reached the server',
      );
      const t0 = performance.now();
      daemon.kill('SIGTERM');
      const r = await daemon;
      const ms = performance.now() - t0;
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(2000);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      const dropped = logEvents(String(r.stderr)).find((e) => e.reason === 'shutdown');
      expect(dropped?.msg).toMatch(
        /^sink: \d+ points dropped: still in memory at shutdown \(set NSTATS_SPOOL_DIR/,
      );
      console.log(
        `stop with a write hanging, bound 2000 ms: ${Math.round(ms)} ms, ${String(dropped?.points)} points dropped`,
      );
      expect(await iftopPids(net.hostIf)).toEqual([]);
      await sending;
    } finally {
      daemon.kill('SIGKILL');
      await daemon;
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});

describe('nstats run: health and self-metrics', () => {
  it('serves /livez, /readyz and /metrics with the cycles and points it counted', async () => {
    const port = await freePort();
    const daemon = nstats(['run', '--max-cycles', '2'], {
      NSTATS_INTERFACE: net.hostIf,
      NSTATS_SCHEDULE: '*/2 * * * * *',
      NSTATS_DNS: 'false',
      NSTATS_HEALTH_PORT: String(port),
      NSTATS_HEALTH_HOST: '127.0.0.1',
    });
    const base = `http://127.0.0.1:${port}`;
    try {
      const sending = traffic(9400);
      let metrics = '';
      await waitFor(
        async () => {
          metrics = await fetch(`${base}/metrics`).then(
            (r) => r.text(),
            () => '',
          );
          return /nstats_cycles_total\{result="ok"\} 1/.test(metrics);
        },
        20_000,
        () => `no cycle counted; last /metrics: ${metrics}`,
      );
      expect((await fetch(`${base}/livez`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect(metrics).toMatch(/nstats_points_total\{outcome="received"\} [1-9]/);
      expect(metrics).toMatch(/nstats_last_success_timestamp_seconds 1\d{9}/);
      await sending;
    } finally {
      daemon.kill('SIGTERM');
      await daemon;
    }
  });
});

/** Prefix that runs a command as nobody (65534), no supplementary groups, no capabilities. */
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] as const;
const NO_CAPS = [...NOBODY, '--inh-caps=-all'] as const;
const NET_RAW_ONLY = [...NOBODY, '--inh-caps=+net_raw', '--ambient-caps=+net_raw'] as const;
const CAP_NET_RAW_BIT = 13;

/** Uid and effective capabilities of a process started behind `prefix` (its /proc/self/status). */
async function privileges(prefix: readonly string[]): Promise<{ uid: string; capEff: bigint }> {
  const r = await execa(prefix[0]!, [...prefix.slice(1), 'cat', '/proc/self/status'], {
    env: cliEnv(),
    extendEnv: false,
  });
  const status = String(r.stdout);
  const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1] ?? '';
  const capEff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)/m.exec(status)?.[1] ?? 'ffffffffffffffff'}`);
  return { uid, capEff };
}

describe('capture permission, for real (an unprivileged user)', () => {
  it('without CAP_NET_RAW: exit 1 at once, naming the cause and the fix', async () => {
    expect(await privileges(NO_CAPS)).toEqual({ uid: '65534', capEff: 0n });
    // That user can read and load the CLI (dist/, node_modules/), so a failure below is the capture's.
    const help = await nstatsVia(NO_CAPS, ['--help']);
    expect(help.exitCode, String(help.stderr)).toBe(0);
    const t0 = performance.now();
    const r = await nstatsVia(NO_CAPS, ['once', '-i', net.hostIf, '-f', 'json'], { NSTATS_DNS: 'false' });
    const elapsedMs = performance.now() - t0;
    const stderr = String(r.stderr);
    expect(r.exitCode, stderr).toBe(1);
    expect(stderr).toMatch(
      new RegExp(`no permission to capture on ${net.hostIf}\\b.*Fix: .*CAP_NET_RAW`, 's'),
    );
    expect(stderr, 'a clear message, not a stack trace').not.toMatch(/^\s+at /m);
    expect(String(r.stdout)).toBe('');
    // iftop fails when it opens the capture: nstats must not sit out the 12 s sample.
    expect(elapsedMs).toBeLessThan(5000);
    expect(await iftopPids(net.hostIf)).toEqual([]);
  });

  it('with CAP_NET_RAW alone: the same user captures the flow', async () => {
    const p = await privileges(NET_RAW_ONLY);
    expect(p).toEqual({ uid: '65534', capEff: 1n << BigInt(CAP_NET_RAW_BIT) });
    const run = nstatsVia(NET_RAW_ONLY, ['once', '-i', net.hostIf, '-s', '10', '-f', 'json'], {
      NSTATS_DNS: 'false',
    });
    await trafficForOnce(9301);
    const r = await run;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const sample = JSON.parse(String(r.stdout)) as JsonSample;
    expect(sample.interface).toBe(net.hostIf);
    const flow = sample.flows.find((f) => f.destination.address === net.peerV4);
    expect(flow, String(r.stdout)).toBeDefined();
    expect(flow!.source.address).toBe(net.hostV4);
    expect(flow!.sent.rates.last10s).toBeGreaterThan(0);
    expect(flow!.sent.cumulativeBytes).toBeGreaterThan(0);
  });
});

describe('the shipped bundle', () => {
  /** The bundle as the image holds it: dist/nstats.mjs and dist/chunks/, nothing else. */
  async function shipped(): Promise<{ dir: string; alone: string }> {
    // Node looks for packages in node_modules up the tree from the file; there is none above a
    // fresh temp directory.
    const dir = await mkdtemp(join(tmpdir(), 'nstats-bundle-'));
    const alone = join(dir, 'nstats.mjs');
    await copyFile(NSTATS, alone);
    await cp(join(dirname(NSTATS), 'chunks'), join(dir, 'chunks'), { recursive: true });
    return { dir, alone };
  }

  it('runs alone, as in the image: copied to a directory with no node_modules, it captures a flow', async () => {
    const { dir, alone } = await shipped();
    try {
      const run = execa(
        process.execPath,
        [...nodeFlags(), alone, 'once', '-i', net.hostIf, '-s', '10', '-f', 'json'],
        { reject: false, env: cliEnv({ NSTATS_DNS: 'false' }), extendEnv: false, stdin: 'ignore', cwd: dir },
      );
      await trafficForOnce(9302);
      const r = await run;
      expect(r.exitCode, String(r.stderr)).toBe(0);
      const sample = JSON.parse(String(r.stdout)) as JsonSample;
      const flow = sample.flows.find((f) => f.destination.address === net.peerV4);
      expect(flow, String(r.stdout)).toBeDefined();
      expect(flow!.sent.cumulativeBytes).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('loads its Kubernetes chunk alone: `nstats names` without a cluster says what to set', async () => {
    const { dir, alone } = await shipped();
    try {
      const r = await execa(process.execPath, [...nodeFlags(), alone, 'names'], {
        reject: false,
        env: cliEnv({ HOME: dir }),
        extendEnv: false,
        stdin: 'ignore',
        cwd: dir,
      });
      expect(r.exitCode, String(r.stderr)).toBe(1);
      const fatal = JSON.parse(String(r.stderr).trim().split('\n').at(-1)!) as { level: string; msg: string };
      expect(fatal).toMatchObject({
        level: 'fatal',
        msg: 'no Kubernetes API configuration: run in a pod with a ServiceAccount, or set KUBECONFIG to a kubeconfig file',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('nstats once: progress only on a terminal', () => {
  it('shows "capturing on IF" and the table on a terminal; no progress text when piped', async () => {
    const onTty = nstatsOnTerminal(['once', '-i', net.hostIf, '-s', '10'], { NSTATS_DNS: 'false' });
    const piped = nstats(['once', '-i', net.hostIf, '-s', '10'], { NSTATS_DNS: 'false' });
    await trafficForOnce(9302, 2);
    const [t, p] = await Promise.all([onTty, piped]);

    // What the terminal shows, minus cursor movements and colours (the table follows the
    // spinner's last frame on the same line, after "go to column 1, clear line").
    const raw = String(t.stdout);
    const out = stripVTControlCharacters(raw);
    expect(t.exitCode, raw).toBe(0);
    expect(out).toContain(`capturing on ${net.hostIf}`);
    expect(out).toMatch(/#\s+sender\s+receiver\s+send \(10s\)\s+receive \(10s\)\s+sent\s+received\r?$/m);
    expect(out).toContain(net.peerV4);

    expect(p.exitCode, String(p.stderr)).toBe(0);
    expect(String(p.stderr)).not.toContain('capturing on');
    expect(String(p.stderr), 'no escape sequences on a pipe').not.toContain('\u001b');
    expect(String(p.stdout)).toMatch(/^#\s+sender\s+receiver\s+send \(10s\)/);
    expect(String(p.stdout)).toContain(net.peerV4);
  });
});

describe('command line', () => {
  it('--help works on every command and exits 0 without capturing', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--help'], /^Usage: nstats \[options\] \[command\][\s\S]*\bonce\b[\s\S]*\brun\b[\s\S]*\bcheck\b/],
      [
        ['once', '--help'],
        /^Usage: nstats once \[options\][\s\S]*--interface[\s\S]*--seconds[\s\S]*--format/,
      ],
      [['run', '--help'], /^Usage: nstats run \[options\][\s\S]*--max-cycles/],
      [['check', '--help'], /^Usage: nstats check\b/],
    ];
    const results = await Promise.all(
      cases.map(([args]) => nstats(args, { NSTATS_INTERFACE: net.hostIf, NSTATS_DNS: 'false' })),
    );
    results.forEach((r, i) => {
      const [args, usage] = cases[i]!;
      expect(r.exitCode, `nstats ${args.join(' ')}: ${String(r.stderr)}`).toBe(0);
      expect(String(r.stdout), `nstats ${args.join(' ')}`).toMatch(usage);
    });
    expect(String(results[0]!.stdout)).toContain('NSTATS_INTERFACE');
    expect(await iftopPids(net.hostIf)).toEqual([]);
  });

  it('an unknown command or option exits 2 and says what was wrong', async () => {
    const cases: Array<[string[], string]> = [
      [['bogus'], "unknown command 'bogus'"],
      [['--bogus'], "unknown option '--bogus'"],
      [['once', '--bogus'], "unknown option '--bogus'"],
      [['run', '--every', '5'], "unknown option '--every'"],
      [['check', '-x'], "unknown option '-x'"],
      [[], 'Usage: nstats [options] [command]'],
    ];
    const results = await Promise.all(
      cases.map(([args]) => nstats(args, { NSTATS_INTERFACE: net.hostIf, NSTATS_DNS: 'false' })),
    );
    results.forEach((r, i) => {
      const [args, message] = cases[i]!;
      expect(r.exitCode, `nstats ${args.join(' ')}: ${String(r.stderr)}`).toBe(2);
      expect(String(r.stderr), `nstats ${args.join(' ')}`).toContain(message);
    });
    expect(await iftopPids(net.hostIf)).toEqual([]);
  });
});

/** The default route's interface as `ip` reports it (IPv4 first, as nstats looks), or undefined. */
async function defaultRouteDev(): Promise<string | undefined> {
  for (const family of ['-4', '-6']) {
    const r = await execa('ip', ['-j', family, 'route', 'show', 'default']);
    const routes = JSON.parse(String(r.stdout) || '[]') as Array<{ dev?: string }>;
    const dev = routes.find((x) => x.dev && x.dev !== 'lo')?.dev;
    if (dev) return dev;
  }
  return undefined;
}

describe('nstats check: the default interface', () => {
  it("with NSTATS_INTERFACE unset, checks capture on the default route's interface", async () => {
    const dev = await defaultRouteDev();
    // Cross-check with the kernel's table, which nstats itself reads.
    const procDefault = readFileSync('/proc/net/route', 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .find((c) => c[1] === '00000000' && c[7] === '00000000')?.[0];
    if (procDefault !== undefined) expect(procDefault).toBe(dev);

    // No DNS (the system resolver is outside the test nets), no InfluxDB: only capture is probed.
    const r = await nstats(['check'], { NSTATS_DNS: 'false' });
    const out = String(r.stdout);
    if (dev) {
      console.log(`default route interface: ${dev}`);
      expect(r.exitCode, out + String(r.stderr)).toBe(0);
      expect(out).toMatch(new RegExp(`^PASS capture: iftop can capture on ${dev}$`, 'm'));
    } else {
      console.log('no default route on this machine: checking the failure');
      expect(r.exitCode, out).toBe(1);
      expect(out).toMatch(/^FAIL capture: .*no default route found.*Fix: .*NSTATS_INTERFACE/m);
    }
  });
});
