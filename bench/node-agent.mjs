// The node agent's cost against sidecars (docs/node-agent-cost.md): `nstats node` watching 1, 10
// and 50 pod network namespaces, each a namespace made here with a veth pair and a process in a
// real cgroup of a pod's shape (cgroup v1 `pids`), each receiving 1 Mbit/s of real UDP from one
// sender in the root namespace; then one sidecar (`nstats run` on one pod's interface) under the
// same traffic, whose cost times 50 is "50 sidecars".
//
//   node bench/node-agent.mjs [--pods 1,10,50] [--warm 20] [--seconds 30]
//
// RSS is VmRSS of the Node.js process and the sum over its iftop descendants, sampled every second
// over the window (mean and max); CPU is utime + stime over the window, in % of one core. Needs
// root, iftop, nsenter, and `npm run build` first. Writes bench/results/node-agent.json.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { release, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { cleanupAll, createNet, onCleanup, spawnTracked } from './lib-netns.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const SIZES = opt('pods', '1,10,50').split(',').map(Number);
const WARM_S = Number(opt('warm', '20'));
const WINDOW_S = Number(opt('seconds', '30'));
const NSTATS = fileURLToPath(new URL('../dist/nstats.mjs', import.meta.url));
const RESULTS = fileURLToPath(new URL('./results/node-agent.json', import.meta.url));
const CG_ROOT = '/sys/fs/cgroup/pids';
const TICK = 100; // clock ticks per second (getconf CLK_TCK on Linux)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --- pods ------------------------------------------------------------------------------------
const top = `${CG_ROOT}/nstats-bench-${randomBytes(4).toString('hex')}`;
const cgroupDirs = [];
onCleanup(() => {
  for (const d of [...cgroupDirs].reverse()) {
    try {
      for (const pid of readFileSync(`${d}/cgroup.procs`, 'utf8').split('\n').filter(Boolean))
        writeFileSync(`${CG_ROOT}/cgroup.procs`, pid);
    } catch {
      /* gone */
    }
    try {
      rmdirSync(d);
    } catch {
      /* gone */
    }
  }
});

const pods = [];
async function addPod() {
  const net = createNet();
  const uid = randomUUID();
  const id = randomBytes(32).toString('hex');
  const parts = ['kubepods', 'burstable', `pod${uid}`, id];
  let dir = top;
  if (!existsSync(top)) {
    mkdirSync(top);
    cgroupDirs.push(top);
  }
  for (const p of parts) {
    dir = `${dir}/${p}`;
    if (!existsSync(dir)) {
      mkdirSync(dir);
      cgroupDirs.push(dir);
    }
  }
  const holder = net.exec('sleep', ['3600'], { stdio: 'ignore' });
  const own = readlinkNs('self');
  for (let i = 0; i < 50 && (readlinkNs(holder.pid) === own || readlinkNs(holder.pid) === ''); i++)
    await sleep(20);
  writeFileSync(`${dir}/cgroup.procs`, String(holder.pid));
  pods.push({ net, uid, holder });
}
function readlinkNs(pid) {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return '';
  }
}

// --- traffic: one sender, 1 Mbit/s of 1000-byte UDP to every pod -------------------------------
const SENDER = `
const d = require('dgram').createSocket('udp4');
const targets = process.argv.slice(1);
const buf = Buffer.alloc(1000);
// 125 datagrams/s each (1028 IP bytes): about 1 Mbit/s per pod.
setInterval(() => { for (const t of targets) d.send(buf, 9999, t); }, 8);
`;
let sender;
function startTraffic(n) {
  sender?.kill('SIGKILL');
  sender = spawnTracked(process.execPath, ['-e', SENDER, ...pods.slice(0, n).map((p) => p.net.peerV4)], {
    stdio: 'ignore',
  });
}

// --- measuring -------------------------------------------------------------------------------
function stat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return {
      ppid: Number(f[1]),
      cpu: Number(f[11]) + Number(f[12]),
      comm: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')),
    };
  } catch {
    return undefined;
  }
}
function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
/** Proportional set size: shared pages (libpcap, libc, ...) divided among the processes sharing them. */
function pssKb(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
function descendants(root) {
  const byParent = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(name);
    if (!s) continue;
    const list = byParent.get(s.ppid) ?? [];
    list.push({ pid: Number(name), ...s });
    byParent.set(s.ppid, list);
  }
  const out = [];
  const walk = (pid) => {
    for (const c of byParent.get(pid) ?? []) {
      out.push(c);
      walk(c.pid);
    }
  };
  walk(root);
  return out;
}

async function measure(pid, expectIftops) {
  for (let i = 0; i < 600; i++) {
    if (descendants(pid).filter((d) => d.comm === 'iftop').length >= expectIftops) break;
    await sleep(100);
  }
  const iftopsAtStart = descendants(pid).filter((d) => d.comm === 'iftop').length;
  await sleep(WARM_S * 1000);
  const cpu0 = { node: stat(pid).cpu, iftop: sumCpu(pid) };
  const t0 = Date.now();
  const node = [];
  const iftop = [];
  const iftopPss = [];
  for (let i = 0; i < WINDOW_S; i++) {
    await sleep(1000);
    node.push(rssKb(pid));
    const list = descendants(pid).filter((d) => d.comm === 'iftop');
    iftop.push(list.reduce((n, d) => n + rssKb(d.pid), 0));
    iftopPss.push(list.reduce((n, d) => n + pssKb(d.pid), 0));
  }
  const seconds = (Date.now() - t0) / 1000;
  const cpu1 = { node: stat(pid).cpu, iftop: sumCpu(pid) };
  const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
  const mb = (kb) => Math.round((kb / 1024) * 10) / 10;
  const iftops = descendants(pid).filter((d) => d.comm === 'iftop').length;
  return {
    iftops,
    iftopsAtStart,
    nodeRssMb: { mean: mb(mean(node)), max: mb(Math.max(...node)) },
    iftopRssMb: {
      mean: mb(mean(iftop)),
      max: mb(Math.max(...iftop)),
      perIftop: mb(mean(iftop) / Math.max(1, iftops)),
    },
    iftopPssMb: { mean: mb(mean(iftopPss)), perIftop: mb(mean(iftopPss) / Math.max(1, iftops)) },
    totalRssMb: {
      mean: mb(mean(node) + mean(iftop)),
      max: mb(Math.max(...node.map((v, i) => v + iftop[i]))),
    },
    nodeCpuPct: Math.round(((cpu1.node - cpu0.node) / TICK / seconds) * 1000) / 10,
    iftopCpuPct: Math.round(((cpu1.iftop - cpu0.iftop) / TICK / seconds) * 1000) / 10,
  };
}
function sumCpu(pid) {
  // Exited iftops' time is not counted: the captures run for the whole window.
  return descendants(pid)
    .filter((d) => d.comm === 'iftop')
    .reduce((n, d) => n + d.cpu, 0);
}

function start(cmd, env) {
  const child = spawnTracked(process.execPath, [NSTATS, cmd], {
    stdio: ['ignore', 'ignore', 'ignore'],
    env: {
      PATH: process.env.PATH,
      MALLOC_MMAP_THRESHOLD_: '32768',
      NSTATS_ENV_FILE: '/dev/null',
      NSTATS_MODE: 'continuous',
      NSTATS_SCHEDULE: '*/10 * * * * *',
      NSTATS_DNS: 'false',
      ...env,
    },
  });
  return child;
}
async function stopChild(child) {
  child.kill('SIGTERM');
  await new Promise((r) => {
    if (child.exitCode !== null) r();
    child.once('exit', r);
    setTimeout(r, 25_000);
  });
}

// --- run ---------------------------------------------------------------------------------------
const results = { agent: {}, sidecar: undefined };
try {
  for (const n of SIZES) {
    while (pods.length < n) await addPod();
    startTraffic(n);
    // setpriv --pdeathsig execs node: the tracked child's PID is the Node.js process.
    const agent = start('node', { NSTATS_NODE_SCAN_SECONDS: '2', NODE_NAME: 'bench-node' });
    const r = await measure(agent.pid, n + 1);
    await stopChild(agent);
    results.agent[n] = r;
    console.log(`agent, ${n} pods:`, JSON.stringify(r));
  }
  startTraffic(1);
  const side = start('run', { NSTATS_INTERFACE: pods[0].net.hostIf });
  results.sidecar = await measure(side.pid, 1);
  await stopChild(side);
  console.log('one sidecar:', JSON.stringify(results.sidecar));
} finally {
  sender?.kill('SIGKILL');
  for (const p of pods) p.holder.kill('SIGKILL');
  await sleep(300);
  cleanupAll();
}

const s = results.sidecar;
const biggest = Math.max(...SIZES);
const a = results.agent[biggest];
const fifty = {
  rssMb: Math.round(s.totalRssMb.mean * biggest * 10) / 10,
  cpuPct: Math.round((s.nodeCpuPct + s.iftopCpuPct) * biggest * 10) / 10,
};
const summary = {
  pods: biggest,
  agentRssMb: a.totalRssMb.mean,
  sidecarsRssMb: fifty.rssMb,
  memoryRatio: Math.round((a.totalRssMb.mean / fifty.rssMb) * 1000) / 10,
  agentCpuPct: Math.round((a.nodeCpuPct + a.iftopCpuPct) * 10) / 10,
  sidecarsCpuPct: fifty.cpuPct,
};
console.log(
  '\n| pods | Node.js RSS (MB) | iftops RSS (MB) | per iftop RSS / PSS (MB) | total RSS (MB) | Node.js CPU % | iftops CPU % |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const n of SIZES) {
  const r = results.agent[n];
  console.log(
    `| ${n} (+ node) | ${r.nodeRssMb.mean} | ${r.iftopRssMb.mean} | ${r.iftopRssMb.perIftop} / ${r.iftopPssMb.perIftop} | ${r.totalRssMb.mean} | ${r.nodeCpuPct} | ${r.iftopCpuPct} |`,
  );
}
console.log(
  `| 1 sidecar | ${s.nodeRssMb.mean} | ${s.iftopRssMb.mean} | ${s.iftopRssMb.perIftop} / ${s.iftopPssMb.perIftop} | ${s.totalRssMb.mean} | ${s.nodeCpuPct} | ${s.iftopCpuPct} |`,
);
console.log(
  `\n${biggest} pods: agent ${summary.agentRssMb} MB against ${biggest} sidecars ${summary.sidecarsRssMb} MB: ${summary.memoryRatio} % (target < 25 %)`,
);
mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
writeFileSync(
  RESULTS,
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: { kernel: release(), cores: cpus().length, node: process.version },
      method: {
        warmSeconds: WARM_S,
        windowSeconds: WINDOW_S,
        trafficPerPod: '1 Mbit/s UDP, 1000-byte payloads',
        mode: 'continuous',
      },
      results,
      summary,
    },
    null,
    2,
  )}\n`,
);
