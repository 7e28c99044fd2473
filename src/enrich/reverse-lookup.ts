import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';

/**
 * Reverse lookup of one address: the PTR names, `[]` when the address has none (NXDOMAIN or an
 * empty answer). Rejects on a server failure or timeout. Injectable: tests pass fakes.
 */
export interface ReverseLookup {
  (address: string): Promise<string[]>;
  /** Cancels lookups in flight (they resolve as failures), so a one-shot command can exit. */
  cancel?(): void;
}

const NO_NAME = new Set(['ENOTFOUND', 'ENODATA', 'ENONAME']);

/**
 * c-ares hands names over in DNS presentation form: `\"`, `\\`, `\.` and `\DDD` (a byte, for
 * anything unprintable or non-ASCII) are escapes. This returns the name as its owner wrote it,
 * bytes decoded as UTF-8. Making it safe for line protocol is the sink's job, not this one's.
 */
export function decodePresentation(name: string): string {
  if (!name.includes('\\')) return name;
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    if (c === '\\' && /^\d{3}$/.test(name.slice(i + 1, i + 4)) && Number(name.slice(i + 1, i + 4)) < 256) {
      bytes.push(Number(name.slice(i + 1, i + 4)));
      i += 3;
    } else if (c === '\\' && i + 1 < name.length) {
      bytes.push(...encoder.encode(name[i + 1]));
      i += 1;
    } else {
      bytes.push(...encoder.encode(c));
    }
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(new Uint8Array(bytes));
}

/** The PTR query name of an address: `4.3.2.1.in-addr.arpa`, or the nibble form under `ip6.arpa`. */
export function reverseName(address: string): string {
  if (isIP(address) === 4) return `${address.split('.').reverse().join('.')}.in-addr.arpa`;
  if (isIP(address) !== 6) throw new TypeError(`reverseName: not an IP address: ${address}`);
  let groups = address.toLowerCase().split('::');
  const head = groups[0] ? groups[0].split(':') : [];
  const tail = groups.length > 1 && groups[1] ? groups[1].split(':') : [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) is two groups.
  const expand = (gs: string[]) =>
    gs.flatMap((g) => {
      if (!g.includes('.')) return [g];
      const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
      return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
    });
  const h = expand(head);
  const t = expand(tail);
  groups = groups.length > 1 ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const nibbles = groups.map((g) => g.padStart(4, '0')).join('');
  return `${[...nibbles].reverse().join('.')}.ip6.arpa`;
}

/** A ReverseLookup backed by c-ares with its own timeout and one try, on the given servers. */
export function dnsReverseLookup(options: { servers?: readonly string[]; timeoutMs: number }): ReverseLookup {
  const resolver = new Resolver({ timeout: options.timeoutMs, tries: 1 });
  if (options.servers && options.servers.length > 0) resolver.setServers([...options.servers]);
  const lookup: ReverseLookup = async (address) => {
    try {
      // resolvePtr rather than reverse(): reverse() falls back to /etc/hosts and reports a server
      // timeout as ENOTFOUND ("no name"), which would hide a failing DNS server.
      return (await resolver.resolvePtr(reverseName(address))).map(decodePresentation);
    } catch (err) {
      if (NO_NAME.has((err as NodeJS.ErrnoException).code ?? '')) return [];
      throw err;
    }
  };
  lookup.cancel = () => resolver.cancel();
  return lookup;
}
