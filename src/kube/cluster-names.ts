import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Family } from '../health/exposition.js';
import { ClusterIndex, type EventType, type Identity } from './cluster-index.js';
import {
  describe,
  ListWatch,
  RESOURCES,
  RESTART_REASONS,
  type ListWatchOptions,
  type Resource,
} from './list-watch.js';

/** Where the in-cluster ServiceAccount token is mounted. */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * The cluster's configuration as kubectl finds it: `KUBECONFIG` (a list of files, merged), else
 * `~/.kube/config`, else the pod's ServiceAccount. Unlike the client library's own default, it
 * never falls back to an unauthenticated `http://localhost:8080`: with none of the three it
 * throws, saying what to set.
 */
export function loadKubeConfig(env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  const home = join(env.HOME ?? homedir(), '.kube', 'config');
  const inCluster = Boolean(env.KUBERNETES_SERVICE_HOST) && existsSync(SERVICE_ACCOUNT_TOKEN);
  if (!env.KUBECONFIG && !existsSync(home) && !inCluster) {
    throw new Error(
      'no Kubernetes API configuration: run in a pod with a ServiceAccount, or set KUBECONFIG to a kubeconfig file',
    );
  }
  kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error('the kubeconfig has no current cluster (current-context)');
  return kc;
}

/**
 * One item of each resource listed, as the watch would: says which server answered, or throws with
 * the reason (no access: the status and the server's message).
 */
export async function probeCluster(kc: KubeConfig, timeoutMs: number): Promise<string> {
  const api = kc.makeApiClient(CoreV1Api);
  const server = kc.getCurrentCluster()?.server ?? '?';
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`${server}: no answer in ${timeoutMs} ms`)), timeoutMs).unref(),
  );
  try {
    await Promise.race([
      Promise.all([
        api.listPodForAllNamespaces({ limit: 1 }),
        api.listServiceForAllNamespaces({ limit: 1 }),
        api.listNode({ limit: 1 }),
      ]),
      timeout,
    ]);
  } catch (err) {
    throw new Error(`${server}: cannot list pods, services and nodes: ${describe(err)}`, { cause: err });
  }
  return `${server} lists pods, services and nodes`;
}

/** The ListWatch options shared by the three resources, and the index's grace period. */
export interface ClusterNamesOptions extends Omit<ListWatchOptions, 'resource' | 'onList' | 'onEvent'> {
  /** How long a pod that is gone stays named (ms). */
  readonly graceMs: number;
}

/**
 * The cluster's pods, Services and nodes followed by list + watch (one ListWatch each) into one
 * ClusterIndex: address -> identity. Ready once each resource has been listed once; from then on
 * answers stay available while watches are restarted.
 */
export class ClusterNames {
  readonly index: ClusterIndex;
  private readonly watches: ReadonlyMap<Resource, ListWatch>;
  readonly lookups = { total: 0, byKind: { pod: 0, service: 0, node: 0, external: 0 } };

  constructor(kc: KubeConfig, o: ClusterNamesOptions) {
    this.index = new ClusterIndex(o.graceMs);
    const index = this.index;
    const apply = {
      pods: {
        onList: () => index.relist('pods'),
        onEvent: (t: EventType, obj: object) => index.pod(t, obj),
      },
      services: {
        onList: () => index.relist('services'),
        onEvent: (t: EventType, obj: object) => index.service(t, obj),
      },
      nodes: {
        onList: () => index.relist('nodes'),
        onEvent: (t: EventType, obj: object) => index.node(t, obj),
      },
    };
    this.watches = new Map(
      RESOURCES.map((resource) => [resource, new ListWatch(kc, { ...o, resource, ...apply[resource] })]),
    );
  }

  start(): void {
    for (const w of this.watches.values()) w.start();
  }

  stop(): void {
    for (const w of this.watches.values()) w.stop();
  }

  /** Every resource listed once. */
  get ready(): boolean {
    return [...this.watches.values()].every((w) => w.listed);
  }

  /** What is not listed yet, in words (for `/readyz`). */
  get waitingFor(): string {
    const left = [...this.watches].filter(([, w]) => !w.listed).map(([r]) => r);
    return left.length > 0 ? `first list of ${left.join(', ')} not in yet` : 'nothing';
  }

  /** Resolves once every resource has been listed. */
  async listedOnce(): Promise<void> {
    await Promise.all([...this.watches.values()].map((w) => w.listedOnce()));
  }

  /** The identity of each address; an address that is none of the cluster's is `external`. */
  lookup(address: string): Identity {
    const found = this.index.lookup(address) ?? EXTERNAL;
    this.lookups.total++;
    this.lookups.byKind[found.kind]++;
    return found;
  }

  /** The pod of a UID (see ClusterIndex.podByUid); undefined for one the index does not hold. */
  pod(uid: string): Identity | undefined {
    return this.index.podByUid(uid);
  }

  /** The `nstats_kube_*` families for `/metrics`. */
  families(): Family[] {
    const watches = [...this.watches];
    const counts = this.index.counts;
    return [
      {
        name: 'nstats_kube_lists_total',
        help: 'Lists of a resource (all its pages), by result.',
        type: 'counter',
        samples: watches.flatMap(([resource, w]) => [
          { labels: { resource, result: 'ok' }, value: w.counts.listsOk },
          { labels: { resource, result: 'failed' }, value: w.counts.listsFailed },
        ]),
      },
      {
        name: 'nstats_kube_watch_restarts_total',
        help: 'Watches started again, by reason: ended (by the server), error, silent (the watchdog), gone (410: listed again).',
        type: 'counter',
        samples: watches.flatMap(([resource, w]) =>
          RESTART_REASONS.map((reason) => ({
            labels: { resource, reason },
            value: w.counts.restarts[reason],
          })),
        ),
      },
      {
        name: 'nstats_kube_watch_events_total',
        help: 'Watch events received, by type.',
        type: 'counter',
        samples: watches.flatMap(([resource, w]) =>
          Object.entries(w.counts.events).map(([type, value]) => ({ labels: { resource, type }, value })),
        ),
      },
      {
        name: 'nstats_kube_objects',
        help: 'Objects in the index now.',
        type: 'gauge',
        samples: [
          { labels: { resource: 'pods' }, value: counts.pods },
          { labels: { resource: 'services' }, value: counts.services },
          { labels: { resource: 'nodes' }, value: counts.nodes },
        ],
      },
      {
        name: 'nstats_kube_addresses',
        help: 'Addresses named now: held (by pods, Services and nodes), departed (pods gone, in their grace period).',
        type: 'gauge',
        samples: [
          { labels: { state: 'held' }, value: counts.addresses },
          { labels: { state: 'departed' }, value: counts.departed },
        ],
      },
      {
        name: 'nstats_kube_lookups_total',
        help: 'Addresses looked up, by the kind of answer (external: none of the cluster’s).',
        type: 'counter',
        samples: Object.entries(this.lookups.byKind).map(([kind, value]) => ({ labels: { kind }, value })),
      },
    ];
  }
}

const EXTERNAL: Identity = { kind: 'external' };
