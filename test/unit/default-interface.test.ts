import { describe, expect, it } from 'vitest';
import { defaultRouteInterface } from '../../src/capture/default-interface.js';

const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth1\t0000FEA9\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
`;
const ROUTE6 = `00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 net1
`;

function reader(files: Record<string, string>) {
  return (path: string) =>
    path in files ? Promise.resolve(files[path]!) : Promise.reject(new Error(`ENOENT ${path}`));
}

describe('defaultRouteInterface', () => {
  it('finds the IPv4 default route (eth0 in a pod)', async () => {
    expect(await defaultRouteInterface(reader({ '/proc/net/route': ROUTE }))).toBe('eth0');
  });
  it('falls back to the IPv6 default route', async () => {
    const noDefault = ROUTE.split('\n').slice(0, 2).join('\n');
    expect(
      await defaultRouteInterface(reader({ '/proc/net/route': noDefault, '/proc/net/ipv6_route': ROUTE6 })),
    ).toBe('net1');
  });
  it('is undefined without a default route', async () => {
    expect(await defaultRouteInterface(reader({}))).toBeUndefined();
  });
});
