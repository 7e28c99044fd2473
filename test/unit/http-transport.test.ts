import { getEventListeners } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { AbortError, HttpError, InfluxDB, Point, RequestTimedOutError } from '@influxdata/influxdb-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpTransport } from '../../src/sink/http-transport.js';
import { classifyWriteError, retryAfterMs } from '../../src/sink/influx-transport.js';

// HttpTransport against a local HTTP server that records each request and answers as the test
// says (a fake server: the real InfluxDB 1.6 and VictoriaMetrics are in the integration tests).

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let server: Server;
let base: string;
const seen: Seen[] = [];
/** How the server answers the next request; default 204. */
let answer: (res: ServerResponse) => void = (res) => res.writeHead(204).end();
/** Sockets the server saw close, so a destroyed request can be told from a hanging one. */
let closed = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: body.toString(),
      });
      answer(res);
    });
  });
  server.on('connection', (socket) => socket.on('close', () => closed++));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const write = { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' } };

describe('HttpTransport', () => {
  it("sends to the base URL's path with the token, gzips above the threshold, and decodes the answer", async () => {
    const t = new HttpTransport({ url: `${base}/influx`, token: 'tok', timeoutMs: 2000 });
    seen.length = 0;
    answer = (res) => res.writeHead(204).end();
    expect(
      await t.request('/api/v2/write?bucket=b', 'm f=1', { ...write, gzipThreshold: 1000 }),
    ).toBeUndefined();
    const long = Array.from({ length: 300 }, (_, i) => `m f=${i}`).join('\n');
    await t.request('/api/v2/write?bucket=b', long, { ...write, gzipThreshold: 1000 });
    expect(
      seen.map((s) => [s.method, s.url, s.headers.authorization, s.headers['content-encoding']]),
    ).toEqual([
      ['POST', '/influx/api/v2/write?bucket=b', 'Token tok', undefined],
      ['POST', '/influx/api/v2/write?bucket=b', 'Token tok', 'gzip'],
    ]);
    expect(seen[1]!.body).toBe(long);
    // A request's own authorization header wins (basic auth for InfluxDB 1.x).
    await t.request('/write', '', { method: 'POST', headers: { authorization: 'Basic eDp5' } });
    expect(seen[2]!.headers.authorization).toBe('Basic eDp5');
    answer = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    expect(await t.request('/x', { q: 1 }, { method: 'POST' })).toEqual({ ok: true });
    expect(seen[3]!.body).toBe('{"q":1}');
    answer = (res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('pong');
    expect(await t.request('/ping', '', { method: 'GET' })).toBe('pong');
  });

  it("rejects with the client's HttpError: status, body, JSON, Retry-After, headers", async () => {
    const t = new HttpTransport({ url: base, timeoutMs: 2000 });
    answer = (res) =>
      res
        .writeHead(503, { 'content-type': 'application/json', 'retry-after': '7' })
        .end('{"code":"unavailable","message":"busy"}');
    const e = await t.request('/api/v2/write', 'm f=1', write).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(HttpError);
    const h = e as HttpError;
    expect([h.statusCode, h.json, retryAfterMs(h), classifyWriteError(h)]).toEqual([
      503,
      { code: 'unavailable', message: 'busy' },
      7000,
      'retry',
    ]);
    expect(h.headers?.['retry-after']).toBe('7');
    // InfluxDB 1.x may say why only in a header.
    answer = (res) => res.writeHead(401, { 'x-influxdb-error': 'authorization failed' }).end();
    const u = (await t.request('/write', '', write).catch((err: unknown) => err)) as HttpError;
    expect([u.statusCode, u.body]).toEqual([401, 'authorization failed']);
    // A long non-JSON body is cut at 1,000 characters.
    answer = (res) => res.writeHead(400, { 'content-type': 'text/plain' }).end('x'.repeat(5000));
    const b = (await t.request('/write', '', write).catch((err: unknown) => err)) as HttpError;
    expect(b.body).toHaveLength(1000);
  });

  it('bounds the whole request by its timeout and destroys it', async () => {
    const t = new HttpTransport({ url: base, timeoutMs: 300 });
    const before = closed;
    answer = () => undefined; // never answers
    const t0 = Date.now();
    const e = await t.request('/api/v2/write', 'm f=1', write).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(RequestTimedOutError);
    expect(Date.now() - t0).toBeLessThan(1500);
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBeGreaterThan(before);
    // A body that trickles past the bound fails too.
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
    };
    expect(await t.request('/q', '', { method: 'GET' }).catch((err: unknown) => err)).toBeInstanceOf(
      RequestTimedOutError,
    );
  });

  it('stops on abort with AbortError, and leaves no listener on a shared signal', async () => {
    const t = new HttpTransport({ url: base, timeoutMs: 5000 });
    const abort = new AbortController();
    answer = (res) => res.writeHead(204).end();
    for (let i = 0; i < 20; i++)
      await t.request('/api/v2/write', 'm f=1', { ...write, signal: abort.signal });
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
    answer = () => undefined;
    const pending = t.request('/api/v2/write', 'm f=1', { ...write, signal: abort.signal });
    setTimeout(() => abort.abort(), 50);
    expect(await pending.catch((err: unknown) => err)).toBeInstanceOf(AbortError);
    expect(
      await t.request('/x', '', { ...write, signal: abort.signal }).catch((e: unknown) => e),
    ).toBeInstanceOf(AbortError);
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
  });

  it("is a Transport the client's own write API can use", async () => {
    const transport = new HttpTransport({ url: base, token: 'tok', timeoutMs: 2000 });
    seen.length = 0;
    answer = (res) => res.writeHead(204).end();
    const api = new InfluxDB({ url: base, transport }).getWriteApi('org', 'bucket', 'ms');
    api.writePoint(new Point('nstat').tag('hosts', 'web-0').floatField('sendRate', 1.5).timestamp(1000));
    await api.close();
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe('/api/v2/write?org=org&bucket=bucket&precision=ms');
    expect(seen[0]!.body).toBe('nstat,hosts=web-0 sendRate=1.5 1000');
    expect(seen[0]!.headers.authorization).toBe('Token tok');
  });

  it('refuses a URL that is not http or https', () => {
    expect(() => new HttpTransport({ url: 'ftp://x', timeoutMs: 1 })).toThrow(
      /expected an http: or https: URL/,
    );
  });
});
