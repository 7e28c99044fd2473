// Live memory of the spool during an outage: InfluxSink with a disk spool writing to a closed port
// (every write refused), 8,000 batches of 40 points appended; the heap is measured after a forced
// GC every 1,000 batches. Usage: npm run -s build && node --expose-gc scripts/measure-spool-memory.mjs
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../dist/log/logger.js';
import { InfluxSink } from '../dist/sink/influx-sink.js';
import { DiskSpool } from '../dist/sink/spool.js';

if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
const dir = mkdtempSync(join(tmpdir(), 'nstats-spool-memory-'));
const config = {
  url: 'http://127.0.0.1:9',
  api: 'v2',
  org: 'o',
  bucket: 'b',
  timeoutMs: 1000,
  batchSize: 1000,
  retryMaxMs: 1000,
};
const sink = new InfluxSink(config, {
  spool: new DiskSpool(dir, 1 << 30),
  log: createLogger('silent'),
  retryMaxMs: 1000,
});
await sink.open();
const mb = (n) => (n / 1048576).toFixed(2);
let t = 1_700_000_000_000;
for (let i = 1; i <= 8000; i++) {
  const points = Array.from({ length: 40 }, (_, k) => ({
    measurement: 'nstat',
    tags: { hosts: 'web-0', receiver: `10.0.${k}.1` },
    fields: { sendRate: { type: 'float', value: k }, sentBytes: { type: 'int', value: k } },
    time: new Date(t++),
  }));
  await sink.write(points);
  if (i % 1000 === 0) {
    await new Promise((r) => setTimeout(r, 50));
    globalThis.gc();
    const m = process.memoryUsage();
    console.log(
      `batches ${i}: spool ${sink.stats.spool.points} points (${mb(sink.stats.spool.bytes)} MB on disk), heap after GC ${mb(m.heapUsed)} MB, RSS ${mb(m.rss)} MB`,
    );
  }
}
await sink.close(Date.now());
rmSync(dir, { recursive: true, force: true });
