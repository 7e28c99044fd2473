import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { float, int, type MetricRecord } from '../../src/record/record.js';
import { InfluxSink } from '../../src/sink/influx-sink.js';
import { MemorySpool } from '../../src/sink/spool.js';
import { memoryLog } from '../helpers/log.js';
import { createInflux1Database, influx1Query, startInflux1, type RunningServer } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

// A real InfluxDB 1.6 whose [http] max-body-size is small, so that a batch of points is larger
// than it takes (HTTP 413). The sink must send such a batch again in parts and lose nothing, and
// drop only a single line that is larger than the limit on its own. Bodies over 1,000 bytes go
// gzipped and the server's limit applies to the compressed body, so the tags are random: lines
// that gzip cannot shrink much.

const LIMIT = 4096;
const DB = 'nstats_body_limit';
let server: RunningServer;

beforeAll(async () => {
  server = await startInflux1({ maxBodySize: LIMIT });
  await createInflux1Database(server.url, DB);
});

afterAll(async () => {
  await server?.stop();
});

const T0 = Date.UTC(2026, 11, 3, 12, 0, 0);

/** Random text of `n` characters: it does not compress. */
const noise = (n: number): string => randomBytes(n).toString('base64url').slice(0, n);

function flow(i: number, run: string, receiver = noise(40)): MetricRecord {
  return {
    measurement: 'nstat',
    tags: { hosts: 'web-0', run, sender: '10.0.0.1', receiver },
    fields: { sendRate: float(1000 + i), sentBytes: int(i) },
    time: new Date(T0 + i),
  };
}

function sink() {
  const { log, events } = memoryLog('debug');
  const s = new InfluxSink(
    { url: server.url, api: 'v1', org: '', database: DB, timeoutMs: 5000, batchSize: 1000, retryMaxMs: 1000 },
    { spool: new MemorySpool(1 << 20), log, retryMaxMs: 1000 },
  );
  return { sink: s, events };
}

async function count(run: string): Promise<number> {
  const series = await influx1Query(server.url, DB, `SELECT count(sendRate) FROM nstat WHERE run = '${run}'`);
  return Number(series[0]?.values[0]?.[1] ?? 0);
}

describe('InfluxDB 1.6 with a small max-body-size (413 Request Entity Too Large)', () => {
  it('a batch larger than the limit is sent in parts: every point lands, none is dropped', async () => {
    const { sink: s, events } = sink();
    await s.open();
    const records = Array.from({ length: 500 }, (_, i) => flow(i, 'parts'));
    await s.write(records);
    await waitFor(
      () => Promise.resolve(s.stats.pointsWritten + s.stats.pointsDropped.rejected >= 500),
      20_000,
      () => JSON.stringify(s.stats),
    );
    await s.close();
    expect(s.stats.pointsWritten).toBe(500);
    expect(s.stats.pointsDropped.rejected).toBe(0);
    expect(await count('parts')).toBe(500);
    // The first request was answered 413: the batch really was over the limit.
    expect(s.stats.writeErrors['413'], JSON.stringify(events)).toBeGreaterThan(0);
  });

  it('a single line larger than the limit is dropped and counted; the rest of its batch lands', async () => {
    const { sink: s, events } = sink();
    await s.open();
    const records = Array.from({ length: 100 }, (_, i) => flow(i, 'huge'));
    records[40] = flow(40, 'huge', noise(2 * LIMIT));
    await s.write(records);
    await waitFor(
      () => Promise.resolve(s.stats.pointsWritten + s.stats.pointsDropped.rejected >= 100),
      20_000,
      () => JSON.stringify(s.stats),
    );
    await s.close();
    expect(s.stats.pointsWritten).toBe(99);
    expect(s.stats.pointsDropped.rejected).toBe(1);
    expect(await count('huge')).toBe(99);
    const refused = events.find((e) => String(e.msg).includes('the server refused 1 points'));
    expect(refused, JSON.stringify(events.map((e) => e.msg))).toMatchObject({ status: 413 });
  });
});
