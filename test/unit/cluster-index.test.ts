import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ClusterIndex,
  type NodeObject,
  type PodObject,
  type ServiceObject,
} from '../../src/kube/cluster-index.js';
import { workloadOf } from '../../src/kube/workload.js';
import { schemaErrors, unknownFieldsOf } from '../helpers/kube-schema.js';

// API objects as a kube-apiserver returns them: see test/fixtures/kube/README.md.
function fixture<T>(name: string): Record<string, T> {
  return JSON.parse(
    readFileSync(new URL(`../fixtures/kube/${name}.json`, import.meta.url), 'utf8'),
  ) as Record<string, T>;
}
const pods = fixture<PodObject>('pods');
const services = fixture<ServiceObject>('services');
const nodes = fixture<NodeObject>('nodes');

/** An index on a clock the test moves. */
function index(graceMs = 60_000) {
  let t = 1_000_000;
  const idx = new ClusterIndex(graceMs, () => t);
  return { idx, advance: (ms: number) => (t += ms) };
}

describe('the fixtures', () => {
  it('are valid API objects: the OpenAPI schema passes and no field is unknown to the API', async () => {
    const all = [
      ...Object.entries(pods).map(
        ([k, o]) => [`pods.${k}`, { apiVersion: 'v1', kind: 'Pod', ...o }] as const,
      ),
      ...Object.entries(services).map(
        ([k, o]) => [`services.${k}`, { apiVersion: 'v1', kind: 'Service', ...o }] as const,
      ),
      ...Object.entries(nodes).map(
        ([k, o]) => [`nodes.${k}`, { apiVersion: 'v1', kind: 'Node', ...o }] as const,
      ),
    ];
    const problems: string[] = [];
    for (const [name, o] of all) {
      for (const e of [...(await schemaErrors(o)), ...unknownFieldsOf(o)]) problems.push(`${name}: ${e}`);
    }
    expect(problems).toEqual([]);
    expect(all).toHaveLength(16);
  });
});

describe('workloadOf', () => {
  it('names a pod by its Deployment, StatefulSet, DaemonSet, CronJob, Job, or itself', () => {
    expect(workloadOf(pods.deployment!.metadata!)).toEqual({ kind: 'Deployment', name: 'checkout' });
    expect(workloadOf(pods.statefulset!.metadata!)).toEqual({ kind: 'StatefulSet', name: 'redis' });
    expect(workloadOf(pods.daemonset!.metadata!)).toEqual({ kind: 'DaemonSet', name: 'fluent-bit' });
    expect(workloadOf(pods.cronjob!.metadata!)).toEqual({ kind: 'CronJob', name: 'backup' });
    expect(workloadOf(pods.job!.metadata!)).toEqual({ kind: 'Job', name: 'migrate-2' });
    expect(workloadOf(pods.bare!.metadata!)).toEqual({ kind: 'Pod', name: 'debug' });
  });

  it('keeps a ReplicaSet without the pod-template-hash label (not a Deployment’s) as itself', () => {
    const meta = { ...pods.deployment!.metadata!, labels: { app: 'checkout' } };
    expect(workloadOf(meta)).toEqual({ kind: 'ReplicaSet', name: 'checkout-7d9f8c6b5' });
    // A hash that is not the owner's suffix is not taken as one.
    const other = { ...pods.deployment!.metadata!, labels: { 'pod-template-hash': 'abc' } };
    expect(workloadOf(other)).toEqual({ kind: 'ReplicaSet', name: 'checkout-7d9f8c6b5' });
  });

  it('takes the controller owner over other owners', () => {
    expect(
      workloadOf({
        name: 'x',
        ownerReferences: [
          { kind: 'ConfigMap', name: 'cm' },
          { kind: 'StatefulSet', name: 'db', controller: true },
        ],
      }),
    ).toEqual({ kind: 'StatefulSet', name: 'db' });
  });
});

describe('ClusterIndex', () => {
  it('names every address of a dual-stack pod by its workload, with namespace, pod and node', () => {
    const { idx } = index();
    idx.pod('ADDED', pods.deployment!);
    const want = {
      kind: 'pod',
      name: 'checkout',
      namespace: 'shop',
      workload: 'checkout',
      workloadKind: 'Deployment',
      pod: 'checkout-7d9f8c6b5-x2x9k',
      node: 'node-a',
    };
    expect(idx.lookup('10.244.1.17')).toEqual(want);
    expect(idx.lookup('fd00:10:244:1::11')).toEqual(want);
    expect(idx.lookup('10.244.1.99')).toBeUndefined();
  });

  it('names pods that are not Ready, and not pods without an IP yet', () => {
    const { idx } = index();
    idx.pod('ADDED', pods.notready!);
    idx.pod('ADDED', pods.pending!);
    expect(idx.lookup('10.244.2.18')?.pod).toBe('checkout-7d9f8c6b5-p4m8n');
    expect(idx.counts).toMatchObject({ pods: 2, addresses: 1 });
  });

  it('Services: every clusterIP (dual-stack) and load-balancer IP; a headless Service has none', () => {
    const { idx } = index();
    for (const s of Object.values(services)) idx.service('ADDED', s);
    const checkout = {
      kind: 'service',
      name: 'checkout',
      namespace: 'shop',
      workload: 'checkout',
      workloadKind: 'Service',
    };
    expect(idx.lookup('10.96.14.2')).toEqual(checkout);
    expect(idx.lookup('fd00:10:96::e02')).toEqual(checkout);
    expect(idx.lookup('203.0.113.50')?.name).toBe('ingress');
    expect(idx.lookup('None')).toBeUndefined();
    expect(idx.counts).toMatchObject({ services: 2 });
    idx.service('DELETED', services.dualstack!);
    expect(idx.lookup('10.96.14.2')).toBeUndefined();
  });

  it('nodes: InternalIP and ExternalIP named node/<name>; a hostNetwork pod’s address is its node’s', () => {
    const { idx } = index();
    idx.pod('ADDED', pods.hostnetwork!);
    // Before the Node is known, the pod's nodeName names the address, as the node.
    expect(idx.lookup('192.168.10.11')).toEqual({ kind: 'node', name: 'node/node-a', node: 'node-a' });
    for (const n of Object.values(nodes)) idx.node('ADDED', n);
    expect(idx.lookup('192.168.10.11')).toEqual({ kind: 'node', name: 'node/node-a', node: 'node-a' });
    expect(idx.lookup('198.51.100.11')?.name).toBe('node/node-a');
    expect(idx.lookup('192.168.10.12')?.name).toBe('node/node-b');
    expect(idx.lookup('node-a'), 'Hostname addresses are not IPs').toBeUndefined();
    // Another hostNetwork pod on node-a never takes the address over.
    idx.pod('ADDED', {
      ...pods.hostnetwork!,
      metadata: { ...pods.hostnetwork!.metadata!, uid: 'u2', name: 'cilium-x' },
    });
    expect(idx.lookup('192.168.10.11')?.kind).toBe('node');
  });

  it('a deleted pod stays named for the grace period, then its address is unknown', () => {
    const { idx, advance } = index(60_000);
    idx.pod('ADDED', pods.bare!);
    idx.pod('DELETED', pods.bare!);
    advance(59_000);
    expect(idx.lookup('10.244.2.77')?.pod).toBe('debug');
    expect(idx.counts).toMatchObject({ pods: 0, departed: 1 });
    advance(2_000);
    expect(idx.lookup('10.244.2.77')).toBeUndefined();
    expect(idx.counts.departed).toBe(0);
  });

  it('a Succeeded pod gives up its IP (kept for the grace period like a deleted one)', () => {
    const { idx, advance } = index(60_000);
    idx.pod('ADDED', pods.cronjob!);
    expect(idx.lookup('10.244.2.40')?.workload).toBe('backup');
    idx.pod('MODIFIED', pods.succeeded!);
    expect(idx.counts).toMatchObject({ pods: 1, addresses: 0, departed: 1 });
    advance(61_000);
    expect(idx.lookup('10.244.2.40')).toBeUndefined();
  });

  it('IP reuse: a new pod takes the address at once; the old pod’s late deletion does not remove it', () => {
    const { idx, advance } = index(60_000);
    idx.pod('ADDED', pods.bare!); // debug, 10.244.2.77
    advance(1000);
    idx.pod('ADDED', pods.reuse!); // search, newer, same IP, before debug's deletion came
    expect(idx.lookup('10.244.2.77')?.workload).toBe('search');
    idx.pod('DELETED', pods.bare!);
    expect(idx.lookup('10.244.2.77')?.workload).toBe('search');
    advance(120_000);
    expect(idx.lookup('10.244.2.77')?.workload).toBe('search');
  });

  it('IP reuse out of order: an older pod’s event after a newer one’s does not take the address', () => {
    const { idx } = index();
    idx.pod('ADDED', pods.reuse!);
    idx.pod('MODIFIED', pods.bare!); // older creationTimestamp
    expect(idx.lookup('10.244.2.77')?.workload).toBe('search');
    // The newer pod goes: the address falls back to the pod that still holds it.
    idx.pod('DELETED', pods.reuse!);
    expect(idx.lookup('10.244.2.77')?.workload).toBe('debug');
  });

  it('a deleted pod’s address reused within the grace period names the new pod', () => {
    const { idx, advance } = index(60_000);
    idx.pod('ADDED', pods.bare!);
    idx.pod('DELETED', pods.bare!);
    advance(5_000);
    idx.pod('ADDED', pods.reuse!);
    expect(idx.lookup('10.244.2.77')?.workload).toBe('search');
  });

  it('a pod whose IP changes gives up the old one (grace) and holds the new one', () => {
    const { idx, advance } = index(10_000);
    idx.pod('ADDED', pods.bare!);
    const moved: PodObject = {
      ...pods.bare!,
      status: { ...pods.bare!.status!, podIP: '10.244.2.78', podIPs: [{ ip: '10.244.2.78' }] },
    };
    idx.pod('MODIFIED', moved);
    expect(idx.lookup('10.244.2.78')?.pod).toBe('debug');
    expect(idx.lookup('10.244.2.77')?.pod).toBe('debug');
    advance(11_000);
    expect(idx.lookup('10.244.2.77')).toBeUndefined();
    expect(idx.lookup('10.244.2.78')?.pod).toBe('debug');
  });

  it('replace(): after a re-list, objects the list no longer has are gone (pods with grace)', () => {
    const { idx, advance } = index(60_000);
    idx.replace('pods', [pods.deployment!, pods.bare!]);
    idx.replace('services', Object.values(services));
    idx.replace('nodes', Object.values(nodes));
    idx.replace('pods', [pods.deployment!]);
    idx.replace('services', [services.loadbalancer!]);
    idx.replace('nodes', [nodes['node-b']!]);
    expect(idx.lookup('10.244.1.17')?.workload).toBe('checkout');
    expect(idx.lookup('10.244.2.77')?.pod, 'in its grace period').toBe('debug');
    expect(idx.lookup('10.96.14.2')).toBeUndefined();
    expect(idx.lookup('192.168.10.11')).toBeUndefined();
    expect(idx.counts).toMatchObject({ pods: 1, services: 1, nodes: 1 });
    advance(61_000);
    expect(idx.lookup('10.244.2.77')).toBeUndefined();
  });

  it('a Service’s address wins over a node’s', () => {
    const { idx } = index();
    idx.node('ADDED', nodes['node-a']!);
    idx.service('ADDED', {
      ...services.loadbalancer!,
      status: { loadBalancer: { ingress: [{ ip: '192.168.10.11' }] } },
    });
    expect(idx.lookup('192.168.10.11')?.kind).toBe('service');
  });
});
