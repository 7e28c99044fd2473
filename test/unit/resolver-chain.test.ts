import { describe, expect, it } from 'vitest';
import { ResolverChain, type PeerInfo, type Resolver } from '../../src/enrich/resolver.js';

/** A resolver that knows `known`, fails on `failing`, and answers after `delayMs`. */
function fake(name: string, known: Record<string, PeerInfo>, failing: string[] = [], delayMs = 0) {
  const asked: string[][] = [];
  const budgets: number[] = [];
  const resolver: Resolver = {
    name,
    async resolve(addresses, budgetMs) {
      asked.push([...addresses]);
      budgets.push(budgetMs);
      await new Promise((r) => setTimeout(r, delayMs));
      const found = new Map(addresses.filter((a) => known[a]).map((a) => [a, known[a]!]));
      return { found, errors: addresses.filter((a) => failing.includes(a)).length };
    },
    close: () => undefined,
  };
  return { resolver, asked, budgets };
}

describe('ResolverChain', () => {
  it('asks each resolver only for what the ones before did not answer; the first answer wins', async () => {
    const k8s = fake('kubernetes', { '10.0.0.1': { name: 'web-0', tags: { namespace: 'shop' } } });
    const dns = fake('dns', { '10.0.0.1': { name: 'ignored' }, '10.0.0.2': { name: 'db.example' } }, [
      '10.0.0.3',
    ]);
    const chain = new ResolverChain([k8s.resolver, dns.resolver]);
    const peers = await chain.resolve(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.1', '10.0.0.4'], 1000);
    expect(k8s.asked).toEqual([['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']]);
    expect(dns.asked).toEqual([['10.0.0.2', '10.0.0.3', '10.0.0.4']]);
    expect(Object.fromEntries(peers)).toEqual({
      '10.0.0.1': { name: 'web-0', tags: { namespace: 'shop' } },
      '10.0.0.2': { name: 'db.example' },
    });
    expect(chain.counts.get('kubernetes')).toEqual({ hits: 1, misses: 3, errors: 0 });
    expect(chain.counts.get('dns')).toEqual({ hits: 1, misses: 1, errors: 1 });
  });

  it('shares one budget: a later resolver gets what the earlier ones left', async () => {
    const slow = fake('slow', {}, [], 150);
    const next = fake('next', {});
    await new ResolverChain([slow.resolver, next.resolver]).resolve(['10.0.0.1'], 400);
    expect(slow.budgets[0]).toBeCloseTo(400, 0);
    expect(next.budgets[0]).toBeLessThanOrEqual(260);
    expect(next.budgets[0]).toBeGreaterThan(100);
  });

  it('stops asking once everything is named', async () => {
    const first = fake('first', { '10.0.0.1': { name: 'a' } });
    const second = fake('second', {});
    await new ResolverChain([first.resolver, second.resolver]).resolve(['10.0.0.1'], 100);
    expect(second.asked).toEqual([]);
  });
});
