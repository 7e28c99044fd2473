import { Resolver } from 'node:dns/promises';

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
      bytes.push(...encoder.encode(name[i + 1]!));
      i += 1;
    } else {
      bytes.push(...encoder.encode(c));
    }
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(new Uint8Array(bytes));
}

/** A ReverseLookup backed by c-ares with its own timeout and one try, on the given servers. */
export function dnsReverseLookup(options: { servers?: readonly string[]; timeoutMs: number }): ReverseLookup {
  const resolver = new Resolver({ timeout: options.timeoutMs, tries: 1 });
  if (options.servers && options.servers.length > 0) resolver.setServers([...options.servers]);
  const lookup: ReverseLookup = async (address) => {
    try {
      return (await resolver.reverse(address)).map(decodePresentation);
    } catch (err) {
      if (NO_NAME.has((err as NodeJS.ErrnoException).code ?? '')) return [];
      throw err;
    }
  };
  lookup.cancel = () => resolver.cancel();
  return lookup;
}
