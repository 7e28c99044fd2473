/**
 * InfluxDB 1.6 and VictoriaMetrics on loopback for the integration tests, and small HTTP
 * helpers to write to them and read back.
 *
 * Global setup (test/global-setup.ts) uses NSTATS_TEST_INFLUX1_URL / NSTATS_TEST_VM_URL when set
 * (servers of your own), otherwise starts its own servers with startInflux1() /
 * startVictoriaMetrics(); tests get the URLs with testServers() (vitest's inject).
 *
 * Things worth knowing (found by experiment with influxd 1.6.7 and victoria-metrics 1.79):
 *   - InfluxDB 1.6 has no /api/v2/write (404; it came with 1.8): write with POST /write?db=.
 *   - VictoriaMetrics stores an Influx line `m,tag=v f1=1,f2=2` as two series `m_f1{tag="v"}` and
 *     `m_f2{tag="v"}`; /write?db=X adds the label db="X", /api/v2/write?bucket=X adds nothing.
 *     Tag values keep spaces/commas/`=` once unescaped.
 *   - VictoriaMetrics drops points outside its retention without an error (204): the default
 *     is 1 month, so servers started here use -retentionPeriod=100y. Points are visible to
 *     /api/v1/export about 0.4 s after /internal/force_flush (up to ~7 s without it);
 *     /api/v1/query hides the last 30 s (search.latencyOffset), so read with vmExport().
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {} from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the InfluxDB 1.6 server, e.g. http://127.0.0.1:41234 */
    influx1Url: string;
    /** Base URL of the VictoriaMetrics server, e.g. http://127.0.0.1:41235 */
    vmUrl: string;
  }
}

export const INFLUXD = '/usr/bin/influxd';
export const VICTORIA_METRICS = '/usr/bin/victoria-metrics';
export const PROMETHEUS = '/usr/bin/prometheus';
export const PROMTOOL = '/usr/bin/promtool';

export interface RunningServer {
  /** Base URL without trailing slash. */
  readonly url: string;
  /** The server's log file (removed by stop()); undefined for servers we did not start. */
  readonly logFile?: string;
  /** Stops the server and removes its data. No-op for servers we did not start. Idempotent. */
  stop(): Promise<void>;
  /** Sends a signal to the server process (SIGSTOP/SIGCONT: a server that hangs, then answers). */
  signal?(sig: NodeJS.Signals): void;
}

// ---------------------------------------------------------------------------------------------
// process management

function assertBinary(path: string, pkg: string): void {
  const r = spawnSync(path, ['-h'], { stdio: 'ignore', timeout: 10_000 });
  if (r.error) {
    throw new Error(
      `${path} not found (${r.error.message}): install Debian's ${pkg} (apt-get install -y ${pkg})`,
    );
  }
}

/** A free TCP port on 127.0.0.1 (free when asked; the server binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Servers still running, with their temp dirs: killed and removed if the process exits first. */
const running = new Map<ChildProcess, string>();
let exitHandlerInstalled = false;
function track(child: ChildProcess, dir: string): void {
  if (!exitHandlerInstalled) {
    exitHandlerInstalled = true;
    process.on('exit', () => {
      for (const [c, d] of running) {
        c.kill('SIGKILL');
        rmSync(d, { recursive: true, force: true });
      }
    });
  }
  running.set(child, dir);
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  failed: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = failed();
    if (why) throw new Error(`${what}: ${why}`);
    try {
      if (await probe()) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves once GET /ping answers 204 (InfluxDB 1.x). */
export function waitForInflux1(url: string, timeoutMs = 30_000): Promise<void> {
  return waitUntil(
    `InfluxDB at ${url}`,
    async () => (await fetch(`${url}/ping`)).status === 204,
    timeoutMs,
    () => undefined,
  );
}

/** Resolves once GET /health answers 200 (VictoriaMetrics). */
export function waitForVm(url: string, timeoutMs = 30_000): Promise<void> {
  return waitUntil(
    `VictoriaMetrics at ${url}`,
    async () => (await fetch(`${url}/health`)).ok,
    timeoutMs,
    () => undefined,
  );
}

async function startServer(opts: {
  name: string;
  bin: string;
  pkg: string;
  args: (dir: string) => string[];
  prepare?: (dir: string) => void;
  url: string;
  ready: (url: string) => Promise<boolean>;
  /** Run on this data dir and keep it at stop() (the caller removes it). */
  dir?: string;
}): Promise<RunningServer> {
  assertBinary(opts.bin, opts.pkg);
  const keep = opts.dir !== undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), `nstats-${opts.name}-`));
  opts.prepare?.(dir);
  const logFile = join(dir, `${opts.name}.log`);
  const log = createWriteStream(logFile);
  // setpriv --pdeathsig: the server dies with the test run even when that is SIGKILLed.
  const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', opts.bin, ...opts.args(dir)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child, dir);
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  let exitInfo: string | undefined;
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, sig) => {
      exitInfo = `exited (code ${code}, signal ${sig})`;
      resolve();
    }),
  );
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!exitInfo && !spawnError) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      log.end();
      running.delete(child);
      if (!keep) rmSync(dir, { recursive: true, force: true });
    })();
    return stopping;
  };
  try {
    await waitUntil(
      `${opts.name} (${opts.url})`,
      () => opts.ready(opts.url),
      60_000,
      () => (spawnError ? spawnError.message : exitInfo),
    );
  } catch (e) {
    const msg = `${(e as Error).message}\n--- ${opts.name} log ---\n${tail(logFile)}`;
    await stop();
    throw new Error(msg, { cause: e });
  }
  return { url: opts.url, logFile, stop, signal: (sig) => child.kill(sig) };
}

/** influxd config for a private instance under `dir` (loopback only, nothing phones home). */
export function influx1Config(
  dir: string,
  httpPort: number,
  rpcPort: number,
  auth = false,
  maxBodySize = 0,
): string {
  return `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"

[meta]
  dir = "${dir}/meta"
  logging-enabled = false

[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false
  index-version = "inmem"

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
  auth-enabled = ${auth}
  log-enabled = false
  max-body-size = ${maxBodySize}

[ifql]
  enabled = false

[logging]
  level = "warn"
`;
}

/**
 * Starts a private InfluxDB 1.6 on 127.0.0.1 (random ports, data in a temp dir). With `auth`, HTTP
 * authentication is on and no user exists yet: create the first admin with influx1CreateAdmin.
 * With `maxBodySize` (bytes), larger write requests are answered 413.
 */
export async function startInflux1(
  opts: { auth?: boolean; maxBodySize?: number } = {},
): Promise<RunningServer> {
  const httpPort = await freePort();
  let rpcPort = await freePort();
  while (rpcPort === httpPort) rpcPort = await freePort();
  return startServer({
    name: 'influxd',
    bin: INFLUXD,
    pkg: 'influxdb',
    prepare: (dir) =>
      writeFileSync(
        join(dir, 'influxdb.conf'),
        influx1Config(dir, httpPort, rpcPort, opts.auth ?? false, opts.maxBodySize ?? 0),
      ),
    args: (dir) => ['-config', join(dir, 'influxdb.conf')],
    url: `http://127.0.0.1:${httpPort}`,
    ready: async (url) => (await fetch(`${url}/ping`)).status === 204,
  });
}

/** An InfluxDB 1.6 that can be stopped and started again on the same port and data. */
export interface RestartableInflux1 {
  readonly url: string;
  /** Starts it (again); resolves when it answers /ping. */
  start(): Promise<void>;
  /** SIGTERM, data kept. */
  stop(): Promise<void>;
  /** SIGSTOP / SIGCONT: connections are accepted but nothing answers. */
  freeze(): void;
  thaw(): void;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
}

export async function restartableInflux1(): Promise<RestartableInflux1> {
  const httpPort = await freePort();
  let rpcPort = await freePort();
  while (rpcPort === httpPort) rpcPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'nstats-influxd-'));
  writeFileSync(join(dir, 'influxdb.conf'), influx1Config(dir, httpPort, rpcPort));
  const url = `http://127.0.0.1:${httpPort}`;
  let current: RunningServer | undefined;
  const stop = async (): Promise<void> => {
    current?.signal?.('SIGCONT');
    await current?.stop();
    current = undefined;
  };
  return {
    url,
    async start() {
      current = await startServer({
        name: 'influxd',
        bin: INFLUXD,
        pkg: 'influxdb',
        dir,
        args: (d) => ['-config', join(d, 'influxdb.conf')],
        url,
        ready: async (u) => (await fetch(`${u}/ping`)).status === 204,
      });
    },
    stop,
    freeze: () => current?.signal?.('SIGSTOP'),
    thaw: () => current?.signal?.('SIGCONT'),
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a private VictoriaMetrics on 127.0.0.1 (random port, data in a temp dir). */
export async function startVictoriaMetrics(): Promise<RunningServer> {
  const port = await freePort();
  return startServer({
    name: 'victoria-metrics',
    bin: VICTORIA_METRICS,
    pkg: 'victoria-metrics',
    args: (dir) => [
      `-httpListenAddr=127.0.0.1:${port}`,
      `-storageDataPath=${join(dir, 'data')}`,
      '-retentionPeriod=100y',
      '-loggerLevel=WARN',
    ],
    url: `http://127.0.0.1:${port}`,
    ready: async (url) => (await fetch(`${url}/health`)).ok,
  });
}

/**
 * Starts a private Prometheus server on 127.0.0.1 (random port, data in a temp dir) that scrapes
 * `targets` (host:port, path /metrics) every `scrapeSeconds`.
 */
export async function startPrometheus(targets: string[], scrapeSeconds = 1): Promise<RunningServer> {
  const port = await freePort();
  return startServer({
    name: 'prometheus',
    bin: PROMETHEUS,
    pkg: 'prometheus',
    prepare: (dir) =>
      writeFileSync(
        join(dir, 'prometheus.yml'),
        [
          'global:',
          `  scrape_interval: ${scrapeSeconds}s`,
          `  scrape_timeout: ${scrapeSeconds}s`,
          'scrape_configs:',
          '  - job_name: nstats',
          '    static_configs:',
          `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
          '',
        ].join('\n'),
      ),
    args: (dir) => [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    url: `http://127.0.0.1:${port}`,
    ready: async (url) => (await fetch(`${url}/-/ready`)).ok,
  });
}

/** A PromQL instant query: the result vector as labels and value. */
export async function promQuery(
  url: string,
  query: string,
): Promise<Array<{ metric: Record<string, string>; value: number }>> {
  const r = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query }).toString()}`);
  const body = (await r.json()) as {
    status: string;
    error?: string;
    data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
  };
  if (body.status !== 'success') throw new Error(`PromQL ${query}: ${body.error ?? r.status}`);
  return (body.data?.result ?? []).map((x) => ({ metric: x.metric, value: Number(x.value[1]) }));
}

/** A server given by URL (env): checked for reachability, never stopped. */
export async function useExternalServer(kind: 'influx1' | 'vm', url: string): Promise<RunningServer> {
  const clean = url.replace(/\/+$/, '');
  try {
    await (kind === 'influx1' ? waitForInflux1(clean, 10_000) : waitForVm(clean, 10_000));
  } catch (e) {
    const env = kind === 'influx1' ? 'NSTATS_TEST_INFLUX1_URL' : 'NSTATS_TEST_VM_URL';
    throw new Error(`${env}=${url} is set but the server does not answer: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return { url: clean, stop: () => Promise.resolve() };
}

// ---------------------------------------------------------------------------------------------
// access from tests

/** The servers' URLs inside a test (vitest inject; falls back to the env vars). */
export async function testServers(): Promise<{ influx1Url: string; vmUrl: string }> {
  const { inject } = await import('vitest');
  const influx1Url = inject('influx1Url') ?? process.env.NSTATS_TEST_INFLUX1_URL;
  const vmUrl = inject('vmUrl') ?? process.env.NSTATS_TEST_VM_URL;
  if (!influx1Url || !vmUrl) {
    throw new Error('no test servers: run in the vitest "integration" project (its globalSetup starts them)');
  }
  return { influx1Url, vmUrl };
}

/** A name unique to this process and call, for databases / measurements / labels. */
export function uniqueName(prefix = 'nst'): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

// ---------------------------------------------------------------------------------------------
// InfluxDB 1.x

export interface Influx1Series {
  name: string;
  tags: Record<string, string>;
  columns: string[];
  values: unknown[][];
  /** `values` as objects keyed by column, with the series' tags merged in. */
  rows: Array<Record<string, unknown>>;
}

interface Influx1Response {
  results?: Array<{
    statement_id?: number;
    error?: string;
    series?: Array<{
      name?: string;
      tags?: Record<string, string>;
      columns?: string[];
      values?: unknown[][];
    }>;
  }>;
  error?: string;
}

async function influx1Post(url: string, params: Record<string, string>): Promise<Influx1Response> {
  const res = await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams(params) });
  const text = await res.text();
  let body: Influx1Response;
  try {
    body = JSON.parse(text) as Influx1Response;
  } catch {
    throw new Error(`InfluxDB ${url}/query: HTTP ${res.status}: ${text}`);
  }
  if (!res.ok || body.error)
    throw new Error(`InfluxDB ${url}/query: HTTP ${res.status}: ${body.error ?? text}`);
  for (const r of body.results ?? []) if (r.error) throw new Error(`InfluxDB query error: ${r.error}`);
  return body;
}

/** Runs InfluxQL against `db` (epoch=ns: times are integer nanoseconds) and returns every series. */
export async function influx1Query(url: string, db: string, influxql: string): Promise<Influx1Series[]> {
  const body = await influx1Post(url, { db, q: influxql, epoch: 'ns' });
  const out: Influx1Series[] = [];
  for (const r of body.results ?? []) {
    for (const s of r.series ?? []) {
      const columns = s.columns ?? [];
      const values = s.values ?? [];
      const tags = s.tags ?? {};
      out.push({
        name: s.name ?? '',
        tags,
        columns,
        values,
        rows: values.map((v) => ({ ...tags, ...Object.fromEntries(columns.map((c, i) => [c, v[i]])) })),
      });
    }
  }
  return out;
}

/** Quotes an InfluxQL identifier. */
export function influxIdent(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export async function createInflux1Database(url: string, db: string): Promise<void> {
  await influx1Post(url, { q: `CREATE DATABASE ${influxIdent(db)}` });
}

export async function dropInflux1Database(url: string, db: string): Promise<void> {
  await influx1Post(url, { q: `DROP DATABASE ${influxIdent(db)}` });
}

/** POST /write?db= with line protocol (throws unless 204). */
export async function influx1Write(
  url: string,
  db: string,
  lines: string | readonly string[],
  precision: 'ns' | 'u' | 'ms' | 's' = 'ns',
): Promise<void> {
  const body = typeof lines === 'string' ? lines : lines.join('\n');
  const res = await fetch(`${url}/write?${new URLSearchParams({ db, precision }).toString()}`, {
    method: 'POST',
    body,
  });
  if (res.status !== 204) throw new Error(`InfluxDB ${url}/write: HTTP ${res.status}: ${await res.text()}`);
}

// ---------------------------------------------------------------------------------------------
// VictoriaMetrics

export interface VmSeries {
  /** Labels; `__name__` is `measurement_field`. */
  metric: Record<string, string>;
  values: number[];
  /** Milliseconds since the epoch. */
  timestamps: number[];
}

/** POST /api/v2/write (Influx line protocol; no label is added for bucket/org). */
export async function vmWrite(
  url: string,
  lines: string | readonly string[],
  precision: 'ns' | 'us' | 'ms' | 's' = 'ns',
): Promise<void> {
  const body = typeof lines === 'string' ? lines : lines.join('\n');
  const res = await fetch(`${url}/api/v2/write?${new URLSearchParams({ precision }).toString()}`, {
    method: 'POST',
    body,
  });
  if (res.status !== 204)
    throw new Error(`VictoriaMetrics ${url}/api/v2/write: HTTP ${res.status}: ${await res.text()}`);
}

/** Makes recently written points searchable (GET /internal/force_flush). */
export async function vmForceFlush(url: string): Promise<void> {
  const res = await fetch(`${url}/internal/force_flush`);
  if (!res.ok) throw new Error(`VictoriaMetrics ${url}/internal/force_flush: HTTP ${res.status}`);
}

export interface VmExportOptions {
  /** Keep polling (force_flush + export) until at least this many series are there (default 1; 0 = one read). */
  minSeries?: number;
  /** Give up polling after this long and return what is there (default 10000 ms). */
  timeoutMs?: number;
}

/**
 * Every series matching `match` (a series selector such as `{__name__=~"nstat_.*"}` or
 * `nstat_rx_bytes{pod="x"}`), from /api/v1/export over all time. Polls until `minSeries` series
 * are visible (see the module comment on VM's delays).
 */
export async function vmExport(url: string, match: string, opts: VmExportOptions = {}): Promise<VmSeries[]> {
  const minSeries = opts.minSeries ?? 1;
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    await vmForceFlush(url);
    const res = await fetch(`${url}/api/v1/export`, {
      method: 'POST',
      body: new URLSearchParams({ 'match[]': match, start: '0' }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`VictoriaMetrics ${url}/api/v1/export: HTTP ${res.status}: ${text}`);
    const series = text
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as VmSeries);
    if (series.length >= minSeries || Date.now() > deadline) return series;
    await new Promise((r) => setTimeout(r, 200));
  }
}
