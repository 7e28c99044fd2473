import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCgroupFile, type CgroupIdentity } from './cgroup.js';

/**
 * One scan of `/proc` for the node agent: every network namespace on the node (each inode once),
 * the processes in it, and the pod and container each process belongs to (from its cgroup).
 *
 * `/proc` is a setting (`procRoot`) so tests run on fixture trees. A process can exit between the
 * listing and the reads, and some entries cannot be read: such a process is skipped and counted,
 * never fatal.
 */

export interface ProcessInfo {
  readonly pid: number;
  /** null: a host process, or an excluded one (conmon, a mount unit), or a cgroup of unknown shape. */
  readonly identity: CgroupIdentity | null;
}

export interface NetnsInfo {
  /** The namespace's inode (`net:[<inode>]`). */
  readonly inode: number;
  /** The node's own namespace: the agent's (it runs with hostNetwork), else PID 1's. */
  readonly host: boolean;
  /** Its processes, lowest PID first. */
  readonly processes: readonly ProcessInfo[];
  /** The pod UIDs of its processes: one for a pod's namespace, any number for the host's (hostNetwork pods). */
  readonly podUids: readonly string[];
  /** A PID to enter the namespace through (`/proc/<pid>/ns/net`): the lowest. */
  readonly enterPid: number;
}

export interface ScanCounts {
  /** Processes that went away between the listing and the reads. */
  vanished: number;
  /** Processes whose entries could not be read (permission, I/O). */
  unreadable: number;
  /** Processes whose cgroup names no pod in a shape nstats knows, outside the host namespace. */
  unknownCgroup: number;
  /** Processes excluded by their cgroup (CRI-O conmon, mount units). */
  excluded: number;
}

export interface ScanResult {
  readonly namespaces: readonly NetnsInfo[];
  readonly counts: ScanCounts;
}

const NETNS_LINK = /^net:\[(\d+)\]$/;

function errorCode(err: unknown): string | undefined {
  return err && typeof err === 'object' && 'code' in err ? String(err.code) : undefined;
}

/** Gone, as opposed to unreadable: the process exited mid-scan. */
const isGone = (err: unknown) => errorCode(err) === 'ENOENT' || errorCode(err) === 'ESRCH';

export async function scanNetns(procRoot = '/proc'): Promise<ScanResult> {
  const counts: ScanCounts = { vanished: 0, unreadable: 0, unknownCgroup: 0, excluded: 0 };
  const pids = (await readdir(procRoot))
    .filter((name) => /^[1-9]\d*$/.test(name))
    .map(Number)
    .sort((a, b) => a - b);

  // The agent runs in the node's network namespace (hostNetwork), so its own is the host's; PID 1's
  // link, the other way to know, is unreadable without ptrace rights over PID 1.
  let hostInode: number | undefined;
  for (const who of ['self', '1']) {
    try {
      hostInode = parseLink(await readlink(join(procRoot, who, 'ns', 'net')));
      if (hostInode !== undefined) break;
    } catch {
      // Try the next; with neither, no namespace is marked host.
    }
  }

  const byInode = new Map<number, { processes: ProcessInfo[]; unknown: number }>();
  for (const pid of pids) {
    let inode: number | undefined;
    let cgroup: string;
    try {
      inode = parseLink(await readlink(join(procRoot, String(pid), 'ns', 'net')));
      cgroup = await readFile(join(procRoot, String(pid), 'cgroup'), 'utf8');
    } catch (err) {
      if (isGone(err)) counts.vanished++;
      else counts.unreadable++;
      continue;
    }
    if (inode === undefined) {
      counts.unreadable++;
      continue;
    }
    const r = parseCgroupFile(cgroup);
    let entry = byInode.get(inode);
    if (!entry) byInode.set(inode, (entry = { processes: [], unknown: 0 }));
    if (r.kind === 'pod') entry.processes.push({ pid, identity: r.identity });
    else {
      if (r.kind === 'excluded') counts.excluded++;
      else entry.unknown++;
      entry.processes.push({ pid, identity: null });
    }
  }

  const namespaces: NetnsInfo[] = [];
  for (const [inode, { processes, unknown }] of byInode) {
    const host = inode === hostInode;
    if (!host) counts.unknownCgroup += unknown;
    const podUids = [...new Set(processes.flatMap((p) => (p.identity ? [p.identity.podUid] : [])))].sort();
    namespaces.push({ inode, host, processes, podUids, enterPid: processes[0]!.pid });
  }
  namespaces.sort((a, b) => Number(b.host) - Number(a.host) || a.inode - b.inode);
  return { namespaces, counts };
}

function parseLink(target: string): number | undefined {
  const m = NETNS_LINK.exec(target);
  return m ? Number(m[1]) : undefined;
}
