/**
 * Paced UDP traffic between the root namespace ("host", the pod side) and a test net's peer
 * namespace ("peer"), plus UDP sinks so the receiving side never answers with ICMP port
 * unreachable (which iftop would count as extra flows).
 *
 * Rates are IP-level: `bitsPerSecond` counts IP header + UDP header + payload, as iftop does
 * (28 bytes of headers for IPv4, 48 for IPv6). Payloads are limited so no datagram is
 * fragmented on the 1500-byte MTU veth.
 *
 * Network rule: `to` must be loopback (127.0.0.0/8, ::1) or an address of the given test net;
 * anything else throws before a packet is sent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { PDEATHSIG, spawnInNs, trackChild, type TestNet } from './netns.js';

/** The generator script (plain JS, run with process.execPath). */
export const UDP_SCRIPT = fileURLToPath(new URL('./udp-sender.mjs', import.meta.url));

export const IPV4_UDP_OVERHEAD = 28;
export const IPV6_UDP_OVERHEAD = 48;
const MTU = 1500;

export type Side = 'host' | 'peer';

export interface SendUdpOptions {
  /** Where the sender runs: 'host' = root namespace, 'peer' = the net's namespace. */
  from: Side;
  net: TestNet;
  /** Destination: loopback or an address of `net`. */
  to: string;
  port: number;
  /** IP-level bits per second (headers included). */
  bitsPerSecond: number;
  /** UDP payload per datagram (max 1472 for IPv4, 1452 for IPv6). */
  payloadBytes: number;
  /** How long to send; datagrams are evenly spaced over this time. */
  seconds: number;
  /** Source address to bind (e.g. one of net.extraPeerV4 when from = 'peer'). */
  bindAddress?: string;
  /** Fixed source port (default: ephemeral). */
  sourcePort?: number;
  /** Start a sink on the receiving side bound to `to`:`port` (default true). */
  sink?: boolean;
}

export interface UdpCount {
  packets: number;
  payloadBytes: number;
}

export interface SendUdpResult {
  /** Datagrams sent. */
  packets: number;
  /** IP-level bytes sent: packets * (payloadBytes + 28 | 48). */
  ipBytes: number;
  /** UDP payload bytes sent. */
  payloadBytes: number;
  /** Time from first to last datagram handed to the kernel. */
  elapsedMs: number;
  /** What the sink counted (when a sink ran). */
  received?: UdpCount;
}

export interface UdpSink {
  readonly side: Side;
  readonly address: string;
  readonly port: number;
  /** Stops the sink and returns what it received. Idempotent. */
  stop(): Promise<UdpCount>;
}

function isLoopback(addr: string): boolean {
  return (isIP(addr) === 4 && addr.startsWith('127.')) || addr === '::1';
}

/** Normalises an address for comparison (IPv6 compressed and lower-case, as the net's are). */
function norm(addr: string): string {
  return isIP(addr) === 6 ? new URL(`http://[${addr}]/`).hostname.slice(1, -1) : addr;
}

/** Which side `addr` lives on, or undefined when it is neither loopback nor part of `net`. */
export function sideOf(net: TestNet, addr: string): Side | undefined {
  if (isLoopback(addr)) return 'host';
  if (net.peerAddresses.map(norm).includes(norm(addr))) return 'peer';
  if (net.hostAddresses.map(norm).includes(norm(addr))) return 'host';
  return undefined;
}

/** Throws unless `addr` is an allowed destination (network rule). */
export function assertAllowedDestination(net: TestNet, addr: string): void {
  if (isIP(addr) === 0) throw new Error(`not an IP address: ${addr}`);
  if (sideOf(net, addr) === undefined) {
    throw new Error(
      `refusing to send to ${addr}: only loopback and the test net's own addresses ` +
        `(${[...net.hostAddresses, ...net.peerAddresses].join(', ')}) are allowed`,
    );
  }
}

function spawnOn(side: Side, net: TestNet, args: readonly string[]): ChildProcess {
  const stdio: ['pipe', 'pipe', 'pipe'] = ['pipe', 'pipe', 'pipe'];
  if (side === 'peer') return spawnInNs(net, process.execPath, [UDP_SCRIPT, ...args], { stdio });
  const child = spawn(PDEATHSIG[0], [...PDEATHSIG.slice(1), process.execPath, UDP_SCRIPT, ...args], {
    stdio,
  });
  trackChild(child);
  return child;
}

function collect(child: ChildProcess): {
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
} {
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  return { out: () => out, err: () => err, exited };
}

/** Starts a UDP sink bound to `address`:`port` on `side`; resolves once it is bound. */
export async function startUdpSink(opts: {
  net: TestNet;
  side: Side;
  address: string;
  port: number;
}): Promise<UdpSink> {
  const child = spawnOn(opts.side, opts.net, ['sink', '--bind', opts.address, '--port', String(opts.port)]);
  const io = collect(child);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`UDP sink on ${opts.address}:${opts.port} did not start: ${io.err()}`)),
      10_000,
    );
    const onData = (): void => {
      if (io.out().includes('ready\n')) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    io.exited.then(
      (code) => {
        clearTimeout(timer);
        reject(new Error(`UDP sink on ${opts.address}:${opts.port} exited (${code}): ${io.err().trim()}`));
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
  let stopping: Promise<UdpCount> | undefined;
  return {
    side: opts.side,
    address: opts.address,
    port: opts.port,
    stop() {
      stopping ??= (async () => {
        child.kill('SIGTERM');
        await io.exited;
        const line = io
          .out()
          .split('\n')
          .find((l) => l.startsWith('{'));
        if (!line) throw new Error(`UDP sink gave no count: ${io.err().trim()}`);
        return JSON.parse(line) as UdpCount;
      })();
      return stopping;
    },
  };
}

/** Number of datagrams sendUdp sends for these settings. */
export function plannedPackets(
  opts: Pick<SendUdpOptions, 'to' | 'bitsPerSecond' | 'payloadBytes' | 'seconds'>,
): number {
  const overhead = isIP(opts.to) === 6 ? IPV6_UDP_OVERHEAD : IPV4_UDP_OVERHEAD;
  return Math.max(1, Math.round((opts.bitsPerSecond * opts.seconds) / 8 / (opts.payloadBytes + overhead)));
}

/**
 * Sends paced UDP for `seconds` and resolves when the last datagram is out (and the sink, if
 * any, has counted it).
 */
export async function sendUdp(opts: SendUdpOptions): Promise<SendUdpResult> {
  const { net, to, port, payloadBytes, seconds, bitsPerSecond } = opts;
  assertAllowedDestination(net, to);
  const family = isIP(to);
  const overhead = family === 6 ? IPV6_UDP_OVERHEAD : IPV4_UDP_OVERHEAD;
  if (!Number.isInteger(payloadBytes) || payloadBytes < 0 || payloadBytes + overhead > MTU) {
    throw new Error(`payloadBytes must be an integer 0..${MTU - overhead} for IPv${family}`);
  }
  if (!(seconds > 0) || !(bitsPerSecond > 0)) throw new Error('seconds and bitsPerSecond must be > 0');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad port ${port}`);
  if (opts.bindAddress !== undefined && sideOf(net, opts.bindAddress) !== opts.from) {
    throw new Error(`bindAddress ${opts.bindAddress} is not an address of the ${opts.from} side`);
  }

  const packets = plannedPackets(opts);
  const intervalUs = (seconds * 1e6) / packets;

  let sink: UdpSink | undefined;
  if (opts.sink ?? true) {
    const side = sideOf(net, to);
    if (side) sink = await startUdpSink({ net, side, address: to, port });
  }
  try {
    const args = [
      'send',
      '--to',
      to,
      '--port',
      String(port),
      '--packets',
      String(packets),
      '--payload',
      String(payloadBytes),
      '--interval-us',
      String(intervalUs),
    ];
    if (opts.bindAddress) args.push('--bind', opts.bindAddress);
    if (opts.sourcePort !== undefined) args.push('--source-port', String(opts.sourcePort));
    const child = spawnOn(opts.from, net, args);
    child.stdin?.end();
    const io = collect(child);
    const code = await io.exited;
    if (code !== 0)
      throw new Error(`UDP sender (${opts.from} -> ${to}:${port}) failed (exit ${code}): ${io.err().trim()}`);
    const line = io
      .out()
      .split('\n')
      .find((l) => l.startsWith('{'));
    if (!line) throw new Error(`UDP sender gave no result: ${io.out()} ${io.err()}`);
    const r = JSON.parse(line) as { packets: number; payloadBytes: number; elapsedMs: number };
    const result: SendUdpResult = {
      packets: r.packets,
      payloadBytes: r.payloadBytes,
      ipBytes: r.packets * (payloadBytes + overhead),
      elapsedMs: r.elapsedMs,
    };
    if (sink) {
      await new Promise((res) => setTimeout(res, 100)); // let the last datagrams land
      result.received = await sink.stop();
    }
    return result;
  } finally {
    await sink?.stop().catch(() => undefined);
  }
}
