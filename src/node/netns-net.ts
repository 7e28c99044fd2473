import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { InterfaceCounters } from '../capture/interface-counters.js';
import { defaultRouteInterface } from '../capture/default-interface.js';

/**
 * What the node agent reads of another network namespace without entering it: the files of
 * `/proc/<pid>/net`, which show the namespace of that process (its sysfs would show the agent's).
 */

/** One interface's line of `/proc/<pid>/net/dev`: the counters of /sys/class/net/<if>/statistics. */
export function parseNetDev(text: string, iface: string): Omit<InterfaceCounters, 'at'> | undefined {
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim() !== iface) continue;
    const cols = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (cols.length < 16 || !cols.every((c) => /^\d+$/.test(c))) return undefined;
    // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit: bytes packets ...
    return {
      rxBytes: Number(cols[0]),
      rxPackets: Number(cols[1]),
      txBytes: Number(cols[8]),
      txPackets: Number(cols[9]),
    };
  }
  return undefined;
}

/** The interfaces of `/proc/<pid>/net/dev`, in the kernel's order. */
export function netDevInterfaces(text: string): string[] {
  return text
    .split('\n')
    .slice(2)
    .flatMap((line) => {
      const colon = line.indexOf(':');
      return colon < 0 ? [] : [line.slice(0, colon).trim()];
    })
    .filter((name) => name !== '');
}

/**
 * The counters of `iface` in the namespace of the process whose `/proc/<pid>/net` is `procNet`.
 * @throws when the process is gone or the interface is not there.
 */
export async function readNetnsCounters(procNet: string, iface: string): Promise<InterfaceCounters> {
  const text = await readFile(`${procNet}/dev`, 'utf8');
  const c = parseNetDev(text, iface);
  if (!c) throw new Error(`${procNet}/dev: no interface ${iface}`);
  return { ...c, at: new Date() };
}

/**
 * The interface to capture on in a pod's namespace: its default route's (eth0 in a pod), else its
 * first interface other than `lo`. Undefined when it has none (a namespace with only loopback).
 */
export async function netnsInterface(procNet: string): Promise<string | undefined> {
  const byRoute = await defaultRouteInterface((p) => readFile(p, 'utf8'), procNet);
  if (byRoute) return byRoute;
  try {
    return netDevInterfaces(await readFile(`${procNet}/dev`, 'utf8')).find((name) => name !== 'lo');
  } catch {
    return undefined;
  }
}

/**
 * The namespace's own addresses (a pod's IP): the local IPv4 addresses of `fib_trie` (`/32 host
 * LOCAL`), then the global IPv6 ones of `if_inet6`; loopback and link-local left out.
 */
export function parseLocalAddresses(fibTrie: string, ifInet6: string): string[] {
  const out = new Set<string>();
  const lines = fibTrie.split('\n');
  for (let i = 1; i < lines.length; i++) {
    if (!/^\s*\/32 host LOCAL\b/.test(lines[i]!)) continue;
    const m = /\|--\s+(\S+)/.exec(lines[i - 1]!);
    if (m && isIP(m[1]!) === 4 && !m[1]!.startsWith('127.')) out.add(m[1]!);
  }
  for (const line of ifInet6.split('\n')) {
    const [hex, , , scope] = line.trim().split(/\s+/);
    // Scope 00: global (20 is link, 10 host).
    if (!hex || hex.length !== 32 || scope !== '00') continue;
    const address = hex
      .match(/.{4}/g)!
      .join(':')
      .replace(/\b0+(?=[0-9a-f])/g, '');
    const v6 = compressIpv6(address);
    if (isIP(v6) === 6 && v6 !== '::1') out.add(v6);
  }
  return [...out];
}

/** An IPv6 address of 8 groups in its short form (the longest run of zero groups as `::`). */
function compressIpv6(full: string): string {
  const groups = full.split(':');
  let best = { at: -1, len: 0 };
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j;
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}

/** The namespace's own addresses, read; empty when the process is gone. */
export async function netnsAddresses(procNet: string): Promise<string[]> {
  const [fib, inet6] = await Promise.all([
    readFile(`${procNet}/fib_trie`, 'utf8').catch(() => ''),
    readFile(`${procNet}/if_inet6`, 'utf8').catch(() => ''),
  ]);
  return parseLocalAddresses(fib, inet6);
}
