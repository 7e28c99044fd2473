// nstats against the seed's awk + python pipeline, side by side, on the same iftop text.
// Run: npm run bench (builds first). Prints the machine, then one table. See bench/README.md.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseIftop } from '../dist/parse/iftop-parser.js';
import { buildPoints } from '../dist/sink/points.js';
import { toLines } from '../dist/sink/stdout-sink.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const seed = join(here, 'seed');
const work = mkdtempSync(join(tmpdir(), 'nstats-bench-'));
const sh = (script) => execFileSync('bash', ['-c', script], { encoding: 'utf8', maxBuffer: 1 << 26 });

/** A capture of `n` flows in iftop's exact text layout (`-nNb -t`), like test/fixtures/iftop. */
function capture(n) {
  const rule = '-'.repeat(92);
  const col = (s) => s.padStart(11);
  const lines = [
    'Listening on eth0',
    '   # Host name (port/service if enabled)            last 2s   last 10s   last 40s cumulative',
    rule,
  ];
  for (let i = 1; i <= n; i++) {
    const peer = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const kb = 100 + (i % 900);
    lines.push(
      `${String(i).padStart(4)} ${'10.255.0.1'.padEnd(41)}=>${col(`${kb}Kb`)}${col(`${kb}Kb`)}${col(`${kb - 10}Kb`)}${col(`${(kb / 80).toFixed(2)}MB`)}`,
      `     ${peer.padEnd(41)}<=${col(`${kb >> 2}Kb`)}${col(`${kb >> 2}Kb`)}${col(`${(kb >> 2) - 5}Kb`)}${col(`${kb >> 3}KB`)}`,
    );
  }
  lines.push(
    rule,
    `Total send rate:${col('6.26Mb').padStart(46)}${col('6.26Mb')}${col('5.73Mb')}`,
    `Total receive rate:${col('2.19Mb').padStart(43)}${col('2.19Mb')}${col('2.00Mb')}`,
    `Total send and receive rate:${col('8.45Mb').padStart(34)}${col('8.45Mb')}${col('7.73Mb')}`,
    rule,
    `Peak rate (sent/received/total):${col('6.26Mb').padStart(30)}${col('2.19Mb')}${col('8.45Mb')}`,
    `Cumulative (sent/received/total):${col('8.59MB').padStart(29)}${col('3.01MB')}${col('11.6MB')}`,
    '='.repeat(92),
    '',
  );
  return lines.join('\n');
}

const ctx = { identity: { host: 'web-0' }, interface: 'eth0', time: new Date(1_700_000_000_000) };

/** nstats' work for one cycle without capture and DNS: parse, points, line protocol. */
function nstatsCycle(text) {
  const snap = parseIftop(text).snapshots.at(-1);
  const named = snap.flows.map((flow) => ({
    flow,
    sourceName: flow.source.address,
    destinationName: flow.destination.address,
  }));
  return toLines(buildPoints(named, ctx), 'ms');
}

/** CPU ms per call of fn, over at least `ms` of CPU. */
function cpuPerCall(fn, ms = 1500) {
  for (let i = 0; i < 5; i++) fn();
  const c0 = process.cpuUsage();
  let n = 0;
  let used = 0;
  while (used < ms * 1000) {
    fn();
    n++;
    const c = process.cpuUsage(c0);
    used = c.user + c.system;
  }
  return used / 1000 / n;
}

/** CPU ms (user + sys of the children) per run of a shell pipeline, from bash's `times`. */
function childCpuPerRun(pipeline, runs) {
  const out = sh(`for i in $(seq ${runs}); do ${pipeline}; done >/dev/null; times`);
  const [, children] = out.trim().split('\n');
  const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return ((secs[0] + secs[1]) * 1000) / runs;
}

const version = (cmd) => {
  try {
    return sh(`${cmd} 2>&1 | head -1`).trim();
  } catch {
    return 'missing';
  }
};
console.log('nstats benchmark');
console.log(`  date: ${new Date().toISOString()}`);
console.log(`  cpu: ${cpus()[0]?.model ?? '?'} x ${cpus().length}; node ${process.version}`);
console.log(`  awk: ${version('awk -W version')}; python: ${version('python3 --version')}`);
console.log('');

const rows = [];
const files = {};
for (const n of [10, 40, 100, 1000, 10000]) {
  const text =
    n === 40 ? readFileSync(join(here, '../test/fixtures/iftop/many-flows.txt'), 'utf8') : capture(n);
  const parsed = parseIftop(text);
  const flows = parsed.snapshots.at(-1)?.flows.length ?? 0;
  if (flows !== n || parsed.issues.length > 0)
    throw new Error(`capture of ${n} flows parsed as ${flows}, ${parsed.issues.length} issues`);
  files[n] = join(work, `cap-${n}.txt`);
  writeFileSync(files[n], text);
}

// 1. CPU per cycle: nstats in-process vs the seed's awk | python3 (spawned, as cron ran them).
console.log('CPU per cycle (parse, name without DNS, build and serialize points)');
console.log('  flows | nstats ms | seed awk+python ms | seed / nstats | target >= 10');
for (const n of [40, 100, 1000]) {
  const text = readFileSync(files[n], 'utf8');
  const ours = cpuPerCall(() => nstatsCycle(text));
  const runs = n >= 1000 ? 10 : 30;
  const seedAll = childCpuPerRun(
    `awk -f ${seed}/parse.awk < ${files[n]} | python3 ${seed}/no-dns.py ${seed}/format.py`,
    runs,
  );
  const ratio = seedAll / ours;
  rows.push({ what: `cpu/cycle ${n} flows`, ratio });
  console.log(
    `  ${String(n).padStart(5)} | ${ours.toFixed(3).padStart(9)} | ${seedAll.toFixed(1).padStart(18)} | ${ratio.toFixed(0).padStart(13)} | ${ratio >= 10 ? 'met' : 'MISSED'}`,
  );
}
console.log('  (the seed keeps 15 flows: for more, it does less work and writes less)');
console.log('');

// 2. Parse throughput: nstats' parser vs awk reading every flow (parse-all.awk).
console.log('Parse throughput (flows/s)');
console.log('  flows | nstats | awk incl. start | awk excl. start | nstats / awk excl. | target >= 1');
const empty = join(work, 'empty.txt');
writeFileSync(empty, '');
const awkStart = childCpuPerRun(`awk -f ${seed}/parse-all.awk < ${empty}`, 50);
for (const n of [10, 100, 1000, 10000]) {
  const text = readFileSync(files[n], 'utf8');
  const ours = cpuPerCall(() => parseIftop(text));
  const runs = n >= 10000 ? 10 : 50;
  const awk = childCpuPerRun(`awk -f ${seed}/parse-all.awk < ${files[n]}`, runs);
  const awkNet = Math.max(awk - awkStart, 0.001);
  const perSec = (ms) => Math.round((n * 1000) / ms);
  const ratio = perSec(ours) / perSec(awkNet);
  rows.push({ what: `parse ${n} flows`, ratio });
  console.log(
    `  ${String(n).padStart(5)} | ${String(perSec(ours)).padStart(6)} | ${String(perSec(awk)).padStart(15)} | ${String(perSec(awkNet)).padStart(15)} | ${ratio.toFixed(2).padStart(18)} | ${ratio >= 1 ? 'met' : 'MISSED'}`,
  );
}
console.log(`  (awk start-up alone: ${awkStart.toFixed(2)} ms CPU)`);
console.log('');
console.log(
  'Not measured here: RSS (npm run measure:run) and byte accuracy (continuous.test.ts, run.test.ts).',
);
rmSync(work, { recursive: true, force: true });
