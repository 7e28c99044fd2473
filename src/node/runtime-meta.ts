import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Runtime } from './cgroup.js';

/**
 * A container's pod and names from its runtime's own metadata on disk, for when the Kubernetes API
 * is not reachable: what the node agent reads after the cgroup gave it a container ID.
 *
 * - Docker (dockershim, cri-dockerd): `<data-root>/containers/<id>/config.v2.json`, its
 *   `Config.Labels` `io.kubernetes.pod.name`, `.pod.namespace`, `.pod.uid`, `.container.name`
 *   (`POD` for the sandbox); the data root is `data-root` of `/etc/docker/daemon.json`, by default
 *   `/var/lib/docker`.
 * - containerd: the task bundle `<state>/io.containerd.runtime.v2.task/k8s.io/<id>/config.json`
 *   (OCI), its annotations `io.kubernetes.cri.sandbox-name`, `-namespace`, `-uid`,
 *   `io.kubernetes.cri.container-name`, `io.kubernetes.cri.container-type` (`sandbox`/`container`).
 * - CRI-O: `<storage>/overlay-containers/<id>/userdata/config.json` (OCI), its annotations
 *   `io.kubernetes.pod.name`, `.pod.namespace`, `.pod.uid`, `io.kubernetes.container.name`,
 *   `io.kubernetes.cri-o.ContainerType`.
 *
 * Every root is a setting, so tests run on fixture trees.
 */

export interface RuntimeRoots {
  /** Docker's daemon.json, read for `data-root` (default /etc/docker/daemon.json). */
  readonly dockerConfig: string;
  /** containerd's state directory (default /run/containerd). */
  readonly containerdState: string;
  /** CRI-O's container storage run root (default /run/containers/storage). */
  readonly crioStorage: string;
}

export const DEFAULT_RUNTIME_ROOTS: RuntimeRoots = {
  dockerConfig: '/etc/docker/daemon.json',
  containerdState: '/run/containerd',
  crioStorage: '/run/containers/storage',
};

export interface ContainerMeta {
  readonly runtime: Runtime;
  readonly podName: string;
  readonly podNamespace: string;
  readonly podUid?: string;
  /** Absent for a sandbox. */
  readonly containerName?: string;
  /** The pod's sandbox (pause) container, not an application container. */
  readonly sandbox: boolean;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (o: Json | undefined, key: string): string | undefined =>
  typeof o?.[key] === 'string' && o[key] !== '' ? o[key] : undefined;

async function readJson(path: string): Promise<Json | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v: unknown = JSON.parse(text);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

const ID = /^[0-9a-f]{64}$/;

export class RuntimeMetadata {
  private dockerRoot: Promise<string> | undefined;

  constructor(private readonly roots: RuntimeRoots = DEFAULT_RUNTIME_ROOTS) {}

  /** Docker's data root: daemon.json's `data-root`, else /var/lib/docker (read once). */
  dockerDataRoot(): Promise<string> {
    this.dockerRoot ??= readJson(this.roots.dockerConfig).then(
      (c) => str(c, 'data-root') ?? '/var/lib/docker',
    );
    return this.dockerRoot;
  }

  /**
   * The metadata of a container, from the runtime the cgroup named first, then the others (a
   * cgroupfs path does not tell Docker from containerd). Undefined when no runtime knows the ID,
   * or its file is unreadable or malformed.
   */
  async lookup(containerId: string, hint?: Runtime): Promise<ContainerMeta | undefined> {
    if (!ID.test(containerId)) return undefined;
    const order: Runtime[] = ['containerd', 'crio', 'docker'];
    if (hint) order.sort((a, b) => Number(b === hint) - Number(a === hint));
    for (const runtime of order) {
      const meta = await this.read(runtime, containerId);
      if (meta) return meta;
    }
    return undefined;
  }

  private async read(runtime: Runtime, id: string): Promise<ContainerMeta | undefined> {
    if (runtime === 'docker') {
      const c = await readJson(join(await this.dockerDataRoot(), 'containers', id, 'config.v2.json'));
      const labels = isObject(c?.Config) && isObject(c.Config.Labels) ? c.Config.Labels : undefined;
      const podName = str(labels, 'io.kubernetes.pod.name');
      const podNamespace = str(labels, 'io.kubernetes.pod.namespace');
      if (!podName || !podNamespace) return undefined;
      const containerName = str(labels, 'io.kubernetes.container.name');
      const sandbox = containerName === 'POD' || str(labels, 'io.kubernetes.docker.type') === 'podsandbox';
      return {
        runtime,
        podName,
        podNamespace,
        podUid: str(labels, 'io.kubernetes.pod.uid'),
        containerName: sandbox ? undefined : containerName,
        sandbox,
      };
    }
    const path =
      runtime === 'containerd'
        ? join(this.roots.containerdState, 'io.containerd.runtime.v2.task', 'k8s.io', id, 'config.json')
        : join(this.roots.crioStorage, 'overlay-containers', id, 'userdata', 'config.json');
    const c = await readJson(path);
    const a = isObject(c?.annotations) ? c.annotations : undefined;
    if (!a) return undefined;
    if (runtime === 'containerd') {
      const podName = str(a, 'io.kubernetes.cri.sandbox-name');
      const podNamespace = str(a, 'io.kubernetes.cri.sandbox-namespace');
      if (!podName || !podNamespace) return undefined;
      const sandbox = str(a, 'io.kubernetes.cri.container-type') === 'sandbox';
      return {
        runtime,
        podName,
        podNamespace,
        podUid: str(a, 'io.kubernetes.cri.sandbox-uid'),
        containerName: sandbox ? undefined : str(a, 'io.kubernetes.cri.container-name'),
        sandbox,
      };
    }
    const podName = str(a, 'io.kubernetes.pod.name');
    const podNamespace = str(a, 'io.kubernetes.pod.namespace');
    if (!podName || !podNamespace) return undefined;
    const sandbox = str(a, 'io.kubernetes.cri-o.ContainerType') === 'sandbox';
    return {
      runtime,
      podName,
      podNamespace,
      podUid: str(a, 'io.kubernetes.pod.uid'),
      containerName: sandbox ? undefined : str(a, 'io.kubernetes.container.name'),
      sandbox,
    };
  }
}
