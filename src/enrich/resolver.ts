import { Resolver } from 'node:dns/promises';

/**
 * Reverse lookup of one address: the PTR names, `[]` when the address has none (NXDOMAIN or an
 * empty answer). Rejects on a server failure or timeout. Injectable: tests pass fakes.
 */
export type ReverseLookup = (address: string) => Promise<string[]>;

const NO_NAME = new Set(['ENOTFOUND', 'ENODATA', 'ENONAME']);

/** A ReverseLookup backed by c-ares with its own timeout and one try, on the given servers. */
export function dnsReverseLookup(options: { servers?: readonly string[]; timeoutMs: number }): ReverseLookup {
  const resolver = new Resolver({ timeout: options.timeoutMs, tries: 1 });
  if (options.servers && options.servers.length > 0) resolver.setServers([...options.servers]);
  return async (address) => {
    try {
      return await resolver.reverse(address);
    } catch (err) {
      if (NO_NAME.has((err as NodeJS.ErrnoException).code ?? '')) return [];
      throw err;
    }
  };
}
