/**
 * Test networks for integration tests: a veth pair whose root-namespace end is the "pod"
 * interface (where iftop runs) and whose other end lives in a fresh network namespace, the
 * "peer host".
 *
 *   root namespace                          namespace `ns` (peer host)
 *   hostIf  198.18.N.1/24                   peerIf  198.18.N.2/24   (+ 198.18.N.10, .11, ...)
 *           fd00:18:N::1/64  <--- veth --->         fd00:18:N::2/64 (+ fd00:18:N::10, ::11, ...)
 *
 * N is 1..254, chosen at random and reserved with a lock file so parallel test files (and other
 * runs on the same machine) never share a subnet. The IPv6 group is N's decimal digits read as
 * hex (N = 42 gives fd00:18:42::/64), so the two families are easy to match by eye.
 *
 * The link is kept quiet so byte counts are exact: no IPv6 link-local addresses (so no router
 * solicitations), no DAD, and permanent neighbour entries on both sides (so no ARP or neighbour
 * discovery once the link is up). Only the few MLD reports sent when the link comes up remain.
 *
 * Network rule: tests only ever send to 127.0.0.0/8, ::1 and the addresses made here
 * (198.18.0.0/15, fd00:18::/32).
 *
 * Everything made here is removed by `destroy()`, by the process-exit / signal handlers installed
 * on first use, and, for runs that were SIGKILLed, by `sweepStaleTestNets()` (global setup), which
 * removes nets whose owning process is gone.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { execa, type Options, type ResultPromise } from 'execa';

export interface TestNet {
  /** Network namespace of the peer host (`nst-xxxxxx`). */
  readonly ns: string;
  /** The subnet number N (198.18.N.0/24, fd00:18:N::/64). */
  readonly subnet: number;
  /** Root-namespace end of the veth (the pod's interface; run iftop here). */
  readonly hostIf: string;
  /** Peer-namespace end of the veth. */
  readonly peerIf: string;
  /** 198.18.N.1 */
  readonly hostV4: string;
  /** 198.18.N.2 */
  readonly peerV4: string;
  /** fd00:18:N::1 */
  readonly hostV6: string;
  /** fd00:18:N::2 */
  readonly peerV6: string;
  /** Extra peer addresses in the namespace: 198.18.N.10, 198.18.N.11, ... */
  readonly extraPeerV4: readonly string[];
  /** Extra peer addresses in the namespace: fd00:18:N::10, fd00:18:N::11, ... */
  readonly extraPeerV6: readonly string[];
  /** Every address of the peer host (peerV4, peerV6, extras). */
  readonly peerAddresses: readonly string[];
  /** Every address of the root-namespace end (hostV4, hostV6). */
  readonly hostAddresses: readonly string[];
  /**
   * Runs `cmd args` inside the peer namespace (`ip netns exec`). Returns execa's ResultPromise:
   * the child process and a promise of its result. The process is killed by `destroy()`; a
   * rejection caused by that kill is not reported as unhandled.
   */
  execInPeer<O extends Options = NoOptions>(
    cmd: string,
    args?: readonly string[],
    options?: O,
  ): ResultPromise<O>;
  /** Kills every process in the namespace, deletes the namespace and the veth. Idempotent. */
  destroy(): Promise<void>;
  /** True once destroy() ran. */
  readonly destroyed: boolean;
}

/** execa's default options (no options given). */
export type NoOptions = Record<never, never>;

export interface CreateTestNetOptions {
  /** Extra addresses on the peer host: 198.18.N.10.. and fd00:18:N::10.. (default 0, max 200). */
  extraPeers?: number;
}

/** Where nets register themselves (one file per subnet N, created exclusively: it is the lock). */
export const REGISTRY_DIR = '/run/nstats-testnet';

interface RegistryEntry {
  pid: number;
  /** Parent of `pid`: the vitest main process when tests run in forks. */
  ppid: number;
  /** Start time of `pid` (/proc/PID/stat field 22), so a reused pid is not taken for the owner. */
  start?: string;
  ns: string;
  hostIf: string;
  subnet: number;
  created: string;
}

// ---------------------------------------------------------------------------------------------
// process-wide state (shared by every copy of this module loaded in the process)

interface GlobalState {
  nets: Set<LiveNet>;
  children: Set<ChildProcess>;
  handlersInstalled: boolean;
}
const STATE_KEY = Symbol.for('nstats.test.netns.state');
function state(): GlobalState {
  const g = globalThis as unknown as Record<symbol, GlobalState | undefined>;
  let s = g[STATE_KEY];
  if (!s) {
    s = { nets: new Set(), children: new Set(), handlersInstalled: false };
    g[STATE_KEY] = s;
  }
  return s;
}

interface LiveNet {
  ns: string;
  hostIf: string;
  subnet: number;
  children: Set<ChildProcess>;
}

/**
 * Tracks a child process started in the root namespace on behalf of a test (traffic senders,
 * sinks): it is killed at process exit if still running.
 */
export function trackChild(child: ChildProcess): void {
  installExitHandlers();
  const { children } = state();
  children.add(child);
  child.once('exit', () => children.delete(child));
}

function installExitHandlers(): void {
  const s = state();
  if (s.handlersInstalled) return;
  s.handlersInstalled = true;
  process.on('exit', cleanupAllSync);
  if (isMainThread) {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      const handler = (): void => {
        cleanupAllSync();
        process.removeListener(sig, handler);
        // Re-raise so the default action (or other listeners) still applies.
        process.kill(process.pid, sig);
      };
      process.on(sig, handler);
    }
  }
}

function cleanupAllSync(): void {
  const s = state();
  for (const child of s.children) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  s.children.clear();
  for (const net of s.nets) destroyNetSync(net);
  s.nets.clear();
}

// ---------------------------------------------------------------------------------------------
// small process helpers

function run(
  cmd: string,
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function mustRun(cmd: string, args: readonly string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) {
    throw new Error(
      `\`${cmd} ${args.join(' ')}\` failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`,
    );
  }
  return r.stdout;
}

function runSync(cmd: string, args: readonly string[]): { code: number; stdout: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '' };
}

function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at field 3.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether the process that made `entry` still runs. */
function ownerAlive(entry: Pick<RegistryEntry, 'pid' | 'start'>): boolean {
  try {
    process.kill(entry.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return entry.start === undefined || procStart(entry.pid) === entry.start;
}

// ---------------------------------------------------------------------------------------------
// subnet reservation

function registryPath(subnet: number): string {
  return join(REGISTRY_DIR, `${subnet}.json`);
}

/** Subnets N already in use in the root namespace (addresses or routes in 198.18.N.0/24). */
async function subnetsInUse(): Promise<Set<number>> {
  const used = new Set<number>();
  const text =
    (await mustRun('ip', ['-o', 'addr', 'show'])) +
    (await mustRun('ip', ['-4', 'route', 'show', 'table', 'all']));
  for (const m of text.matchAll(/\b198\.18\.(\d{1,3})\./g)) used.add(Number(m[1]));
  const text6 =
    (await mustRun('ip', ['-o', '-6', 'addr', 'show'])) +
    (await mustRun('ip', ['-6', 'route', 'show', 'table', 'all']));
  for (const m of text6.matchAll(/\bfd00:18:([0-9a-f]{1,4}):/gi)) {
    const g = m[1] ?? '';
    if (/^\d+$/.test(g)) used.add(Number(g));
  }
  return used;
}

function tryReserve(subnet: number, entry: Omit<RegistryEntry, 'subnet'>): boolean {
  const path = registryPath(subnet);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify({ ...entry, subnet } satisfies RegistryEntry));
      closeSync(fd);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // Held by someone: take it over only if the holder is dead (and clean its leftovers).
      let held: RegistryEntry | undefined;
      try {
        held = JSON.parse(readFileSync(path, 'utf8')) as RegistryEntry;
      } catch {
        return false; // being written right now, or unreadable: leave it alone
      }
      if (ownerAlive(held)) return false;
      destroyNetSync({ ns: held.ns, hostIf: held.hostIf, subnet, children: new Set() });
    }
  }
  return false;
}

/**
 * Removes nets left behind by processes that no longer exist (e.g. a SIGKILLed test run).
 * Nets of live processes are never touched, except with `ownedBy`: then nets made by that
 * process or by its children (vitest's fork workers) go too (global setup passes its own pid
 * at exit, when its workers are gone or going).
 */
export function sweepStaleTestNets(opts: { ownedBy?: number } = {}): string[] {
  const removed: string[] = [];
  let files: string[];
  try {
    files = readdirSync(REGISTRY_DIR);
  } catch {
    return removed;
  }
  for (const f of files) {
    if (!/^\d+\.json$/.test(f)) continue;
    let held: RegistryEntry;
    try {
      held = JSON.parse(readFileSync(join(REGISTRY_DIR, f), 'utf8')) as RegistryEntry;
    } catch {
      continue;
    }
    const owned = opts.ownedBy !== undefined && (held.pid === opts.ownedBy || held.ppid === opts.ownedBy);
    if (!owned && ownerAlive(held)) continue;
    destroyNetSync({ ns: held.ns, hostIf: held.hostIf, subnet: held.subnet, children: new Set() });
    removed.push(held.ns);
  }
  return removed;
}

// ---------------------------------------------------------------------------------------------
// teardown

function killNsProcessesSync(ns: string): void {
  const pids = runSync('ip', ['netns', 'pids', ns]).stdout.split(/\s+/).filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

function destroyNetSync(net: LiveNet): void {
  for (const child of net.children) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  net.children.clear();
  killNsProcessesSync(net.ns);
  runSync('ip', ['link', 'del', net.hostIf]);
  runSync('ip', ['netns', 'del', net.ns]);
  try {
    const held = JSON.parse(readFileSync(registryPath(net.subnet), 'utf8')) as RegistryEntry;
    if (held.ns === net.ns) rmSync(registryPath(net.subnet), { force: true });
  } catch {
    /* no registry file */
  }
}

async function destroyNet(net: LiveNet): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const child of net.children) {
    if (child.exitCode === null && child.signalCode === null) {
      waits.push(new Promise((r) => child.once('exit', r)));
      child.kill('SIGKILL');
    }
  }
  await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 2000))]);
  net.children.clear();
  // Anything else still running in the namespace (e.g. started by hand with `ip netns exec`).
  const pids = (await run('ip', ['netns', 'pids', net.ns])).stdout.split(/\s+/).filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (pids.length) await new Promise((r) => setTimeout(r, 100));
  await run('ip', ['link', 'del', net.hostIf]);
  await run('ip', ['netns', 'del', net.ns]);
  destroyNetSync(net); // idempotent: removes anything the async steps missed, and the lock file
}

// ---------------------------------------------------------------------------------------------

/** Waits until the link has been quiet (no packet either way) for 200 ms, at most 3 s. */
async function settle(ifname: string): Promise<void> {
  const count = (): number => ifStat(ifname, 'tx_packets') + ifStat(ifname, 'rx_packets');
  const deadline = Date.now() + 3000;
  let last = count();
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    const now = count();
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= 200) {
      return;
    }
  }
}

async function linkMac(args: readonly string[]): Promise<string> {
  const out = await mustRun('ip', ['-j', ...args]);
  const parsed = JSON.parse(out) as Array<{ address?: string }>;
  const mac = parsed[0]?.address;
  if (!mac) throw new Error(`no MAC address in \`ip ${args.join(' ')}\``);
  return mac;
}

/**
 * `setpriv --pdeathsig SIGKILL`: the command is killed when the process that spawned it dies,
 * even by SIGKILL (util-linux, essential on Debian). Prefix for commands run in a namespace.
 */
export const PDEATHSIG = ['setpriv', '--pdeathsig', 'SIGKILL'] as const;

function assertRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('createTestNet needs root (network namespaces, veth): run the integration tests as root');
  }
}

/** Creates a test network (see the module comment). Call `destroy()` in afterAll. */
export async function createTestNet(opts: CreateTestNetOptions = {}): Promise<TestNet> {
  assertRoot();
  const extraPeers = opts.extraPeers ?? 0;
  if (!Number.isInteger(extraPeers) || extraPeers < 0 || extraPeers > 200) {
    throw new Error(`extraPeers must be an integer 0..200, got ${extraPeers}`);
  }
  installExitHandlers();
  mkdirSync(REGISTRY_DIR, { recursive: true });

  const suffix = randomBytes(3).toString('hex'); // 6 hex chars: nsth + 6 = 10 chars <= 15
  const ns = `nst-${suffix}`;
  const hostIf = `nsth${suffix}`;
  const peerIf = `nstp${suffix}`;

  // Reserve a subnet N.
  const used = await subnetsInUse();
  const candidates = Array.from({ length: 254 }, (_, i) => i + 1).filter((n) => !used.has(n));
  for (let i = candidates.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!];
  }
  let subnet: number | undefined;
  for (const n of candidates) {
    if (
      tryReserve(n, {
        pid: process.pid,
        ppid: process.ppid,
        start: procStart(process.pid),
        ns,
        hostIf,
        created: new Date().toISOString(),
      })
    ) {
      subnet = n;
      break;
    }
  }
  if (subnet === undefined) throw new Error('no free test subnet in 198.18.1-254.0/24');

  const live: LiveNet = { ns, hostIf, subnet, children: new Set() };
  state().nets.add(live);

  const hostV4 = `198.18.${subnet}.1`;
  const peerV4 = `198.18.${subnet}.2`;
  const hostV6 = `fd00:18:${subnet}::1`;
  const peerV6 = `fd00:18:${subnet}::2`;
  const extraPeerV4 = Array.from({ length: extraPeers }, (_, i) => `198.18.${subnet}.${10 + i}`);
  const extraPeerV6 = Array.from({ length: extraPeers }, (_, i) => `fd00:18:${subnet}::${10 + i}`);

  const inNs = (...args: string[]): Promise<string> => mustRun('ip', ['-n', ns, ...args]);
  try {
    await mustRun('ip', ['netns', 'add', ns]);
    await mustRun('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', peerIf, 'netns', ns]);
    // No link-local addresses: no router solicitations or other chatter on the link.
    await mustRun('ip', ['link', 'set', hostIf, 'addrgenmode', 'none']);
    await inNs('link', 'set', peerIf, 'addrgenmode', 'none');
    // Send the MLD reports for the solicited-node groups at once when the link comes up,
    // instead of spread over the next second or two (they would show up in iftop).
    const mldKeys = ['mldv1_unsolicited_report_interval', 'mldv2_unsolicited_report_interval'];
    for (const k of mldKeys) writeFileSync(`/proc/sys/net/ipv6/conf/${hostIf}/${k}`, '0');
    // /proc/sys/net shows the namespace of the process that opens it.
    const peerSysctl = mldKeys.map((k) => `echo 0 > /proc/sys/net/ipv6/conf/${peerIf}/${k}`).join(' && ');
    await mustRun('ip', ['netns', 'exec', ns, 'sh', '-c', peerSysctl]);
    await mustRun('ip', ['addr', 'add', `${hostV4}/24`, 'dev', hostIf]);
    await mustRun('ip', ['-6', 'addr', 'add', `${hostV6}/64`, 'dev', hostIf, 'nodad']);
    await inNs('addr', 'add', `${peerV4}/24`, 'dev', peerIf);
    await inNs('-6', 'addr', 'add', `${peerV6}/64`, 'dev', peerIf, 'nodad');
    for (const a of extraPeerV4) await inNs('addr', 'add', `${a}/24`, 'dev', peerIf);
    for (const a of extraPeerV6) await inNs('-6', 'addr', 'add', `${a}/64`, 'dev', peerIf, 'nodad');
    await inNs('link', 'set', 'lo', 'up');
    await mustRun('ip', ['link', 'set', hostIf, 'up']);
    await inNs('link', 'set', peerIf, 'up');
    // Permanent neighbour entries: no ARP / neighbour discovery traffic on the link.
    const hostMac = await linkMac(['link', 'show', hostIf]);
    const peerMac = await linkMac(['-n', ns, 'link', 'show', peerIf]);
    for (const a of [peerV4, peerV6, ...extraPeerV4, ...extraPeerV6]) {
      await mustRun('ip', ['neigh', 'replace', a, 'lladdr', peerMac, 'dev', hostIf, 'nud', 'permanent']);
    }
    for (const a of [hostV4, hostV6]) {
      await inNs('neigh', 'replace', a, 'lladdr', hostMac, 'dev', peerIf, 'nud', 'permanent');
    }
    await settle(hostIf);
  } catch (e) {
    await destroyNet(live);
    state().nets.delete(live);
    throw e;
  }

  let destroyed = false;
  let destroying: Promise<void> | undefined;
  const net: TestNet = {
    ns,
    subnet,
    hostIf,
    peerIf,
    hostV4,
    peerV4,
    hostV6,
    peerV6,
    extraPeerV4,
    extraPeerV6,
    peerAddresses: [peerV4, peerV6, ...extraPeerV4, ...extraPeerV6],
    hostAddresses: [hostV4, hostV6],
    get destroyed() {
      return destroyed;
    },
    execInPeer<O extends Options = NoOptions>(
      cmd: string,
      args: readonly string[] = [],
      options?: O,
    ): ResultPromise<O> {
      if (destroyed) throw new Error(`test net ${ns} is destroyed`);
      const child = execa(
        'ip',
        ['netns', 'exec', ns, ...PDEATHSIG, cmd, ...args],
        options ?? ({} as O),
      ) as unknown as ResultPromise<O>;
      // A kill by destroy() must not surface as an unhandled rejection; awaiting still rejects.
      (child as unknown as Promise<unknown>).catch(() => undefined);
      const cp = child.nodeChildProcess;
      live.children.add(cp);
      cp.once('exit', () => live.children.delete(cp));
      return child;
    },
    destroy() {
      destroying ??= (async () => {
        destroyed = true;
        await destroyNet(live);
        state().nets.delete(live);
      })();
      return destroying;
    },
  };
  return net;
}

/**
 * Spawns `cmd args` inside the net's namespace with node's plain spawn. The process is killed by
 * destroy(), and when the spawning process dies.
 */
export function spawnInNs(
  net: TestNet,
  cmd: string,
  args: readonly string[],
  options: Parameters<typeof spawn>[2] = {},
): ChildProcess {
  if (net.destroyed) throw new Error(`test net ${net.ns} is destroyed`);
  const child = spawn('ip', ['netns', 'exec', net.ns, ...PDEATHSIG, cmd, ...args], options);
  const live = [...state().nets].find((n) => n.ns === net.ns);
  if (live) {
    live.children.add(child);
    child.once('exit', () => live.children.delete(child));
  } else {
    trackChild(child);
  }
  return child;
}

/** Reads a counter of /sys/class/net/<ifname>/statistics (root namespace). */
export function ifStat(
  ifname: string,
  counter: 'tx_bytes' | 'rx_bytes' | 'tx_packets' | 'rx_packets',
): number {
  return Number(readFileSync(`/sys/class/net/${ifname}/statistics/${counter}`, 'utf8').trim());
}
