// Kubernetes objects for tests, shaped as a kube-apiserver returns them (see fake-kube-api.ts).
import { randomUUID } from 'node:crypto';
import type { KubeObject, ObjectMeta, OwnerReference } from './fake-kube-api.js';
import { prng } from './prng.js';

/** A time as the API writes it: RFC 3339, seconds. */
export function timestamp(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface Container {
  name: string;
  image: string;
  ports?: Array<{ name?: string; containerPort: number; protocol: string }>;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastProbeTime?: null;
  lastHeartbeatTime?: string;
  lastTransitionTime: string;
  reason?: string;
}

export interface KubePod extends KubeObject {
  spec: {
    nodeName?: string;
    hostNetwork?: boolean;
    containers: Container[];
    restartPolicy: string;
    dnsPolicy: string;
    serviceAccountName: string;
    schedulerName: string;
    terminationGracePeriodSeconds: number;
  };
  status: {
    phase: PodPhase;
    podIP?: string;
    podIPs?: Array<{ ip: string }>;
    hostIP?: string;
    hostIPs?: Array<{ ip: string }>;
    conditions: Condition[];
    startTime?: string;
    qosClass: string;
  };
}

/** What owns a pod. A Deployment's pod is owned by its ReplicaSet `<name>-<hash>`; a CronJob's by its Job. */
export type PodOwner =
  | { kind: 'Deployment'; name: string; hash?: string }
  | { kind: 'ReplicaSet'; name: string }
  | { kind: 'StatefulSet'; name: string; ordinal?: number }
  | { kind: 'DaemonSet'; name: string }
  | { kind: 'Job'; name: string }
  | { kind: 'CronJob'; name: string; scheduledMinute?: number };

export interface PodOptions {
  /** Default: what the owner's controller would name it (`<rs>-<5 chars>`, `<sts>-<ordinal>`, ...). */
  name?: string;
  namespace?: string;
  owner?: PodOwner;
  /** Merged over the controller's labels. */
  labels?: Record<string, string>;
  /** spec.nodeName (default `node-1`). */
  node?: string;
  /** status.hostIP (default 192.168.49.2). */
  hostIP?: string;
  /** status.podIP; default: the next of 10.244.0.0/16 (the host's IP with hostNetwork). */
  ip?: string;
  /** status.podIPs, e.g. ['10.244.1.5', 'fd00:10:244:1::5'] for dual-stack; podIP is the first. */
  ips?: string[];
  hostNetwork?: boolean;
  /** Default Running. A Pending pod has no IP unless one is given. */
  phase?: PodPhase;
  uid?: string;
  containers?: Container[];
}

/** Pseudo-random parts of generated names: the same on every run, in the apiserver's alphabet. */
const random = prng(0x6b756265);
const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
function suffix(length: number): string {
  return Array.from({ length }, () => ALPHABET[Math.floor(random() * ALPHABET.length)]).join('');
}

/** One uid and revision hash per owner, so pods of the same workload agree on them. */
const owners = new Map<string, { uid: string; hash: string }>();
function ownerFacts(namespace: string, kind: string, name: string): { uid: string; hash: string } {
  const key = `${namespace}/${kind}/${name}`;
  let f = owners.get(key);
  if (!f) owners.set(key, (f = { uid: randomUUID(), hash: suffix(10) }));
  return f;
}

let nextPodIp = 0;
let nextServiceIp = 0;
let nextNodeIp = 0;
let nextNodePort = 0;
const ipIn = (prefix: string, n: number) => `${prefix}.${Math.floor(n / 250) % 250}.${(n % 250) + 2}`;

function ownerRef(apiVersion: string, kind: string, name: string, uid: string): OwnerReference {
  return { apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true };
}

/** Name, labels and owner of a pod as its controller makes them. */
interface Controlled {
  name: string;
  generateName?: string;
  labels: Record<string, string>;
  ownerReferences?: OwnerReference[];
  restartPolicy: string;
}

function controlled(namespace: string, owner: PodOwner | undefined, name: string | undefined): Controlled {
  const generated = (prefix: string) => ({
    generateName: `${prefix}-`,
    name: name ?? `${prefix}-${suffix(5)}`,
  });
  const jobPod = (job: string): Controlled => {
    const { uid } = ownerFacts(namespace, 'Job', job);
    return {
      ...generated(job),
      labels: {
        'batch.kubernetes.io/controller-uid': uid,
        'batch.kubernetes.io/job-name': job,
        'controller-uid': uid,
        'job-name': job,
      },
      ownerReferences: [ownerRef('batch/v1', 'Job', job, uid)],
      restartPolicy: 'Never',
    };
  };
  switch (owner?.kind) {
    case undefined: {
      const podName = name ?? `pod-${suffix(5)}`;
      return { name: podName, labels: { run: podName }, restartPolicy: 'Always' };
    }
    case 'Deployment': {
      const hash = owner.hash ?? ownerFacts(namespace, 'Deployment', owner.name).hash;
      const rs = `${owner.name}-${hash}`;
      const { uid } = ownerFacts(namespace, 'ReplicaSet', rs);
      return {
        ...generated(rs),
        labels: { app: owner.name, 'pod-template-hash': hash },
        ownerReferences: [ownerRef('apps/v1', 'ReplicaSet', rs, uid)],
        restartPolicy: 'Always',
      };
    }
    case 'ReplicaSet':
      return {
        ...generated(owner.name),
        labels: { app: owner.name },
        ownerReferences: [
          ownerRef('apps/v1', 'ReplicaSet', owner.name, ownerFacts(namespace, 'ReplicaSet', owner.name).uid),
        ],
        restartPolicy: 'Always',
      };
    case 'DaemonSet': {
      const f = ownerFacts(namespace, 'DaemonSet', owner.name);
      return {
        ...generated(owner.name),
        labels: { app: owner.name, 'controller-revision-hash': f.hash, 'pod-template-generation': '1' },
        ownerReferences: [ownerRef('apps/v1', 'DaemonSet', owner.name, f.uid)],
        restartPolicy: 'Always',
      };
    }
    case 'StatefulSet': {
      const f = ownerFacts(namespace, 'StatefulSet', owner.name);
      const ordinal = owner.ordinal ?? 0;
      const podName = name ?? `${owner.name}-${ordinal}`;
      return {
        name: podName,
        generateName: `${owner.name}-`,
        labels: {
          app: owner.name,
          'apps.kubernetes.io/pod-index': String(ordinal),
          'controller-revision-hash': `${owner.name}-${f.hash}`,
          'statefulset.kubernetes.io/pod-name': podName,
        },
        ownerReferences: [ownerRef('apps/v1', 'StatefulSet', owner.name, f.uid)],
        restartPolicy: 'Always',
      };
    }
    case 'Job':
      return jobPod(owner.name);
    case 'CronJob':
      return jobPod(`${owner.name}-${owner.scheduledMinute ?? Math.floor(Date.now() / 60_000)}`);
  }
}

/** A pod as the API returns it, owned as `owner` says (a bare pod without one). */
export function pod(opts: PodOptions = {}): KubePod {
  const namespace = opts.namespace ?? 'default';
  const { name, generateName, labels, ownerReferences, restartPolicy } = controlled(
    namespace,
    opts.owner,
    opts.name,
  );
  const phase = opts.phase ?? 'Running';
  const hostIP = opts.hostIP ?? '192.168.49.2';
  const ips =
    opts.ips ??
    (opts.ip
      ? [opts.ip]
      : opts.hostNetwork
        ? [hostIP]
        : phase === 'Pending'
          ? []
          : [ipIn('10.244', nextPodIp++)]);
  const now = timestamp();
  const ready = phase === 'Running' ? 'True' : 'False';
  const cond = (type: string, status: 'True' | 'False'): Condition => ({
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime: now,
  });
  return {
    metadata: {
      name,
      ...(generateName ? { generateName } : {}),
      namespace,
      uid: opts.uid ?? randomUUID(),
      creationTimestamp: now,
      labels: { ...labels, ...opts.labels },
      ...(ownerReferences ? { ownerReferences } : {}),
    },
    spec: {
      ...(opts.hostNetwork ? { hostNetwork: true } : {}),
      containers: opts.containers ?? [{ name: 'app', image: 'registry.example/app:1.0' }],
      restartPolicy,
      dnsPolicy: opts.hostNetwork ? 'ClusterFirstWithHostNet' : 'ClusterFirst',
      serviceAccountName: 'default',
      nodeName: opts.node ?? 'node-1',
      schedulerName: 'default-scheduler',
      terminationGracePeriodSeconds: 30,
    },
    status: {
      phase,
      conditions: [
        cond('Initialized', 'True'),
        cond('Ready', ready),
        cond('ContainersReady', ready),
        cond('PodScheduled', 'True'),
      ],
      hostIP,
      hostIPs: [{ ip: hostIP }],
      ...(ips.length ? { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } : {}),
      startTime: now,
      qosClass: 'BestEffort',
    },
  };
}

export interface ServicePort {
  name?: string;
  protocol: string;
  port: number;
  targetPort: number | string;
  nodePort?: number;
}

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';

export interface KubeService extends KubeObject {
  spec: {
    type: ServiceType;
    clusterIP?: string;
    clusterIPs?: string[];
    ipFamilies?: Array<'IPv4' | 'IPv6'>;
    ipFamilyPolicy?: string;
    ports?: ServicePort[];
    selector?: Record<string, string>;
    externalIPs?: string[];
    externalName?: string;
    sessionAffinity: string;
    internalTrafficPolicy?: string;
  };
  status: { loadBalancer: { ingress?: Array<{ ip: string; ipMode: string }> } };
}

export interface ServiceOptions {
  name: string;
  namespace?: string;
  type?: ServiceType;
  /** Default: the next of 10.96.0.0/16; 'None' for a headless Service. */
  clusterIP?: string;
  /** Dual-stack, e.g. ['10.96.0.10', 'fd00:10:96::a']; clusterIP is the first. */
  clusterIPs?: string[];
  /** Default one TCP port 80 -> 8080 named http. */
  ports?: ServicePort[];
  /** Default { app: name }. */
  selector?: Record<string, string>;
  externalIPs?: string[];
  /** LoadBalancer: status.loadBalancer.ingress. */
  loadBalancerIPs?: string[];
  /** ExternalName: spec.externalName (such a Service has no cluster IP). */
  externalName?: string;
  labels?: Record<string, string>;
  uid?: string;
}

/** A Service as the API returns it. */
export function service(opts: ServiceOptions): KubeService {
  const type = opts.type ?? (opts.externalName ? 'ExternalName' : 'ClusterIP');
  const meta: ObjectMeta = {
    name: opts.name,
    namespace: opts.namespace ?? 'default',
    uid: opts.uid ?? randomUUID(),
    creationTimestamp: timestamp(),
    ...(opts.labels ? { labels: opts.labels } : {}),
  };
  if (type === 'ExternalName') {
    return {
      metadata: meta,
      spec: { type, externalName: opts.externalName ?? `${opts.name}.example.com`, sessionAffinity: 'None' },
      status: { loadBalancer: {} },
    };
  }
  const clusterIPs = opts.clusterIPs ?? [opts.clusterIP ?? ipIn('10.96', nextServiceIp++)];
  const ports = (opts.ports ?? [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }]).map((p) =>
    type === 'ClusterIP' || p.nodePort ? p : { ...p, nodePort: 30000 + (nextNodePort++ % 2768) },
  );
  const families =
    clusterIPs[0] === 'None'
      ? ['IPv4' as const]
      : clusterIPs.map((ip): 'IPv4' | 'IPv6' => (ip.includes(':') ? 'IPv6' : 'IPv4'));
  return {
    metadata: meta,
    spec: {
      type,
      clusterIP: clusterIPs[0]!,
      clusterIPs,
      ipFamilies: families,
      ipFamilyPolicy: families.length > 1 ? 'PreferDualStack' : 'SingleStack',
      ports,
      selector: opts.selector ?? { app: opts.name },
      ...(opts.externalIPs ? { externalIPs: opts.externalIPs } : {}),
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
    },
    status: {
      loadBalancer: opts.loadBalancerIPs
        ? { ingress: opts.loadBalancerIPs.map((ip) => ({ ip, ipMode: 'VIP' })) }
        : {},
    },
  };
}

export type NodeAddressType = 'InternalIP' | 'ExternalIP' | 'Hostname' | 'InternalDNS' | 'ExternalDNS';

export interface KubeNode extends KubeObject {
  spec: { podCIDR?: string; podCIDRs?: string[]; unschedulable?: boolean };
  status: {
    addresses: Array<{ type: NodeAddressType; address: string }>;
    conditions: Condition[];
    nodeInfo: Record<string, string>;
  };
}

export interface NodeOptions {
  name: string;
  /** Default: the next of 192.168.49.0/24 from .2. */
  internalIP?: string;
  /** Dual-stack InternalIPs; internalIP is ignored when given. */
  internalIPs?: string[];
  externalIP?: string;
  podCIDRs?: string[];
  /** Ready condition (default true). */
  ready?: boolean;
  labels?: Record<string, string>;
  uid?: string;
}

/** A Node as the API returns it. */
export function node(opts: NodeOptions): KubeNode {
  const n = nextNodeIp++;
  const internal = opts.internalIPs ?? [opts.internalIP ?? `192.168.49.${(n % 250) + 2}`];
  const now = timestamp();
  const podCIDRs = opts.podCIDRs ?? [`10.244.${n % 250}.0/24`];
  return {
    metadata: {
      name: opts.name,
      uid: opts.uid ?? randomUUID(),
      creationTimestamp: now,
      labels: {
        'beta.kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': opts.name,
        'kubernetes.io/os': 'linux',
        ...opts.labels,
      },
    },
    spec: { podCIDR: podCIDRs[0]!, podCIDRs },
    status: {
      addresses: [
        ...internal.map((address) => ({ type: 'InternalIP' as const, address })),
        ...(opts.externalIP ? [{ type: 'ExternalIP' as const, address: opts.externalIP }] : []),
        { type: 'Hostname', address: opts.name },
      ],
      conditions: [
        {
          type: 'Ready',
          status: opts.ready === false ? 'False' : 'True',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
          reason: opts.ready === false ? 'KubeletNotReady' : 'KubeletReady',
        },
      ],
      nodeInfo: {
        architecture: 'amd64',
        containerRuntimeVersion: 'containerd://1.7.22',
        kernelVersion: '6.8.0',
        kubeletVersion: 'v1.31.0',
        operatingSystem: 'linux',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
      },
    },
  };
}
