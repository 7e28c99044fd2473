import type { Runtime } from './cgroup.js';
import type { ProcessInfo } from './netns-scan.js';
import type { PodDirectory } from './pod-directory.js';
import type { RuntimeMetadata } from './runtime-meta.js';

/** Where a pod's name came from. */
export type NamedBy = 'kubernetes' | Runtime | 'cgroup';

/** A pod the node agent found, named as well as it could be. */
export interface PodName {
  readonly uid: string;
  /** The pod's name; absent when only its cgroup knows it (then its UID stands in). */
  readonly pod?: string;
  readonly namespace?: string;
  /** Only the API knows it (see workloadOf). */
  readonly workload?: string;
  readonly namedBy: NamedBy;
}

/**
 * Names the pods of the processes the scan found: from the Kubernetes API (the names service or
 * the watch in this process) by UID, else from the runtime's metadata of any of the pod's
 * containers, else by the UID alone. An answer of the API is kept; a pod named otherwise is asked
 * of the API again at the next scan, so a names service that comes up later names it then. The
 * runtime's answer for a container never changes, so it is read once.
 */
export class PodNamer {
  private readonly fromApi = new Map<string, PodName>();
  private readonly fromRuntime = new Map<string, PodName | null>();

  constructor(
    private readonly runtime: RuntimeMetadata,
    private readonly directory?: PodDirectory,
  ) {}

  /** Names every pod of `processes` (by the UID of their cgroup). */
  async name(processes: readonly ProcessInfo[]): Promise<Map<string, PodName>> {
    const byUid = new Map<string, ProcessInfo[]>();
    for (const p of processes) {
      if (!p.identity) continue;
      const list = byUid.get(p.identity.podUid);
      if (list) list.push(p);
      else byUid.set(p.identity.podUid, [p]);
    }
    const ask = [...byUid.keys()].filter((uid) => !this.fromApi.has(uid));
    if (this.directory && ask.length > 0) {
      for (const [uid, id] of await this.directory.pods(ask)) {
        this.fromApi.set(uid, {
          uid,
          ...(id.pod ? { pod: id.pod } : {}),
          ...(id.namespace ? { namespace: id.namespace } : {}),
          ...(id.workload ? { workload: id.workload } : {}),
          namedBy: 'kubernetes',
        });
      }
    }
    const out = new Map<string, PodName>();
    for (const [uid, members] of byUid) {
      out.set(
        uid,
        this.fromApi.get(uid) ?? (await this.byRuntime(uid, members)) ?? { uid, namedBy: 'cgroup' },
      );
    }
    return out;
  }

  /** Forgets pods no longer on the node. */
  retain(uids: ReadonlySet<string>): void {
    for (const m of [this.fromApi, this.fromRuntime])
      for (const uid of m.keys()) if (!uids.has(uid)) m.delete(uid);
  }

  private async byRuntime(uid: string, members: readonly ProcessInfo[]): Promise<PodName | undefined> {
    const known = this.fromRuntime.get(uid);
    if (known !== undefined) return known ?? undefined;
    const tried = new Set<string>();
    for (const { identity } of members) {
      const id = identity?.containerId;
      if (!id || tried.has(id)) continue;
      tried.add(id);
      const meta = await this.runtime.lookup(id, identity.runtime);
      if (!meta) continue;
      const named: PodName = { uid, pod: meta.podName, namespace: meta.podNamespace, namedBy: meta.runtime };
      this.fromRuntime.set(uid, named);
      return named;
    }
    // Not cached when no container had an ID yet: a later scan may see one.
    if (tried.size > 0) this.fromRuntime.set(uid, null);
    return undefined;
  }
}
