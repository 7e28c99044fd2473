import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNet, type TestNet } from '../helpers/netns.js';
import { logEvents, nstats } from '../helpers/nstats.js';
import {
  createInflux1Database,
  dropInflux1Database,
  influx1Query,
  testServers,
  uniqueName,
} from '../helpers/servers.js';
import { sleep } from '../helpers/wait.js';

// 10,000 short-lived TCP connections from the pod's side to one server port of a peer, while
// `nstats run -P` samples: with ephemeral ports folded (the default) they make a bounded number of
// series in a real InfluxDB 1.6, however many connections there are.

const PORT = 5301;
let net: TestNet;
let influx1Url: string;

beforeAll(async () => {
  ({ influx1Url } = await testServers());
  net = await createTestNet();
  // A TCP server in the peer namespace that reads what comes and closes.
  void net.execInPeer(process.execPath, [
    '-e',
    `require('node:net').createServer((s) => { s.on('data', () => {}); s.on('end', () => s.end()); s.on('error', () => {}); }).listen(${PORT}, '${net.peerV4}')`,
  ]);
  await sleep(500);
});

afterAll(async () => {
  await net?.destroy();
});

/** Opens `count` connections to the peer, `parallel` at a time; each sends 200 B and closes. */
async function connections(count: number, parallel: number): Promise<number> {
  let next = 0;
  let done = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const s = connect({ host: net.peerV4, port: PORT }, () => s.end(Buffer.alloc(200)));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
      s.resume();
    });
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        next++;
        await one();
        done++;
      }
    }),
  );
  return done;
}

describe('series cardinality with ports (-P)', () => {
  it('10,000 short connections to one server port: a bounded number of series', async () => {
    const db = uniqueName('nstats');
    await createInflux1Database(influx1Url, db);
    try {
      const run = nstats(['run', '--max-cycles', '2'], {
        NSTATS_INTERFACE: net.hostIf,
        NSTATS_PORTS: 'true',
        NSTATS_SCHEDULE: '*/2 * * * * *',
        NSTATS_DNS: 'false',
        NSTATS_HOSTNAME: 'web-0',
        INFLUX: new URL(influx1Url).host,
        IDB: db,
      });
      const t0 = Date.now();
      let finished = false;
      void run.finally(() => (finished = true));
      let made = 0;
      // Connections until both cycles have captured (about 2 x 13 s), at least 10,000.
      while (!finished || made < 10_000) made += await connections(500, 20);
      const r = await run;
      expect(r.exitCode, String(r.stderr)).toBe(0);
      const done = logEvents(String(r.stderr)).filter((e) => String(e.msg).startsWith('cycle: done'));
      expect(done).toHaveLength(2);
      const series = await influx1Query(influx1Url, db, 'SHOW SERIES FROM nstat');
      const keys = series.flatMap((s) => s.values.map((v) => String(v[0])));
      const toServer = keys.filter((k) => k.includes(`receiverPort=${PORT}`));
      console.log(
        `cardinality: ${made} connections in ${Math.round((Date.now() - t0) / 1000)} s, ` +
          `${done.map((e) => String(e.flows)).join(' + ')} flows written, ${keys.length} nstat series: ${keys.join(' | ')}`,
      );
      expect(made).toBeGreaterThanOrEqual(10_000);
      // One series for all the connections to the server port, whatever their number.
      expect(toServer).toHaveLength(1);
      expect(toServer[0]).toContain('senderPort=ephemeral');
      expect(keys.length).toBeLessThanOrEqual(5);
    } finally {
      await dropInflux1Database(influx1Url, db);
    }
  }, 90_000);
});
