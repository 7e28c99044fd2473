import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpError } from '@influxdata/influxdb-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InfluxConfig } from '../../src/config/config.js';
import { DeliveryError } from '../../src/sink/delivery-queue.js';
import {
  classifyWriteError,
  deliveryError,
  InfluxTransport,
  retryAfterMs,
  serverMessage,
} from '../../src/sink/influx-transport.js';

const http = (status: number, body = '', headers: Record<string, string> = {}) =>
  new HttpError(status, 'x', body, headers['retry-after'], 'application/json', undefined, headers);

describe('write errors', () => {
  it('classifies: no answer, 5xx, 408, 429 retry; 400/422 rejected; other 4xx refused', () => {
    expect(classifyWriteError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe('retry');
    for (const s of [500, 502, 503, 504, 408, 429]) expect(classifyWriteError(http(s))).toBe('retry');
    for (const s of [400, 413, 422]) expect(classifyWriteError(http(s))).toBe('rejected');
    for (const s of [401, 403, 404, 405]) expect(classifyWriteError(http(s))).toBe('refused');
  });

  it('reads Retry-After as seconds (the client reads it as ms) and the server message', () => {
    expect(retryAfterMs(http(429, '', { 'retry-after': '7' }))).toBe(7000);
    expect(retryAfterMs(http(429, '', { 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }))).toBe(0);
    expect(retryAfterMs(new Error('x'))).toBe(0);
    expect(serverMessage(http(404, '{"error":"database not found: \\"x\\""}'))).toBe(
      '404 database not found: "x"',
    );
  });

  it('gives the delivery queue the verdict, status, Retry-After and message, with the error as cause', () => {
    const e = http(429, '{"message":"slow down"}', { 'retry-after': '3' });
    const d = deliveryError(e);
    expect(d).toBeInstanceOf(DeliveryError);
    expect([d.verdict, d.status, d.retryAfterMs, d.message, d.cause]).toEqual([
      'retry',
      429,
      3000,
      '429 slow down',
      e,
    ]);
    const net = deliveryError(new Error('connect ECONNREFUSED'));
    expect([net.verdict, net.status, net.message]).toEqual(['retry', undefined, 'connect ECONNREFUSED']);
  });
});

describe('InfluxTransport', () => {
  let server: Server;
  let url: string;
  const seen: Array<{ url: string; body: string }> = [];
  let status = 204;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({ url: req.url ?? '', body });
        res
          .writeHead(status, { 'content-type': 'application/json' })
          .end(status < 300 ? '' : '{"message":"no"}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const config = (more: Partial<InfluxConfig> = {}): InfluxConfig => ({
    url,
    api: 'v2',
    org: 'acme',
    bucket: 'net',
    timeoutMs: 2000,
    batchSize: 1000,
    retryMaxMs: 1000,
    ...more,
  });

  it('sends the lines as one body; the probe is an empty write; a refusal rejects with a DeliveryError', async () => {
    const t = new InfluxTransport(config(), 'ms');
    expect(t.name).toBe(`influxdb v2 ${url} net`);
    seen.length = 0;
    status = 204;
    await t.send(['a f=1 1', 'b f=2 2'], new AbortController().signal);
    await t.send([], new AbortController().signal);
    expect(seen).toEqual([
      { url: '/api/v2/write?org=acme&bucket=net&precision=ms', body: 'a f=1 1\nb f=2 2' },
      { url: '/api/v2/write?org=acme&bucket=net&precision=ms', body: '' },
    ]);
    status = 403;
    const e = await t.send(['a f=1 1'], new AbortController().signal).catch((err: unknown) => err);
    expect(e).toMatchObject({ verdict: 'refused', status: 403, message: '403 no' });
    // probe() rejects with the client's own error (nstats check reads its status).
    await expect(t.probe()).rejects.toBeInstanceOf(HttpError);
  });

  it('v1 names the database and writes to /write?db=', async () => {
    const t = new InfluxTransport(config({ api: 'v1', database: 'telegraf' }), 'ms');
    expect(t.name).toBe(`influxdb v1 ${url} telegraf`);
    seen.length = 0;
    status = 204;
    await t.send(['a f=1 1'], new AbortController().signal);
    expect(seen[0]!.url).toBe('/write?db=telegraf&precision=ms');
  });
});
