import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The kernel's counters of one interface (`/sys/class/net/<if>/statistics`), cumulative since it was created. */
export interface InterfaceCounters {
  readonly rxBytes: number;
  readonly txBytes: number;
  readonly rxPackets: number;
  readonly txPackets: number;
  /** When they were read. */
  readonly at: Date;
}

const FILES = ['rx_bytes', 'tx_bytes', 'rx_packets', 'tx_packets'] as const;

/**
 * Reads the interface's byte and packet counters. They count every frame the interface passed,
 * link-layer header included (iftop's flows count IP bytes), and restart from 0 when the interface
 * is re-created. Inside a pod, /sys/class/net is the pod's network namespace.
 * @throws when the interface does not exist or sysfs is not readable.
 */
export async function readInterfaceCounters(
  iface: string,
  sysClassNet = '/sys/class/net',
): Promise<InterfaceCounters> {
  const dir = join(sysClassNet, iface, 'statistics');
  const values = await Promise.all(
    FILES.map(async (f) => {
      const text = (await readFile(join(dir, f), 'utf8')).trim();
      if (!/^\d+$/.test(text)) throw new Error(`${join(dir, f)}: not a counter: ${JSON.stringify(text)}`);
      return Number(text);
    }),
  );
  const [rxBytes, txBytes, rxPackets, txPackets] = values as [number, number, number, number];
  return { rxBytes, txBytes, rxPackets, txPackets, at: new Date() };
}

/** What the interface passed between two readings; undefined when a counter went back (re-created). */
export function counterDelta(
  before: InterfaceCounters,
  after: InterfaceCounters,
): Omit<InterfaceCounters, 'at'> | undefined {
  const d = {
    rxBytes: after.rxBytes - before.rxBytes,
    txBytes: after.txBytes - before.txBytes,
    rxPackets: after.rxPackets - before.rxPackets,
    txPackets: after.txPackets - before.txPackets,
  };
  return Object.values(d).every((v) => v >= 0) ? d : undefined;
}
