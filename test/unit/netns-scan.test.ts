import { mkdir, mkdtemp, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanNetns } from '../../src/node/netns-scan.js';

// scanNetns on a fixture /proc (each process a directory with an ns/net link and a cgroup file),
// and once on this machine's real /proc.

const UID_A = '11111111-2222-3333-4444-555555555555';
const UID_B = '66666666-7777-8888-9999-000000000000';
const UID_H = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const ID = (c: string) => c.repeat(64);
const HOST = 4026531992;
const NS_A = 4026532100;
const NS_B = 4026532200;

let proc: string;

/** A fixture process; `cgroup` "dir" makes the cgroup entry a directory (unreadable as a file). */
async function processDir(pid: number, netns: string | undefined, cgroup: string | undefined) {
  const dir = join(proc, String(pid));
  await mkdir(join(dir, 'ns'), { recursive: true });
  if (netns !== undefined) await symlink(netns, join(dir, 'ns', 'net'));
  if (cgroup === 'dir') await mkdir(join(dir, 'cgroup'));
  else if (cgroup !== undefined) await writeFile(join(dir, 'cgroup'), cgroup);
}

beforeAll(async () => {
  proc = await mkdtemp(join(tmpdir(), 'nstats-proc-'));
  await processDir(1, `net:[${HOST}]`, '0::/init.scope\n');
  await processDir(2, `net:[${HOST}]`, '0::/system.slice/containerd.service\n');
  // Pod A: the container's first process and a child of it (not the container's root).
  await processDir(100, `net:[${NS_A}]`, `0::/kubepods/burstable/pod${UID_A}/${ID('a')}\n`);
  await processDir(101, `net:[${NS_A}]`, `0::/kubepods/burstable/pod${UID_A}/${ID('a')}\n`);
  // Pod A's sandbox and a conmon, in the same namespace.
  await processDir(99, `net:[${NS_A}]`, `0::/kubepods/burstable/pod${UID_A}/${ID('0')}\n`);
  await processDir(98, `net:[${NS_A}]`, `0::/kubepods/burstable/pod${UID_A}/crio-conmon-${ID('a')}\n`);
  // Pod B, systemd driver, cgroup v1.
  await processDir(
    200,
    `net:[${NS_B}]`,
    `12:pids:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_B.replaceAll('-', '_')}.slice/cri-containerd-${ID('b')}.scope\n1:name=systemd:/\n`,
  );
  // A hostNetwork pod: the node's namespace.
  await processDir(300, `net:[${HOST}]`, `0::/kubepods/besteffort/pod${UID_H}/${ID('c')}\n`);
  // Gone mid-scan (no ns/net), unreadable (cgroup is a directory), a link of another shape.
  await processDir(400, undefined, undefined);
  await processDir(500, `net:[${NS_B}]`, 'dir');
  await processDir(600, 'mnt:[1]', '0::/\n');
  // A process in a pod's namespace whose cgroup has an unknown shape.
  await processDir(700, `net:[${NS_B}]`, '0::/some/other/runtime\n');
  // Not processes; `self` is the agent, in the node's namespace.
  await mkdir(join(proc, 'self', 'ns'), { recursive: true });
  await symlink(`net:[${HOST}]`, join(proc, 'self', 'ns', 'net'));
  await writeFile(join(proc, 'uptime'), '1 1\n');
});

afterAll(async () => {
  await rm(proc, { recursive: true, force: true });
});

describe('scanNetns', () => {
  it('gives every namespace once, with its processes, pods and a PID to enter it', async () => {
    const r = await scanNetns(proc);
    expect(r.namespaces.map((n) => [n.inode, n.host, n.enterPid, n.podUids])).toEqual([
      [HOST, true, 1, [UID_H]],
      [NS_A, false, 98, [UID_A]],
      [NS_B, false, 200, [UID_B]],
    ]);
    const a = r.namespaces[1]!;
    expect(a.processes.map((p) => [p.pid, p.identity?.containerId ?? null])).toEqual([
      [98, null],
      [99, ID('0')],
      [100, ID('a')],
      [101, ID('a')],
    ]);
    const b = r.namespaces[2]!;
    expect(b.processes.map((p) => p.pid)).toEqual([200, 700]);
    expect(b.processes[0]!.identity).toMatchObject({ runtime: 'containerd', qos: 'besteffort' });
  });

  it('skips and counts what it cannot read; host processes are not counted as unknown', async () => {
    const r = await scanNetns(proc);
    expect(r.counts).toEqual({ vanished: 1, unreadable: 2, unknownCgroup: 1, excluded: 1 });
  });

  it('fails only when /proc itself cannot be listed', async () => {
    await expect(scanNetns(join(proc, 'nope'))).rejects.toThrow(/ENOENT/);
  });

  it("on this machine's /proc: this process's namespace is the host's and holds it", async () => {
    const r = await scanNetns('/proc');
    const mine = Number(/\d+/.exec(await readlink('/proc/self/ns/net'))![0]);
    const host = r.namespaces.find((n) => n.host);
    expect(host?.inode).toBe(mine);
    expect(host?.processes.some((p) => p.pid === process.pid)).toBe(true);
    expect(new Set(r.namespaces.map((n) => n.inode)).size).toBe(r.namespaces.length);
  });
});
