/**
 * A process's pod and container from its cgroup path (`/proc/<pid>/cgroup`), the first link of the
 * node agent's process -> container -> pod chain. The kubelet names a pod's cgroup after its UID
 * and the runtime names a container's after its ID, in one of these shapes (cgroup v1 or v2):
 *
 *   cgroupfs driver   /kubepods/burstable/pod<uid>/<64 hex>             (Docker, containerd)
 *                     /kubepods/besteffort/pod<uid>/crio-<64 hex>       (CRI-O)
 *                     /kubepods/pod<uid>/<64 hex>                       (Guaranteed QoS)
 *   systemd driver    /kubepods.slice/kubepods-burstable.slice/
 *                       kubepods-burstable-pod<uid, _ for ->.slice/cri-containerd-<64 hex>.scope
 *                     (also crio-<id>.scope and docker-<id>.scope)
 *   containerd, systemd driver, as some versions show it:
 *                     /system.slice/containerd.service/kubepods-burstable-pod<uid>.slice:cri-containerd:<id>
 *   seen from a private cgroup namespace, relative: 0::/../../kubepods-...slice/cri-containerd-<id>.scope
 *   nested (Docker in Docker, kind): /docker/<id>/kubepods/... : the innermost pod wins
 *
 * A static pod's UID is 32 hex digits without dashes (the hash of its manifest). Excluded, because
 * they are not a container's processes: CRI-O's `crio-conmon-<id>` monitors and systemd `.mount`
 * units. The pod sandbox (pause) process does have a pod and a container cgroup; telling it from
 * an application container takes the runtime's metadata, not the path.
 */

export type Runtime = 'docker' | 'containerd' | 'crio';
export type QosClass = 'guaranteed' | 'burstable' | 'besteffort';

export interface CgroupIdentity {
  /** The pod's UID with dashes (a static pod's 32 hex digits as they are). */
  readonly podUid: string;
  /** The container's 64-hex ID; absent for a process in the pod's own cgroup. */
  readonly containerId?: string;
  /** The runtime, when the path says (`crio-`, `cri-containerd-`, `docker-`); cgroupfs Docker and containerd look alike. */
  readonly runtime?: Runtime;
  readonly qos: QosClass;
  /** The cgroup path the identity was read from. */
  readonly path: string;
}

export type CgroupResult =
  | { readonly kind: 'pod'; readonly identity: CgroupIdentity }
  /** A pod's cgroup, but a process that is no container's (conmon, a mount unit). */
  | { readonly kind: 'excluded'; readonly reason: string; readonly path: string }
  /** No pod in any line: a host process, or a shape nstats does not know. */
  | { readonly kind: 'none' };

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const UUID_SYSTEMD = '[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12}';
const STATIC_UID = '[0-9a-f]{32}';
const ID = '[0-9a-f]{64}';

const POD_CGROUPFS = new RegExp(`^pod(${UUID}|${STATIC_UID})$`);
const POD_SYSTEMD = new RegExp(
  `^kubepods(?:-(burstable|besteffort|guaranteed))?-pod(${UUID_SYSTEMD}|${UUID}|${STATIC_UID})\\.slice` +
    `(?::(cri-containerd|crio|docker):(${ID}))?$`,
);
const CONTAINER_PLAIN = new RegExp(`^(${ID})$`);
const CONTAINER_CRIO_CGROUPFS = new RegExp(`^crio-(${ID})$`);
const CONTAINER_SCOPE = new RegExp(`^(cri-containerd|crio|docker)-(${ID})\\.scope$`);
const CONMON = /^crio-conmon-[0-9a-f]{64}(\.scope)?$/;

const RUNTIME: Record<string, Runtime> = { 'cri-containerd': 'containerd', crio: 'crio', docker: 'docker' };

function qosOf(segments: readonly string[], systemdQos: string | undefined): QosClass {
  if (systemdQos === 'burstable' || systemdQos === 'besteffort') return systemdQos;
  for (const s of segments) {
    if (s === 'burstable' || s === 'kubepods-burstable.slice') return 'burstable';
    if (s === 'besteffort' || s === 'kubepods-besteffort.slice') return 'besteffort';
  }
  return 'guaranteed';
}

/** The identity in one cgroup path (the third field of a `/proc/<pid>/cgroup` line). */
export function parseCgroupPath(path: string): CgroupResult {
  const segments = path.split('/').filter((s) => s !== '' && s !== '.' && s !== '..');
  // Innermost pod first: under Docker in Docker the outer levels are the node container's.
  for (let i = segments.length - 1; i >= 0; i--) {
    const seg = segments[i]!;
    let podUid: string | undefined;
    let systemdQos: string | undefined;
    let inline: { runtime: Runtime; id: string } | undefined;
    const c = POD_CGROUPFS.exec(seg);
    if (c) podUid = c[1]!;
    else {
      const s = POD_SYSTEMD.exec(seg);
      if (s) {
        systemdQos = s[1];
        podUid = s[2]!.replaceAll('_', '-');
        if (s[3] && s[4]) inline = { runtime: RUNTIME[s[3]]!, id: s[4] };
      }
    }
    if (podUid === undefined) continue;
    const qos = qosOf(segments.slice(0, i + 1), systemdQos);
    if (inline) {
      return {
        kind: 'pod',
        identity: { podUid, containerId: inline.id, runtime: inline.runtime, qos, path },
      };
    }
    const next = segments[i + 1];
    if (next === undefined) return { kind: 'pod', identity: { podUid, qos, path } };
    if (CONMON.test(next)) return { kind: 'excluded', reason: 'crio-conmon', path };
    if (next.endsWith('.mount')) return { kind: 'excluded', reason: 'mount unit', path };
    const plain = CONTAINER_PLAIN.exec(next);
    if (plain) return { kind: 'pod', identity: { podUid, containerId: plain[1]!, qos, path } };
    const crio = CONTAINER_CRIO_CGROUPFS.exec(next);
    if (crio) return { kind: 'pod', identity: { podUid, containerId: crio[1]!, runtime: 'crio', qos, path } };
    const scope = CONTAINER_SCOPE.exec(next);
    if (scope) {
      return {
        kind: 'pod',
        identity: { podUid, containerId: scope[2]!, runtime: RUNTIME[scope[1]!]!, qos, path },
      };
    }
    // A pod's cgroup with a child of a shape nstats does not know: the pod is still right.
    return { kind: 'pod', identity: { podUid, qos, path } };
  }
  return { kind: 'none' };
}

/**
 * The identity in a whole `/proc/<pid>/cgroup` file: `hierarchy-ID:controllers:path` per line,
 * one line on cgroup v2 (`0::/...`), one per hierarchy on v1 (and both in hybrid mode). The first
 * line that names a pod decides, the v2 line first: every hierarchy holds the same pod cgroup.
 * Lines of another shape are ignored.
 */
export function parseCgroupFile(text: string): CgroupResult {
  const paths: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') paths.unshift(m[3]!);
    else paths.push(m[3]!);
  }
  let excluded: CgroupResult | undefined;
  for (const path of paths) {
    const r = parseCgroupPath(path);
    if (r.kind === 'pod') return r;
    if (r.kind === 'excluded') excluded ??= r;
  }
  return excluded ?? { kind: 'none' };
}
