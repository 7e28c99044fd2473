import type { Config } from '../config/config.js';
import type { KubeResolver } from '../enrich/kube-resolver.js';
import type { Logger } from '../log/logger.js';
import { netnsAddresses, netnsInterface } from '../node/netns-net.js';
import { scanNetns, type ScanCounts } from '../node/netns-scan.js';
import { ClusterPodDirectory, NamesPodDirectory, type PodDirectory } from '../node/pod-directory.js';
import type { NamedBy, PodNamer } from '../node/pod-namer.js';
import { RuntimeMetadata } from '../node/runtime-meta.js';
import { startClusterNames } from './build.js';

/** The runtimes' metadata on disk, from the settings. */
export function buildRuntimeMetadata(config: Config): RuntimeMetadata {
  const { dockerConfig, containerdState, crioStorage } = config.node;
  return new RuntimeMetadata({ dockerConfig, containerdState, crioStorage });
}

/**
 * Where the node agent names its pods by UID: the names service (NSTATS_NAMES_URL), or the watch
 * in this process (NSTATS_KUBERNETES: the resolvers' own when they have one); undefined with
 * neither, and the runtimes' metadata names the pods.
 */
export async function buildPodDirectory(
  config: Config,
  log: Logger,
  kube?: KubeResolver,
): Promise<PodDirectory | undefined> {
  if (config.names.url)
    return new NamesPodDirectory(config.names.url, config.names.timeoutMs, log.child({ component: 'node' }));
  if (config.names.inProcess)
    return new ClusterPodDirectory(kube?.cluster ?? (await startClusterNames(config, log)));
  return undefined;
}

/** One network namespace of the node, as `nstats node --list` shows it. */
export interface ListedNamespace {
  readonly netns: number;
  /** `node`: the node's own; `pod`: a pod's, captured; `other`: no pod's process in it, not captured. */
  readonly kind: 'node' | 'pod' | 'other';
  readonly pod?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly namedBy?: NamedBy;
  /** The interface it would be captured on; absent when it has only loopback. */
  readonly interface?: string;
  readonly address?: string;
  readonly pids: readonly number[];
}

export interface NodeListing {
  readonly namespaces: readonly ListedNamespace[];
  /** Pods in the node's namespace (hostNetwork): listed, their traffic is the node's. */
  readonly hostNetworkPods: readonly {
    readonly uid: string;
    readonly pod?: string;
    readonly namespace?: string;
    readonly namedBy: NamedBy;
    readonly pids: readonly number[];
  }[];
  /** Processes the scan skipped (gone mid-scan, unreadable, unknown cgroup, excluded). */
  readonly skipped: ScanCounts;
}

/** One scan of the node, named: what `nstats node` would capture. */
export async function listNode(config: Config, namer: PodNamer): Promise<NodeListing> {
  const root = config.node.procRoot;
  const scan = await scanNetns(root);
  const names = await namer.name(scan.namespaces.flatMap((ns) => ns.processes));
  const namespaces: ListedNamespace[] = [];
  const hostNetworkPods: NodeListing['hostNetworkPods'][number][] = [];
  for (const ns of scan.namespaces) {
    const procNet = `${root}/${ns.host ? 'self' : ns.enterPid}/net`;
    const uid = ns.host ? undefined : ns.podUids[0];
    const name = uid ? names.get(uid) : undefined;
    const iface = ns.host
      ? (config.capture.interface ?? (await netnsInterface(procNet)))
      : await netnsInterface(procNet);
    const address = uid ? (await netnsAddresses(procNet))[0] : undefined;
    namespaces.push({
      netns: ns.inode,
      kind: ns.host ? 'node' : uid ? 'pod' : 'other',
      ...(name?.pod ? { pod: name.pod } : {}),
      ...(name?.namespace ? { namespace: name.namespace } : {}),
      ...(uid ? { uid } : {}),
      ...(name ? { namedBy: name.namedBy } : {}),
      ...(iface ? { interface: iface } : {}),
      ...(address ? { address } : {}),
      pids: ns.processes.map((p) => p.pid),
    });
    if (ns.host) {
      for (const podUid of ns.podUids) {
        const n = names.get(podUid);
        hostNetworkPods.push({
          uid: podUid,
          ...(n?.pod ? { pod: n.pod } : {}),
          ...(n?.namespace ? { namespace: n.namespace } : {}),
          namedBy: n?.namedBy ?? 'cgroup',
          pids: ns.processes.filter((p) => p.identity?.podUid === podUid).map((p) => p.pid),
        });
      }
    }
  }
  return { namespaces, hostNetworkPods, skipped: scan.counts };
}

/** The listing as aligned text: namespaces, then the hostNetwork pods, then what was skipped. */
export function formatNodeListing(l: NodeListing): string {
  const pids = (list: readonly number[]) =>
    list.length <= 5 ? list.join(',') : `${list.slice(0, 5).join(',')},... (${list.length})`;
  const rows = [
    ['NETNS', 'KIND', 'POD', 'NAMED BY', 'INTERFACE', 'ADDRESS', 'PIDS'],
    ...l.namespaces.map((n) => [
      String(n.netns),
      n.kind,
      n.kind === 'pod' ? `${n.namespace ?? '?'}/${n.pod ?? n.uid ?? '?'}` : '-',
      n.namedBy ?? '-',
      n.interface ?? '(loopback only)',
      n.address ?? '-',
      pids(n.pids),
    ]),
  ];
  const out = [table(rows)];
  out.push(
    '',
    `hostNetwork pods in the node's namespace: ${l.hostNetworkPods.length} (their traffic is counted as the node's)`,
  );
  if (l.hostNetworkPods.length > 0) {
    out.push(
      table([
        ['POD', 'UID', 'NAMED BY', 'PIDS'],
        ...l.hostNetworkPods.map((p) => [
          `${p.namespace ?? '?'}/${p.pod ?? '?'}`,
          p.uid,
          p.namedBy,
          pids(p.pids),
        ]),
      ]),
    );
  }
  const s = l.skipped;
  out.push(
    '',
    `processes skipped: ${s.vanished} gone mid-scan, ${s.unreadable} unreadable, ${s.unknownCgroup} of an unknown cgroup shape, ${s.excluded} excluded`,
  );
  return `${out.join('\n')}\n`;
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '))
    .join('\n');
}
