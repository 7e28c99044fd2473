import { workloadOf, type OwnerReference } from './workload.js';

/** What kind of peer an address is: a pod's, a Service's, a node's, or none of the cluster's. */
export type PeerKind = 'pod' | 'service' | 'node' | 'external';

/** What the cluster says of one address. */
export interface Identity {
  readonly kind: PeerKind;
  /**
   * The name to show: a pod's workload (`checkout`), a Service's name, `node/<name>` for a node;
   * absent for `external`.
   */
  readonly name?: string;
  readonly namespace?: string;
  /** A pod's workload name (see workloadOf), a Service's own name. */
  readonly workload?: string;
  /** `Deployment`, `StatefulSet`, `DaemonSet`, `CronJob`, `Job`, `Pod`, ...; `Service` for a Service. */
  readonly workloadKind?: string;
  /** The pod's own name (kind `pod`). */
  readonly pod?: string;
  /** The node a pod runs on, or the node itself. */
  readonly node?: string;
}

/**
 * The kubelet's annotation on a static pod's mirror in the API: the hash that is the static pod's
 * own UID on its node (its cgroup's name), while the mirror has a UID of its own.
 */
export const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

/** The parts of API objects the index reads, in the API's JSON shape (dates as strings or Dates). */
interface ObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly creationTimestamp?: string | Date;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly ownerReferences?: readonly OwnerReference[];
}

export interface PodObject {
  readonly metadata?: ObjectMeta;
  readonly spec?: { readonly nodeName?: string; readonly hostNetwork?: boolean };
  readonly status?: {
    readonly phase?: string;
    readonly podIP?: string;
    readonly podIPs?: readonly { readonly ip?: string }[];
  };
}

export interface ServiceObject {
  readonly metadata?: ObjectMeta;
  readonly spec?: {
    readonly clusterIP?: string;
    readonly clusterIPs?: readonly string[];
    readonly externalIPs?: readonly string[];
  };
  readonly status?: { readonly loadBalancer?: { readonly ingress?: readonly { readonly ip?: string }[] } };
}

export interface NodeObject {
  readonly metadata?: ObjectMeta;
  readonly status?: { readonly addresses?: readonly { readonly type?: string; readonly address?: string }[] };
}

/** A watch event's type, as the API sends it. */
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** The core/v1 resources the index is fed. */
export type Resource = 'pods' | 'services' | 'nodes';

/** A list under way: see ClusterIndex.relist. */
export interface Relist {
  page(items: readonly object[]): void;
  done(): void;
}

export interface IndexCounts {
  readonly pods: number;
  readonly services: number;
  readonly nodes: number;
  /** Addresses named now: pods', Services' and nodes'. */
  readonly addresses: number;
  /** Addresses of pods gone that are still named for the grace period. */
  readonly departed: number;
}

interface PodEntry {
  readonly identity: Identity;
  /** When the pod was made (ms): the newest pod holding an address wins. */
  readonly created: number;
  /** The addresses it holds (none while Succeeded or Failed, or with hostNetwork). */
  readonly addresses: readonly string[];
}

interface AddressOwner {
  readonly identity: Identity;
  readonly addresses: readonly string[];
}

/** How often departed addresses past their grace period are swept out (ms). */
const SWEEP_MS = 10_000;

/**
 * Address -> identity for one cluster, fed by the list and watch events of pods, Services and
 * nodes. It keeps one small entry per object (its identity and its addresses), not the objects.
 *
 * - Pods: every `status.podIPs` (and `podIP`), Ready or not, while the pod's phase is not
 *   Succeeded or Failed. When two pods claim one address (a reused IP whose old pod's deletion
 *   has not come yet), the one made last wins; the address falls back to the other if the winner
 *   goes first. An address a pod gives up (deleted, finished, or a new IP) stays named as that
 *   pod for `graceMs`, so that late flows are still named, unless another pod holds it.
 * - Pods with `hostNetwork` use their node's address: it is named as the node (from the Node's
 *   addresses, else from the pod's `spec.nodeName`), never as one of the pods on it.
 * - Services: every `spec.clusterIPs` (dual-stack), `externalIPs` and load-balancer ingress IP.
 * - Nodes: their InternalIP and ExternalIP addresses, named `node/<name>`.
 * A pod's address wins over a Service's, a Service's over a node's.
 */
export class ClusterIndex {
  private readonly pods = new Map<string, PodEntry>();
  /** Static pods' mirrors by the hash their node knows them by (MIRROR_ANNOTATION). */
  private readonly mirrors = new Map<string, string>();
  private readonly mirrorOf = new Map<string, string>();
  /** Pods holding each address; nearly always one. */
  private readonly podsByAddress = new Map<string, PodEntry[]>();
  private readonly departed = new Map<string, { readonly identity: Identity; readonly until: number }>();
  private readonly services = new Map<string, AddressOwner>();
  private readonly servicesByAddress = new Map<string, AddressOwner>();
  private readonly nodes = new Map<string, AddressOwner>();
  private readonly nodesByAddress = new Map<string, AddressOwner>();
  /** Node addresses learnt from hostNetwork pods, for nodes the index has not seen. */
  private readonly hostNetwork = new Map<string, Identity>();
  /** One copy of each namespace, workload and node name, shared by every entry. */
  private readonly strings = new Map<string, string>();
  private lastSweep = 0;

  constructor(
    private readonly graceMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** What the cluster says of `address`; undefined when it is none of the cluster's. */
  lookup(address: string): Identity | undefined {
    const pods = this.podsByAddress.get(address);
    if (pods) return pods[0]!.identity;
    const service = this.servicesByAddress.get(address);
    if (service) return service.identity;
    const node = this.nodesByAddress.get(address);
    if (node) return node.identity;
    const gone = this.departed.get(address);
    if (gone) {
      if (gone.until > this.now()) return gone.identity;
      this.departed.delete(address);
    }
    return this.hostNetwork.get(address);
  }

  /**
   * The pod of this UID, as the kubelet names its cgroup: the API's UID, or a static pod's hash
   * (32 hex digits, its mirror's MIRROR_ANNOTATION). Undefined for a pod the index does not hold.
   */
  podByUid(uid: string): Identity | undefined {
    return this.pods.get(uid)?.identity ?? this.pods.get(this.mirrors.get(uid) ?? '')?.identity;
  }

  get counts(): IndexCounts {
    this.sweep(true);
    return {
      pods: this.pods.size,
      services: this.services.size,
      nodes: this.nodes.size,
      addresses: this.podsByAddress.size + this.servicesByAddress.size + this.nodesByAddress.size,
      departed: this.departed.size,
    };
  }

  pod(type: EventType, pod: PodObject): void {
    const uid = podKey(pod);
    const old = this.pods.get(uid);
    const mirror = pod.metadata?.annotations?.[MIRROR_ANNOTATION];
    if (type === 'DELETED') {
      if (old) this.dropPod(uid, old, old.addresses);
    } else if (mirror) {
      this.mirrors.set(mirror, uid);
      this.mirrorOf.set(uid, mirror);
    }
    if (type !== 'DELETED') {
      const entry = this.podEntry(pod);
      if (old)
        this.dropPod(
          uid,
          old,
          old.addresses.filter((a) => !entry.addresses.includes(a)),
        );
      this.pods.set(uid, entry);
      for (const a of entry.addresses) this.claim(a, entry, old);
      if (pod.spec?.hostNetwork && pod.spec.nodeName) {
        const identity = this.nodeIdentity(pod.spec.nodeName);
        for (const a of addressesOf(pod)) this.hostNetwork.set(a, identity);
      }
    }
    this.sweep();
  }

  service(type: EventType, service: ServiceObject): void {
    const key = serviceKey(service);
    const addresses = type === 'DELETED' ? [] : serviceAddresses(service);
    const namespace = this.intern(service.metadata?.namespace);
    const name = this.intern(service.metadata?.name);
    this.replaceOwner(this.services, this.servicesByAddress, key, addresses, {
      kind: 'service',
      ...(name ? { name, workload: name } : {}),
      ...(namespace ? { namespace } : {}),
      workloadKind: 'Service',
    });
  }

  node(type: EventType, node: NodeObject): void {
    const name = node.metadata?.name ?? '';
    const addresses =
      type === 'DELETED'
        ? []
        : (node.status?.addresses ?? [])
            .filter((a) => (a.type === 'InternalIP' || a.type === 'ExternalIP') && a.address)
            .map((a) => a.address!);
    this.replaceOwner(this.nodes, this.nodesByAddress, name, addresses, this.nodeIdentity(name));
  }

  /**
   * A (re)list of one resource, page by page: each page is applied as it comes (so only one page
   * is held in memory at a time), and `done()` forgets the objects the index held that no page
   * had, deleted while nobody watched. A list that fails before `done()` deletes nothing.
   */
  relist(resource: Resource): Relist {
    const seen = new Set<string>();
    const apply: (o: object) => string = {
      pods: (o: PodObject) => (this.pod('ADDED', o), podKey(o)),
      services: (o: ServiceObject) => (this.service('ADDED', o), serviceKey(o)),
      nodes: (o: NodeObject) => (this.node('ADDED', o), o.metadata?.name ?? ''),
    }[resource];
    return {
      page: (items) => {
        for (const o of items) seen.add(apply(o));
      },
      done: () => {
        if (resource === 'pods') {
          for (const [uid, entry] of [...this.pods])
            if (!seen.has(uid)) this.dropPod(uid, entry, entry.addresses);
          return;
        }
        const [owners, byAddress] =
          resource === 'services'
            ? [this.services, this.servicesByAddress]
            : [this.nodes, this.nodesByAddress];
        for (const key of [...owners.keys()])
          if (!seen.has(key)) this.replaceOwner(owners, byAddress, key, [], undefined);
      },
    };
  }

  /** A relist in one page. */
  replace(resource: Resource, items: readonly object[]): void {
    const r = this.relist(resource);
    r.page(items);
    r.done();
  }

  private podEntry(pod: PodObject): PodEntry {
    const meta = pod.metadata ?? {};
    const w = workloadOf(meta);
    const namespace = this.intern(meta.namespace);
    const workload = this.intern(w.name);
    const node = this.intern(pod.spec?.nodeName);
    const identity: Identity = {
      kind: 'pod',
      ...(workload ? { name: workload, workload } : {}),
      ...(namespace ? { namespace } : {}),
      workloadKind: this.intern(w.kind)!,
      ...(meta.name ? { pod: meta.name } : {}),
      ...(node ? { node } : {}),
    };
    const phase = pod.status?.phase;
    const holds = !pod.spec?.hostNetwork && phase !== 'Succeeded' && phase !== 'Failed';
    const created = meta.creationTimestamp ? new Date(meta.creationTimestamp).getTime() : 0;
    return {
      identity,
      created: Number.isFinite(created) ? created : 0,
      addresses: holds ? addressesOf(pod) : [],
    };
  }

  /** `entry` holds `address` (replacing `old`, the same pod's previous entry, if it was there). */
  private claim(address: string, entry: PodEntry, old: PodEntry | undefined): void {
    // Newest first; the sort is stable, so a tie goes to the pod whose event came last.
    const others = (this.podsByAddress.get(address) ?? []).filter((p) => p !== old && p !== entry);
    const holders = [entry, ...others].sort((a, b) => b.created - a.created);
    this.podsByAddress.set(address, holders);
    this.departed.delete(address);
  }

  /** The pod gives up `addresses` (all of them when deleted: then it is forgotten). */
  private dropPod(uid: string, entry: PodEntry, addresses: readonly string[]): void {
    if (addresses === entry.addresses) {
      this.pods.delete(uid);
      const hash = this.mirrorOf.get(uid);
      if (hash !== undefined && this.mirrors.get(hash) === uid) this.mirrors.delete(hash);
      this.mirrorOf.delete(uid);
    }
    const until = this.now() + this.graceMs;
    for (const a of addresses) {
      const holders = this.podsByAddress.get(a)?.filter((p) => p !== entry);
      if (holders && holders.length > 0) {
        this.podsByAddress.set(a, holders);
        continue;
      }
      this.podsByAddress.delete(a);
      if (this.graceMs > 0) this.departed.set(a, { identity: entry.identity, until });
    }
  }

  private replaceOwner(
    owners: Map<string, AddressOwner>,
    byAddress: Map<string, AddressOwner>,
    key: string,
    addresses: readonly string[],
    identity: Identity | undefined,
  ): void {
    const old = owners.get(key);
    if (old) for (const a of old.addresses) if (byAddress.get(a) === old) byAddress.delete(a);
    if (!identity || addresses.length === 0) {
      owners.delete(key);
      return;
    }
    const owner = { identity, addresses };
    owners.set(key, owner);
    for (const a of addresses) byAddress.set(a, owner);
  }

  private nodeIdentity(name: string): Identity {
    const node = this.intern(name)!;
    return { kind: 'node', name: this.intern(`node/${node}`)!, node };
  }

  private intern(s: string | undefined): string | undefined {
    if (!s) return undefined;
    const known = this.strings.get(s);
    if (known !== undefined) return known;
    this.strings.set(s, s);
    return s;
  }

  /** Forgets departed addresses past their grace period (at most every SWEEP_MS unless `force`). */
  private sweep(force = false): void {
    const t = this.now();
    if (!force && t - this.lastSweep < SWEEP_MS) return;
    this.lastSweep = t;
    for (const [a, d] of this.departed) if (d.until <= t) this.departed.delete(a);
  }
}

/** A pod's key: its UID (a pod re-made with the same name is another pod). */
function podKey(p: PodObject): string {
  return p.metadata?.uid ?? `${p.metadata?.namespace}/${p.metadata?.name}`;
}

function serviceKey(s: ServiceObject): string {
  return `${s.metadata?.namespace}/${s.metadata?.name}`;
}

/** A pod's addresses: every `status.podIPs`, and `podIP` (the first of them, on older servers the only one). */
function addressesOf(pod: PodObject): string[] {
  const out = new Set<string>();
  if (pod.status?.podIP) out.add(pod.status.podIP);
  for (const p of pod.status?.podIPs ?? []) if (p.ip) out.add(p.ip);
  return [...out];
}

function serviceAddresses(s: ServiceObject): string[] {
  const out = new Set<string>();
  const spec = s.spec ?? {};
  for (const ip of [spec.clusterIP, ...(spec.clusterIPs ?? []), ...(spec.externalIPs ?? [])])
    if (ip && ip !== 'None') out.add(ip);
  for (const i of s.status?.loadBalancer?.ingress ?? []) if (i.ip) out.add(i.ip);
  return [...out];
}
