import { lineOf } from '../helpers/line.js';
import { afterEach, describe, expect, it } from 'vitest';
import { HealthServer } from '../../src/health/health-server.js';
import { CaptureError } from '../../src/capture/errors.js';
import { exposition } from '../../src/health/exposition.js';
import { SelfMetrics } from '../../src/health/self-metrics.js';
import type { CycleReport } from '../../src/pipeline/daemon.js';
import { emptySinkStats, type SinkStats } from '../../src/sink/sink.js';

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

const sinkStats: SinkStats = {
  ...emptySinkStats(),
  pointsReceived: 6,
  pointsSpooled: 6,
  pointsWritten: 5,
  pointsReplayed: 2,
  pointsDropped: { 'spool-full': 1, rejected: 0, 'spool-error': 0, shutdown: 0 },
  spool: { batches: 0, points: 0, bytes: 0 },
  writeErrors: { '503': 3 },
};
const dnsStats = { hits: 4, misses: 2, timeouts: 1, failures: 0, joined: 1 };

let server: HealthServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('SelfMetrics', () => {
  it('renders cycles, parse errors, DNS, points and last success in the Prometheus text format', () => {
    const resolvers = new Map([
      ['kubernetes', { hits: 7, misses: 3, errors: 0 }],
      ['dns', { hits: 2, misses: 0, errors: 1 }],
    ]);
    const m = new SelfMetrics(
      { sink: () => sinkStats, dns: () => dnsStats, resolvers: () => resolvers },
      () => 1_700_000_000_500,
    );
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
    expect(text).toContain('nstats_resolver_peers_total{resolver="kubernetes",result="hit"} 7\n');
    expect(text).toContain('nstats_resolver_peers_total{resolver="dns",result="error"} 1\n');
    expect(text).toContain(
      'nstats_points_total{outcome="written"} 5\nnstats_points_total{outcome="replayed"} 2\n',
    );
    expect(text).toContain('nstats_points_total{outcome="dropped",reason="spool-full"} 1\n');
    expect(text).toContain('nstats_write_errors_total{status="503"} 3\n');
    expect(text).toContain('nstats_spool_bytes 0\n');
    expect(text).toContain(
      '# TYPE nstats_last_success_timestamp_seconds gauge\nnstats_last_success_timestamp_seconds 1700000000\n',
    );
    // Every non-comment line is `name{labels} number`.
    for (const line of text
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('#'))) {
      expect(line).toMatch(/^[a-z_]+(\{[a-z]+="[^"]*"(,[a-z]+="[^"]*")*\})? \d+(\.\d+)?$/);
    }
  });

  it('is not ready once writes have failed longer than the threshold', () => {
    let now = 1_700_000_000_000;
    const stats: SinkStats = { ...emptySinkStats() };
    const m = new SelfMetrics({ sink: () => stats }, () => now, 60_000);
    expect(m.readiness()).toEqual({ ready: true, reason: 'ready' });
    stats.failingSince = now;
    now += 59_000;
    expect(m.readiness().ready).toBe(true);
    expect(m.render()).toContain('nstats_sink_failing_seconds 59\n');
    now += 1_000;
    expect(m.readiness()).toEqual({ ready: false, reason: 'writes to InfluxDB have failed for 60 s' });
    delete stats.failingSince;
    expect(m.readiness().ready).toBe(true);
  });

  it('counts capture failures by kind', () => {
    const m = new SelfMetrics({ sink: () => sinkStats });
    m.cycleFailed(new CaptureError('permission', 'eth0', 'iftop -i eth0', 1, 'pcap: permission denied'));
    m.cycleFailed(new Error('other'));
    const text = m.render();
    expect(text).toContain(
      [
        '# HELP nstats_capture_failures_total Captures that failed, by kind (iftop-missing, permission, no-such-interface, failed).',
        '# TYPE nstats_capture_failures_total counter',
        'nstats_capture_failures_total{kind="iftop-missing"} 0',
        'nstats_capture_failures_total{kind="permission"} 1',
        'nstats_capture_failures_total{kind="no-such-interface"} 0',
        'nstats_capture_failures_total{kind="failed"} 0\n',
      ].join('\n'),
    );
    expect(text).toContain('nstats_cycles_total{result="failed"} 2\n');
  });

  it('gives the same counters as one nstats_internal point', () => {
    const m = new SelfMetrics({ sink: () => sinkStats, dns: () => dnsStats }, () => 1_700_000_000_500);
    m.cycleDone(REPORT);
    const line = lineOf(m.toRecord({ hosts: 'web-0', pod: 'web-0' }, new Date(1_700_000_000_000)), 'ns');
    expect(line).toMatch(/^nstats_internal,hosts=web-0,pod=web-0 /);
    expect(line).toContain('cycles_total_ok=1i');
    expect(line).toContain('points_total_dropped_spool_full=1i');
    expect(line).toContain('write_errors_total_503=3i');
    expect(line).toContain('dns_lookups_total_hits=4i');
    expect(line).toMatch(/ 1700000000000000000$/);
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
    expect(await get('/readyz')).toMatchObject({ status: 503, body: 'the last cycle failed\n' });
    m.cycleDone(REPORT);
    expect((await get('/readyz')).status).toBe(200);
    const metrics = await get('/metrics');
    expect(metrics.type).toBe('text/plain; version=0.0.4');
    expect(metrics.body).toContain('nstats_cycles_total{result="ok"} 1');
    expect((await get('/nope')).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/livez`, { method: 'POST' })).status).toBe(405);
  });
});
