import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NetnsCapture } from '../../src/cli/build.js';
import { NodeSource } from '../../src/node/node-source.js';
import { netDevInterfaces, parseLocalAddresses, parseNetDev } from '../../src/node/netns-net.js';
import type { NetnsInfo, ScanResult } from '../../src/node/netns-scan.js';
import { PodNamer } from '../../src/node/pod-namer.js';
import type { PodDirectory } from '../../src/node/pod-directory.js';
import { RuntimeMetadata } from '../../src/node/runtime-meta.js';
import type { Observation, Source } from '../../src/source/source.js';
import { memoryLog } from '../helpers/log.js';

// NodeSource with a scripted scan and stand-in captures: which namespaces it captures, with what
// identity, and what becomes of a capture whose namespace went away. The /proc/<pid>/net files it
// reads (interfaces, addresses) are fixtures; the real /proc and iftop are in
// test/integration/node-agent.test.ts.

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    9579      87    0    0    0     0          0         0     9579      87    0    0    0     0       0          0
  eth0: 1000000    2000    0    0    0     0          0         0   300000    1500    0    0    0     0       0          0
`;
const FIB_TRIE = `Main:
  +-- 0.0.0.0/0 3 0 5
     +-- 10.244.1.0/24 2 0 2
        |-- 10.244.1.17
           /32 host LOCAL
     |-- 127.0.0.1
        /32 host LOCAL
`;
const IF_INET6 = `fe8000000000000000fc00fffe000001 04 40 20 80     eth0
fd000010024400010000000000000011 04 40 00 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
`;

describe('reading another namespace through /proc/<pid>/net', () => {
  it('reads its interface counters, its interfaces and its own addresses', () => {
    expect(parseNetDev(NET_DEV, 'eth0')).toEqual({
      rxBytes: 1_000_000,
      rxPackets: 2000,
      txBytes: 300_000,
      txPackets: 1500,
    });
    expect(parseNetDev(NET_DEV, 'eth1')).toBeUndefined();
    expect(parseNetDev(`a\nb\n  eth0: 1 2 x\n`, 'eth0')).toBeUndefined();
    expect(netDevInterfaces(NET_DEV)).toEqual(['lo', 'eth0']);
    expect(parseLocalAddresses(FIB_TRIE, IF_INET6)).toEqual(['10.244.1.17', 'fd00:10:244:1::11']);
    expect(parseLocalAddresses('', '')).toEqual([]);
  });
});

const UID_A = '11111111-2222-4333-8444-555555555555';
const UID_B = '66666666-7777-4888-9999-000000000000';
const ID_A = 'a'.repeat(64);
const HOST = 4026531992;

let proc: string;

async function procNet(pid: string | number): Promise<void> {
  const dir = join(proc, String(pid), 'net');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'dev'), NET_DEV);
  await writeFile(join(dir, 'route'), 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n');
  await writeFile(join(dir, 'fib_trie'), FIB_TRIE);
  await writeFile(join(dir, 'if_inet6'), IF_INET6);
}

beforeAll(async () => {
  proc = await mkdtemp(join(tmpdir(), 'nstats-node-src-'));
  await procNet('self');
  await procNet(100);
  await procNet(200);
  // 300: a pod namespace with only loopback.
  await mkdir(join(proc, '300', 'net'), { recursive: true });
  await writeFile(join(proc, '300', 'net', 'dev'), NET_DEV.split('\n').slice(0, 3).join('\n'));
});
afterAll(() => rm(proc, { recursive: true, force: true }));

const ns = (inode: number, pid: number, uid?: string, id?: string): NetnsInfo => ({
  inode,
  host: inode === HOST,
  enterPid: pid,
  podUids: uid ? [uid] : [],
  processes: [
    {
      pid,
      identity: uid
        ? { podUid: uid, qos: 'burstable', path: '/x', ...(id ? { containerId: id } : {}) }
        : null,
    },
  ],
});

/** A stand-in capture: records how it was made and stopped, observes one empty period a collect. */
function fakeCaptures() {
  const made: Array<{ iface: string; wrapper?: readonly string[]; stopped: boolean }> = [];
  const makeSource = (iface: string, netns?: NetnsCapture): Source => {
    const rec: (typeof made)[number] = {
      iface,
      ...(netns ? { wrapper: netns.wrapper() } : {}),
      stopped: false,
    };
    made.push(rec);
    const observation = (): Observation => ({
      mode: 'continuous',
      interface: iface,
      command: 'fake',
      start: new Date(0),
      end: new Date(1000),
      ending: 'continuous',
      flows: [],
      tables: 1,
      issues: [],
      parseMs: 0,
    });
    return {
      mode: 'continuous',
      start: () => Promise.resolve(),
      collect: () => Promise.resolve(observation()),
      stop: () => {
        rec.stopped = true;
        return Promise.resolve(observation());
      },
    };
  };
  return { made, makeSource };
}

function source(scans: ScanResult[], directory?: PodDirectory) {
  const { made, makeSource } = fakeCaptures();
  const { log, events } = memoryLog('debug');
  let i = 0;
  const src = new NodeSource({
    mode: 'continuous',
    procRoot: proc,
    nsenterPath: 'nsenter',
    scanMs: 60_000,
    nodeName: 'node-a',
    hostName: 'machine',
    namer: new PodNamer(
      new RuntimeMetadata({
        dockerConfig: '/nonexistent',
        containerdState: '/nonexistent',
        crioStorage: '/nonexistent',
      }),
      directory,
    ),
    log,
    makeSource,
    scan: () => Promise.resolve(scans[Math.min(i++, scans.length - 1)]!),
  });
  return { src, made, events };
}

const counts = { vanished: 0, unreadable: 0, unknownCgroup: 0, excluded: 0 };

describe('NodeSource', () => {
  it('captures the node and each pod namespace, enters pods through nsenter, skips the rest', async () => {
    const { src, made } = source([
      {
        namespaces: [
          ns(HOST, 1),
          ns(4026532100, 100, UID_A, ID_A),
          ns(4026532300, 300, UID_B),
          ns(4026532400, 400),
        ],
        counts,
      },
    ]);
    await src.start();
    expect(made.map((m) => m.iface)).toEqual(['eth0', 'eth0']);
    expect(made[0]!.wrapper).toBeUndefined();
    expect(made[1]!.wrapper).toEqual(['nsenter', `--net=${proc}/100/ns/net`, '--']);
    const st = src.status();
    expect(st.unattributed).toBe(1);
    expect(st.noInterface).toBe(1);
    const obs = await src.collect();
    expect(obs.map((o) => o.identity)).toEqual([
      { host: 'node-a', node: 'node-a' },
      { host: UID_A, pod: UID_A, node: 'node-a', address: '10.244.1.17' },
    ]);
    await src.stop();
  });

  it('a pod that goes away has its capture ended, and its last period comes with the next collect', async () => {
    const withA = { namespaces: [ns(HOST, 1), ns(4026532100, 100, UID_A)], counts };
    const withoutA = { namespaces: [ns(HOST, 1)], counts };
    const { src, made, events } = source([withA, withA, withoutA]);
    await src.start();
    expect(await src.collect()).toHaveLength(2);
    const next = await src.collect();
    expect(made[1]!.stopped).toBe(true);
    // The gone pod's last period, then the node's.
    expect(next.map((o) => o.identity?.pod)).toEqual([UID_A, undefined]);
    expect(events.some((e) => String(e.msg).endsWith('is gone, its capture ends'))).toBe(true);
    const last = await src.stop();
    expect(last.map((o) => o.identity?.host)).toEqual(['node-a']);
  });

  it('names pods from the directory when it answers, and renames them when it answers later', async () => {
    let answers = false;
    const directory: PodDirectory = {
      name: 'stand-in',
      pods: (uids) =>
        Promise.resolve(
          new Map(
            answers
              ? uids.map((u) => [
                  u,
                  { kind: 'pod' as const, pod: 'web-0', namespace: 'shop', workload: 'web' },
                ])
              : [],
          ),
        ),
      close: () => undefined,
    };
    const scan = { namespaces: [ns(HOST, 1), ns(4026532100, 100, UID_A)], counts };
    const { src } = source([scan], directory);
    await src.start();
    expect((await src.collect())[1]!.identity?.pod).toBe(UID_A);
    answers = true;
    const renamed = (await src.collect())[1]!.identity;
    expect(renamed).toMatchObject({ host: 'web-0', pod: 'web-0', namespace: 'shop', workload: 'web' });
    expect(src.families().find((f) => f.name === 'nstats_node_captures')?.samples).toContainEqual({
      labels: { netns: 'pod', named_by: 'kubernetes' },
      value: 1,
    });
    await src.stop();
  });
});
