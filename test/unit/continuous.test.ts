import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CaptureError } from '../../src/capture/errors.js';
import type { IftopStreamOptions, StreamLike } from '../../src/capture/iftop-stream.js';
import { parseIftop } from '../../src/parse/iftop-parser.js';
import { FlowAccumulator } from '../../src/source/accumulator.js';
import { ContinuousIftopSource } from '../../src/source/iftop-continuous.js';
import { memoryLog } from '../helpers/log.js';

const fixture = (name: string) =>
  parseIftop(readFileSync(new URL(`../fixtures/iftop/${name}.txt`, import.meta.url), 'utf8'));

describe('FlowAccumulator', () => {
  it("adds each table's 2 s column: the sum matches iftop's own cumulative count (real continuous capture)", () => {
    const { snapshots } = fixture('continuous');
    expect(snapshots).toHaveLength(4);
    const acc = new FlowAccumulator(100, false, new Date(0));
    for (const s of snapshots) acc.add(s);
    const period = acc.drain(new Date(8000));
    expect(period.snapshots).toBe(4);
    expect(period.flows).toHaveLength(1);
    const last = snapshots.at(-1)!.flows[0]!;
    const f = period.flows[0]!;
    // iftop's cumulative column has three significant digits: agree to 0.5 %.
    expect(
      Math.abs(f.sent.cumulativeBytes - last.sent.cumulativeBytes) / last.sent.cumulativeBytes,
    ).toBeLessThan(0.005);
    expect(
      Math.abs(f.received.cumulativeBytes - last.received.cumulativeBytes) / last.received.cumulativeBytes,
    ).toBeLessThan(0.005);
    // The rate is the period's mean.
    expect(f.sent.rates.last10s).toBeCloseTo((f.sent.cumulativeBytes * 8) / 8, 0);
    // A new period starts empty.
    expect(acc.drain(new Date(9000)).flows).toEqual([]);
  });

  it("counts the totals' bytes beyond the listed flows when iftop listed as many as its limit", () => {
    const snap = fixture('default-limit').snapshots.at(-1)!;
    const t0 = new Date(0);
    const acc = new FlowAccumulator(10, false, t0);
    acc.add(snap);
    const { flows, remainder } = acc.drain(new Date(10_000));
    const listed = flows.reduce((n, f) => n + f.sent.cumulativeBytes, 0);
    expect(remainder).toBeDefined();
    if (!remainder) return;
    // Rates are the bytes' mean over the period (10 s), as the flows' are.
    expect(remainder.sendRate).toBeCloseTo((remainder.sentBytes * 8) / 10, -1);
    expect(remainder.receiveRate).toBeCloseTo((remainder.receivedBytes * 8) / 10, -1);
    expect(listed + remainder.sentBytes).toBeCloseTo(snap.totals!.sendRate.last2s / 4, -2);
    expect(remainder.sentBytes).toBeGreaterThan(listed);
    const all = new FlowAccumulator(100, false);
    all.add(snap);
    expect(all.drain().remainder).toBeUndefined();
  });

  it('folds ephemeral ports across tables: one flow per server port', () => {
    const acc = new FlowAccumulator(100, true);
    for (const s of fixture('ports-many').snapshots) acc.add(s);
    const to5201 = acc.drain().flows.filter((f) => f.destination.port === 5201);
    expect(to5201).toHaveLength(1);
    expect(to5201[0]!.source.folded).toBe(true);
  });
});

/** A stream driven by the test. */
class FakeStream implements StreamLike {
  readonly command = 'iftop (fake)';
  running = false;
  parseMs = 0;
  starts = 0;
  constructor(readonly options: IftopStreamOptions) {}
  start(): void {
    this.running = true;
    this.starts++;
  }
  closeSlot(): Promise<void> {
    return Promise.resolve();
  }
  stop(): Promise<void> {
    this.running = false;
    return Promise.resolve();
  }
  exit(): void {
    this.running = false;
    this.options.onExit(new CaptureError('failed', 'eth0', this.command, 1, 'boom'));
  }
}

describe('ContinuousIftopSource', () => {
  it('restarts an iftop that exits, backing off, and fails the period that got no table', async () => {
    let stream: FakeStream | undefined;
    const { log, events } = memoryLog();
    const source = new ContinuousIftopSource({
      interface: 'eth0',
      flowLimit: 100,
      ports: false,
      foldPorts: false,
      iftopPath: 'iftop',
      graceMs: 100,
      log,
      sysClassNet: '/nonexistent',
      maxRestartDelayMs: 200,
      makeStream: (o) => (stream = new FakeStream(o)),
    });
    await source.start();
    expect(stream!.starts).toBe(1);
    const snap = fixture('continuous').snapshots[0]!;
    stream!.options.onSnapshot!(snap, new Date());
    stream!.exit();
    // A table came in this period: its bytes are kept and the period does not fail.
    const first = await source.collect();
    expect(first.failure).toBeUndefined();
    expect(first).toMatchObject({ mode: 'continuous', ending: 'continuous', tables: 1 });
    expect(first.flows).toHaveLength(1);
    expect(first.countersError).toMatch(/ENOENT/);
    // No table since, iftop not running: the period fails with iftop's error.
    expect((await source.collect()).failure?.message).toMatch(/boom/);
    await new Promise((r) => setTimeout(r, 1100));
    expect(stream!.starts).toBe(2);
    stream!.exit();
    await new Promise((r) => setTimeout(r, 300));
    expect(stream!.starts).toBe(3); // the second delay is capped at 200 ms
    expect(events.filter((e) => String(e.msg).startsWith('capture: iftop exited'))).toHaveLength(2);
    // What came after the last collect is the last observation, returned at stop.
    stream!.options.onSnapshot!(snap, new Date());
    const last = await source.stop();
    expect(stream!.running).toBe(false);
    expect(last.flows).toHaveLength(1);
    expect(last.flows[0]!.sent.cumulativeBytes).toBe(Math.round(snap.flows[0]!.sent.rates.last2s / 4));
  });
});
