import type { Family, MetricsPage } from '../health/exposition.js';
import type { ClusterNames } from '../kube/cluster-names.js';
import { peerInfoOf } from '../kube/peer-info.js';
import type { PeerInfo, Resolver } from './resolver.js';

/**
 * Peers named by the cluster, from a watch in this process (NSTATS_KUBERNETES): look-ups are
 * answered from memory at once. Until every resource has been listed once, it answers nothing
 * (counted as errors) and the next resolver names the peers. Its watch's counters go on `/metrics`.
 */
export class KubeResolver implements Resolver, MetricsPage {
  readonly name = 'kubernetes';

  constructor(
    /** The watch it answers from (the node agent names its pods from it too). */
    readonly cluster: ClusterNames,
    private readonly podNames: boolean,
  ) {}

  resolve(addresses: readonly string[]): Promise<{ found: Map<string, PeerInfo>; errors: number }> {
    const found = new Map<string, PeerInfo>();
    if (!this.cluster.ready) return Promise.resolve({ found, errors: addresses.length });
    for (const a of addresses) found.set(a, peerInfoOf(this.cluster.lookup(a), this.podNames));
    return Promise.resolve({ found, errors: 0 });
  }

  close(): void {
    this.cluster.stop();
  }

  /** The watch's counters (`nstats_kube_*`), on the health port's `/metrics`. */
  families(): Family[] {
    return this.cluster.families();
  }
}
