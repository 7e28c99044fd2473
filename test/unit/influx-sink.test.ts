import { Point } from '@influxdata/influxdb-client';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { InfluxConfig } from '../../src/config/config.js';
import { InfluxSink } from '../../src/sink/influx-sink.js';

interface Seen {
  method: string;
  url: string;
  authorization?: string;
  body: string;
}

/** A stand-in HTTP server answering with the given statuses in turn (the last one repeats). */
async function fakeServer(
  statuses: Array<[number, string?]>,
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
      const [status, text] = statuses[Math.min(i++, statuses.length - 1)]!;
      res.writeHead(status, text ? { 'content-type': 'application/json' } : {});
      res.end(text ?? '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

let open: Server | undefined;
afterEach(async () => {
  await new Promise((r) => open?.close(r));
  open = undefined;
});

function config(url: string, more: Partial<InfluxConfig> = {}): InfluxConfig {
  return {
    url,
    api: 'v2',
    org: 'acme',
    bucket: 'net',
    token: 'tok',
    timeoutMs: 2000,
    maxRetries: 3,
    maxRetryTimeMs: 20000,
    batchSize: 1000,
    maxBufferLines: 1000,
    ...more,
  };
}

const POINT = new Point('nstat')
  .tag('hosts', 'web-0')
  .floatField('sendRate', 1)
  .timestamp(new Date(1_700_000_000_000));

describe('InfluxSink', () => {
  it('writes v2 with the token, ms precision and the lines the Point built', async () => {
    const s = await fakeServer([[204]]);
    open = s.server;
    const sink = new InfluxSink(config(s.url));
    sink.write([POINT]);
    await sink.flush();
    expect(s.seen).toEqual([
      {
        method: 'POST',
        url: '/api/v2/write?org=acme&bucket=net&precision=ms',
        authorization: 'Token tok',
        body: 'nstat,hosts=web-0 sendRate=1 1700000000000',
      },
    ]);
    expect(sink.stats).toMatchObject({ pointsReceived: 1, pointsWritten: 1, pointsFailed: 0 });
    await sink.close();
  });

  it('writes v1 to /write?db=&rp= with basic auth', async () => {
    const s = await fakeServer([[204]]);
    open = s.server;
    const sink = new InfluxSink(
      config(s.url, {
        api: 'v1',
        database: 'telegraf',
        retentionPolicy: 'week',
        username: 'u',
        password: 'p',
        token: undefined,
      }),
    );
    sink.write([POINT]);
    await sink.flush();
    expect(s.seen[0]).toMatchObject({
      url: '/write?db=telegraf&rp=week&precision=ms',
      authorization: `Basic ${btoa('u:p')}`,
    });
    await sink.close();
  });

  it('retries a 503 and then delivers the same lines', async () => {
    const s = await fakeServer([[503, '{"message":"busy"}'], [204]]);
    open = s.server;
    const failures: Array<[number, boolean]> = [];
    const sink = new InfluxSink(config(s.url), {
      onWriteFailed: (_e, _l, attempt, final) => failures.push([attempt, final]),
    });
    sink.write([POINT]);
    await expect(sink.flush()).rejects.toThrow(/busy/);
    const deadline = Date.now() + 5000;
    while (sink.stats.pointsWritten === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(s.seen.map((x) => x.body)).toEqual([s.seen[0]!.body, s.seen[0]!.body]);
    expect(failures).toEqual([[1, false]]);
    expect(sink.stats).toMatchObject({ pointsWritten: 1, pointsFailed: 0 });
    await sink.close();
  });

  it('does not retry a 400, counts the lines as failed and keeps the server message', async () => {
    const s = await fakeServer([[400, '{"code":"invalid","message":"unable to parse"}']]);
    open = s.server;
    const failures: boolean[] = [];
    const sink = new InfluxSink(config(s.url), {
      onWriteFailed: (_e, _l, _a, final) => failures.push(final),
    });
    sink.write([POINT]);
    await expect(sink.flush()).rejects.toThrow(/unable to parse/);
    await new Promise((r) => setTimeout(r, 1500));
    expect(s.seen).toHaveLength(1);
    expect(failures).toEqual([true]);
    expect(sink.stats).toMatchObject({ pointsFailed: 1, lastError: 'unable to parse' });
    await sink.close();
  });

  it('probe() checks the write endpoint with an empty write', async () => {
    const s = await fakeServer([[404, '{"code":"not found","message":"bucket \\"net\\" not found"}']]);
    open = s.server;
    const sink = new InfluxSink(config(s.url));
    await expect(sink.probe()).rejects.toMatchObject({ statusCode: 404 });
    expect(s.seen[0]).toMatchObject({
      method: 'POST',
      url: '/api/v2/write?org=acme&bucket=net&precision=ms',
      body: '',
    });
    await sink.close();
  });
});
