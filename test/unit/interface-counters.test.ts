import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { counterDelta, readInterfaceCounters } from '../../src/capture/interface-counters.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function sysfs(values: Record<string, string>): string {
  dir = mkdtempSync(join(tmpdir(), 'nstats-sysfs-'));
  const stats = join(dir, 'eth0', 'statistics');
  mkdirSync(stats, { recursive: true });
  for (const [f, v] of Object.entries(values)) writeFileSync(join(stats, f), v);
  return dir;
}

describe('interface counters', () => {
  it('reads bytes and packets both ways, beyond 32 bits', async () => {
    const root = sysfs({ rx_bytes: '5000000000\n', tx_bytes: '7\n', rx_packets: '3\n', tx_packets: '1\n' });
    expect(await readInterfaceCounters('eth0', root)).toMatchObject({
      rxBytes: 5_000_000_000,
      txBytes: 7,
      rxPackets: 3,
      txPackets: 1,
    });
  });

  it('fails for a missing interface or a value that is not a counter', async () => {
    const root = sysfs({ rx_bytes: 'x\n', tx_bytes: '1\n', rx_packets: '1\n', tx_packets: '1\n' });
    await expect(readInterfaceCounters('eth0', root)).rejects.toThrow(/rx_bytes: not a counter: "x"/);
    await expect(readInterfaceCounters('nope0', root)).rejects.toThrow(/ENOENT/);
  });

  it('gives the difference, or nothing when a counter went back (the interface was re-created)', () => {
    const at = new Date();
    const a = { rxBytes: 10, txBytes: 20, rxPackets: 1, txPackets: 2, at };
    expect(counterDelta(a, { ...a, rxBytes: 15, txPackets: 4 })).toEqual({
      rxBytes: 5,
      txBytes: 0,
      rxPackets: 0,
      txPackets: 2,
    });
    expect(counterDelta(a, { ...a, txBytes: 3 })).toBeUndefined();
  });
});
