// Byte accuracy against ground truth: the seed's pipeline, nstats in sampled mode and nstats in
// continuous mode watch the same interface at the same time, and what each says about the bytes
// of whole minutes is compared with the bytes the traffic generator sent (and with the interface's
// own counters). Three scenarios run in parallel, each on its own veth pair and namespace: a steady
// flow, bursts inside the sampling window (seconds 3-9 of each minute) and bursts between samples
// (seconds 25-45). Usage, as root, after `npm run -s build`:
//   node bench/accuracy.mjs            (3 counted minutes; about 4-5 min in all)
//   node bench/accuracy.mjs --quick    (2 counted minutes)
// `npm run bench` runs it at the end (bench/run.mjs; skip it there with --no-accuracy). Without root
// or iftop it prints why and exits 0. Environment: SEED_AWK, SEED_PYTHON as for bench/run.mjs.
// What each figure means and how minutes are matched: bench/README.md, "Byte accuracy".
//
// Network rule: traffic goes only to addresses of the namespaces made here (bench/lib-netns.mjs),
// checked with `ip route get` before the first datagram. Reverse DNS is off on every side: nstats
// with NSTATS_DNS=false, the seed's format.py with bench/seed/no-dns on PYTHONPATH, iftop with -n.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupAll, createNet, ifCounters, onCleanup, spawnTracked } from './lib-netns.mjs';
import { shebangOf } from './shebang.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const SEED = join(HERE, 'seed');
const NSTATS = join(HERE, '..', 'dist', 'nstats.mjs');
const UDP = join(HERE, 'accuracy-udp.mjs');
const QUICK = process.argv.includes('--quick');
/** Whole minutes counted. */
const MINUTES = QUICK ? 2 : 3;
/** Ground truth is compared at this precision: continuous mode's target. */
const TARGET_PERCENT = 2;
/** UDP payload of the measured flows: 1,028 IP bytes, 1,042 on the wire. */
const PAYLOAD = 1000;
const IP_OVERHEAD = 28;
const ETHERNET_HEADER = 14;
/** The slow flow that makes `iftop -s 10` end (it exits on the first packet after 10 s). */
const KEEPALIVE = { payload: 64, bps: ((64 + IP_OVERHEAD) * 8) / 0.25 }; // 4 datagrams/s
const MEASURED_PORT = 5001;
const KEEPALIVE_PORT = 5002;
/** The first counted minute starts at least this long after the set-up. */
const LEAD_MS = 6000;
const CRON_PATH = '/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin';

const SCENARIOS = [
  { key: 'steady', label: 'steady 2 Mbit/s', bps: 2e6 },
  { key: 'aligned', label: 'bursts :03-:09, 8 Mbit/s', bps: 8e6, burst: [3, 9] },
  { key: 'unaligned', label: 'bursts :25-:45, 4 Mbit/s', bps: 4e6, burst: [25, 45] },
];

// --- can it run here? ---------------------------------------------------------------------------

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v "$1"`, 'sh', cmd], {
    encoding: 'utf8',
    env: { PATH: CRON_PATH },
  });
  return r.status === 0 ? r.stdout.trim() : undefined;
}
const IFTOP = existsSync('/usr/sbin/iftop') ? '/usr/sbin/iftop' : which('iftop');
const AWK = process.env.SEED_AWK ?? (existsSync('/usr/bin/awk') ? '/usr/bin/awk' : which('awk'));
const PYTHON =
  process.env.SEED_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : which('python3'));

function skipReason() {
  if (process.platform !== 'linux') return 'needs Linux (network namespaces)';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, veth pairs, iftop)';
  if (!IFTOP) return 'iftop is not installed';
  for (const tool of ['ip', 'setpriv', 'stdbuf', 'bash']) if (!which(tool)) return `${tool} is not installed`;
  if (!AWK || !PYTHON) return 'the seed needs awk and python3';
  if (!existsSync(NSTATS)) return 'dist/nstats.mjs is missing: run `npm run -s build` first';
  return undefined;
}

// --- small tools ---------------------------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const int = (n) => Math.round(n).toLocaleString('en-US');
const hhmm = (ms) => new Date(ms).toISOString().slice(11, 16);

function pct(measured, truth) {
  if (truth === 0) return measured === 0 ? 0 : Infinity;
  return ((measured - truth) / truth) * 100;
}
function pctCell(p) {
  if (!Number.isFinite(p)) return 'n/a';
  const a = Math.abs(p);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : 2;
  return `${p >= 0 ? '+' : '-'}${a.toFixed(digits)} %`;
}

function table(headers, rows, align) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const fmt = (cells) =>
    cells
      .map((c, i) => (align[i] === 'l' ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [fmt(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}

/** Collects a child's stdout lines (with the time each came) and the tail of its stderr. */
function collect(child) {
  const io = { child, lines: [], stderr: '', out: '' };
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (d) => {
    if (io.out.length < 1e6) io.out += d;
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop();
    const at = Date.now();
    for (const l of parts) if (l) io.lines.push({ at, line: l });
  });
  child.stderr?.setEncoding('utf8').on('data', (d) => (io.stderr = (io.stderr + d).slice(-500_000)));
  io.exited = new Promise((resolve) => {
    child.once('error', (e) => resolve({ code: -1, error: e }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return io;
}

/** Sends SIGTERM, waits (at most `ms`, then SIGKILL) and returns the exit. */
async function stop(io, ms = 25_000) {
  if (io.child.exitCode === null && io.child.signalCode === null) io.child.kill('SIGTERM');
  const timer = setTimeout(() => io.child.kill('SIGKILL'), ms);
  const exit = await io.exited;
  clearTimeout(timer);
  return exit;
}

/** The JSON line a generator or sink printed at the end. */
function lastJson(io, what) {
  const line = io.out.split('\n').findLast((l) => l.startsWith('{'));
  if (!line) throw new Error(`${what} printed no result: ${io.stderr.trim()}`);
  return JSON.parse(line);
}

/** Line protocol as nstats and the seed print it: { measurement, tags, fields, ts }. */
function parseLine(line) {
  const parts = line.split(/(?<!\\) /);
  const [head, fieldText, ts] = parts;
  const [measurement, ...tagParts] = head.split(/(?<!\\),/);
  const kv = (s) => {
    const i = s.indexOf('=');
    return [s.slice(0, i), s.slice(i + 1)];
  };
  const tags = Object.fromEntries(tagParts.map(kv));
  const fields = Object.fromEntries(
    (fieldText ?? '').split(',').map((f) => {
      const [k, v] = kv(f);
      return [k, Number(v.replace(/i$/, ''))];
    }),
  );
  return { measurement, tags, fields, ts: ts === undefined ? undefined : Number(ts) };
}

// --- the run --------------------------------------------------------------------------------------

async function main() {
  const reason = skipReason();
  if (reason) {
    console.log(`byte accuracy: skipped: ${reason}`);
    return;
  }
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'nstats-accuracy-'));
  onCleanup(() => rmSync(work, { recursive: true, force: true }));
  const noDns = join(work, 'no-dns');
  mkdirSync(noDns);
  copyFileSync(join(SEED, 'no-dns', 'sitecustomize.py'), join(noDns, 'sitecustomize.py'));
  const SEED_ENV = {
    PATH: CRON_PATH,
    HOME: process.env.HOME ?? '/root',
    SHELL: '/bin/bash',
    PYTHONPATH: noDns,
  };
  const shipped = shebangOf(NSTATS); // nstats runs as its shebang runs it

  try {
    // 1. Networks, sinks, route checks.
    const scen = SCENARIOS.map((s) => ({ ...s, net: createNet({ extraPeers: 1 }) }));
    for (const s of scen) {
      s.keepaliveV4 = s.net.extraPeerV4[0];
      s.net.assertDestination(s.net.peerV4);
      s.net.assertDestination(s.keepaliveV4);
      s.sinks = [
        [s.net.peerV4, MEASURED_PORT],
        [s.keepaliveV4, KEEPALIVE_PORT],
      ].map(([addr, port]) => {
        const io = collect(
          s.net.exec(process.execPath, [UDP, 'sink', '--bind', addr, '--port', String(port)], {
            stdio: ['pipe', 'pipe', 'pipe'],
          }),
        );
        return io;
      });
    }
    for (const s of scen)
      for (const io of s.sinks) {
        const deadline = Date.now() + 10_000;
        while (!io.out.includes('ready')) {
          if (Date.now() > deadline) throw new Error(`UDP sink did not start: ${io.stderr}`);
          await sleep(20);
        }
      }

    // 2. The timeline: minutes M0 .. M0+MINUTES-1 are counted.
    const now = Date.now();
    const M0 = Math.ceil((now + LEAD_MS) / 60_000) * 60_000;
    const END = M0 + MINUTES * 60_000;
    const boundaries = Array.from({ length: MINUTES + 1 }, (_, i) => M0 + i * 60_000);
    log(
      `${scen.map((s) => s.net.hostIf).join(', ')} ready; counting ${MINUTES} minutes from ${hhmm(M0)} UTC (in ${Math.round((M0 - now) / 1000)} s)`,
    );

    // 3. Traffic from the pod's side: the measured flow to peer .2, the keep-alive to .10.
    for (const s of scen) {
      const segments = s.burst
        ? boundaries
            .slice(0, MINUTES)
            .map((b) => ({ from: b + s.burst[0] * 1000, to: b + s.burst[1] * 1000, bps: s.bps }))
        : // Steady: before the first minute and past the last one, so that a period shifted by up
          // to one iftop slot (2 s) still sees it.
          [{ from: now, to: END + 5000, bps: s.bps }];
      const plan = {
        flows: [
          { to: s.net.peerV4, port: MEASURED_PORT, bind: s.net.hostV4, payload: PAYLOAD, segments },
          {
            to: s.keepaliveV4,
            port: KEEPALIVE_PORT,
            bind: s.net.hostV4,
            payload: KEEPALIVE.payload,
            segments: [{ from: now, to: END + 60_000, bps: KEEPALIVE.bps }],
          },
        ],
      };
      s.gen = collect(
        spawnTracked(process.execPath, [UDP, 'send', JSON.stringify(plan)], {
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      );
    }

    // 4. nstats, both modes, on each interface, printing line protocol (no InfluxDB set).
    for (const s of scen) {
      for (const mode of ['sampled', 'continuous']) {
        const env = {
          PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          NSTATS_ENV_FILE: '/dev/null',
          NSTATS_INTERFACE: s.net.hostIf,
          NSTATS_MODE: mode,
          NSTATS_SAMPLE_SECONDS: '10',
          NSTATS_SCHEDULE: '* * * * *',
          NSTATS_DNS: 'false',
          NSTATS_IFTOP_PATH: IFTOP,
          ...shipped.env,
        };
        const io = collect(
          spawnTracked(process.execPath, [...shipped.flags, NSTATS, 'run'], {
            env,
            stdio: ['ignore', 'pipe', 'pipe'],
          }),
        );
        s[mode] = io;
      }
    }

    // 5. At each boundary: the interface counters, and (but the last) the seed, as cron starts it.
    for (const s of scen) {
      s.counters = [];
      s.seeds = [];
    }
    for (const [i, b] of boundaries.entries()) {
      await sleep(b - Date.now());
      for (const s of scen) s.counters.push({ at: Date.now(), ...ifCounters(s.net.hostIf) });
      if (i === MINUTES) break;
      for (const s of scen) {
        // cron.sh's pipeline, minus curl (the seed's own files, cron's environment).
        const cmd = `"$1" -nNb -i "$2" -s 10 -o 10s -t -L 100 2>/dev/null | "$3" -f "$4" | "$5" "$6"`;
        const args = [IFTOP, s.net.hostIf, AWK, join(SEED, 'parse.awk'), PYTHON, join(SEED, 'format.py')];
        const io = collect(
          // Its own process group, so that iftop, awk and python go with it at cleanup.
          spawnTracked('bash', ['-c', cmd, 'seed', ...args], {
            env: SEED_ENV,
            stdio: ['ignore', 'pipe', 'pipe'],
            detached: true,
          }),
        );
        const timer = setTimeout(() => {
          try {
            process.kill(-io.child.pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }, 40_000);
        void io.exited.then(() => clearTimeout(timer));
        s.seeds.push({ minute: i, io });
      }
      log(`minute ${i + 1} of ${MINUTES} started (${hhmm(b)} UTC)`);
    }

    // 6. Wait for continuous mode's tick at END (the last minute's period); the seeds and samples
    // of the last minute ended about 50 s before.
    const hasPoint = (io, from) =>
      io.lines.some(({ line }) => line.startsWith('nstat_interface') && parseLine(line).ts >= from);
    const deadline = Date.now() + 30_000;
    while (!scen.every((s) => hasPoint(s.continuous, END - 1000)) && Date.now() < deadline) await sleep(100);
    await Promise.all(scen.flatMap((s) => s.seeds.map((x) => x.io.exited)));

    // 7. Stop everything; the generators and the sinks print what they counted.
    for (const s of scen) {
      await stop(s.gen);
      s.sent = lastJson(s.gen, 'the traffic generator');
    }
    await sleep(300); // the last datagrams reach the sinks
    for (const s of scen) {
      for (const mode of ['sampled', 'continuous']) {
        const exit = await stop(s[mode]);
        if (exit.code !== 0) log(`nstats ${mode} on ${s.net.hostIf} exited ${exit.code ?? exit.signal}`);
      }
      s.received = [];
      for (const io of s.sinks) {
        await stop(io);
        s.received.push(lastJson(io, 'a UDP sink'));
      }
    }
    const ended = Date.now();
    cleanupAll();
    report({ scen, M0, started, ended });
  } finally {
    cleanupAll();
  }
}

function log(msg) {
  console.error(`  accuracy: ${msg}`);
}

// --- figures -------------------------------------------------------------------------------------

/** IP bytes the generator handed to the kernel for a flow in [from, to) (ms). */
function sentBetween(flow, from, to) {
  let packets = 0;
  for (const [sec, n] of Object.entries(flow.perSecond)) {
    const ms = Number(sec) * 1000;
    if (ms >= from && ms < to) packets += n;
  }
  return packets * flow.ipBytesPerPacket;
}

function analyse(s, M0) {
  const minute = (i) => [M0 + i * 60_000, M0 + (i + 1) * 60_000];
  const [measured, keepalive] = s.sent.flows;
  const peer = (p) => (p.measurement === 'nstat' ? p : undefined);
  const toward = (p, send, receive) => {
    const { sender, receiver } = p.tags;
    if (sender === s.net.hostV4 && receiver === s.net.peerV4) return p.fields[send];
    if (sender === s.net.peerV4 && receiver === s.net.hostV4) return p.fields[receive];
    return 0;
  };
  const points = (io) => io.lines.map(({ line }) => parseLine(line));

  // Per observer and minute: undefined when the observer has nothing for that minute.
  const seedRate = new Array(MINUTES).fill(undefined);
  for (const { minute: i, io } of s.seeds) {
    const ps = points(io);
    if (ps.length === 0) continue; // iftop printed no table: the seed has nothing for the minute
    seedRate[i] = ps.reduce((sum, p) => sum + (peer(p) ? toward(p, 'sendRate', 'receiveRate') : 0), 0);
  }
  const byMinute = (io, index) => {
    const out = Array.from({ length: MINUTES }, () => undefined);
    for (const p of points(io)) {
      if (p.ts === undefined) continue;
      const i = index(p.ts);
      if (i < 0 || i >= MINUTES) continue;
      // Only the first cycle of a minute (the points of a cycle share their time): continuous
      // mode writes one more, shorter period when it stops, a few hundred ms after the last tick.
      out[i] ??= { rate: 0, bytes: 0, covered: false, ts: p.ts };
      if (p.ts !== out[i].ts) continue;
      if (p.measurement === 'nstat_interface') out[i].covered = true;
      if (peer(p)) {
        out[i].rate += toward(p, 'sendRate', 'receiveRate');
        out[i].bytes += toward(p, 'sentBytes', 'receivedBytes');
      }
    }
    return out.map((m) => (m?.covered ? m : undefined));
  };
  // A sample's points carry the end of its capture (about 13 s into its minute); a period's, the
  // tick that ends it (the start of the next minute).
  const sampled = byMinute(s.sampled, (ts) => Math.floor((ts - M0) / 60_000));
  const continuous = byMinute(s.continuous, (ts) => Math.round((ts - M0) / 60_000) - 1);

  const minutes = Array.from({ length: MINUTES }, (_, i) => i).filter(
    (i) => seedRate[i] !== undefined && sampled[i] && continuous[i],
  );
  // Continuous mode: when each period's tick came (after its minute's end), and how many iftop
  // tables (2 s slots) it holds, from nstats' `cycle: done` log events.
  const tables = new Array(MINUTES).fill(undefined);
  for (const l of s.continuous.stderr.split('\n')) {
    let e;
    try {
      e = JSON.parse(l);
    } catch {
      continue;
    }
    if (typeof e.snapshots !== 'number' || !String(e.msg).startsWith('cycle: done')) continue;
    const i = Math.round((Date.parse(e.time) - M0) / 60_000) - 1;
    if (i >= 0 && i < MINUTES) tables[i] ??= e.snapshots; // not the period written at stop
  }
  const periods = minutes.map((i) => ({
    tickLateMs: continuous[i].ts - (M0 + (i + 1) * 60_000),
    tables: tables[i],
  }));
  const truth = minutes.map((i) => sentBetween(measured, ...minute(i)));
  const observers = [
    ['seed', 'sendRate x 60 / 8', minutes.map((i) => (seedRate[i] * 60) / 8)],
    ['nstats sampled', 'sendRate x 60 / 8', minutes.map((i) => (sampled[i].rate * 60) / 8)],
    ['nstats sampled', 'sentBytes (capture only)', minutes.map((i) => sampled[i].bytes)],
    ['nstats continuous', 'sentBytes', minutes.map((i) => continuous[i].bytes)],
  ].map(([observer, counted, perMinute]) => {
    const total = perMinute.reduce((a, b) => a + b, 0);
    const truthTotal = truth.reduce((a, b) => a + b, 0);
    const minuteErrors = perMinute.map((v, k) => pct(v, truth[k]));
    const worst = minuteErrors.reduce((w, p) => (Math.abs(p) > Math.abs(w) ? p : w), 0);
    return { observer, counted, perMinute, total, error: pct(total, truthTotal), minuteErrors, worst };
  });

  // The interface: every frame it sent over the whole counted span, less 14 B of Ethernet header
  // each, against every datagram the generator sent (both flows) in the same span.
  const first = s.counters[0];
  const last = s.counters[MINUTES];
  const txPackets = last.txPackets - first.txPackets;
  const ifIpBytes = last.txBytes - first.txBytes - ETHERNET_HEADER * txPackets;
  const span = [M0, M0 + MINUTES * 60_000];
  const genAll = sentBetween(measured, ...span) + sentBetween(keepalive, ...span);
  const packetsSent = s.sent.flows.map((f) => Object.values(f.perSecond).reduce((a, b) => a + b, 0));
  return {
    minutes,
    periods,
    truth: truth.reduce((a, b) => a + b, 0),
    observers,
    iface: {
      ipBytes: ifIpBytes,
      genAll,
      keepalive: sentBetween(keepalive, ...span),
      rxPackets: last.rxPackets - first.rxPackets,
      readLateMs: Math.max(...s.counters.map((c, i) => c.at - (M0 + i * 60_000))),
    },
    sinksOk:
      s.received.every((r, k) => r.packets === packetsSent[k]) && s.sent.flows.every((f) => f.failed === 0),
    packetsSent,
    received: s.received.map((r) => r.packets),
  };
}

function report({ scen, M0, started, ended }) {
  const results = scen.map((s) => ({ s, a: analyse(s, M0) }));
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? '?';
  console.log(
    `Byte accuracy against ground truth, ${new Date(M0).toISOString().slice(0, 10)}: ${MINUTES} whole minutes, ${hhmm(M0)}-${hhmm(M0 + MINUTES * 60_000)} UTC${QUICK ? '  [--quick]' : ''}`,
  );
  console.log(
    `machine: ${model}, ${availableParallelism()} cores, Linux ${release()}, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; iftop ${IFTOP}, nstats dist/nstats.mjs`,
  );
  console.log(
    `Each scenario on its own veth pair, all at once. From the pod's side: UDP, ${PAYLOAD} B payloads (${PAYLOAD + IP_OVERHEAD} IP bytes) to one peer, plus a keep-alive`,
  );
  console.log(
    `to another peer (4 x ${KEEPALIVE.payload + IP_OVERHEAD} B/s, so that \`iftop -s 10\` ends). Observers on the same interface: the seed (cron.sh's pipeline started at every`,
  );
  console.log(
    `minute, minus curl), \`nstats run\` sampled (default: 10 s sample each minute), \`nstats run\` continuous. Reverse DNS off on all.`,
  );
  console.log();
  console.log(
    'Ground truth: IP bytes the generator sent to the peer in the counted minutes; the interface check compares tx_bytes - 14 B x tx_packets',
  );
  console.log('with everything the generator sent in the same span (peer + keep-alive).');
  console.log(
    table(
      [
        'scenario',
        'interface',
        'minutes',
        'to the peer',
        'keep-alive',
        'interface IP bytes',
        'difference',
        'vs generator',
        'rx packets',
        'sinks',
      ],
      results.map(({ s, a }) => [
        s.label,
        s.net.hostIf,
        a.minutes.length,
        int(a.truth),
        int(a.iface.keepalive),
        int(a.iface.ipBytes),
        `${a.iface.ipBytes >= a.iface.genAll ? '+' : '-'}${int(Math.abs(a.iface.ipBytes - a.iface.genAll))} B`,
        pctCell(pct(a.iface.ipBytes, a.iface.genAll)),
        int(a.iface.rxPackets),
        a.sinksOk ? 'got all' : `MISSING ${a.received.join('/')} of ${a.packetsSent.join('/')}`,
      ]),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
    ),
  );
  console.log();
  console.log(
    `Bytes to the peer over the counted minutes, each observer against the generator. Target: continuous mode's error <= ${TARGET_PERCENT} %.`,
  );
  console.log(
    'A rate (bits/s, one sample per minute) stands for its minute: rate x 60 / 8 bytes. "per minute": the error of each counted minute.',
  );
  const rows = [];
  for (const { s, a } of results) {
    for (const [k, o] of a.observers.entries()) {
      const isTarget = o.observer === 'nstats continuous';
      rows.push([
        k === 0 ? s.label : '',
        k === 0 ? int(a.truth) : '',
        o.observer,
        o.counted,
        int(o.total),
        pctCell(o.error),
        o.minuteErrors.map((p) => pctCell(p).replace(' %', '')).join(' / ') + ' %',
        isTarget ? (Math.abs(o.error) <= TARGET_PERCENT ? 'met' : 'MISSED') : '',
      ]);
    }
  }
  console.log(
    table(['scenario', 'truth', 'observer', 'counted as', 'bytes', 'error', 'per minute', 'target'], rows, [
      'l',
      'r',
      'l',
      'l',
      'r',
      'r',
      'r',
      'l',
    ]),
  );
  const cont = results.map(({ a }) => a.observers.find((o) => o.observer === 'nstats continuous'));
  const largest = (xs) => xs.reduce((w, p) => (Math.abs(p) > Math.abs(w) ? p : w), 0);
  const worst = largest(cont.map((o) => o.error));
  const worstMinute = largest(cont.map((o) => o.worst));
  const met = cont.every((o) => Math.abs(o.error) <= TARGET_PERCENT);
  const short = results.filter(({ a }) => a.minutes.length < MINUTES);
  console.log();
  console.log(
    `continuous mode: ${met && short.length === 0 ? 'target met' : 'target MISSED'} over the ${MINUTES} minutes (largest error ${pctCell(worst)}); largest error of one minute ${pctCell(worstMinute)}`,
  );
  console.log(
    `  its periods (tick after the minute, iftop tables of 2 s in the period): ${results
      .map(
        ({ s, a }) => `${s.key} ${a.periods.map((p) => `+${p.tickLateMs} ms ${p.tables ?? '?'}`).join(', ')}`,
      )
      .join('; ')}`,
  );
  console.log(
    `interface counters read at most ${Math.max(...results.map(({ a }) => a.iface.readLateMs))} ms after each minute`,
  );
  if (short.length) {
    // Not an accuracy figure: an observer had nothing for a minute (it failed, or was late).
    process.exitCode = 1;
    for (const { s, a } of short) {
      console.log(`${s.label}: only ${a.minutes.length} of ${MINUTES} minutes had every observer. Logs:`);
      for (const mode of ['sampled', 'continuous'])
        console.log(`  nstats ${mode} stderr (tail): ${s[mode].stderr.slice(-1500)}`);
      for (const { minute, io } of s.seeds)
        console.log(
          `  seed minute ${minute + 1}: ${io.lines.length} lines; stderr: ${io.stderr.slice(-300)}`,
        );
    }
  }
  console.log(`byte accuracy took ${((ended - started) / 1000).toFixed(0)} s`);
}

await main();
