import { execa } from 'execa';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { SelfMetrics } from '../../src/health/self-metrics.js';
import { createLogger } from '../../src/log/logger.js';
import { Daemon } from '../../src/pipeline/daemon.js';
import { LineProtocolSink } from '../../src/sink/stdout-sink.js';
import { SampledIftopSource } from '../../src/source/iftop-sampled.js';

// The daemon with the real sampled iftop source and a stand-in iftop that crashes, prints garbage, or
// hangs ignoring SIGINT: cycles fail or find nothing, the daemon goes on, and no process is left.

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nstats-failures-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function standIn(body: string): Promise<string> {
  const path = join(dir, `iftop-${Math.random().toString(36).slice(2)}`);
  await writeFile(path, `#!/bin/bash\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

/** Children of this process (zombies included), as `ps` lists them. */
async function children(): Promise<string[]> {
  const r = await execa('ps', ['-o', 'pid=,stat=,comm=', '--ppid', String(process.pid)], { reject: false });
  return String(r.stdout)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/\bps$/.test(l));
}

/** A daemon over a stand-in iftop, driven tick by tick by the test. */
function daemonOver(iftopPath: string, sampleSeconds: number, graceMs: number) {
  const base = loadConfig({ NSTATS_INTERFACE: 'eth0', NSTATS_DNS: 'false' });
  const config = { ...base, capture: { ...base.capture, interface: 'eth0', sampleSeconds } };
  const out = new Writable({ write: (_c, _e, done) => done() });
  const sink = new LineProtocolSink(out);
  const metrics = new SelfMetrics({ sink: () => sink.stats });
  let job: (() => Promise<void>) | undefined;
  const daemon = new Daemon(
    {
      source: new SampledIftopSource({
        interface: 'eth0',
        sampleSeconds,
        flowLimit: 100,
        ports: false,
        foldPorts: true,
        iftopPath,
        graceMs,
      }),
      resolveBudgetMs: 100,
      sink,
      log: createLogger('silent', out),
      observer: metrics,
      makeScheduler: (j) => (
        (job = j),
        { start: () => undefined, stop: () => Promise.resolve(), nextRun: () => null }
      ),
    },
    config,
  );
  const running = daemon.run();
  return { daemon, running, metrics, tick: () => job!() };
}

describe('capture failures with a stand-in iftop', () => {
  it('1,000 cycles of crashes and garbage: every one counted, no process left behind', async () => {
    const crash = await standIn('echo "pcap_open_live(eth0): something broke" >&2; exit 1');
    const garbage = await standIn(
      'head -c 3000 /dev/urandom; echo; echo "   1 not-an-ip => 1Kb 1Kb 1Kb 1KB"; exit 0',
    );
    const a = daemonOver(crash, 2, 300);
    const b = daemonOver(garbage, 2, 300);
    const before = await children();
    // The failing daemon backs off (most ticks skipped): tick until 500 cycles really ran.
    let ticks = 0;
    while (a.metrics.cyclesFailed < 500) {
      await a.tick();
      ticks++;
    }
    for (let i = 0; i < 500; i++) await b.tick();
    expect(ticks).toBeGreaterThan(3000);
    expect(a.metrics.cyclesFailed).toBe(500);
    expect(a.metrics.cyclesOk).toBe(0);
    expect(b.metrics.cyclesOk).toBe(500);
    expect(b.metrics.parseErrors).toBeGreaterThanOrEqual(500);
    expect(await children()).toEqual(before);
    await a.daemon.stop('test');
    await b.daemon.stop('test');
  }, 300_000);

  it('an iftop that hangs and ignores SIGINT is killed every cycle, leaving nothing', async () => {
    const hang = await standIn('trap "" INT; while true; do sleep 0.1; done');
    const h = daemonOver(hang, 2, 300);
    const before = await children();
    for (let i = 0; i < 3; i++) await h.tick();
    expect(h.metrics.cyclesOk).toBe(3); // stopped at the deadline: an empty sample, not a failure
    expect(await children()).toEqual(before);
    const left = await execa('pgrep', ['-f', hang], { reject: false });
    expect(String(left.stdout).trim(), 'no stand-in iftop left').toBe('');
    await h.daemon.stop('test');
  }, 60_000);
});
