// Heap of the names service's cluster index (src/kube/cluster-index.ts) for a large cluster:
// 10,000 pods, 2,000 Services and 100 nodes, fed as the list would feed them: pages of 500
// objects parsed from JSON (the API's shape, managedFields and container specs included), then
// 10,000 watch events (pods replaced by new ones, IPs reused). Target: at most 30 MB of heap
// for the index. Usage (after `npm run -s build`):
//   node --expose-gc bench/kube-index.mjs [pods] [services] [nodes]
import { ClusterIndex } from '../dist/kube/cluster-index.js';

if (typeof globalThis.gc !== 'function') {
  console.error('run with --expose-gc');
  process.exit(2);
}
const [PODS, SERVICES, NODES] = [10_000, 2_000, 100].map((d, i) => Number(process.argv[2 + i] ?? d));
const PAGE = 500;
const NAMESPACES = 50;

function heapMB() {
  for (let i = 0; i < 3; i++) globalThis.gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

const ip4 = (n) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
const hex = (n, len) => n.toString(16).padStart(len, '0').slice(-len);
const uid = (kind, n) =>
  `${hex(kind, 8)}-${hex(n, 4)}-4${hex(n >> 4, 3)}-8${hex(n >> 8, 3)}-${hex(n * 7919, 12)}`;

/** A pod as the API returns it: Deployment-owned, dual-stack, with managedFields and a container. */
function pod(n, generation = 0) {
  const ns = `team-${n % NAMESPACES}`;
  const app = `app-${Math.floor(n / 10)}`;
  const hash = hex(n * 31 + generation, 9).replace(/^./, 'b');
  const created = new Date(Date.UTC(2026, 10, 1) + n * 1000 + generation * 1e7).toISOString();
  return {
    metadata: {
      name: `${app}-${hash}-${hex(n + generation, 5)}`,
      namespace: ns,
      uid: uid(1 + generation, n),
      resourceVersion: String(100000 + n),
      creationTimestamp: created,
      labels: { app, 'pod-template-hash': hash, 'app.kubernetes.io/part-of': 'shop' },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: `${app}-${hash}`,
          uid: uid(9, n),
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      managedFields: [
        {
          manager: 'kube-controller-manager',
          operation: 'Update',
          apiVersion: 'v1',
          time: created,
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } } },
        },
        {
          manager: 'kubelet',
          operation: 'Update',
          apiVersion: 'v1',
          time: created,
          fieldsType: 'FieldsV1',
          subresource: 'status',
          fieldsV1: { 'f:status': { 'f:phase': {}, 'f:podIP': {}, 'f:podIPs': {} } },
        },
      ],
    },
    spec: {
      containers: [
        {
          name: 'app',
          image: `registry.example/${app}:1.0.${n % 7}`,
          ports: [{ containerPort: 8080, protocol: 'TCP' }],
          resources: { requests: { cpu: '100m', memory: '128Mi' } },
        },
      ],
      nodeName: `node-${n % NODES}`,
      serviceAccountName: 'default',
      restartPolicy: 'Always',
    },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: created }],
      hostIP: `192.168.${Math.floor((n % NODES) / 250)}.${(n % NODES) % 250}`,
      podIP: ip4(0x0a0000 + n),
      podIPs: [{ ip: ip4(0x0a0000 + n) }, { ip: `fd00:10:244::${hex(n, 4)}` }],
      startTime: created,
      qosClass: 'Burstable',
    },
  };
}

function service(n) {
  const ip = `10.96.${(n >> 8) & 255}.${n & 255}`;
  return {
    metadata: {
      name: `svc-${n}`,
      namespace: `team-${n % NAMESPACES}`,
      uid: uid(2, n),
      resourceVersion: String(200000 + n),
      creationTimestamp: '2026-11-01T00:00:00Z',
      labels: { app: `app-${n}` },
    },
    spec: {
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
      selector: { app: `app-${n}` },
      clusterIP: ip,
      clusterIPs: [ip, `fd00:10:96::${hex(n, 4)}`],
      type: 'ClusterIP',
      ipFamilies: ['IPv4', 'IPv6'],
      ipFamilyPolicy: 'PreferDualStack',
    },
    status: { loadBalancer: {} },
  };
}

function node(n) {
  return {
    metadata: {
      name: `node-${n}`,
      uid: uid(3, n),
      resourceVersion: String(300000 + n),
      creationTimestamp: '2026-10-01T00:00:00Z',
      labels: { 'kubernetes.io/hostname': `node-${n}` },
    },
    status: {
      addresses: [
        { type: 'InternalIP', address: `192.168.${Math.floor(n / 250)}.${n % 250}` },
        { type: 'Hostname', address: `node-${n}` },
      ],
    },
  };
}

/** A list fed as ListWatch feeds it: page by page, each parsed from the JSON the server would send. */
function list(resource, count, make) {
  const relist = index.relist(resource);
  for (let i = 0; i < count; i += PAGE) {
    const text = JSON.stringify({
      items: Array.from({ length: Math.min(PAGE, count - i) }, (_, j) => make(i + j)),
    });
    relist.page(JSON.parse(text).items);
    sample();
  }
  relist.done();
}

const base = heapMB();
const index = new ClusterIndex(60_000);
let peak = 0;
const sample = () => (peak = Math.max(peak, process.memoryUsage().heapUsed / 2 ** 20 - base));
/** The lists, in a function of their own: nothing of the parsed pages outlives it on the stack. */
function feedLists() {
  list('pods', PODS, (n) => pod(n));
  list('services', SERVICES, service);
  list('nodes', NODES, node);
}
const t0 = performance.now();
feedLists();
const listMs = performance.now() - t0;
const afterList = heapMB() - base;
// Churn: every pod replaced by a new one of the same workload on the same IP, as events.
const t1 = performance.now();
for (let n = 0; n < PODS; n++) {
  const old = pod(n);
  index.pod('DELETED', JSON.parse(JSON.stringify(old)));
  index.pod('ADDED', JSON.parse(JSON.stringify(pod(n, 1))));
  if (n % 1000 === 0) sample();
}
const churnMs = performance.now() - t1;
const afterChurn = heapMB() - base;
const counts = index.counts;
const hit = index.lookup(ip4(0x0a0000 + 42));
if (!hit || hit.kind !== 'pod' || !hit.workload) throw new Error(`lookup failed: ${JSON.stringify(hit)}`);

console.log(`cluster index: ${PODS} pods, ${SERVICES} services, ${NODES} nodes (node ${process.version})`);
console.log(`  after the lists: ${afterList.toFixed(1)} MB heap retained (list in ${listMs.toFixed(0)} ms)`);
console.log(
  `  after ${PODS} pods replaced (${2 * PODS} events, ${counts.departed} addresses in their grace period): ${afterChurn.toFixed(1)} MB (${churnMs.toFixed(0)} ms)`,
);
console.log(
  `  heap in use while feeding, garbage not yet collected included (after each page, at most): ${peak.toFixed(1)} MB`,
);
console.log(`  counts: ${JSON.stringify(counts)}`);
console.log(`  target: at most 30 MB retained: ${Math.max(afterList, afterChurn) <= 30 ? 'met' : 'MISSED'}`);
