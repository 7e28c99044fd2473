// RSS of `nstats run` (issue 4: idle, and during a 10,000-flow cycle), read from /proc/PID/status.
//
//   node bench/rss.mjs            (after `npm run -s build`; run.mjs calls it)
//
// Each case starts a real `nstats run` (sampled mode, DNS off, no InfluxDB: points go to stdout,
// which is drained to nowhere) with a stand-in iftop, a shell script that prints a capture file.
// No traffic and no network use. Cases:
//   - idle, started: no cycle has run yet (the schedule's next tick is months away); read at 3 s.
//   - idle, after cycles: a cycle every second of the real 40-flow capture; read 1 s after the 5th.
//   - 10,000 flows: the synthetic 10,000-flow capture with NSTATS_FLOW_LIMIT=10000, a cycle every
//     2 s; peak (VmHWM) over 3 cycles, and the RSS 1 s after the 3rd.
// Builds compared: the shipped bundle (dist/nstats.mjs, run through its shebang:
// MALLOC_MMAP_THRESHOLD_=32768 node), the same with --max-semi-space-size=1 (as shipped before
// 2026-12-02: less memory, much more CPU per large cycle), the bundle without the malloc setting,
// and the unbundled tsc output (dist/cli/main.js, plain node). `node` alone (an idle timer) is the
// floor.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { syntheticCapture } from './gen-capture.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const NODE = process.execPath;
const TARGET_MB = 60;

/** VmRSS, RssAnon, RssFile, VmHWM of a process, in kB. */
function status(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile'), hwm: kb('VmHWM') };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `argv` with the nstats settings `env`; resolves `take(child)` once `cycles` cycles are
 * done (or at once when cycles = 0), after `settleMs`; then stops the process (SIGTERM) and waits.
 */
async function measure(argv, env, cycles, settleMs) {
  const child = spawn(argv[0], argv.slice(1), {
    env: {
      PATH: `${join(ROOT, 'node_modules/.bin')}:/usr/sbin:/usr/bin:/sbin:/bin`,
      NSTATS_ENV_FILE: '/dev/null',
      NSTATS_INTERFACE: 'lo',
      NSTATS_DNS: 'false',
      NSTATS_HOSTNAME: 'bench-0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.resume(); // drained: the points are not kept
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let done = 0;
  let errors = '';
  let onCycle = () => undefined;
  createInterface({ input: child.stderr }).on('line', (line) => {
    try {
      const e = JSON.parse(line);
      if (String(e.msg).startsWith('cycle: done')) {
        done++;
        onCycle();
      } else if (e.level >= 50) errors += `${line}\n`;
    } catch {
      errors += `${line}\n`;
    }
  });
  try {
    if (cycles > 0) {
      await Promise.race([
        new Promise((resolve) => {
          onCycle = () => {
            if (done >= cycles) resolve();
          };
        }),
        exited.then((x) => {
          throw new Error(`nstats exited early (${JSON.stringify(x)}): ${errors}`);
        }),
        sleep(60_000).then(() => {
          throw new Error(`only ${done} of ${cycles} cycles in 60 s: ${errors}`);
        }),
      ]);
    }
    await sleep(settleMs);
    return status(child.pid);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

const mb = (kb) => (kb / 1024).toFixed(1);

export async function runRss({ log = console.log } = {}) {
  const work = mkdtempSync(join(tmpdir(), 'nstats-rss-'));
  try {
    const standIn = (name, file) => {
      const path = join(work, name);
      writeFileSync(path, `#!/bin/sh\nexec cat '${file}'\n`);
      chmodSync(path, 0o755);
      return path;
    };
    const fixture = join(ROOT, 'test/fixtures/iftop/many-flows.txt');
    const big = join(work, 'synthetic-10000.txt');
    writeFileSync(big, syntheticCapture(10_000));
    const iftop40 = standIn('iftop-40', fixture);
    const iftop10k = standIn('iftop-10000', big);

    const builds = [
      { name: 'bundle, as shipped (shebang)', argv: [join(ROOT, 'dist/nstats.mjs'), 'run'] },
      {
        name: 'bundle, with --max-semi-space-size=1',
        argv: [NODE, '--max-semi-space-size=1', join(ROOT, 'dist/nstats.mjs'), 'run'],
        env: { MALLOC_MMAP_THRESHOLD_: '32768' },
      },
      { name: 'bundle, no malloc setting', argv: [NODE, join(ROOT, 'dist/nstats.mjs'), 'run'] },
      { name: 'unbundled tsc output', argv: [NODE, join(ROOT, 'dist/cli/main.js'), 'run'] },
    ];
    const far = { NSTATS_SCHEDULE: '0 0 1 1 *' }; // next Jan 1st: no cycle during the run
    const every1s = { NSTATS_SCHEDULE: '* * * * * *' };
    const rows = [];
    const floor = await measure([NODE, '-e', 'setInterval(() => {}, 1e6)'], {}, 0, 3000);
    rows.push(['node alone (idle timer)', floor, undefined, undefined]);
    for (const b of builds) {
      const started = await measure(b.argv, { ...b.env, ...far }, 0, 3000);
      const after = await measure(b.argv, { ...b.env, ...every1s, NSTATS_IFTOP_PATH: iftop40 }, 5, 1000);
      const big10k = await measure(
        b.argv,
        { ...b.env, ...every1s, NSTATS_IFTOP_PATH: iftop10k, NSTATS_FLOW_LIMIT: '10000' },
        3,
        1000,
      );
      rows.push([b.name, started, after, big10k]);
    }

    const header = [
      'build',
      'idle, started',
      'anon + file',
      'idle, after 5 cycles (40 flows)',
      '10,000-flow cycles: peak',
      'after',
      `target idle <= ${TARGET_MB} MB`,
    ];
    const table = rows.map(([name, s, a, k]) => [
      name,
      `${mb(s.rss)} MB`,
      `${mb(s.anon)} + ${mb(s.file)}`,
      a ? `${mb(a.rss)} MB` : '-',
      k ? `${mb(k.hwm)} MB` : '-',
      k ? `${mb(k.rss)} MB` : '-',
      a ? (Math.max(s.rss, a.rss) <= TARGET_MB * 1024 ? 'met' : 'MISSED') : '',
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
    const fmt = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
    log(
      `RSS of \`nstats run\` (VmRSS from /proc; anon = heap and other private memory, file = pages of the node binary and\n` +
        `libraries it touched). Sampled mode, stand-in iftop printing a capture, DNS off, points to stdout (drained).`,
    );
    log(fmt(header));
    log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of table) log(fmt(r));
    return rows;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await runRss();
}
