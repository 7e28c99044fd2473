/**
 * A real DNS server for the integration tests: dnsmasq inside a test net's peer namespace,
 * answering PTR queries for the given addresses and nothing else.
 *
 * What dnsmasq 2.90 can serve, and what node's resolver (c-ares 1.34) returns for it, as found
 * by experiment (names written to the conf file quoted, with `\` and `"` escaped):
 *   - served byte for byte, node returns them as-is: space, comma, `=`, `'`, `#`, `/`, `:`, `%`,
 *     `*`, `_`, `<>`, `{}`, `|`, `&`, a leading `-`, leading/trailing spaces, all-digit labels
 *     (`1.2.3.4`), single-label names, 63-char labels, names up to 255 characters;
 *   - served, but node escapes them the RFC 1035 way: `"` -> `\"`, `\` -> `\\`, `;` -> `\;`,
 *     `$` -> `\$`, `@` -> `\@`, `(` -> `\(`, `)` -> `\)` (so `quo"te.example` comes back as
 *     `quo\"te.example`);
 *   - changed by dnsmasq: upper case is lowered; a trailing dot is dropped; `a..b` is cut to `a`
 *     and `.` becomes the root name (node returns `''`); a tab (unquoted) becomes a space;
 *     non-ASCII is IDNA-encoded (`bücher.example` -> `xn--bcher-kva.example`; needs a UTF-8
 *     locale, which startDnsmasq sets);
 *   - rejected by dnsmasq (startDnsmasq throws): labels over 63 characters, control characters
 *     (tab quoted as `\t`, `\e`, newline), names that IDNA refuses (emoji, some CJK), a name of
 *     spaces only;
 *   - served by dnsmasq but refused by node (reverse() rejects with ENOTFOUND): names longer
 *     than 255 characters (dnsmasq sends up to ~400, illegal on the wire).
 *   - a dot inside a label cannot be expressed (`a\.b` is a label `a\` then `b`).
 * Several records for one address give several PTR answers (node returns all of them).
 * Unknown addresses get NXDOMAIN (node: ENOTFOUND); other query types get REFUSED.
 *
 * Network rule: dnsmasq listens only on the peer namespace's addresses.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import dns from 'node:dns';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnInNs, type TestNet } from './netns.js';
import { startUdpSink } from './traffic.js';

export interface PtrRecord {
  /** IPv4 or IPv6 address whose reverse name gets the PTR. */
  address: string;
  /** The PTR target, any string dnsmasq accepts (see the module comment). */
  name: string;
}

export interface DnsQuery {
  /** Query type as dnsmasq logs it: PTR, A, AAAA, ... */
  type: string;
  /** The queried name, e.g. `2.7.18.198.in-addr.arpa`. */
  name: string;
  /** The client address. */
  from: string;
}

export interface DnsServer {
  /** IPv4 server for `Resolver.setServers([...])` / resolv.conf: `198.18.N.2` (`:port` if not 53). */
  readonly server: string;
  /** IPv6 server: `fd00:18:N::2` (`[fd00:18:N::2]:port` if not 53). */
  readonly serverV6: string;
  /** [server, serverV6]. */
  readonly servers: readonly string[];
  readonly port: number;
  /** Queries received so far (from dnsmasq's query log). */
  queries(): DnsQuery[];
  /** Stops the server. Idempotent. */
  stop(): Promise<void>;
}

export interface StartDnsmasqOptions {
  /** UDP/TCP port (default 53). */
  port?: number;
  /** TTL of the answers (dnsmasq's --local-ttl; dnsmasq's default is 0). */
  ttl?: number;
  /**
   * Answer for PTR queries of addresses not in `records`: 'nxdomain' (default; node's reverse()
   * rejects with ENOTFOUND) or 'refused' (EREFUSED).
   */
  unknown?: 'nxdomain' | 'refused';
}

export const DNSMASQ = '/usr/sbin/dnsmasq';

function expandV6(addr: string): string[] {
  const [head = '', tail] = addr.toLowerCase().split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) throw new Error(`cannot expand IPv6 address ${addr}`);
  return groups.map((g) => g.padStart(4, '0'));
}

/** The reverse-lookup name of an address: `2.7.18.198.in-addr.arpa`, `...ip6.arpa`. */
export function reverseName(address: string): string {
  const family = isIP(address);
  if (family === 4) return `${address.split('.').reverse().join('.')}.in-addr.arpa`;
  if (family === 6) return `${[...expandV6(address).join('')].reverse().join('.')}.ip6.arpa`;
  throw new Error(`not an IP address: ${address}`);
}

/** A conf-file value in dnsmasq's quoting: `"..."` with `\` and `"` escaped. */
export function quoteDnsmasq(value: string): string {
  if (/[\n\r\0]/.test(value))
    throw new Error(`dnsmasq cannot take a newline or NUL in a value: ${JSON.stringify(value)}`);
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function assertBinary(): void {
  const r = spawnSync(DNSMASQ, ['--version'], { stdio: 'ignore' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `${DNSMASQ} not found or not runnable: install Debian's dnsmasq-base (apt-get install -y dnsmasq-base)`,
    );
  }
}

/** The name startDnsmasq queries (type A, answered REFUSED) to see that dnsmasq is up. */
const READY_PROBE = 'nstats-ready-probe.invalid';

/** Config dirs of running servers, removed at process exit if stop() was not called. */
const confDirs = new Set<string>();
let exitHandlerInstalled = false;
function trackDir(dir: string): void {
  if (!exitHandlerInstalled) {
    exitHandlerInstalled = true;
    process.on('exit', () => {
      for (const d of confDirs) rmSync(d, { recursive: true, force: true });
    });
  }
  confDirs.add(dir);
}

const UTF8_ENV = { ...process.env, LC_ALL: 'C.UTF-8' };

/** Starts dnsmasq in `net`'s peer namespace, serving exactly `records` as PTRs. */
export async function startDnsmasq(
  net: TestNet,
  records: readonly PtrRecord[],
  opts: StartDnsmasqOptions = {},
): Promise<DnsServer> {
  assertBinary();
  const port = opts.port ?? 53;
  const dir = mkdtempSync(join(tmpdir(), 'nstats-dnsmasq-'));
  trackDir(dir);
  const conf = join(dir, 'dnsmasq.conf');
  const lines = records.map((r) => `ptr-record=${reverseName(r.address)},${quoteDnsmasq(r.name)}`);
  const extra: string[] = [];
  if ((opts.unknown ?? 'nxdomain') === 'nxdomain') extra.push('local=/in-addr.arpa/', 'local=/ip6.arpa/');
  writeFileSync(conf, [...lines, ...extra, ''].join('\n'));

  // Syntax check first, so a bad name fails with a message that names the record.
  const test = spawnSync(DNSMASQ, ['--test', `--conf-file=${conf}`], { encoding: 'utf8', env: UTF8_ENV });
  if (test.status !== 0) {
    const msg = `${test.stderr}${test.stdout}`.trim();
    const line = Number(/at line (\d+)/.exec(msg)?.[1] ?? 0);
    const rec = records[line - 1];
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      rec
        ? `dnsmasq rejects the PTR record ${rec.address} -> ${JSON.stringify(rec.name)}: ${msg}`
        : `dnsmasq rejects its config: ${msg}`,
    );
  }

  const args = [
    `--conf-file=${conf}`,
    '--no-resolv',
    '--no-hosts',
    '--no-daemon',
    '--bind-interfaces',
    `--listen-address=${net.peerV4}`,
    `--listen-address=${net.peerV6}`,
    `--port=${port}`,
    '--user=root',
    '--pid-file=',
    '--log-facility=-',
    '--log-queries',
  ];
  if (opts.ttl !== undefined) args.push(`--local-ttl=${opts.ttl}`);
  const child: ChildProcess = spawnInNs(net, DNSMASQ, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: UTF8_ENV,
  });
  let log = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (log += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (log += d));
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('close', () => {
      exited = true;
      resolve();
    }),
  );

  const server = port === 53 ? net.peerV4 : `${net.peerV4}:${port}`;
  const serverV6 = port === 53 ? net.peerV6 : `[${net.peerV6}]:${port}`;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
        await exit;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
      confDirs.delete(dir);
    })();
    return stopping;
  };

  // Ready = both addresses give a DNS answer (any rcode) instead of a refused connection.
  const deadline = Date.now() + 10_000;
  for (const s of [server, serverV6]) {
    for (;;) {
      if (exited) {
        await stop();
        throw new Error(`dnsmasq exited at start: ${log.trim()}`);
      }
      const r = new dns.promises.Resolver({ timeout: 300, tries: 1 });
      r.setServers([s]);
      try {
        await r.resolve4(READY_PROBE);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ECONNREFUSED' && code !== 'ETIMEOUT') break;
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`dnsmasq did not answer on ${s}: ${log.trim()}`);
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  return {
    server,
    serverV6,
    servers: [server, serverV6],
    port,
    queries() {
      const out: DnsQuery[] = [];
      for (const l of log.split('\n')) {
        const m = /query\[(\w+)\] (\S+) from (\S+)/.exec(l);
        if (m && m[2] !== READY_PROBE) out.push({ type: m[1]!, name: m[2]!, from: m[3]! });
      }
      return out;
    },
    stop,
  };
}

/**
 * A DNS server that never answers: UDP port `port` on the peer's addresses swallows every
 * query, so resolvers time out (ETIMEOUT). For testing the app's timeout path.
 */
export async function startBlackholeDns(
  net: TestNet,
  opts: { port?: number } = {},
): Promise<Pick<DnsServer, 'server' | 'serverV6' | 'servers' | 'port' | 'stop'>> {
  const port = opts.port ?? 53;
  const v4 = await startUdpSink({ net, side: 'peer', address: net.peerV4, port });
  const v6 = await startUdpSink({ net, side: 'peer', address: net.peerV6, port }).catch(
    async (e: unknown) => {
      await v4.stop();
      throw e;
    },
  );
  const server = port === 53 ? net.peerV4 : `${net.peerV4}:${port}`;
  const serverV6 = port === 53 ? net.peerV6 : `[${net.peerV6}]:${port}`;
  let stopping: Promise<void> | undefined;
  return {
    server,
    serverV6,
    servers: [server, serverV6],
    port,
    stop() {
      stopping ??= Promise.all([v4.stop(), v6.stop()]).then(() => undefined);
      return stopping;
    },
  };
}
