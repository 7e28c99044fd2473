import type { PeerInfo } from '../enrich/resolver.js';
import type { Identity } from './cluster-index.js';

/**
 * A cluster identity as a resolver's answer: the name to show (a workload, a Service, `node/<name>`;
 * none for an external address, which DNS may still name) and the tags `kind`, `namespace`,
 * `workload`, and `pod` only when asked for (one series per pod instead of per workload). They are
 * written as `senderKind`, `receiverNamespace`, ...
 */
export function peerInfoOf(id: Identity, podNames: boolean): PeerInfo {
  const tags: Record<string, string> = { kind: id.kind };
  if (id.namespace) tags.namespace = id.namespace;
  if (id.workload) tags.workload = id.workload;
  if (podNames && id.pod) tags.pod = id.pod;
  return { ...(id.name ? { name: id.name } : {}), tags };
}
