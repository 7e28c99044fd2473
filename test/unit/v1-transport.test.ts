import type { CommunicationObserver, SendOptions, Transport } from '@influxdata/influxdb-client';
import { describe, expect, it } from 'vitest';
import { v1WritePath, V1WriteTransport } from '../../src/sink/v1-transport.js';

describe('v1WritePath', () => {
  it('maps the v2 write path to /write?db=&rp=&precision=', () => {
    expect(v1WritePath('/api/v2/write?org=&bucket=x&precision=ms', { database: 'telegraf' })).toBe(
      '/write?db=telegraf&precision=ms',
    );
    expect(
      v1WritePath('/api/v2/write?org=o&bucket=x&precision=ns', {
        database: 'a b',
        retentionPolicy: 'one_week',
      }),
    ).toBe('/write?db=a+b&rp=one_week&precision=n');
    expect(v1WritePath('/api/v2/write?org=o&bucket=x&precision=us', { database: 'd' })).toBe(
      '/write?db=d&precision=u',
    );
  });
});

describe('V1WriteTransport', () => {
  it('rewrites writes, adds basic auth, and passes other requests through', () => {
    const sent: Array<{ path: string; options: SendOptions }> = [];
    const base: Transport = {
      chunkCombiner: {} as Transport['chunkCombiner'],
      send(
        path: string,
        _body: string,
        options: SendOptions,
        _cb?: Partial<CommunicationObserver<Uint8Array>>,
      ) {
        sent.push({ path, options });
      },
      request: () => Promise.resolve(undefined),
      iterate: () => (async function* () {})(),
    };
    const t = new V1WriteTransport(base, { database: 'db', username: 'u', password: 'p' });
    t.send('/api/v2/write?org=&bucket=db&precision=ms', 'm f=1', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
    });
    t.send('/ping', '', { method: 'GET' });
    expect(sent[0]).toEqual({
      path: '/write?db=db&precision=ms',
      options: {
        method: 'POST',
        headers: { 'content-type': 'text/plain', authorization: `Basic ${btoa('u:p')}` },
      },
    });
    expect(sent[1]).toEqual({ path: '/ping', options: { method: 'GET' } });
  });
});
