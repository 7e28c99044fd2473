import { afterEach, describe, expect, it, vi } from 'vitest';
import { DnsResolver, type DnsResolverOptions } from '../../src/enrich/dns-resolver.js';
import type { ReverseLookup } from '../../src/enrich/reverse-lookup.js';

const OPTIONS: DnsResolverOptions = {
  timeoutMs: 100,
  concurrency: 2,
  cacheSize: 100,
  ttlSeconds: 300,
  negativeTtlSeconds: 60,
};

/** A fake resolver: a table of answers, a delay, failures, and a record of calls. */
function fakeLookup(answers: Record<string, string[] | Error>, delayMs = 0) {
  const calls: string[] = [];
  let active = 0;
  let maxActive = 0;
  const lookup: ReverseLookup = async (address) => {
    calls.push(address);
    active++;
    maxActive = Math.max(maxActive, active);
    try {
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      const a = answers[address];
      if (a instanceof Error) throw a;
      return a ?? [];
    } finally {
      active--;
    }
  };
  return { lookup, calls, maxActive: () => maxActive };
}

afterEach(() => {
  vi.useRealTimers();
});

/** The resolver's answer as the record builder uses it: every address, its name or its IP. */
async function nameAll(
  namer: DnsResolver,
  addresses: string[],
  budgetMs: number,
): Promise<Map<string, string>> {
  const { found } = await namer.resolve(addresses, budgetMs);
  return new Map(addresses.map((a) => [a, found.get(a)?.name ?? a]));
}

describe('DnsResolver', () => {
  it('names addresses, keeps the IP when there is no name, and caches both', async () => {
    const fake = fakeLookup({ '10.0.0.1': ['db.example'], '10.0.0.2': [] });
    const namer = new DnsResolver(fake.lookup, OPTIONS);
    const first = await nameAll(namer, ['10.0.0.1', '10.0.0.2'], 1000);
    expect(Object.fromEntries(first)).toEqual({ '10.0.0.1': 'db.example', '10.0.0.2': '10.0.0.2' });
    await nameAll(namer, ['10.0.0.1', '10.0.0.2'], 1000);
    expect(fake.calls).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(namer.stats).toMatchObject({ hits: 2, misses: 2 });
    expect(namer.cached('10.0.0.2')).toBeNull();
  });

  it('takes the first non-empty name when there are several PTR records', async () => {
    const namer = new DnsResolver(fakeLookup({ '10.0.0.1': ['', 'a.example', 'b.example'] }).lookup, OPTIONS);
    expect(await namer.nameOf('10.0.0.1')).toBe('a.example');
  });

  it('expires names after the TTL and "no name" after the shorter negative TTL', async () => {
    // lru-cache reads a start time of 0 as "no TTL": the fake clock starts later.
    let now = 1_000_000;
    const fake = fakeLookup({ '10.0.0.1': ['a.example'], '10.0.0.2': [] });
    const namer = new DnsResolver(fake.lookup, {
      ...OPTIONS,
      ttlSeconds: 300,
      negativeTtlSeconds: 60,
      now: () => now,
    });
    await nameAll(namer, ['10.0.0.1', '10.0.0.2'], 1000);
    now += 61_000;
    await nameAll(namer, ['10.0.0.1', '10.0.0.2'], 1000);
    expect(fake.calls).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.2']);
    now += 240_000;
    await nameAll(namer, ['10.0.0.1'], 1000);
    expect(fake.calls).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.2', '10.0.0.1']);
  });

  it('caches nothing with a TTL of 0', async () => {
    const fake = fakeLookup({ '10.0.0.1': ['a.example'] });
    const namer = new DnsResolver(fake.lookup, { ...OPTIONS, ttlSeconds: 0 });
    await namer.nameOf('10.0.0.1');
    await namer.nameOf('10.0.0.1');
    expect(fake.calls).toHaveLength(2);
  });

  it('counts failures, caches them negatively, and never rejects', async () => {
    const fake = fakeLookup({ '10.0.0.1': Object.assign(new Error('boom'), { code: 'ESERVFAIL' }) });
    const namer = new DnsResolver(fake.lookup, OPTIONS);
    expect(await namer.nameOf('10.0.0.1')).toBeNull();
    expect(await namer.nameOf('10.0.0.1')).toBeNull();
    expect(fake.calls).toHaveLength(1);
    expect(namer.stats.failures).toBe(1);
  });

  it('times a slow lookup out after timeoutMs', async () => {
    const namer = new DnsResolver(fakeLookup({ '10.0.0.1': ['late.example'] }, 10_000).lookup, {
      ...OPTIONS,
      timeoutMs: 50,
    });
    const t0 = performance.now();
    expect(await namer.nameOf('10.0.0.1')).toBeNull();
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(namer.stats.timeouts).toBe(1);
  });

  it('keeps one lookup in flight per address', async () => {
    const fake = fakeLookup({ '10.0.0.1': ['a.example'] }, 30);
    const namer = new DnsResolver(fake.lookup, OPTIONS);
    const names = await Promise.all([
      namer.nameOf('10.0.0.1'),
      namer.nameOf('10.0.0.1'),
      namer.nameOf('10.0.0.1'),
    ]);
    expect(names).toEqual(['a.example', 'a.example', 'a.example']);
    expect(fake.calls).toEqual(['10.0.0.1']);
    expect(namer.stats.joined).toBe(2);
  });

  it('bounds parallel lookups', async () => {
    const addresses = Array.from({ length: 20 }, (_, i) => `10.0.1.${i}`);
    const fake = fakeLookup(Object.fromEntries(addresses.map((a) => [a, [`h${a}`]])), 10);
    const namer = new DnsResolver(fake.lookup, { ...OPTIONS, concurrency: 3 });
    const names = await nameAll(namer, addresses, 5000);
    expect(names.size).toBe(20);
    expect(fake.calls).toHaveLength(20);
    expect(fake.maxActive()).toBe(3);
  });

  it('never waits past its budget: unnamed peers keep their IP, late answers fill the cache', async () => {
    const fake = fakeLookup({ '10.0.0.1': ['fast.example'], '10.0.0.2': ['slow.example'] });
    const slow: ReverseLookup = async (a) => {
      if (a === '10.0.0.2') await new Promise((r) => setTimeout(r, 300));
      return fake.lookup(a);
    };
    const namer = new DnsResolver(slow, { ...OPTIONS, timeoutMs: 1000 });
    const t0 = performance.now();
    const names = await nameAll(namer, ['10.0.0.1', '10.0.0.2'], 100);
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeLessThan(250);
    expect(Object.fromEntries(names)).toEqual({ '10.0.0.1': 'fast.example', '10.0.0.2': '10.0.0.2' });
    // The late one counts as an error of this cycle, a name the next.
    const again = new DnsResolver(slow, { ...OPTIONS, timeoutMs: 1000 });
    expect((await again.resolve(['10.0.0.1', '10.0.0.2'], 100)).errors).toBe(1);
    await new Promise((r) => setTimeout(r, 400));
    expect(namer.cached('10.0.0.2')).toBe('slow.example');
  });

  it('evicts the least recently used address beyond cacheSize', async () => {
    const fake = fakeLookup({});
    const namer = new DnsResolver(fake.lookup, { ...OPTIONS, cacheSize: 2 });
    await namer.nameOf('10.0.0.1');
    await namer.nameOf('10.0.0.2');
    await namer.nameOf('10.0.0.3');
    expect(namer.cached('10.0.0.1')).toBeUndefined();
    expect(namer.cached('10.0.0.3')).toBeNull();
  });
});

describe('decodePresentation', () => {
  it('undoes c-ares escapes and decodes \\DDD bytes as UTF-8', async () => {
    const { decodePresentation } = await import('../../src/enrich/reverse-lookup.js');
    expect(decodePresentation('plain.example')).toBe('plain.example');
    expect(decodePresentation('cache 1, eu=west \\"x\\"')).toBe('cache 1, eu=west "x"');
    expect(decodePresentation('a\\\\b')).toBe('a\\b');
    expect(decodePresentation('dot\\.in.label')).toBe('dot.in.label');
    expect(decodePresentation('b\\195\\188cher')).toBe('bücher');
    expect(decodePresentation('nul\\000byte')).toBe('nul\u0000byte');
    expect(decodePresentation('trailing\\')).toBe('trailing\\');
  });
});

describe('reverseName', () => {
  it('builds in-addr.arpa and ip6.arpa query names', async () => {
    const { reverseName } = await import('../../src/enrich/reverse-lookup.js');
    expect(reverseName('198.18.7.2')).toBe('2.7.18.198.in-addr.arpa');
    expect(reverseName('fd00:18:7::2')).toBe(
      '2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.7.0.0.0.8.1.0.0.0.0.d.f.ip6.arpa',
    );
    expect(reverseName('::1')).toBe(`1.${'0.'.repeat(31)}ip6.arpa`);
    expect(reverseName('::ffff:1.2.3.4')).toBe(`4.0.3.0.2.0.1.0.f.f.f.f.${'0.'.repeat(20)}ip6.arpa`);
    expect(reverseName('2001:db8:0:0:1:0:0:1')).toBe(
      '1.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa',
    );
    expect(() => reverseName('nope')).toThrow(/not an IP address/);
  });
});
