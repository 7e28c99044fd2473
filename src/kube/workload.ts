/** The part of an owner reference the workload rules read (as the API returns it). */
export interface OwnerReference {
  readonly kind?: string;
  readonly name?: string;
  readonly controller?: boolean;
}

/** The part of a pod's metadata the workload rules read. */
export interface PodMetadata {
  readonly name?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly ownerReferences?: readonly OwnerReference[];
}

/** What a pod belongs to, as a user names it: `Deployment/checkout`, `CronJob/backup`, `Pod/debug`. */
export interface Workload {
  readonly kind: string;
  readonly name: string;
}

/**
 * A Job a CronJob made is named `<cronjob>-<scheduled minute since the epoch>`: 8 digits from
 * 1990 to 2160. A shorter numeric suffix (`migrate-2`) is a Job someone named, kept as a Job.
 */
const CRONJOB_JOB = /^(.+)-(\d{8,})$/;

/**
 * The workload of a pod, from its own metadata only (no watch of ReplicaSets or Jobs):
 * - owned by a ReplicaSet `<name>-<hash>` and labelled `pod-template-hash: <hash>`: the Deployment
 *   `<name>` (a ReplicaSet without that label was made by hand or by another controller: itself);
 * - owned by a Job whose name is a CronJob's name plus its scheduled minute: that CronJob;
 * - owned by a StatefulSet, DaemonSet, Job or any other controller: that owner;
 * - no owner: the pod itself (kind `Pod`).
 * The controller reference is taken when there is one, else the first owner.
 */
export function workloadOf(meta: PodMetadata): Workload {
  const owners = meta.ownerReferences ?? [];
  const owner = owners.find((o) => o.controller === true) ?? owners[0];
  if (!owner?.kind || !owner.name) return { kind: 'Pod', name: meta.name ?? '' };
  if (owner.kind === 'ReplicaSet') {
    const hash = meta.labels?.['pod-template-hash'];
    if (hash && owner.name.length > hash.length + 1 && owner.name.endsWith(`-${hash}`))
      return { kind: 'Deployment', name: owner.name.slice(0, -hash.length - 1) };
  }
  if (owner.kind === 'Job') {
    const m = CRONJOB_JOB.exec(owner.name);
    if (m) return { kind: 'CronJob', name: m[1]! };
  }
  return { kind: owner.kind, name: owner.name };
}
