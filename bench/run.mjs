// nstats against the seed pipeline (awk + python3, see bench/seed/): CPU time per cycle and parse
// throughput, measured side by side on the same capture text. Usage (after `npm ci`):
//   npm run bench            (builds dist/ first, then runs this file under the project's Node 24)
//   node bench/run.mjs --quick   (shorter batches: a smoke test, figures less stable)
//   node bench/run.mjs --no-accuracy   (leaves out the byte accuracy part, bench/accuracy.mjs)
//   node bench/run.mjs --no-rss   (leaves out the RSS part, bench/rss.mjs)
// Environment: SEED_AWK, SEED_PYTHON pick the seed's interpreters (default: /usr/bin/awk and
// /usr/bin/python3, the paths of the seed's cron.sh, else the ones on PATH).
// What each figure means and how it is measured: bench/README.md.
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, loadavg, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseIftop } from '../dist/parse/iftop-parser.js';
import { syntheticCapture } from './gen-capture.mjs';
import { nstatsCycle } from './nstats-cycle.mjs';
import { runRss } from './rss.mjs';
import { shebangOf } from './shebang.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

// nstats is measured in this process, so this process runs as nstats ships: with the Node flags
// and environment of the bundle's shebang (`env -S MALLOC_MMAP_THRESHOLD_=32768 node`). Flags
// matter: with --max-semi-space-size=1, which an earlier build shipped, a 1,000-flow cycle takes
// twice the CPU (see bench/README.md). The seed's children get cron's
// environment (SEED_ENV), not this one.
const { env: SHIPPED_ENV, flags: SHIPPED_FLAGS } = shebangOf(join(HERE, '..', 'dist', 'nstats.mjs'));
if (process.env.NSTATS_BENCH_SHIPPED !== '1') {
  const r = spawnSync(
    process.execPath,
    [...SHIPPED_FLAGS, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    {
      stdio: 'inherit',
      env: { ...process.env, ...SHIPPED_ENV, NSTATS_BENCH_SHIPPED: '1' },
    },
  );
  process.exit(r.status ?? 1);
}
const SEED = join(HERE, 'seed');
const FIXTURE = join(HERE, '..', 'test', 'fixtures', 'iftop', 'many-flows.txt');
const QUICK = process.argv.includes('--quick');
/** Batches per figure (the median is reported, the spread shown as ± half the range). */
const BATCHES = QUICK ? 3 : 7;
/** CPU time aimed at per batch, in ms: in-process loops, spawned loops. */
const BATCH_MS = QUICK ? 60 : 200;
const SPAWN_BATCH_MS = QUICK ? 100 : 300;
const COLD_RUNS = QUICK ? 3 : 7;
/** The seed's target: nstats at most 1/10 of its CPU per cycle. */
const TARGET_RATIO = 10;
/** The PATH of the seed's crontab: its children run with cron's environment, not ours. */
const CRON_PATH = '/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin';

const started = performance.now();
const work = mkdtempSync(join(tmpdir(), 'nstats-bench-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

// --- tools --------------------------------------------------------------------------------------

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function firstLine(cmd, args) {
  try {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return `${r.stdout}${r.stderr}`.split('\n').find((l) => l.trim() !== '') ?? '?';
  } catch {
    return '?';
  }
}

/** The interpreter itself (not a wrapper such as a pyenv shim, whose start-up would count). */
function pickPython() {
  if (process.env.SEED_PYTHON) return process.env.SEED_PYTHON;
  if (existsSync('/usr/bin/python3')) return '/usr/bin/python3';
  return run('python3', ['-c', 'import sys; print(sys.executable)']).trim();
}
const AWK = process.env.SEED_AWK ?? (existsSync('/usr/bin/awk') ? '/usr/bin/awk' : 'awk');
const PYTHON = pickPython();

// The seed's format.py looks every address up by reverse DNS. The benchmark stays off the network
// and nstats runs with DNS off, so a sitecustomize.py makes that lookup fail at once (as for an
// address without a PTR record) and format.py keeps the IPs. It lives in a temp dir so that
// Python's bytecode cache for it lands there.
const noDns = join(work, 'no-dns');
mkdirSync(noDns);
copyFileSync(join(SEED, 'no-dns', 'sitecustomize.py'), join(noDns, 'sitecustomize.py'));
const SEED_ENV = {
  PATH: CRON_PATH,
  HOME: process.env.HOME ?? '/root',
  SHELL: '/bin/bash',
  PYTHONPATH: noDns,
};

/** CPU ms of the children of one cpu-loop.sh run, per repetition. */
function spawnLoop(reps, args) {
  const out = run('bash', [join(SEED, 'cpu-loop.sh'), String(reps), ...args], { env: SEED_ENV });
  const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(out.trim().split('\n')[1] ?? '');
  if (!m) throw new Error(`cpu-loop.sh: cannot read times from: ${out}`);
  const [, um, us, sm, ss] = m.map(Number);
  return ((um * 60 + us + sm * 60 + ss) * 1000) / reps;
}

/** Repetitions so that one batch takes about SPAWN_BATCH_MS of CPU. */
function calibrate(args) {
  const per = spawnLoop(3, args);
  return Math.min(2000, Math.max(3, Math.ceil(SPAWN_BATCH_MS / Math.max(per, 0.05))));
}

/** CPU ms per call of fn, over one batch of about BATCH_MS (wall, checked at every call). */
let keep = 0;
function inProcessBatch(fn, ms = BATCH_MS) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  do {
    keep += fn();
    n++;
  } while (performance.now() - t0 < ms);
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / 1000 / n;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
/** Median and ± half the range of the batches, relative to the median. */
function summary(xs) {
  const m = median(xs);
  return {
    value: m,
    spread: (Math.max(...xs) - Math.min(...xs)) / 2,
    rel: (Math.max(...xs) - Math.min(...xs)) / 2 / m,
  };
}

// --- formatting ---------------------------------------------------------------------------------

const ms = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
const pm = (s) => `±${(s.rel * 100).toFixed(0)}%`;
const timeCell = (s) => `${ms(s.value)} ms ${pm(s)}`;
const rate = (v) =>
  v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e3 ? `${(v / 1e3).toFixed(0)}k` : v.toFixed(0);
const mbs = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const int = (n) => n.toLocaleString('en-US');

function table(headers, rows, align) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const fmt = (cells) =>
    cells
      .map((c, i) => (align[i] === 'l' ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [fmt(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}

// --- captures and checks ------------------------------------------------------------------------

function capture(name, text, flows, flowLimit) {
  const path = join(work, `${name}.txt`);
  writeFileSync(path, text);
  return { name, path, text, flows, flowLimit, bytes: Buffer.byteLength(text) };
}
const fixture = readFileSync(FIXTURE, 'utf8');
const captures = {
  40: capture('many-flows', fixture, 40, 100),
  // A synthetic capture of N flows is what `iftop -L N` (or more) prints.
  ...Object.fromEntries(
    [10, 100, 1000, 10000].map((n) => [n, capture(`synthetic-${n}`, syntheticCapture(n), n, n)]),
  ),
};
const empty = capture('empty', '', 0, 0);

const lineCount = (s) => (s === '' ? 0 : s.trimEnd().split('\n').length);
for (const c of Object.values(captures)) {
  const parsed = parseIftop(c.text);
  const snap = parsed.snapshots.at(-1);
  if (parsed.issues.length !== 0 || !snap || snap.flows.length !== c.flows || !snap.totals)
    throw new Error(
      `${c.name}: nstats parse gave ${snap?.flows.length} flows, ${parsed.issues.length} issues`,
    );
  const out = nstatsCycle(c.text, c.flowLimit);
  const awkAll = lineCount(run(AWK, ['-f', join(SEED, 'parse-all.awk'), c.path]));
  const awkSeed = lineCount(run(AWK, ['-f', join(SEED, 'parse.awk'), c.path]));
  if (awkAll !== c.flows || awkSeed !== Math.min(15, c.flows))
    throw new Error(`${c.name}: parse-all.awk gave ${awkAll} flows, parse.awk ${awkSeed}`);
  if (lineCount(out.body) !== out.points || out.points < c.flows)
    throw new Error(`${c.name}: nstats wrote ${lineCount(out.body)} lines for ${out.points} points`);
}
const SEED_LINE = /^nstat,hosts=[^,]+,sender=[\d.]+,receiver=[\d.]+ sendRate=[\d.]+,receiveRate=[\d.]+$/;
for (const n of [40, 1000]) {
  const c = captures[n];
  for (const [script, expected] of [
    ['parse.awk', 15],
    ['parse-all.awk', n],
  ]) {
    const args = [AWK, join(SEED, script), c.path, PYTHON, join(SEED, 'format.py')];
    const out = run('bash', ['-c', '"$1" -f "$2" "$3" | "$4" "$5"', 'seed', ...args], { env: SEED_ENV });
    const lines = out.trimEnd().split('\n');
    if (lines.length !== expected || !lines.every((l) => SEED_LINE.test(l)))
      throw new Error(`${c.name}: ${script} | format.py wrote ${lines.length} lines:\n${out.slice(0, 500)}`);
  }
}
if (lineCount(run(AWK, ['-f', join(SEED, 'parse-all.awk'), empty.path])) !== 0)
  throw new Error('parse-all.awk printed something for an empty input');

// --- machine facts ------------------------------------------------------------------------------

const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? '?';
const processors = (cpuinfo.match(/^processor\s*:/gm) ?? []).length;
const awkVersion = ((v) =>
  v === '?' || /usage|illegal|invalid/i.test(v) ? firstLine(AWK, ['--version']) : v)(
  firstLine(AWK, ['-W', 'version']),
);
console.log(
  `nstats vs the seed pipeline, ${new Date().toISOString()}${QUICK ? '  [--quick: short batches]' : ''}`,
);
console.log(
  `machine: ${model}, ${processors} processors (${availableParallelism()} available), Linux ${release()}, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
console.log(
  `node ${process.version} (${process.execPath}; nstats measured with the bundle's shebang: ${Object.entries(
    SHIPPED_ENV,
  )
    .map(([k, v]) => `${k}=${v} `)
    .join(
      '',
    )}${['node', ...process.execArgv].join(' ')}) | ${awkVersion} (${AWK}) | ${firstLine(PYTHON, ['--version'])} (${PYTHON}) | ${firstLine('bash', ['--version']).replace(/^GNU bash, version (\S+).*/, 'bash $1')}`,
);
console.log(
  `checks passed: every capture (${Object.values(captures)
    .map((c) => c.name)
    .join(', ')}) parses with 0 issues to its N flows; nstats writes N points`,
);
console.log(
  `  (+1 "(other flows)" where N = -L), parse-all.awk prints N lines, parse.awk min(N, 15); awk | format.py gives as many nstat lines, peers as IPs`,
);

// --- measurements -------------------------------------------------------------------------------

const cycleSizes = [40, 100, 1000];
const tpSizes = [10, 100, 1000, 10000];
const seedArgs = (c, awkScript) => [
  'pipeline',
  AWK,
  join(SEED, awkScript),
  c.path,
  PYTHON,
  join(SEED, 'format.py'),
];
const awkArgs = (c) => ['awk', AWK, join(SEED, 'parse-all.awk'), c.path];
const cycle = Object.fromEntries(cycleSizes.map((n) => [n, { warm: [], seed: [], seedAll: [], cold: [] }]));
const tp = Object.fromEntries(tpSizes.map((n) => [n, { nstats: [], awk: [] }]));
const emptyRuns = [];

// 1. nstats in-process (no child processes running meanwhile): warm-up, then the batches, the
// sizes interleaved so that a drift of the machine touches them all alike.
const cycleFn = (c) => () => nstatsCycle(c.text, c.flowLimit).body.length;
const parseFn = (c) => () => parseIftop(c.text).snapshots.length;
for (const n of cycleSizes) inProcessBatch(cycleFn(captures[n]));
for (const n of tpSizes) inProcessBatch(parseFn(captures[n]));
for (let b = 0; b < BATCHES; b++) {
  for (const n of cycleSizes) cycle[n].warm.push(inProcessBatch(cycleFn(captures[n])));
  for (const n of tpSizes) tp[n].nstats.push(inProcessBatch(parseFn(captures[n])));
}

// 2. The first cycle of a fresh nstats process.
for (const n of cycleSizes) {
  const c = captures[n];
  for (let i = 0; i < COLD_RUNS; i++) {
    const us = Number(
      run(process.execPath, [
        ...SHIPPED_FLAGS,
        join(HERE, 'cold-cycle.mjs'),
        c.path,
        String(c.flowLimit),
      ]).trim(),
    );
    cycle[n].cold.push(us / 1000);
  }
}

// 3. The seed and awk, spawned: calibration (also a warm-up: page cache, interpreters), then the
// batches, interleaved.
for (const n of cycleSizes) {
  cycle[n].reps = calibrate(seedArgs(captures[n], 'parse.awk'));
  cycle[n].repsAll = calibrate(seedArgs(captures[n], 'parse-all.awk'));
}
for (const n of tpSizes) tp[n].reps = calibrate(awkArgs(captures[n]));
const emptyReps = calibrate(awkArgs(empty));
for (let b = 0; b < BATCHES; b++) {
  for (const n of cycleSizes) {
    cycle[n].seed.push(spawnLoop(cycle[n].reps, seedArgs(captures[n], 'parse.awk')));
    cycle[n].seedAll.push(spawnLoop(cycle[n].repsAll, seedArgs(captures[n], 'parse-all.awk')));
  }
  emptyRuns.push(spawnLoop(emptyReps, awkArgs(empty)));
  for (const n of tpSizes) tp[n].awk.push(spawnLoop(tp[n].reps, awkArgs(captures[n])));
}

const ratio = (seed, nstats) => `${(seed / nstats).toFixed(seed / nstats >= 10 ? 0 : 1)}x`;
const cycleRows = cycleSizes.map((n) => {
  const c = captures[n];
  const warm = summary(cycle[n].warm);
  const cold = summary(cycle[n].cold);
  const seed = summary(cycle[n].seed);
  const seedAll = summary(cycle[n].seedAll);
  const r = seed.value / warm.value;
  return [
    `${c.name}.txt`,
    int(n),
    int(c.bytes),
    timeCell(warm),
    timeCell(cold),
    timeCell(seed),
    ratio(seed.value, warm.value),
    r >= TARGET_RATIO ? 'met' : 'MISSED',
    ratio(seed.value, cold.value),
    timeCell(seedAll),
    ratio(seedAll.value, warm.value),
  ];
});

const start = summary(emptyRuns);
const verdict = (a, b) => (a >= b ? 'met' : 'MISSED');
const tpRows = tpSizes.map((n) => {
  const c = captures[n];
  const mb = c.bytes / 1e6;
  const nst = summary(tp[n].nstats);
  const awk = summary(tp[n].awk);
  const work = awk.value - start.value;
  // Below the noise of the two measurements the difference says nothing.
  const noise = awk.spread + start.spread;
  const measurable = work > noise && work > 0;
  const nstatsRate = n / (nst.value / 1000);
  const awkRate = n / (awk.value / 1000);
  const awkWorkRate = measurable ? n / (work / 1000) : undefined;
  return [
    int(n),
    int(c.bytes),
    timeCell(nst),
    rate(nstatsRate),
    mbs(mb / (nst.value / 1000)),
    timeCell(awk),
    rate(awkRate),
    mbs(mb / (awk.value / 1000)),
    measurable ? `${ms(work)} ms` : `< ${ms(Math.max(noise, 0))} ms`,
    awkWorkRate ? rate(awkWorkRate) : 'in noise',
    awkWorkRate ? mbs(mb / (work / 1000)) : '-',
    `${verdict(nstatsRate, awkRate)} / ${awkWorkRate ? verdict(nstatsRate, awkWorkRate) : 'n/a'}`,
  ];
});

// --- the table ----------------------------------------------------------------------------------

console.log();
console.log(
  `CPU time per cycle (user+sys, median of ${BATCHES} batches, ± half their range). nstats: parse + points + line protocol, in-process;`,
);
console.log(
  `seed: bash runs awk -f parse.awk CAPTURE | python3 format.py per cycle (children's CPU, reverse DNS off). Target: nstats warm <= seed / ${TARGET_RATIO}.`,
);
console.log(
  table(
    [
      'capture',
      'flows',
      'bytes',
      'nstats warm',
      'nstats 1st cycle',
      'seed (keeps 15)',
      'seed/warm',
      'target',
      'seed/1st',
      'seed, every flow',
      'all/warm',
    ],
    cycleRows,
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'r', 'r', 'r'],
  ),
);
console.log();
console.log(
  `Parse throughput (CPU time per parse of one capture, median of ${BATCHES} batches). nstats: parseIftop in-process; awk: parse-all.awk spawned,`,
);
console.log(
  `its start-up measured on an empty input: ${ms(start.value)} ms ${pm(start)} per run. MB = 10^6 bytes. Target: nstats flows/s >= awk's (incl. / excl. start-up).`,
);
console.log(
  table(
    [
      'flows',
      'bytes',
      'nstats',
      'flows/s',
      'MB/s',
      'awk incl. start',
      'flows/s',
      'MB/s',
      'awk excl. start',
      'flows/s',
      'MB/s',
      'target incl/excl',
    ],
    tpRows,
    ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
  ),
);
// --- RSS of `nstats run`: bench/rss.mjs (about a minute; no network, a stand-in iftop) ---
console.log();
if (process.argv.includes('--no-rss')) {
  console.log('RSS: skipped (--no-rss)');
} else {
  await runRss();
}

// --- byte accuracy: bench/accuracy.mjs (a few minutes; needs root and iftop, else it says why) ---
console.log();
if (process.argv.includes('--no-accuracy')) {
  console.log('byte accuracy: skipped (--no-accuracy)');
} else {
  const accuracy = spawnSync(process.execPath, [join(HERE, 'accuracy.mjs'), ...(QUICK ? ['--quick'] : [])], {
    stdio: 'inherit',
  });
  if (accuracy.status !== 0) {
    console.log(`byte accuracy: failed (exit ${accuracy.status ?? accuracy.signal})`);
    process.exitCode = 1;
  }
}

console.log();
console.log(
  `run took ${((performance.now() - started) / 1000).toFixed(0)} s; load average at the end ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
if (keep <= 0) throw new Error('the measured calls returned nothing');
