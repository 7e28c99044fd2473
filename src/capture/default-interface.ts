import { readFile } from 'node:fs/promises';

/** Reads a file's text; injectable for tests. */
export type ReadText = (path: string) => Promise<string>;

const readText: ReadText = (path) => readFile(path, 'utf8');

/**
 * The interface holding the default route: IPv4 from /proc/net/route, else IPv6 from
 * /proc/net/ipv6_route. In a pod that is eth0. Undefined when there is no default route.
 * `procNet` is another network namespace's view (`/proc/<pid>/net`, the node agent's).
 */
export async function defaultRouteInterface(
  read: ReadText = readText,
  procNet = '/proc/net',
): Promise<string | undefined> {
  try {
    for (const line of (await read(`${procNet}/route`)).split('\n').slice(1)) {
      const [iface, destination, , flags, , , , mask] = line.trim().split(/\s+/);
      // RTF_UP = 0x1; a default route has destination and mask 0.
      if (
        iface &&
        destination === '00000000' &&
        mask === '00000000' &&
        (parseInt(flags ?? '0', 16) & 1) === 1
      ) {
        return iface;
      }
    }
  } catch {
    // No IPv4 routing table: try IPv6.
  }
  try {
    for (const line of (await read(`${procNet}/ipv6_route`)).split('\n')) {
      const cols = line.trim().split(/\s+/);
      const iface = cols[9];
      if (cols[0] === '0'.repeat(32) && cols[1] === '00' && iface && iface !== 'lo') return iface;
    }
  } catch {
    // Neither table: no default route.
  }
  return undefined;
}
