import { lineOf } from '../helpers/line.js';
import { int, type MetricRecord } from '../../src/record/record.js';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryLog } from '../helpers/log.js';
import { describe, expect, it } from 'vitest';
import { CaptureError } from '../../src/capture/errors.js';
import { readInterfaceCounters } from '../../src/capture/interface-counters.js';
import { loadConfig } from '../../src/config/load.js';
import { Daemon, type DaemonDeps } from '../../src/pipeline/daemon.js';
import { cronScheduler } from '../../src/schedule/scheduler.js';
import { emptySinkStats, type Sink, type SinkStats } from '../../src/sink/sink.js';
import { sampledObservation } from '../../src/source/iftop-sampled.js';
import type { Observation, Source } from '../../src/source/source.js';

const IPV4 = readFileSync(new URL('../fixtures/iftop/ipv4.txt', import.meta.url), 'utf8');

const NO_SYSFS = join(tmpdir(), 'nstats-no-sysfs');

/**
 * A sampled source that returns a real iftop table after `delayMs` (or at once when aborted, with
 * nothing), or fails; records concurrency. Counters come from `sysClassNet`.
 */
class FakeSource implements Source {
  readonly mode = 'sampled';
  calls = 0;
  active = 0;
  maxActive = 0;
  constructor(
    private readonly delayMs: number,
    private readonly fail = false,
    private readonly sysClassNet = NO_SYSFS,
  ) {}
  start(): Promise<void> {
    return Promise.resolve();
  }
  stop(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
  async collect(signal?: AbortSignal): Promise<Observation> {
    this.calls++;
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    const start = new Date();
    try {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.delayMs);
        signal?.addEventListener('abort', () => {
          clearTimeout(t);
          resolve();
        });
      });
      if (this.fail) throw new CaptureError('failed', 'eth0', 'fake-iftop', 1, 'boom');
      const aborted = signal?.aborted ?? false;
      const observation = sampledObservation(aborted ? undefined : IPV4, {
        interface: 'eth0',
        flowLimit: 100,
        ports: false,
        foldPorts: true,
        command: 'fake-iftop',
        start,
        end: new Date(),
        ending: aborted ? 'aborted' : 'printed',
        tables: aborted ? 0 : 1,
      });
      const counters = await readInterfaceCounters('eth0', this.sysClassNet).catch(() => undefined);
      return counters
        ? { ...observation, counters: { before: counters, after: counters } }
        : { ...observation, countersError: 'no sysfs' };
    } finally {
      this.active--;
    }
  }
}

/** A sink that keeps the points in memory. */
class MemorySink implements Sink {
  readonly name = 'memory';
  readonly stats: SinkStats = emptySinkStats();
  readonly lines: string[] = [];
  writes = 0;
  closed = false;
  closeDeadline: number | undefined;
  open(): Promise<void> {
    return Promise.resolve();
  }
  write(records: readonly MetricRecord[]): Promise<void> {
    this.writes++;
    this.stats.pointsReceived += records.length;
    for (const r of records) this.lines.push(lineOf(r, 'ns'));
    return Promise.resolve();
  }
  close(deadline?: number): Promise<void> {
    this.closed = true;
    this.closeDeadline = deadline;
    return Promise.resolve();
  }
}

/** A stand-in /sys/class/net with eth0's counters (tx grows by 1000 bytes per read). */
function fakeSysfs(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nstats-sysfs-'));
  const stats = join(dir, 'eth0', 'statistics');
  mkdirSync(stats, { recursive: true });
  for (const [f, v] of Object.entries({ rx_bytes: 500, tx_bytes: 1000, rx_packets: 5, tx_packets: 10 }))
    writeFileSync(join(stats, f), `${v}\n`);
  return dir;
}

function daemon(source: Source, sink: Sink, maxCycles?: number, more: Partial<DaemonDeps> = {}) {
  const config = loadConfig({ NSTATS_INTERFACE: 'eth0', NSTATS_DNS: 'false', NSTATS_HOSTNAME: 'web-0' });
  const { log, events } = memoryLog();
  const d = new Daemon(
    {
      source,
      resolveBudgetMs: 100,
      sink,
      log,
      makeScheduler: (job) => cronScheduler('* * * * * *', job, log),
      ...more,
    },
    { ...config, capture: { ...config.capture, interface: 'eth0' } },
    maxCycles,
  );
  return { d, events };
}

describe('Daemon', () => {
  it('runs capture -> parse -> points -> sink on the schedule, never two cycles at once', async () => {
    const sysfs = fakeSysfs();
    const capture = new FakeSource(2500, false, sysfs);
    const sink = new MemorySink();
    const { d, events } = daemon(capture, sink, 2);
    await d.run();
    rmSync(sysfs, { recursive: true });
    expect(capture.calls).toBe(2);
    expect(capture.maxActive).toBe(1);
    expect(events.some((e) => e.msg === 'scheduler: tick skipped, the previous cycle is still running')).toBe(
      true,
    );
    // Per cycle: the flow's nstat point and the interface's counters.
    expect(sink.lines).toHaveLength(4);
    expect(sink.lines[0]).toMatch(/^nstat,hosts=web-0,interface=eth0,mode=sampled,receiver=198\.18\.225\.2,/);
    expect(sink.lines[1]).toMatch(
      /^nstat_interface,hosts=web-0,interface=eth0,mode=sampled rxBytes=500i,rxPackets=5i,sampleRxBytes=0i,sampleRxPackets=0i,sampleSeconds=[\d.]+,sampleTxBytes=0i,sampleTxPackets=0i,txBytes=1000i,txPackets=10i \d+$/,
    );
    expect(sink.writes).toBe(2);
    expect(sink.closed).toBe(true);
    const done = events.filter((e) => String(e.msg).startsWith('cycle: done'));
    expect(done).toHaveLength(2);
    expect(done[0]).toMatchObject({ flows: 1, points: 2, parseIssues: 0, ending: 'printed' });
  }, 15_000);

  it('logs a failing cycle and keeps its schedule', async () => {
    const capture = new FakeSource(10, true);
    const sink = new MemorySink();
    const { d, events } = daemon(capture, sink, 2);
    await d.run();
    expect(capture.calls).toBe(2);
    const failed = events.filter((e) => String(e.msg).startsWith('cycle: failed: capture: iftop failed'));
    expect(failed).toHaveLength(2);
    expect(failed[0]).toMatchObject({ level: 'error' });
    expect(sink.closed).toBe(true);
  }, 10_000);

  it('writes an nstats_internal point after every cycle, failed ones too, when asked', async () => {
    const capture = new FakeSource(10, true);
    const sink = new MemorySink();
    let calls = 0;
    const selfPoint = (time: Date) => ({
      measurement: 'nstats_internal',
      tags: { hosts: 'web-0' },
      fields: { cycles: int(++calls) },
      time,
    });
    const { d } = daemon(capture, sink, 2, { selfPoint });
    await d.run();
    expect(sink.lines.filter((l) => l.startsWith('nstats_internal,hosts=web-0 cycles='))).toHaveLength(2);
  }, 10_000);

  it('stop() ends a running capture at once and closes the sink with the deadline', async () => {
    const capture = new FakeSource(60_000);
    const sink = new MemorySink();
    const { d, events } = daemon(capture, sink);
    const running = d.run();
    while (capture.active === 0) await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    await d.stop('SIGTERM', 1_700_000_000_000);
    await running;
    expect(sink.closeDeadline).toBe(1_700_000_000_000);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(sink.closed).toBe(true);
    expect(events.map((e) => e.msg)).toEqual(
      expect.arrayContaining(['daemon: stopping (SIGTERM)', 'daemon: stopped']),
    );
  }, 10_000);
});

describe('Daemon back-off', () => {
  it('skips 0, 1, 3, then 7 ticks after failures in a row, and runs every tick again once a cycle works', async () => {
    let fail = true;
    let calls = 0;
    const capture: Source = {
      mode: 'sampled',
      start: () => Promise.resolve(),
      stop: () => Promise.resolve(undefined),
      collect: (signal) => {
        calls++;
        if (fail) return Promise.reject(new CaptureError('failed', 'eth0', 'fake-iftop', 1, 'boom'));
        return new FakeSource(0).collect(signal);
      },
    };
    const config = loadConfig({ NSTATS_INTERFACE: 'eth0', NSTATS_DNS: 'false' });
    const { log } = memoryLog();
    let job: (() => Promise<void>) | undefined;
    const d = new Daemon(
      {
        source: capture,
        resolveBudgetMs: 100,
        sink: new MemorySink(),
        log,
        // A scheduler the test drives: one tick per call of job().
        makeScheduler: (j) => (
          (job = j),
          { start: () => undefined, stop: () => Promise.resolve(), nextRun: () => null }
        ),
      },
      { ...config, capture: { ...config.capture, interface: 'eth0' } },
    );
    const running = d.run();
    const ran: boolean[] = [];
    for (let tick = 0; tick < 20; tick++) {
      const before = calls;
      await job!();
      ran.push(calls > before);
    }
    // Failures 1..4 at ticks 0, 1, 3, 7; then one tick in 8: 15.
    expect(ran.map((r, i) => (r ? i : -1)).filter((i) => i >= 0)).toEqual([0, 1, 3, 7, 15]);
    fail = false;
    const afterRecovery: boolean[] = [];
    for (let tick = 0; tick < 12; tick++) {
      const before = calls;
      await job!();
      afterRecovery.push(calls > before);
    }
    // Ticks 16-22 are skipped (the back-off after the 5th failure; 20-22 are the first three
    // here), then every tick runs.
    expect(afterRecovery.map(Number).join('')).toBe('000111111111');
    await d.stop('test');
    await running;
  });
});

describe('Daemon with a source that holds a window at stop', () => {
  it('writes the last observation stop() returns, and writes the points of a failed window before failing it', async () => {
    const table = sampledObservation(IPV4, {
      interface: 'eth0',
      flowLimit: 100,
      ports: false,
      foldPorts: true,
      command: 'fake',
      start: new Date(0),
      end: new Date(10_000),
      ending: 'continuous',
      tables: 1,
    });
    let collects = 0;
    const source: Source = {
      mode: 'continuous',
      start: () => Promise.resolve(),
      collect: () => {
        collects++;
        const failure = new CaptureError('failed', 'eth0', 'fake', 1, 'boom');
        return Promise.resolve({ ...table, mode: 'continuous', failure });
      },
      stop: () => Promise.resolve({ ...table, mode: 'continuous', end: new Date(12_000) }),
    };
    const sink = new MemorySink();
    const { d, events } = daemon(source, sink, 1);
    await d.run();
    expect(collects).toBe(1);
    // The failed window's flow, then the one held at stop: both written, with mode=continuous.
    expect(sink.lines).toHaveLength(2);
    for (const line of sink.lines) expect(line).toMatch(/^nstat,hosts=web-0,interface=eth0,mode=continuous,/);
    expect(sink.lines[1]).toMatch(/ 12000000000$/);
    expect(events.some((e) => String(e.msg).startsWith('cycle: failed: capture: iftop failed'))).toBe(true);
    expect(events.some((e) => e.msg === 'cycle: done, 1 points (the last, at stop)')).toBe(true);
  });
});
