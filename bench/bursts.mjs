// Continuous mode on a short schedule against bursty traffic, written to a real InfluxDB 1.6 and
// read back: what `SELECT sum(*) FROM nstat` says against the bytes the generator sent. The
// scenario a user reported: NSTATS_MODE=continuous, NSTATS_SCHEDULE='*/10 * * * * *', traffic
// from 8 s after nstats starts, UDP bursts of 4 s at 250 kB/s every 20 s for 90 s, answered by the
// peer at the same rate, nstats stopped with SIGTERM 25 s after the traffic ended. Usage, as root,
// after `npm run -s build`:
//   node bench/bursts.mjs [--runs N]     (default 3 runs, about 2 min each)
// Needs iftop and influxd (Debian's iftop and influxdb); without them or root it says why and
// exits 0. Figures and what they mean: bench/README.md, "Bursts on a short schedule".
//
// Network rule: traffic goes only to addresses of the namespace made here (bench/lib-netns.mjs),
// checked with `ip route get` before the first datagram; InfluxDB listens on 127.0.0.1.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupAll, createNet, onCleanup, spawnTracked } from './lib-netns.mjs';
import { shebangOf } from './shebang.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const NSTATS = join(HERE, '..', 'dist', 'nstats.mjs');
const UDP = join(HERE, 'accuracy-udp.mjs');
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;
const PAYLOAD = 1000;
const IP_OVERHEAD = 28;
/** 250 kB/s of IP bytes. */
const BPS = 250_000 * 8;
const START_AFTER_MS = 8000;
const BURST_MS = 4000;
const EVERY_MS = 20_000;
const FOR_MS = 90_000;
const STOP_AFTER_MS = 25_000;
const OUT_PORT = 5101;
const BACK_PORT = 5102;
const DB = 'nstats_bursts';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function missing() {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, iftop)';
  if (!existsSync('/usr/bin/influxd')) return 'needs influxd (apt-get install influxdb)';
  if (spawnSync('sh', ['-c', 'command -v iftop']).status !== 0) return 'needs iftop';
  if (!existsSync(NSTATS)) return 'needs the build: npm run -s build';
  return undefined;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function startInflux() {
  const dir = mkdtempSync(join(tmpdir(), 'nstats-bursts-influxd-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const [http, rpc] = [await freePort(), await freePort()];
  writeFileSync(
    join(dir, 'influxdb.conf'),
    [
      'reporting-disabled = true',
      `bind-address = "127.0.0.1:${rpc}"`,
      '[meta]',
      `  dir = "${dir}/meta"`,
      '[data]',
      `  dir = "${dir}/data"`,
      `  wal-dir = "${dir}/wal"`,
      '  query-log-enabled = false',
      '[monitor]',
      '  store-enabled = false',
      '[http]',
      `  bind-address = "127.0.0.1:${http}"`,
      '  log-enabled = false',
      '[logging]',
      '  level = "warn"',
      '',
    ].join('\n'),
  );
  spawnTracked('/usr/bin/influxd', ['-config', join(dir, 'influxdb.conf')], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${http}`;
  for (let i = 0; i < 150; i++) {
    if (
      await fetch(`${url}/ping`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return url;
    await sleep(200);
  }
  throw new Error('influxd did not start');
}

async function query(url, q) {
  const r = await fetch(`${url}/query?db=${DB}&q=${encodeURIComponent(q)}`, { method: 'POST' });
  if (!r.ok) throw new Error(`query ${q}: ${r.status} ${await r.text()}`);
  return (await r.json()).results[0];
}

/** Starts accuracy-udp.mjs in `mode` (in the peer namespace when `net` is given); resolves with its output. */
function udp(args, net) {
  const child = net
    ? net.exec(process.execPath, [UDP, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
    : spawnTracked(process.execPath, [UDP, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.once('exit', () => resolve(out)));
  const ready = new Promise((resolve) => {
    const check = () => (out.includes('ready') || args[0] === 'send' ? resolve() : setTimeout(check, 20));
    check();
  });
  return { child, exited, ready };
}

function ipBytesSent(output) {
  const { flows } = JSON.parse(output.trim().split('\n').at(-1));
  return flows.reduce(
    (n, f) => n + Object.values(f.perSecond).reduce((a, b) => a + b, 0) * f.ipBytesPerPacket,
    0,
  );
}

async function oneRun(url, run) {
  const net = createNet({ extraPeers: 1 });
  const peer = net.extraPeerV4[0];
  net.assertDestination(peer);
  await query(url, `DROP DATABASE ${DB}`);
  await query(url, `CREATE DATABASE ${DB}`);
  const sinks = [
    udp(['sink', '--bind', peer, '--port', String(OUT_PORT)], net),
    udp(['sink', '--bind', net.hostV4, '--port', String(BACK_PORT)]),
  ];
  await Promise.all(sinks.map((s) => s.ready));
  const { env: shebangEnv, flags } = shebangOf(NSTATS);
  const nstats = spawnTracked(process.execPath, [...flags, NSTATS, 'run'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      PATH: process.env.PATH,
      ...shebangEnv,
      NSTATS_ENV_FILE: '/dev/null',
      NSTATS_MODE: 'continuous',
      NSTATS_SCHEDULE: '*/10 * * * * *',
      NSTATS_INTERFACE: net.hostIf,
      NSTATS_DNS: 'false',
      NSTATS_HOSTNAME: 'bursts',
      NSTATS_INFLUX_URL: url,
      NSTATS_INFLUX_DATABASE: DB,
    },
  });
  let log = '';
  nstats.stderr.setEncoding('utf8').on('data', (d) => (log += d));
  const nstatsExit = new Promise((resolve) => nstats.once('exit', (code) => resolve(code)));
  const t0 = Date.now() + START_AFTER_MS;
  const segments = [];
  for (let at = 0; at < FOR_MS; at += EVERY_MS)
    segments.push({ from: t0 + at, to: t0 + at + BURST_MS, bps: BPS });
  const plan = (to, port, bind) =>
    JSON.stringify({ flows: [{ to, port, bind, payload: PAYLOAD, segments }] });
  const senders = [
    udp(['send', plan(peer, OUT_PORT, net.hostV4)]),
    udp(['send', plan(net.hostV4, BACK_PORT, peer)], net),
  ];
  const [outText, backText] = await Promise.all(senders.map((s) => s.exited));
  const lastEnd = segments.at(-1).to;
  await sleep(Math.max(0, lastEnd + STOP_AFTER_MS - Date.now()));
  nstats.kill('SIGTERM');
  const code = await nstatsExit;
  for (const s of sinks) s.child.kill('SIGTERM');
  await Promise.all(sinks.map((s) => s.exited));
  const sent = ipBytesSent(outText);
  const back = ipBytesSent(backText);
  const r = await query(url, `SELECT sum(*) FROM nstat WHERE receiverIp = '${peer}'`);
  const row = r.series?.[0];
  const col = (name) => row?.values[0][row.columns.indexOf(name)] ?? 0;
  const pct = (got, want) => (((got - want) / want) * 100).toFixed(2);
  const periods = log.split('\n').filter((l) => l.includes('"cycle: done')).length;
  const stderrNotJson = log
    .split('\n')
    .filter(Boolean)
    .filter((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    }).length;
  console.log(
    `run ${run}: exit ${code}, ${periods} periods; sent: nstat sum ${col('sum_sentBytes')} B, generator ${sent} B (${pct(col('sum_sentBytes'), sent)} %); ` +
      `received: nstat sum ${col('sum_receivedBytes')} B, generator ${back} B (${pct(col('sum_receivedBytes'), back)} %); ` +
      `stderr lines not JSON: ${stderrNotJson}`,
  );
  net.destroy();
}

const why = missing();
if (why) {
  console.log(`bench/bursts.mjs: skipped, ${why}`);
  process.exit(0);
}
try {
  const url = await startInflux();
  console.log(
    `continuous mode, schedule */10 s, InfluxDB 1.6 at ${url}: bursts of ${BURST_MS / 1000} s at ${BPS / 8000} kB/s every ${EVERY_MS / 1000} s for ${FOR_MS / 1000} s, both ways; SIGTERM ${STOP_AFTER_MS / 1000} s after`,
  );
  for (let i = 1; i <= RUNS; i++) await oneRun(url, i);
} finally {
  cleanupAll();
}
