import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Real cgroups shaped like a Kubernetes pod's container, for the node agent's tests: a process
 * moved into one has `/proc/<pid>/cgroup` naming that pod's UID and container ID, as the kubelet
 * and the runtime would make it. Made under a unique top directory of a writable hierarchy of this
 * machine (cgroup v1 `pids`, or the v2 mount `unified`), so that parallel runs never share one:
 *
 *   cgroupfs  /sys/fs/cgroup/pids/nstats-test-<hex>/kubepods/burstable/pod<uid>/<64 hex>
 *   systemd   /sys/fs/cgroup/unified/nstats-test-<hex>/kubepods.slice/kubepods-besteffort.slice/
 *               kubepods-besteffort-pod<uid with _>.slice/cri-containerd-<64 hex>.scope
 *
 * (the unique top directory is read as an outer nesting, as Docker-in-Docker's, and the innermost
 * pod wins). `destroy()` moves the processes back to the hierarchy's root and removes every
 * directory made; it also runs at process exit.
 */
export interface PodCgroup {
  readonly uid: string;
  readonly containerId: string;
  /** The container's cgroup directory. */
  readonly dir: string;
  /** Moves a process into the container's cgroup. */
  add(pid: number): void;
  destroy(): void;
}

export type Hierarchy = 'pids' | 'unified';

const ROOT = '/sys/fs/cgroup';
const live = new Set<PodCgroup>();
let hooked = false;

export function createPodCgroup(
  opts: { hierarchy?: Hierarchy; driver?: 'cgroupfs' | 'systemd'; uid?: string; containerId?: string } = {},
): PodCgroup {
  const hierarchy = opts.hierarchy ?? 'pids';
  const driver = opts.driver ?? (hierarchy === 'unified' ? 'systemd' : 'cgroupfs');
  const root = join(ROOT, hierarchy);
  if (!existsSync(join(root, 'cgroup.procs'))) throw new Error(`${root} is not a cgroup hierarchy here`);
  const uid = opts.uid ?? randomUUID();
  const containerId = opts.containerId ?? randomBytes(32).toString('hex');
  const top = join(root, `nstats-test-${randomBytes(4).toString('hex')}`);
  const parts =
    driver === 'cgroupfs'
      ? ['kubepods', 'burstable', `pod${uid}`, containerId]
      : [
          'kubepods.slice',
          'kubepods-besteffort.slice',
          `kubepods-besteffort-pod${uid.replaceAll('-', '_')}.slice`,
          `cri-containerd-${containerId}.scope`,
        ];
  const dirs = parts.reduce<string[]>((acc, p) => [...acc, join(acc.at(-1) ?? top, p)], []);
  mkdirSync(dirs.at(-1)!, { recursive: true });
  const dir = dirs.at(-1)!;
  let destroyed = false;
  const cg: PodCgroup = {
    uid,
    containerId,
    dir,
    add(pid) {
      writeFileSync(join(dir, 'cgroup.procs'), String(pid));
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      live.delete(cg);
      for (const d of [...dirs].reverse()) {
        const procs = join(d, 'cgroup.procs');
        if (existsSync(procs)) {
          for (const pid of readFileSync(procs, 'utf8').split('\n').filter(Boolean)) {
            try {
              writeFileSync(join(root, 'cgroup.procs'), pid);
            } catch {
              // Exited meanwhile.
            }
          }
        }
        try {
          rmdirSync(d);
        } catch {
          // Already gone.
        }
      }
      try {
        rmdirSync(top);
      } catch {
        // Already gone.
      }
    },
  };
  live.add(cg);
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of [...live]) c.destroy();
    });
  }
  return cg;
}
