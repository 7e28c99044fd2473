// Small network namespaces for bench/accuracy.mjs: a veth pair whose root-namespace end is the
// "pod" interface (iftop, nstats and the seed capture there) and whose other end lives in a fresh
// namespace, the "peer host". The ideas of test/helpers/netns.ts (which is TypeScript, so not
// importable here), in plain ESM:
//
//   root namespace                      namespace nsb-xxxxxx (peer host)
//   nsbhxxxxxx  198.18.N.1/24  <- veth ->  nsbpxxxxxx  198.18.N.2/24 (+ 198.18.N.10, .11, ...)
//
// - N (1..254) is reserved with a lock file in the helper's registry (/run/nstats-testnet/N.json,
//   created exclusively, same fields), so the bench never shares a subnet with a test run or another
//   bench on this machine, and the tests' sweeper removes a bench's nets once its process is gone.
// - The link is quiet, so the interface counters hold only the generated traffic: IPv6 disabled on
//   both ends (no link-local address, router solicitation, DAD or MLD), permanent neighbour entries
//   (no ARP).
// - Network rule: traffic goes only to the addresses made here (checked by assertDestination, with
//   `ip route get`) or to loopback.
// - Everything is removed by destroy(), at process exit and on SIGINT/SIGTERM/SIGHUP.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

export const REGISTRY_DIR = '/run/nstats-testnet';
/** `setpriv --pdeathsig SIGKILL`: a child started with it dies with this process, even on SIGKILL. */
export const PDEATHSIG = ['setpriv', '--pdeathsig', 'SIGKILL'];

const nets = new Set();
const children = new Set();
const extraCleanups = new Set();
let handlersInstalled = false;

function sh(cmd, args, { check = true } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  if (check && (r.error || r.status !== 0))
    throw new Error(`\`${cmd} ${args.join(' ')}\` failed: ${r.error?.message ?? r.stderr.trim()}`);
  return r.stdout ?? '';
}

function procStart(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function ownerAlive(entry) {
  try {
    process.kill(entry.pid, 0);
  } catch (e) {
    if (e.code !== 'EPERM') return false;
  }
  return entry.start === undefined || procStart(entry.pid) === entry.start;
}

/** Subnets N with an address or a route in 198.18.N.0/24 in the root namespace. */
function subnetsInUse() {
  const text = sh('ip', ['-o', 'addr', 'show']) + sh('ip', ['-4', 'route', 'show', 'table', 'all']);
  return new Set([...text.matchAll(/\b198\.18\.(\d{1,3})\./g)].map((m) => Number(m[1])));
}

function tryReserve(subnet, entry) {
  const path = join(REGISTRY_DIR, `${subnet}.json`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify({ ...entry, subnet }));
      closeSync(fd);
      return true;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      let held;
      try {
        held = JSON.parse(readFileSync(path, 'utf8'));
      } catch {
        return false; // being written, or unreadable: leave it
      }
      if (ownerAlive(held)) return false;
      destroySync({ ns: held.ns, hostIf: held.hostIf, subnet });
    }
  }
  return false;
}

function destroySync(net) {
  const pids = sh('ip', ['netns', 'pids', net.ns], { check: false }).split(/\s+/).filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  sh('ip', ['link', 'del', net.hostIf], { check: false });
  sh('ip', ['netns', 'del', net.ns], { check: false });
  const path = join(REGISTRY_DIR, `${net.subnet}.json`);
  try {
    if (JSON.parse(readFileSync(path, 'utf8')).ns === net.ns) rmSync(path, { force: true });
  } catch {
    /* no lock file */
  }
}

/** Runs `fn` (synchronous) in cleanupAll: at exit, on a signal, or when called. */
export function onCleanup(fn) {
  installHandlers();
  extraCleanups.add(fn);
}

/**
 * Kills the tracked children, removes every net made here and runs the onCleanup functions
 * (idempotent, synchronous).
 */
export function cleanupAll() {
  for (const child of children) {
    try {
      // A child spawned `detached` leads its own process group: the whole group goes.
      if (child.group) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  children.clear();
  for (const net of nets) destroySync(net);
  nets.clear();
  for (const fn of extraCleanups) {
    try {
      fn();
    } catch {
      /* best effort */
    }
  }
  extraCleanups.clear();
}

function installHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    const handler = () => {
      cleanupAll();
      process.removeListener(sig, handler);
      process.kill(process.pid, sig); // the default action still applies
    };
    process.on(sig, handler);
  }
}

/**
 * Spawns a child that is killed at cleanup (with its process group when `options.detached`) and
 * when this process dies.
 */
export function spawnTracked(cmd, args, options = {}) {
  installHandlers();
  const child = spawn(PDEATHSIG[0], [...PDEATHSIG.slice(1), cmd, ...args], options);
  child.group = Boolean(options.detached);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/**
 * Makes a net with `extraPeers` more peer addresses (198.18.N.10, .11, ...). Needs root.
 * Returns { ns, hostIf, peerIf, subnet, hostV4, peerV4, extraPeerV4, exec(cmd, args, options),
 * destroy() }.
 */
export function createNet({ extraPeers = 0 } = {}) {
  if (process.getuid?.() !== 0) throw new Error('network namespaces need root');
  installHandlers();
  mkdirSync(REGISTRY_DIR, { recursive: true });
  const suffix = randomBytes(3).toString('hex');
  const ns = `nsb-${suffix}`;
  const hostIf = `nsbh${suffix}`;
  const peerIf = `nsbp${suffix}`;
  const used = subnetsInUse();
  const candidates = Array.from({ length: 254 }, (_, i) => i + 1).filter((n) => !used.has(n));
  for (let i = candidates.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [candidates[i], candidates[j]] = [candidates[j], candidates[i]];
  }
  const entry = {
    pid: process.pid,
    ppid: process.ppid,
    start: procStart(process.pid),
    ns,
    hostIf,
    created: new Date().toISOString(),
  };
  const subnet = candidates.find((n) => tryReserve(n, entry));
  if (subnet === undefined) throw new Error('no free subnet in 198.18.1-254.0/24');
  const live = { ns, hostIf, subnet };
  nets.add(live);

  const hostV4 = `198.18.${subnet}.1`;
  const peerV4 = `198.18.${subnet}.2`;
  const extraPeerV4 = Array.from({ length: extraPeers }, (_, i) => `198.18.${subnet}.${10 + i}`);
  const inNs = (...args) => sh('ip', ['-n', ns, ...args]);
  try {
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', peerIf, 'netns', ns]);
    // No IPv6 on the link: no link-local address, router solicitation, DAD or MLD report.
    sh('ip', ['link', 'set', hostIf, 'addrgenmode', 'none']);
    inNs('link', 'set', peerIf, 'addrgenmode', 'none');
    writeFileSync(`/proc/sys/net/ipv6/conf/${hostIf}/disable_ipv6`, '1');
    // /proc/sys/net shows the namespace of the process that opens it.
    sh('ip', ['netns', 'exec', ns, 'sh', '-c', `echo 1 > /proc/sys/net/ipv6/conf/${peerIf}/disable_ipv6`]);
    sh('ip', ['addr', 'add', `${hostV4}/24`, 'dev', hostIf]);
    for (const a of [peerV4, ...extraPeerV4]) inNs('addr', 'add', `${a}/24`, 'dev', peerIf);
    inNs('link', 'set', 'lo', 'up');
    sh('ip', ['link', 'set', hostIf, 'up']);
    inNs('link', 'set', peerIf, 'up');
    // Permanent neighbour entries: no ARP on the link.
    const mac = (args) => JSON.parse(sh('ip', ['-j', ...args]))[0].address;
    const hostMac = mac(['link', 'show', hostIf]);
    const peerMac = mac(['-n', ns, 'link', 'show', peerIf]);
    for (const a of [peerV4, ...extraPeerV4])
      sh('ip', ['neigh', 'replace', a, 'lladdr', peerMac, 'dev', hostIf, 'nud', 'permanent']);
    inNs('neigh', 'replace', hostV4, 'lladdr', hostMac, 'dev', peerIf, 'nud', 'permanent');
  } catch (e) {
    destroySync(live);
    nets.delete(live);
    throw e;
  }
  const peerAddresses = [peerV4, ...extraPeerV4];
  return {
    ns,
    hostIf,
    peerIf,
    subnet,
    hostV4,
    peerV4,
    extraPeerV4,
    peerAddresses,
    /** Spawns `cmd args` in the peer namespace (killed at cleanup and when this process dies). */
    exec(cmd, args, options = {}) {
      return spawnTracked('ip', ['netns', 'exec', ns, ...PDEATHSIG, cmd, ...args], options);
    },
    /**
     * Throws unless `addr` is one of this net's peer addresses and the root namespace routes it
     * out through this net's veth (network rule), checked with `ip route get`.
     */
    assertDestination(addr) {
      if (isIP(addr) !== 4 || !peerAddresses.includes(addr))
        throw new Error(`refusing to send to ${addr}: not an address of ${ns}`);
      const route = sh('ip', ['route', 'get', addr]);
      if (!new RegExp(`\\bdev ${hostIf}\\b`).test(route) || !route.includes(`src ${hostV4}`))
        throw new Error(`refusing to send to ${addr}: \`ip route get\` says ${route.trim()}`);
    },
    destroy() {
      destroySync(live);
      nets.delete(live);
    },
  };
}

/** The interface's kernel counters (root namespace). */
export function ifCounters(ifname) {
  const read = (c) => Number(readFileSync(`/sys/class/net/${ifname}/statistics/${c}`, 'utf8'));
  return {
    txBytes: read('tx_bytes'),
    txPackets: read('tx_packets'),
    rxBytes: read('rx_bytes'),
    rxPackets: read('rx_packets'),
  };
}
