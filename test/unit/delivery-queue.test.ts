import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  DeliveryError,
  DeliveryQueue,
  type DeliveryQueueOptions,
  type DeliveryTransport,
} from '../../src/sink/delivery-queue.js';
import { DiskSpool, MemorySpool, type Spool } from '../../src/sink/spool.js';
import { memoryLog } from '../helpers/log.js';

// The queue alone, against a fake transport that answers as each test says: no HTTP, no InfluxDB.

/** What the fake transport does with a request: accept it (undefined), fail it, or never answer. */
type Answer = DeliveryError | 'hang' | undefined;

class FakeTransport implements DeliveryTransport {
  readonly sent: Array<{ lines: string[]; at: number }> = [];
  constructor(public answer: (lines: readonly string[]) => Answer = () => undefined) {}

  send(lines: readonly string[], signal: AbortSignal): Promise<void> {
    this.sent.push({ lines: [...lines], at: Date.now() });
    const a = this.answer(lines);
    if (a === 'hang') {
      return new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(new DeliveryError('retry', 'aborted'))),
      );
    }
    return a ? Promise.reject(a) : Promise.resolve();
  }

  /** The requests with lines (probes are empty). */
  get writes(): string[][] {
    return this.sent.filter((s) => s.lines.length > 0).map((s) => s.lines);
  }
}

const busy = (more: { retryAfterMs?: number } = {}) =>
  new DeliveryError('retry', '503 busy', { status: 503, ...more });
const noAnswer = () => new DeliveryError('retry', 'connect ECONNREFUSED');
const unauthorized = () => new DeliveryError('refused', '401 unauthorized', { status: 401 });
const unparsable = () => new DeliveryError('rejected', '400 unable to parse', { status: 400 });

const lines = (n: number, tag = 'a') => Array.from({ length: n }, (_, i) => `m,t=${tag} f=${i} ${i}`);

function queue(
  transport: DeliveryTransport,
  more: Partial<DeliveryQueueOptions> & { spool?: Spool } = {},
): { q: DeliveryQueue; events: Array<Record<string, unknown>>; spool: Spool } {
  const { log, events } = memoryLog('debug');
  const spool = more.spool ?? new MemorySpool(1 << 20);
  const q = new DeliveryQueue(transport, { log, batchSize: 1000, retryMaxMs: 4000, ...more, spool });
  return { q, events, spool };
}

const messages = (events: Array<Record<string, unknown>>, start: string, level?: string) =>
  events.filter((e) => String(e.msg).startsWith(start) && (level === undefined || e.level === level));

/** Lets the queue's promises run without moving the fake clock. */
const flush = () => vi.advanceTimersByTimeAsync(0);

afterEach(() => {
  vi.useRealTimers();
});

describe('DeliveryQueue with a fake clock', () => {
  it('idle → sending → idle: pushed lines go in one request and leave the spool', async () => {
    vi.useFakeTimers();
    const t = new FakeTransport();
    const { q, spool } = queue(t);
    expect(q.state).toBe('idle');
    await q.push(lines(3), 4);
    expect(q.state).toBe('sending');
    await flush();
    expect(q.state).toBe('idle');
    expect(t.writes).toEqual([lines(3)]);
    expect(q.stats).toMatchObject({
      pointsReceived: 4,
      pointsSpooled: 3,
      pointsWritten: 3,
      pointsReplayed: 0,
      spool: { batches: 0, points: 0, bytes: 0 },
    });
    expect(q.stats.lastWriteOk).toBe(Date.now());
    expect(spool.stats.points).toBe(0);
  });

  it('sending → backing-off → sending: 1 s doubling up to retryMaxMs; lines pushed meanwhile wait, then go with the rest', async () => {
    vi.useFakeTimers();
    let down = 5;
    const t = new FakeTransport(() => (down-- > 0 ? noAnswer() : undefined));
    const { q, events } = queue(t, { retryMaxMs: 4000 });
    const t0 = Date.now();
    await q.push(lines(1, 'x'));
    await flush();
    expect(q.state).toBe('backing-off');
    expect(q.stats.failingSince).toBe(t0);
    await q.push(lines(1, 'y'));
    await flush();
    // Waiting lines do not cut the back-off short.
    expect([q.state, t.sent.length]).toEqual(['backing-off', 1]);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(t.sent.map((s) => s.at - t0)).toEqual([0, 1000, 3000, 7000, 11000, 15000]);
    expect(t.sent.at(-1)!.lines).toEqual([...lines(1, 'x'), ...lines(1, 'y')]);
    expect(q.state).toBe('idle');
    expect(q.stats).toMatchObject({ pointsWritten: 2, pointsReplayed: 2, writeErrors: { network: 5 } });
    expect(q.stats.failingSince).toBeUndefined();
    // One warning when the outage began, the later failures at debug level, one line when it ended.
    expect(messages(events, 'sink: write failed', 'warn')).toHaveLength(1);
    expect(messages(events, 'sink: write failed', 'debug')).toHaveLength(4);
    expect(messages(events, 'sink: writes work again after 15 s, replaying 2 spooled points')).toHaveLength(
      1,
    );
  });

  it("backing-off honours the server's Retry-After when longer than the back-off, up to 10 × retryMaxMs", async () => {
    vi.useFakeTimers();
    const asked = [7000, 60_000];
    const t = new FakeTransport(() => {
      const ms = asked.shift();
      return ms === undefined ? undefined : busy({ retryAfterMs: ms });
    });
    const { q, events } = queue(t, { retryMaxMs: 1000 });
    const t0 = Date.now();
    await q.push(lines(1));
    await vi.advanceTimersByTimeAsync(30_000);
    expect(t.sent.map((s) => s.at - t0)).toEqual([0, 7000, 17_000]);
    expect(messages(events, 'sink: write failed').map((e) => e.retryInMs)).toEqual([7000, 10_000]);
    expect(q.stats.writeErrors).toEqual({ 503: 2 });
    expect(q.stats.pointsWritten).toBe(1);
  });

  it('rejected: one bad line in a batch of many is found by halves, and only it is dropped', async () => {
    vi.useFakeTimers();
    const batch = lines(100);
    const bad = batch[37]!;
    const t = new FakeTransport((l) => (l.includes(bad) ? unparsable() : undefined));
    const { q, events } = queue(t);
    await q.push(batch);
    await flush();
    expect(q.state).toBe('idle');
    // Halving finds one line among 100 in at most 1 + 2 × 7 requests.
    expect(t.sent.length).toBeLessThanOrEqual(15);
    const accepted = t.sent.filter((s) => !s.lines.includes(bad)).flatMap((s) => s.lines);
    expect(accepted.sort()).toEqual(batch.filter((l) => l !== bad).sort());
    expect(q.stats).toMatchObject({
      pointsWritten: 99,
      pointsDropped: { rejected: 1 },
      spool: { points: 0 },
    });
    expect(q.stats.failingSince).toBeUndefined();
    const refused = messages(events, 'sink: the server refused');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({
      level: 'error',
      status: 400,
      points: 1,
      message: '400 unable to parse',
    });
  });

  it('rejected: batches that went together are sent again one by one, so only the bad batch loses points', async () => {
    vi.useFakeTimers();
    let reachable = false;
    const t = new FakeTransport((l) =>
      !reachable ? busy() : l.some((x) => x.includes('t=bad')) ? unparsable() : undefined,
    );
    const { q } = queue(t);
    await q.push(lines(2, 'ok1'));
    await flush();
    await q.push(lines(1, 'bad'));
    await q.push(lines(2, 'ok2'));
    reachable = true;
    await vi.advanceTimersByTimeAsync(1000);
    expect(
      t.sent.slice(1).map((s) => [...new Set(s.lines.map((l) => /t=(\w+)/.exec(l)![1]))].join(' ')),
    ).toEqual(['ok1 bad ok2', 'ok1', 'bad', 'ok2']);
    expect(q.stats).toMatchObject({ pointsWritten: 4, pointsDropped: { rejected: 1 }, spool: { points: 0 } });
  });

  it('sending → refused → probing: no lines go while writes are refused, only an empty write every retryMaxMs; accepted → sending', async () => {
    vi.useFakeTimers();
    let allowed = false;
    const t = new FakeTransport(() => (allowed ? undefined : unauthorized()));
    const { q, events } = queue(t, { retryMaxMs: 5000 });
    const t0 = Date.now();
    await q.push(lines(2));
    await flush();
    expect(q.state).toBe('refused');
    await q.push(lines(1, 'later'));
    await flush();
    expect(q.state).toBe('refused');
    await vi.advanceTimersByTimeAsync(15_000);
    expect(t.sent.map((s) => [s.at - t0, s.lines.length])).toEqual([
      [0, 2],
      [5000, 0],
      [10_000, 0],
      [15_000, 0],
    ]);
    // Logged once, the same refusal by the probes is not logged again.
    const refused = messages(events, 'sink: the server refuses writes');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({
      level: 'error',
      status: 401,
      message: '401 unauthorized',
      pending: 2,
    });
    expect(q.stats.writeErrors).toEqual({ 401: 4 });
    expect(q.stats.spool.points).toBe(3);
    allowed = true;
    await vi.advanceTimersByTimeAsync(4999);
    expect(q.state).toBe('refused');
    await vi.advanceTimersByTimeAsync(1);
    expect(q.state).toBe('idle');
    expect(t.sent.slice(-2).map((s) => s.lines)).toEqual([[], [...lines(2), ...lines(1, 'later')]]);
    expect(messages(events, 'sink: the server accepts writes again')).toHaveLength(1);
    expect(q.stats).toMatchObject({ pointsWritten: 3, spool: { points: 0 } });
    expect(q.stats.failingSince).toBeUndefined();
  });

  it('probing → refused: a probe that fails otherwise (no answer) waits retryMaxMs again', async () => {
    vi.useFakeTimers();
    const answers: Answer[] = [
      unauthorized(),
      noAnswer(),
      new DeliveryError('refused', '404 no bucket', { status: 404 }),
    ];
    const t = new FakeTransport(() => answers.shift() ?? unauthorized());
    const { q, events } = queue(t, { retryMaxMs: 1000 });
    await q.push(lines(1));
    await vi.advanceTimersByTimeAsync(2000);
    expect(q.state).toBe('refused');
    expect(q.stats.writeErrors).toEqual({ 401: 1, network: 1, 404: 1 });
    expect(q.stats.lastError).toBe('404 no bucket');
    // A different refusal is reported too.
    expect(messages(events, 'sink: the server refuses writes').map((e) => e.message)).toEqual([
      '401 unauthorized',
      '404 no bucket',
    ]);
  });

  it('sending → backing-off when the spool cannot be read, for retryMaxMs', async () => {
    vi.useFakeTimers();
    const spool = new MemorySpool(1 << 20);
    const take = spool.take.bind(spool);
    let broken = true;
    spool.take = (n) => (broken ? Promise.reject(new Error('EIO')) : take(n));
    const t = new FakeTransport();
    const { q, events } = queue(t, { spool, retryMaxMs: 3000 });
    await q.push(lines(1));
    await flush();
    expect(q.state).toBe('backing-off');
    expect(messages(events, 'sink: cannot read the spool: EIO', 'error')).toHaveLength(1);
    broken = false;
    await vi.advanceTimersByTimeAsync(2999);
    expect(t.sent).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect([q.state, q.stats.pointsWritten]).toEqual(['idle', 1]);
  });

  it('backing-off → closing → closed: with a memory spool, one last pass sends what is pending', async () => {
    vi.useFakeTimers();
    let down = true;
    const t = new FakeTransport(() => (down ? busy() : undefined));
    const { q, events } = queue(t, { retryMaxMs: 30_000 });
    await q.push(lines(2));
    await flush();
    expect(q.state).toBe('backing-off');
    down = false;
    const closing = q.close(Date.now() + 5000);
    expect(q.state).toBe('closing');
    await closing;
    expect(q.state).toBe('closed');
    expect(q.stats).toMatchObject({ pointsWritten: 2, pointsDropped: { shutdown: 0 }, spool: { points: 0 } });
    expect(events.filter((e) => e.level === 'error')).toHaveLength(0);
    await expect(q.push(lines(1))).rejects.toThrow('sink: write after close');
  });

  it('refused → closing: with a memory spool, the last pass probes first and sends only if accepted', async () => {
    vi.useFakeTimers();
    const t = new FakeTransport(() => unauthorized());
    const { q, events } = queue(t);
    await q.push(lines(2));
    await flush();
    expect(q.state).toBe('refused');
    await q.close(Date.now() + 5000);
    expect(t.sent.map((s) => s.lines.length)).toEqual([2, 0]);
    expect(q.stats.pointsDropped.shutdown).toBe(2);
    expect(messages(events, 'sink: 2 points dropped: still in memory at shutdown', 'error')).toHaveLength(1);
  });
});

describe('DeliveryQueue close(deadline)', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  it('aborts a request that hangs at the deadline; a memory spool counts what is left as dropped', async () => {
    const t = new FakeTransport(() => 'hang');
    const { q, events } = queue(t);
    await q.push(lines(3));
    expect(q.state).toBe('sending');
    const t0 = Date.now();
    await q.close(t0 + 200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(q.state).toBe('closed');
    expect(q.stats.pointsDropped.shutdown).toBe(3);
    // The aborted request is not a failure of the server's.
    expect(q.stats.writeErrors).toEqual({});
    expect(messages(events, 'sink: 3 points dropped: still in memory at shutdown')).toHaveLength(1);
  });

  it('a disk spool keeps the lines while writes fail, without a last attempt, and the next queue replays them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nstats-queue-'));
    dirs.push(dir);
    const down = new FakeTransport(() => busy());
    const first = queue(down, { spool: new DiskSpool(dir, 1 << 20) });
    await first.q.open();
    await first.q.push(lines(2));
    await vi.waitFor(() => expect(first.q.state).toBe('backing-off'));
    await first.q.close(Date.now() + 5000);
    expect(down.sent).toHaveLength(1);
    expect(first.q.stats.pointsDropped.shutdown).toBe(0);
    expect(
      messages(first.events, 'sink: 2 points kept in the spool for the next start', 'info'),
    ).toHaveLength(1);
    expect(await readdir(dir)).toHaveLength(1);

    const up = new FakeTransport();
    const second = queue(up, { spool: new DiskSpool(dir, 1 << 20) });
    await second.q.open();
    await vi.waitFor(() => expect(second.q.state).toBe('idle'));
    expect(up.writes).toEqual([lines(2)]);
    expect(second.q.stats).toMatchObject({ pointsWritten: 2, pointsReplayed: 2 });
    expect(messages(second.events, 'sink: 2 points left in the spool by an earlier run')).toHaveLength(1);
    expect(await readdir(dir)).toEqual([]);
    await second.q.close();
  });
});
