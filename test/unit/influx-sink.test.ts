import { lineOf } from '../helpers/line.js';
import { float, type MetricRecord } from '../../src/record/record.js';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryLog } from '../helpers/log.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { InfluxConfig } from '../../src/config/config.js';
import { InfluxSink } from '../../src/sink/influx-sink.js';
import { DiskSpool, MemorySpool, type Spool } from '../../src/sink/spool.js';

interface Seen {
  method: string;
  url: string;
  authorization?: string;
  body: string;
}

/** A stand-in HTTP server answering with the given statuses in turn (the last one repeats). */
type Answer = [number, string?, Record<string, string>?];

async function fakeServer(
  statuses: Array<Answer> | ((body: string, n: number) => Answer | 'hang'),
): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  let i = 0;
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        body,
      });
      const answer =
        typeof statuses === 'function' ? statuses(body, i++) : statuses[Math.min(i++, statuses.length - 1)]!;
      if (answer === 'hang') return;
      const [status, text, headers] = answer;
      res.writeHead(status, { ...(text ? { 'content-type': 'application/json' } : {}), ...headers });
      res.end(text ?? '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

let open: Server | undefined;
const dirs: string[] = [];
afterEach(async () => {
  const server = open;
  open = undefined;
  if (server) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function config(url: string, more: Partial<InfluxConfig> = {}): InfluxConfig {
  return {
    url,
    api: 'v2',
    org: 'acme',
    bucket: 'net',
    token: 'tok',
    timeoutMs: 2000,
    batchSize: 1000,
    retryMaxMs: 1000,
    ...more,
  };
}

function sinkFor(url: string, more: Partial<InfluxConfig> = {}, spool: Spool = new MemorySpool(1 << 20)) {
  const { log, events } = memoryLog('debug');
  const sink = new InfluxSink(config(url, more), { spool, log, retryMaxMs: more.retryMaxMs ?? 1000 });
  return { sink, events, spool };
}

const point = (n: number, host = 'web-0'): MetricRecord => ({
  measurement: 'nstat',
  tags: { hosts: host },
  fields: { sendRate: float(n) },
  time: new Date(1_700_000_000_000 + n),
});

async function until(check: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('InfluxSink', () => {
  it('writes v2 with the token, ms precision and the lines the Point built, then empties the spool', async () => {
    const s = await fakeServer([[204]]);
    open = s.server;
    const { sink, spool } = sinkFor(s.url);
    await sink.open();
    await sink.write([point(0)]);
    await until(() => sink.stats.pointsWritten === 1);
    expect(s.seen).toEqual([
      {
        method: 'POST',
        url: '/api/v2/write?org=acme&bucket=net&precision=ms',
        authorization: 'Token tok',
        body: 'nstat,hosts=web-0 sendRate=0 1700000000000',
      },
    ]);
    expect(sink.stats).toMatchObject({ pointsReceived: 1, pointsSpooled: 1, pointsReplayed: 0 });
    expect(spool.stats.points).toBe(0);
    await sink.close();
  });

  it('writes v1 to /write?db=&rp= with basic auth', async () => {
    const s = await fakeServer([[204]]);
    open = s.server;
    const { sink } = sinkFor(s.url, {
      api: 'v1',
      database: 'telegraf',
      retentionPolicy: 'week',
      username: 'u',
      password: 'p',
    });
    await sink.write([point(0)]);
    await until(() => sink.stats.pointsWritten === 1);
    expect(s.seen[0]).toMatchObject({
      url: '/write?db=telegraf&rp=week&precision=ms',
      authorization: `Basic ${btoa('u:p')}`,
    });
    await sink.close();
  });

  it('keeps points through 503s and a dead server, then delivers them oldest first, unchanged', async () => {
    let down = true;
    const s = await fakeServer(() => (down ? [503, '{"message":"busy"}'] : [204]));
    open = s.server;
    const { sink, events } = sinkFor(s.url, { retryMaxMs: 1000 });
    await sink.write([point(1)]);
    await sink.write([point(2)]);
    await until(() => s.seen.length >= 3);
    expect(sink.stats.pointsWritten).toBe(0);
    expect(sink.stats.spool.points).toBe(2);
    expect(sink.stats.failingSince).toBeTypeOf('number');
    // Warned once when the outage began; later attempts are at debug level.
    expect(
      events.filter((e) => e.level === 'warn' && String(e.msg).startsWith('sink: write failed')),
    ).toHaveLength(1);
    down = false;
    await until(() => sink.stats.pointsWritten === 2);
    const last = s.seen.at(-1)!.body;
    expect(last).toBe(
      'nstat,hosts=web-0 sendRate=1 1700000000001\nnstat,hosts=web-0 sendRate=2 1700000000002',
    );
    expect(sink.stats).toMatchObject({ pointsReplayed: 2, spool: { points: 0 } });
    expect(sink.stats.failingSince).toBeUndefined();
    expect(sink.stats.writeErrors['503']).toBeGreaterThanOrEqual(3);
    expect(events.some((e) => String(e.msg).startsWith('sink: writes work again after'))).toBe(true);
    await sink.close();
  });

  it('drops only the batch the server refuses (400), found by sending batches one by one', async () => {
    // Three batches wait while the server is down, then go in one request that has a bad line.
    let reachable = false;
    const s = await fakeServer((body) =>
      !reachable
        ? [503]
        : body.includes('hosts=bad')
          ? [400, '{"code":"invalid","message":"unable to parse"}']
          : [204],
    );
    open = s.server;
    const { sink, events } = sinkFor(s.url);
    await sink.write([point(1, 'ok1')]);
    await sink.write([point(2, 'bad')]);
    await sink.write([point(3, 'ok2')]);
    await until(() => sink.stats.failingSince !== undefined);
    reachable = true;
    await until(() => sink.stats.pointsWritten === 2 && sink.stats.pointsDropped.rejected === 1);
    expect(sink.stats.spool.points).toBe(0);
    const answered = s.seen.slice(s.seen.findIndex((x) => x.body.split('\n').length === 3));
    expect(answered.map((x) => x.body.match(/hosts=(\w+)/g)?.join(' '))).toEqual([
      'hosts=ok1 hosts=bad hosts=ok2',
      'hosts=ok1',
      'hosts=bad',
      'hosts=ok2',
    ]);
    const refused = events.filter((e) => String(e.msg).includes('the server refused'));
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ level: 'error', status: 400, message: '400 unable to parse' });
    await sink.close();
  });

  it('a refused write (401) is logged once with the server message, kept, and not sent again until an empty write is accepted', async () => {
    let allowed = false;
    const s = await fakeServer(() =>
      allowed ? [204] : [401, '{"code":"unauthorized","message":"unauthorized access"}'],
    );
    open = s.server;
    const { sink, events } = sinkFor(s.url, { retryMaxMs: 1000 });
    await sink.write([point(1)]);
    // Wait on the sink's own count: the server records a request before the client has its answer.
    await until(() => (sink.stats.writeErrors['401'] ?? 0) >= 3);
    // One write with the points, then only empty test writes.
    expect(s.seen.map((x) => x.body.length > 0)).toEqual([true, ...s.seen.slice(1).map(() => false)]);
    const refused = events.filter((e) => String(e.msg).startsWith('sink: the server refuses writes'));
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ level: 'error', status: 401, message: '401 unauthorized access' });
    // The same refusal again (by the test writes) is not logged again.
    expect(events.filter((e) => e.level === 'error')).toHaveLength(1);
    expect(sink.stats.writeErrors['401']).toBeGreaterThanOrEqual(3);
    expect(sink.stats.spool.points).toBe(1);
    allowed = true;
    await until(() => sink.stats.pointsWritten === 1);
    expect(s.seen.at(-1)!.body).toBe('nstat,hosts=web-0 sendRate=1 1700000000001');
    expect(events.some((e) => e.msg === 'sink: the server accepts writes again')).toBe(true);
    await sink.close();
  });

  it('close() gives up on a server that never answers at the deadline; a memory spool counts the rest dropped', async () => {
    const s = await fakeServer(() => 'hang');
    open = s.server;
    const { sink, events } = sinkFor(s.url, { timeoutMs: 60_000 });
    await sink.write([point(1), point(2)]);
    await until(() => s.seen.length === 1);
    const t0 = Date.now();
    await sink.close(Date.now() + 500);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(sink.stats.pointsDropped.shutdown).toBe(2);
    expect(events.some((e) => String(e.msg).includes('still in memory at shutdown'))).toBe(true);
    await expect(sink.write([point(3)])).rejects.toThrow(/after close/);
  });

  it('with a disk spool, points a stopped sink could not deliver are replayed by the next one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nstats-sink-'));
    dirs.push(dir);
    const down = await fakeServer([[503]]);
    open = down.server;
    const first = sinkFor(down.url, {}, new DiskSpool(dir, 1 << 20));
    await first.sink.open();
    await first.sink.write([point(1), point(2)]);
    await until(() => first.sink.stats.failingSince !== undefined);
    await first.sink.close(Date.now() + 2000);
    expect(first.sink.stats.pointsDropped.shutdown).toBe(0);
    expect(await readdir(dir)).toHaveLength(1);
    open.closeAllConnections();
    await new Promise((r) => open?.close(r));

    const up = await fakeServer([[204]]);
    open = up.server;
    const second = sinkFor(up.url, {}, new DiskSpool(dir, 1 << 20));
    await second.sink.open();
    await until(() => second.sink.stats.pointsWritten === 2);
    expect(up.seen[0]!.body).toBe(
      'nstat,hosts=web-0 sendRate=1 1700000000001\nnstat,hosts=web-0 sendRate=2 1700000000002',
    );
    expect(second.sink.stats.pointsReplayed).toBe(2);
    expect(second.events.some((e) => String(e.msg).includes('left in the spool by an earlier run'))).toBe(
      true,
    );
    expect(await readdir(dir)).toEqual([]);
    await second.sink.close();
  });

  it('a full spool drops the oldest points and counts them', async () => {
    const s = await fakeServer([[503]]);
    open = s.server;
    const one = Buffer.byteLength(lineOf(point(1)) + '\n');
    const { sink, events } = sinkFor(s.url, {}, new MemorySpool(one * 2));
    for (let i = 1; i <= 5; i++) await sink.write([point(i)]);
    expect(sink.stats.pointsDropped['spool-full']).toBeGreaterThanOrEqual(2);
    expect(sink.stats.spool.points + sink.stats.pointsDropped['spool-full']).toBe(5);
    expect(events.some((e) => String(e.msg).includes('the spool reached its cap'))).toBe(true);
    await sink.close(Date.now());
  });

  it('probe() checks the write endpoint with an empty write', async () => {
    const s = await fakeServer([[404, '{"code":"not found","message":"bucket \\"net\\" not found"}']]);
    open = s.server;
    const { sink } = sinkFor(s.url);
    await expect(sink.probe()).rejects.toMatchObject({ statusCode: 404 });
    expect(s.seen[0]).toMatchObject({
      method: 'POST',
      url: '/api/v2/write?org=acme&bucket=net&precision=ms',
      body: '',
    });
    await sink.close();
  });
});
