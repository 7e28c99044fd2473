import type { NetnsCapture } from '../cli/build.js';
import type { Family, MetricsPage } from '../health/exposition.js';
import type { IdentityConfig } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { MultiSource, Observation, Source, SourceMode } from '../source/source.js';
import { netnsAddresses, netnsInterface, readNetnsCounters } from './netns-net.js';
import { scanNetns, type NetnsInfo, type ScanCounts, type ScanResult } from './netns-scan.js';
import type { NamedBy, PodName, PodNamer } from './pod-namer.js';

export interface NodeSourceOptions {
  readonly mode: SourceMode;
  /** Where /proc is (the host's, with hostPID). */
  readonly procRoot: string;
  readonly nsenterPath: string;
  /** How often /proc is scanned for namespaces that came or went, besides every tick. */
  readonly scanMs: number;
  /** The node's name (NODE_NAME), the `node` tag of every point. */
  readonly nodeName?: string;
  /** The `hosts` tag of the node's own namespace when NODE_NAME is unset. */
  readonly hostName: string;
  /** The interface captured in the node's own namespace; default: its default route's. */
  readonly hostInterface?: string;
  readonly namer: PodNamer;
  readonly log: Logger;
  /** A capture on `iface`; in a pod's namespace through `netns`. */
  readonly makeSource: (iface: string, netns?: NetnsCapture) => Source;
  readonly scan?: (procRoot: string) => Promise<ScanResult>;
}

/** One network namespace the agent captures in: a pod's, or the node's own. */
interface Watched {
  readonly inode: number;
  readonly host: boolean;
  /** The pod's UID (absent for the node's namespace). */
  readonly podUid?: string;
  /** A process in the namespace, to enter it and read its /proc/<pid>/net through; updated each scan. */
  enterPid: number;
  identity: IdentityConfig;
  namedBy: NamedBy | 'node';
  readonly interface: string;
  readonly source: Source;
  readonly started: Promise<void>;
}

/** A pod sharing the node's namespace (hostNetwork), as `nstats node --list` shows it. */
export interface HostNetworkPod extends PodName {
  readonly pids: readonly number[];
}

/** What the agent watches now, for `/metrics` and `nstats node --list`. */
export interface NodeStatus {
  readonly captures: readonly {
    readonly inode: number;
    readonly host: boolean;
    readonly identity: IdentityConfig;
    readonly namedBy: NamedBy | 'node';
    readonly interface: string;
    readonly enterPid: number;
  }[];
  readonly hostNetworkPods: readonly HostNetworkPod[];
  /** Namespaces with no pod in them (not the node's): not captured. */
  readonly unattributed: number;
  /** Namespaces of pods skipped for now: no interface but loopback. */
  readonly noInterface: number;
  /** Since start-up: scans, namespaces picked up and dropped, and the scan's own counts. */
  readonly totals: ScanCounts & { scans: number; added: number; dropped: number };
}

/**
 * `nstats node`'s source: one capture per pod network namespace of the node, and one in the node's
 * own, each an ordinary Source (iftop, sampled or continuous) run inside its namespace through
 * `nsenter --net=/proc/<pid>/ns/net`, with the interface counters of that namespace's
 * `/proc/<pid>/net/dev`. /proc is scanned every `scanMs` and at every tick: a namespace that
 * appears is captured from then on, one that went away has its capture ended, and what that
 * capture held since the last tick is written at the next one (nothing is lost). A namespace
 * without a pod's process (not a Kubernetes pod's) is counted, not captured.
 */
export class NodeSource implements MultiSource, MetricsPage {
  readonly multi = true;
  readonly mode: SourceMode;
  private readonly watched = new Map<number, Watched>();
  /** Last observations of captures ended since the last collect. */
  private pending: Observation[] = [];
  private refreshing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private hostNetworkPods: HostNetworkPod[] = [];
  private hostNetworkKey = '';
  private unattributed = 0;
  private noInterface = 0;
  private readonly totals = {
    scans: 0,
    added: 0,
    dropped: 0,
    vanished: 0,
    unreadable: 0,
    unknownCgroup: 0,
    excluded: 0,
  };

  constructor(private readonly o: NodeSourceOptions) {
    this.mode = o.mode;
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.o.scanMs);
    this.timer.unref();
  }

  /** Scans /proc now (after a scan under way), and starts and ends captures to match. */
  refresh(): Promise<void> {
    if (this.stopped) return this.refreshing;
    this.refreshing = this.refreshing.then(() =>
      this.scanOnce().catch((err: unknown) =>
        this.o.log.error({ err }, `node: scan of ${this.o.procRoot} failed: ${(err as Error).message}`),
      ),
    );
    return this.refreshing;
  }

  async collect(signal?: AbortSignal): Promise<readonly Observation[]> {
    await this.refresh();
    const current = [...this.watched.values()];
    const observed = await Promise.all(
      current.map(async (w): Promise<Observation | undefined> => {
        await w.started;
        try {
          return { ...(await w.source.collect(signal)), identity: w.identity };
        } catch (err) {
          this.o.log.warn(
            { pod: w.identity.pod, netns: w.inode, err },
            `${w.identity.pod ?? 'node'}: ${(err as Error).message}`,
          );
          return undefined;
        }
      }),
    );
    const out = [...this.pending, ...observed.filter((o): o is Observation => o !== undefined)];
    this.pending = [];
    return out;
  }

  async stop(deadline?: number): Promise<readonly Observation[]> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.refreshing;
    const all = [...this.watched.values()];
    this.watched.clear();
    const last = await Promise.all(all.map((w) => this.end(w, deadline)));
    const out = [...this.pending, ...last.filter((o): o is Observation => o !== undefined)];
    this.pending = [];
    return out;
  }

  status(): NodeStatus {
    return {
      captures: [...this.watched.values()].map((w) => ({
        inode: w.inode,
        host: w.host,
        identity: w.identity,
        namedBy: w.namedBy,
        interface: w.interface,
        enterPid: w.enterPid,
      })),
      hostNetworkPods: this.hostNetworkPods,
      unattributed: this.unattributed,
      noInterface: this.noInterface,
      totals: { ...this.totals },
    };
  }

  /** The agent's gauges and counters on `/metrics`. */
  families(): Family[] {
    const st = this.status();
    const pods = st.captures.filter((c) => !c.host);
    const named = (by: string) => pods.filter((c) => c.namedBy === by).length;
    return [
      {
        name: 'nstats_node_captures',
        help: "Captures running: one per pod network namespace, by what named the pod, and the node's own.",
        type: 'gauge',
        samples: [
          { labels: { netns: 'node' }, value: st.captures.length - pods.length },
          ...(['kubernetes', 'docker', 'containerd', 'crio', 'cgroup'] as const).map((by) => ({
            labels: { netns: 'pod', named_by: by },
            value: named(by),
          })),
        ],
      },
      {
        name: 'nstats_node_host_network_pods',
        help: "Pods sharing the node's network namespace (hostNetwork): their traffic is the node's.",
        type: 'gauge',
        samples: [{ value: st.hostNetworkPods.length }],
      },
      {
        name: 'nstats_node_namespaces_skipped',
        help: 'Network namespaces not captured at the last scan: no pod in them, or no interface but loopback.',
        type: 'gauge',
        samples: [
          { labels: { reason: 'no_pod' }, value: st.unattributed },
          { labels: { reason: 'no_interface' }, value: st.noInterface },
        ],
      },
      {
        name: 'nstats_node_scans_total',
        help: 'Scans of /proc for network namespaces.',
        type: 'counter',
        samples: [{ value: st.totals.scans }],
      },
      {
        name: 'nstats_node_captures_total',
        help: 'Captures started (a namespace appeared) and ended (it went away).',
        type: 'counter',
        samples: [
          { labels: { event: 'started' }, value: st.totals.added },
          { labels: { event: 'ended' }, value: st.totals.dropped },
        ],
      },
      {
        name: 'nstats_node_processes_skipped_total',
        help: "Processes a scan skipped: gone mid-scan, unreadable, a cgroup of unknown shape outside the node's namespace, excluded (conmon, mount units).",
        type: 'counter',
        samples: (['vanished', 'unreadable', 'unknownCgroup', 'excluded'] as const).map((k) => ({
          labels: { reason: k === 'unknownCgroup' ? 'unknown_cgroup' : k },
          value: st.totals[k],
        })),
      },
    ];
  }

  private async scanOnce(): Promise<void> {
    const scan = await (this.o.scan ?? scanNetns)(this.o.procRoot);
    if (this.stopped) return;
    this.totals.scans++;
    for (const k of ['vanished', 'unreadable', 'unknownCgroup', 'excluded'] as const)
      this.totals[k] += scan.counts[k];
    const wanted = scan.namespaces.filter((ns) => ns.host || ns.podUids.length > 0);
    this.unattributed = scan.namespaces.length - wanted.length;
    const names = await this.o.namer.name(wanted.flatMap((ns) => ns.processes));
    this.o.namer.retain(new Set(names.keys()));

    const present = new Set<number>();
    let noInterface = 0;
    for (const ns of wanted) {
      present.add(ns.inode);
      const known = this.watched.get(ns.inode);
      if (known) {
        known.enterPid = ns.enterPid;
        if (known.podUid) this.rename(known, names.get(known.podUid));
        continue;
      }
      if (!(await this.add(ns, names))) noInterface++;
    }
    this.noInterface = noInterface;
    for (const [inode, w] of [...this.watched]) {
      if (present.has(inode)) continue;
      this.watched.delete(inode);
      this.totals.dropped++;
      this.o.log.info(
        { netns: inode, pod: w.identity.pod, namespace: w.identity.namespace },
        `node: ${w.identity.namespace ?? ''}/${w.identity.pod ?? ''} is gone, its capture ends`,
      );
      const last = await this.end(w);
      if (last) this.pending.push(last);
    }
    this.noteHostNetwork(
      scan.namespaces.find((ns) => ns.host),
      names,
    );
  }

  /** Starts capturing in a namespace; false when it has no interface to capture on yet. */
  private async add(ns: NetnsInfo, names: ReadonlyMap<string, PodName>): Promise<boolean> {
    const procNet = `${this.o.procRoot}/${ns.host ? 'self' : ns.enterPid}/net`;
    const iface = ns.host
      ? (this.o.hostInterface ?? (await netnsInterface(procNet)))
      : await netnsInterface(procNet);
    if (!iface) return false;
    const { nodeName, hostName, procRoot, nsenterPath } = this.o;
    const podUid = ns.host ? undefined : ns.podUids[0]!;
    if (!ns.host && ns.podUids.length > 1) {
      this.o.log.warn(
        { netns: ns.inode, pods: ns.podUids },
        'node: processes of more than one pod share a namespace; it is counted as the first',
      );
    }
    const address = ns.host ? undefined : (await netnsAddresses(procNet))[0];
    const w: Partial<Watched> & { enterPid: number } = { enterPid: ns.enterPid };
    const netns: NetnsCapture | undefined = ns.host
      ? undefined
      : {
          wrapper: () => [nsenterPath, `--net=${procRoot}/${w.enterPid}/ns/net`, '--'],
          readCounters: () => readNetnsCounters(`${procRoot}/${w.enterPid}/net`, iface),
        };
    const source = this.o.makeSource(iface, netns);
    const watched: Watched = Object.assign(w, {
      inode: ns.inode,
      host: ns.host,
      ...(podUid ? { podUid } : {}),
      identity: ns.host
        ? { host: nodeName ?? hostName, ...(nodeName ? { node: nodeName } : {}) }
        : podIdentity(names.get(podUid!) ?? { uid: podUid!, namedBy: 'cgroup' }, nodeName, address),
      namedBy: ns.host ? ('node' as const) : (names.get(podUid!)?.namedBy ?? 'cgroup'),
      interface: iface,
      source,
      started: source
        .start()
        .catch((err: unknown) =>
          this.o.log.error(
            { netns: ns.inode, err },
            `capture: cannot start iftop: ${(err as Error).message}`,
          ),
        ),
    });
    this.watched.set(ns.inode, watched);
    this.totals.added++;
    this.o.log.info(
      {
        netns: ns.inode,
        pod: watched.identity.pod,
        namespace: watched.identity.namespace,
        namedBy: watched.namedBy,
        interface: iface,
        pid: ns.enterPid,
      },
      ns.host
        ? `node: capturing the node's own namespace on ${iface}`
        : `node: capturing ${watched.identity.namespace ?? ''}/${watched.identity.pod ?? ''} on ${iface}`,
    );
    return true;
  }

  /** A pod named better now (the names service answered): its points carry the new names. */
  private rename(w: Watched, name: PodName | undefined): void {
    if (!name || name.namedBy === w.namedBy) return;
    w.identity = podIdentity(name, this.o.nodeName, w.identity.address);
    w.namedBy = name.namedBy;
    this.o.log.info(
      { netns: w.inode, pod: name.pod, namespace: name.namespace, namedBy: name.namedBy },
      'node: pod renamed',
    );
  }

  private async end(w: Watched, deadline?: number): Promise<Observation | undefined> {
    await w.started;
    try {
      const last = await w.source.stop(deadline);
      return last ? { ...last, identity: w.identity } : undefined;
    } catch (err) {
      this.o.log.warn({ netns: w.inode, err }, `capture: stopping iftop: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** The hostNetwork pods in the node's namespace, logged when they change. */
  private noteHostNetwork(host: NetnsInfo | undefined, names: ReadonlyMap<string, PodName>): void {
    const pids = new Map<string, number[]>();
    for (const p of host?.processes ?? []) {
      if (!p.identity) continue;
      const list = pids.get(p.identity.podUid);
      if (list) list.push(p.pid);
      else pids.set(p.identity.podUid, [p.pid]);
    }
    this.hostNetworkPods = [...pids].map(([uid, list]) => ({
      ...(names.get(uid) ?? { uid, namedBy: 'cgroup' as const }),
      pids: list,
    }));
    const key = this.hostNetworkPods.map((p) => `${p.uid}:${p.pod ?? ''}`).join(',');
    if (key === this.hostNetworkKey) return;
    this.hostNetworkKey = key;
    this.o.log.info(
      {
        pods: this.hostNetworkPods.map((p) => ({
          pod: p.pod ?? p.uid,
          namespace: p.namespace,
          pids: p.pids.length,
        })),
      },
      `node: ${this.hostNetworkPods.length} hostNetwork pods share the node's namespace (their traffic is the node's)`,
    );
  }
}

/** The tags of a pod's points: its name (its UID when nothing named it), namespace, workload, node. */
export function podIdentity(
  name: PodName,
  nodeName: string | undefined,
  address: string | undefined,
): IdentityConfig {
  const pod = name.pod ?? name.uid;
  return {
    host: pod,
    pod,
    ...(name.namespace ? { namespace: name.namespace } : {}),
    ...(name.workload ? { workload: name.workload } : {}),
    ...(nodeName ? { node: nodeName } : {}),
    ...(address ? { address } : {}),
  };
}
