import { afterEach, describe, expect, it } from 'vitest';
import { HealthServer } from '../../src/health/health-server.js';
import { exposition, SelfMetrics } from '../../src/health/self-metrics.js';
import type { CycleReport } from '../../src/pipeline/daemon.js';
import type { SinkStats } from '../../src/sink/sink.js';

const REPORT: CycleReport = {
  flows: 3,
  points: 3,
  parseIssues: 2,
  ending: 'printed',
  durationMs: 12050,
  cpuMs: 7,
  captureMs: 12040,
  parseMs: 0.2,
  nameMs: 3,
  writeMs: 2,
};

const sinkStats: SinkStats = { pointsReceived: 6, pointsWritten: 5, pointsFailed: 1 };
const dnsStats = { hits: 4, misses: 2, timeouts: 1, failures: 0, joined: 1 };

let server: HealthServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('SelfMetrics', () => {
  it('renders cycles, parse errors, DNS, points and last success in the Prometheus text format', () => {
    const m = new SelfMetrics({ sink: () => sinkStats, dns: () => dnsStats }, () => 1_700_000_000_500);
    m.cycleDone(REPORT);
    m.cycleFailed(new Error('x'));
    m.cycleDone(REPORT);
    const text = m.render();
    expect(text).toContain(
      '# TYPE nstats_cycles_total counter\nnstats_cycles_total{result="ok"} 2\nnstats_cycles_total{result="failed"} 1\n',
    );
    expect(text).toContain('nstats_parse_errors_total 4\n');
    expect(text).toContain('nstats_dns_lookups_total{result="hits"} 4\n');
    expect(text).toContain('nstats_dns_lookups_total{result="timeouts"} 1\n');
    expect(text).toContain(
      'nstats_points_total{outcome="written"} 5\nnstats_points_total{outcome="failed"} 1\n',
    );
    expect(text).toContain(
      '# TYPE nstats_last_success_timestamp_seconds gauge\nnstats_last_success_timestamp_seconds 1700000000\n',
    );
    // Every non-comment line is `name{labels} number`.
    for (const line of text
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('#'))) {
      expect(line).toMatch(/^[a-z_]+(\{[a-z]+="[^"]*"\})? \d+(\.\d+)?$/);
    }
  });

  it('escapes label values', () => {
    expect(
      exposition([
        { name: 'm', help: 'h', type: 'gauge', samples: [{ labels: { a: 'x"y\\z\nw' }, value: 1 }] },
      ]),
    ).toBe('# HELP m h\n# TYPE m gauge\nm{a="x\\"y\\\\z\\nw"} 1\n');
  });
});

describe('HealthServer', () => {
  it('answers /livez, /readyz (503 after a failed cycle), /metrics, and 404 elsewhere', async () => {
    const m = new SelfMetrics({ sink: () => sinkStats });
    server = new HealthServer(m);
    const port = await server.start({ port: 0, host: '127.0.0.1' });
    const get = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: r.status, body: await r.text(), type: r.headers.get('content-type') };
    };
    expect(await get('/livez')).toMatchObject({ status: 200, body: 'ok\n' });
    expect((await get('/readyz')).status).toBe(200);
    m.cycleFailed(new Error('capture failed'));
    expect(await get('/readyz')).toMatchObject({ status: 503, body: 'last cycle failed\n' });
    m.cycleDone(REPORT);
    expect((await get('/readyz')).status).toBe(200);
    const metrics = await get('/metrics');
    expect(metrics.type).toBe('text/plain; version=0.0.4');
    expect(metrics.body).toContain('nstats_cycles_total{result="ok"} 1');
    expect((await get('/nope')).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/livez`, { method: 'POST' })).status).toBe(405);
  });
});
