// The Kubernetes manifests users apply (k8s/*.yaml): each object is checked against the API's
// OpenAPI schemas (kubernetes-models) and for fields the API does not know (the field lists of
// @kubernetes/client-node's models: `kubectl apply` rejects unknown fields, the schemas do not), then
// against the security and probe policy that nstats' containers promise. docker/compose.yaml is a
// Compose file, not a Kubernetes manifest, and lives outside k8s/.
import { loadAll } from 'js-yaml';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import type { IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IService } from 'kubernetes-models/v1/Service';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { schemaErrors, unknownFieldsOf } from '../helpers/kube-schema.js';

const K8S_DIR = new URL('../../k8s/', import.meta.url);
const DOCKERFILE = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');

/** What every object of a manifest has; the rest is read through the model's interface. */
interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
}

/** One document of a manifest file. */
interface Manifest {
  /** File name and document index, for messages: `names-service.yaml#3`. */
  where: string;
  object: KubeObject;
}

function readManifests(): Manifest[] {
  const files = readdirSync(K8S_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
  return files.flatMap((file) =>
    loadAll(readFileSync(new URL(file, K8S_DIR), 'utf8'))
      // An empty document (a trailing `---`) is no object.
      .filter((doc) => doc !== null && doc !== undefined)
      .map((doc, i) => ({ where: `${file}#${i}`, object: doc as KubeObject })),
  );
}

const MANIFESTS = readManifests();

/** The one object of that kind and name; fails the test when there is not exactly one. */
function find<T>(kind: string, name: string): T {
  const found = MANIFESTS.filter((m) => m.object.kind === kind && m.object.metadata.name === name);
  expect(
    found.map((m) => m.where),
    `one ${kind} ${name} in k8s/`,
  ).toHaveLength(1);
  return found[0]!.object as T;
}

/** What a container may have beyond the common policy. */
interface Allowed {
  /** Capabilities it may add (after dropping ALL). */
  capabilities: readonly string[];
  /** Whether allowPrivilegeEscalation may be true. */
  privilegeEscalation: boolean;
  /** Whether it must run as root (the node agent only: setns and other users' /proc need it). */
  root?: boolean;
}

/**
 * Where a container of `pod` breaks the policy nstats' containers keep: non-root, read-only root
 * file system, every capability dropped and only `allowed` ones added, no privilege escalation
 * unless allowed, CPU and memory requests and a memory limit, a liveness probe. Settings of the
 * pod's securityContext count where the container's own do not say otherwise.
 */
function policyViolations(pod: IPodSpec, container: IContainer, allowed: Allowed): string[] {
  const out: string[] = [];
  const sc = container.securityContext ?? {};
  const psc = pod.securityContext ?? {};
  const runAsNonRoot = sc.runAsNonRoot ?? psc.runAsNonRoot;
  const runAsUser = sc.runAsUser ?? psc.runAsUser;
  if (allowed.root) {
    if (runAsUser !== 0) out.push('runAsUser is not 0');
    // The kubelet refuses to start a container that says both.
    if (runAsNonRoot === true) out.push('runAsNonRoot is true');
  } else {
    if (runAsNonRoot !== true) out.push('runAsNonRoot is not true');
    if (runAsUser === 0) out.push('runAsUser is 0');
  }
  if (sc.readOnlyRootFilesystem !== true) out.push('readOnlyRootFilesystem is not true');
  if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push('capabilities.drop lacks ALL');
  const extra = (sc.capabilities?.add ?? []).filter((c) => !allowed.capabilities.includes(c));
  if (extra.length > 0) out.push(`capabilities.add has ${extra.join(', ')}`);
  if (sc.privileged === true) out.push('privileged');
  // Unset means true for a non-root process, so it must be said.
  if (!allowed.privilegeEscalation && sc.allowPrivilegeEscalation !== false)
    out.push('allowPrivilegeEscalation is not false');
  const { requests, limits } = container.resources ?? {};
  if (requests?.cpu === undefined) out.push('no CPU request');
  if (requests?.memory === undefined) out.push('no memory request');
  if (limits?.memory === undefined) out.push('no memory limit');
  if (container.livenessProbe === undefined) out.push('no liveness probe');
  return out;
}

const sidecarDeployment = (): IDeployment => find<IDeployment>('Deployment', 'web');
const nodeAgent = (): IDaemonSet => find<IDaemonSet>('DaemonSet', 'nstats-node');
const namesDeployment = (): IDeployment => find<IDeployment>('Deployment', 'nstats-names');

function podOf(deployment: IDeployment | IDaemonSet): IPodSpec {
  const pod = deployment.spec?.template.spec;
  expect(pod, `${deployment.metadata?.name} has a pod template`).toBeDefined();
  return pod!;
}

function containerOf(deployment: IDeployment | IDaemonSet, name: string): IContainer {
  const container = podOf(deployment).containers.find((c) => c.name === name);
  expect(container, `${deployment.metadata?.name} has a container ${name}`).toBeDefined();
  return container!;
}

function envOf(container: IContainer, name: string): string | undefined {
  return container.env?.find((e) => e.name === name)?.value;
}

/**
 * Checks that `url` (a container's NSTATS_NAMES_URL) reaches the names service: http, the
 * Service's `name.namespace`, and a port of the Service that forwards to the port `nstats names`
 * listens on (NSTATS_NAMES_PORT).
 */
function expectNamesServiceAt(url: string | undefined): void {
  const deployment = namesDeployment();
  const service = find<IService>('Service', 'nstats-names');
  const parsed = new URL(url ?? '');
  expect(parsed.protocol).toBe('http:');
  expect(parsed.hostname).toBe(`${service.metadata?.name}.${service.metadata?.namespace}`);
  const port = service.spec?.ports?.find((p) => p.port === Number(parsed.port));
  expect(port, `a Service port ${parsed.port}`).toBeDefined();
  const names = containerOf(deployment, 'nstats-names');
  const target = names.ports?.find(
    (p) => p.name === port?.targetPort || p.containerPort === port?.targetPort,
  );
  expect(target?.containerPort).toBe(Number(envOf(names, 'NSTATS_NAMES_PORT')));
}

/** The sidecar's capture needs CAP_NET_RAW and nothing else. */
const SIDECAR: Allowed = {
  capabilities: ['NET_RAW'],
  // The image gives iftop CAP_NET_RAW as a file capability (Dockerfile: setcap cap_net_raw+ep), and
  // a process with no_new_privs (allowPrivilegeEscalation: false) does not gain file capabilities,
  // so the sidecar could not capture. This is the only exception, and only while the image does it.
  privilegeEscalation: true,
};
const NAMES: Allowed = { capabilities: [], privilegeEscalation: false };
/**
 * The node agent: iftop's packet socket (NET_RAW), setns(2) into pods' network namespaces
 * (SYS_ADMIN), other users' /proc/<pid>/ns/net (SYS_PTRACE), as root; never escalating.
 */
const NODE_AGENT: Allowed = {
  capabilities: ['NET_RAW', 'SYS_ADMIN', 'SYS_PTRACE'],
  privilegeEscalation: false,
  root: true,
};

describe('k8s manifests', () => {
  it('are read from k8s/*.yaml: the sidecar example, the names service and the node agent', () => {
    const files = new Set(MANIFESTS.map((m) => m.where.split('#')[0]));
    expect([...files]).toEqual(
      expect.arrayContaining(['names-service.yaml', 'node-agent.yaml', 'sidecar-example.yaml']),
    );
  });

  it.each(MANIFESTS.map((m) => [`${m.where} ${m.object.kind} ${m.object.metadata.name}`, m] as const))(
    '%s is valid against the Kubernetes schemas',
    async (_where, { object }) => {
      expect(object.apiVersion, 'apiVersion').toEqual(expect.any(String));
      expect(object.kind, 'kind').toEqual(expect.any(String));
      expect(await schemaErrors(object)).toEqual([]);
      expect(unknownFieldsOf(object)).toEqual([]);
    },
  );

  it('a schema error fails the check', async () => {
    const broken = structuredClone(namesDeployment()) as unknown as KubeObject & {
      spec: Record<string, unknown>;
    };
    broken.spec.replicas = 'two';
    const errors = await schemaErrors(broken);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/spec\/replicas must be integer/);
  });

  it('an unknown field fails the check', () => {
    const broken = structuredClone(namesDeployment());
    const container = podOf(broken).containers[0] as IContainer & Record<string, unknown>;
    container.readinesProbe = container.readinessProbe;
    expect(unknownFieldsOf(broken as KubeObject)).toEqual([
      'Deployment.spec.template.spec.containers[0].readinesProbe',
    ]);
  });
});

describe('container policy', () => {
  it("the sidecar example's nstats container keeps it (NET_RAW and privilege escalation allowed)", () => {
    const deployment = sidecarDeployment();
    const nstats = containerOf(deployment, 'nstats');
    expect(nstats.image).toMatch(/^nstats:/);
    expect(nstats.args).toEqual(['run']);
    expect(policyViolations(podOf(deployment), nstats, SIDECAR)).toEqual([]);
  });

  it('the sidecar may escalate only because the image gives iftop a file capability', () => {
    expect(DOCKERFILE).toMatch(/setcap cap_net_raw\+ep \/usr\/sbin\/iftop/);
    expect(containerOf(sidecarDeployment(), 'nstats').securityContext?.allowPrivilegeEscalation).toBe(true);
  });

  it('the sidecar has a liveness probe and no readiness probe', () => {
    // A sidecar's readiness is the whole pod's: an unready sidecar takes the pod out of its Services.
    const nstats = containerOf(sidecarDeployment(), 'nstats');
    expect(nstats.livenessProbe?.httpGet?.path).toBe('/livez');
    expect(nstats.readinessProbe).toBeUndefined();
  });

  it('the sidecar pod mounts no service account token (the names service does the watching)', () => {
    expect(podOf(sidecarDeployment()).automountServiceAccountToken).toBe(false);
  });

  it("the names service's containers keep it with nothing added", () => {
    const deployment = namesDeployment();
    const pod = podOf(deployment);
    expect(pod.containers.length).toBeGreaterThan(0);
    for (const container of [...pod.containers, ...(pod.initContainers ?? [])])
      expect(policyViolations(pod, container, NAMES), container.name).toEqual([]);
    expect(pod.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
  });

  it('catches a container that breaks it', () => {
    const deployment = structuredClone(namesDeployment());
    const pod = podOf(deployment);
    const container = pod.containers[0]!;
    container.securityContext = {
      ...container.securityContext,
      readOnlyRootFilesystem: false,
      allowPrivilegeEscalation: true,
      capabilities: { drop: ['ALL'], add: ['NET_RAW', 'SYS_ADMIN'] },
    };
    delete container.livenessProbe;
    expect(policyViolations(pod, container, SIDECAR)).toEqual([
      'readOnlyRootFilesystem is not true',
      'capabilities.add has SYS_ADMIN',
      'no liveness probe',
    ]);
    expect(policyViolations(pod, container, NAMES)).toEqual([
      'readOnlyRootFilesystem is not true',
      'capabilities.add has NET_RAW, SYS_ADMIN',
      'allowPrivilegeEscalation is not false',
      'no liveness probe',
    ]);
  });
});

describe('names service', () => {
  it('runs `nstats names` from the sidecar image, ready once listed, alive while serving', () => {
    const names = containerOf(namesDeployment(), 'nstats-names');
    expect(names.image).toBe(containerOf(sidecarDeployment(), 'nstats').image);
    expect(names.args).toEqual(['names']);
    const http = names.ports?.find((p) => p.name === 'http');
    expect(http?.containerPort).toBe(9478);
    expect(envOf(names, 'NSTATS_NAMES_PORT')).toBe(String(http?.containerPort));
    expect(names.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', port: 'http' });
    expect(names.livenessProbe?.httpGet).toMatchObject({ path: '/livez', port: 'http' });
  });

  it('runs two spread replicas, one of which may be disrupted at a time', () => {
    const deployment = namesDeployment();
    expect(deployment.spec?.replicas).toBeGreaterThanOrEqual(2);
    const pod = podOf(deployment);
    const spread =
      (pod.topologySpreadConstraints ?? []).length > 0 ||
      pod.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution !== undefined;
    expect(spread, 'topologySpreadConstraints or podAntiAffinity').toBe(true);
    const pdb = find<IPodDisruptionBudget>('PodDisruptionBudget', 'nstats-names');
    expect(pdb.spec?.selector?.matchLabels).toEqual(deployment.spec?.selector.matchLabels);
  });

  it('may list and watch pods, Services and nodes in the core group, and nothing else', () => {
    const role = find<IClusterRole>('ClusterRole', 'nstats-names');
    const grants = (role.rules ?? []).flatMap((rule) => {
      expect(rule.nonResourceURLs, 'nonResourceURLs').toBeUndefined();
      expect(rule.resourceNames, 'resourceNames').toBeUndefined();
      return (rule.apiGroups ?? []).flatMap((group) =>
        (rule.resources ?? []).flatMap((resource) =>
          rule.verbs.map((verb) => `${group}/${resource}:${verb}`),
        ),
      );
    });
    const expected = ['pods', 'services', 'nodes'].flatMap((r) =>
      ['get', 'list', 'watch'].map((v) => `/${r}:${v}`),
    );
    expect(new Set(grants)).toEqual(new Set(expected));
  });

  it("binds the role to the service account its pods run as, which mounts the account's token", () => {
    const deployment = namesDeployment();
    const pod = podOf(deployment);
    const binding = find<IClusterRoleBinding>('ClusterRoleBinding', 'nstats-names');
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'nstats-names',
    });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: pod.serviceAccountName, namespace: deployment.metadata?.namespace },
    ]);
    find<KubeObject>('ServiceAccount', pod.serviceAccountName ?? '');
    expect(pod.automountServiceAccountToken).toBe(true);
  });

  it("is what the sidecar's NSTATS_NAMES_URL points at: the Service's name, namespace and port", () => {
    const deployment = namesDeployment();
    const service = find<IService>('Service', 'nstats-names');
    expect(service.metadata?.namespace).toBe('monitoring');
    expect(deployment.metadata?.namespace).toBe(service.metadata?.namespace);
    // The Service selects the Deployment's pods and forwards to their http port.
    const selector = service.spec?.selector;
    expect(selector, 'the Service has a selector').toBeDefined();
    expect(deployment.spec?.template.metadata?.labels).toMatchObject(selector!);
    expectNamesServiceAt(envOf(containerOf(sidecarDeployment(), 'nstats'), 'NSTATS_NAMES_URL'));
  });
});

describe('node agent', () => {
  const agent = () => containerOf(nodeAgent(), 'nstats');

  it("runs `nstats node` from the sidecar image, in the node's PID and network namespaces", () => {
    const pod = podOf(nodeAgent());
    expect(agent().image).toBe(containerOf(sidecarDeployment(), 'nstats').image);
    expect(agent().args).toEqual(['node']);
    expect(pod.hostPID).toBe(true);
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(envOf(agent(), 'NSTATS_MODE')).toBe('continuous');
    // nsenter, which runs iftop in each pod's namespace, is util-linux's.
    expect(DOCKERFILE).toMatch(/apt-get install[^\n]* util-linux/);
    expect(agent().env?.find((e) => e.name === 'NODE_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe(
      'spec.nodeName',
    );
  });

  it('keeps the policy as root with exactly NET_RAW, SYS_ADMIN and SYS_PTRACE, never escalating', () => {
    const pod = podOf(nodeAgent());
    expect(policyViolations(pod, agent(), NODE_AGENT)).toEqual([]);
    expect([...(agent().securityContext?.capabilities?.add ?? [])].sort()).toEqual([
      'NET_RAW',
      'SYS_ADMIN',
      'SYS_PTRACE',
    ]);
    expect(agent().securityContext?.privileged).toBeUndefined();
    // The exception is the agent's alone: the same container as a sidecar or names service fails.
    expect(policyViolations(pod, agent(), SIDECAR)).toContain('runAsUser is 0');
  });

  it('runs on every node, tainted ones too, and updates a few nodes at a time', () => {
    const ds = nodeAgent();
    expect(podOf(ds).tolerations).toContainEqual({ operator: 'Exists' });
    expect(ds.spec?.updateStrategy?.type).toBe('RollingUpdate');
    expect(ds.spec?.updateStrategy?.rollingUpdate?.maxUnavailable).toBeDefined();
    expect(ds.spec?.selector.matchLabels).toEqual(ds.spec?.template.metadata?.labels);
  });

  it("mounts the runtimes' metadata read-only, and no socket, /proc, /sys or the root", () => {
    const pod = podOf(nodeAgent());
    const hostPaths = (pod.volumes ?? []).filter((v) => v.hostPath);
    expect(hostPaths.length).toBeGreaterThan(0);
    const forbidden = [
      '/',
      '/proc',
      '/sys',
      '/run',
      '/var/run',
      '/run/containerd',
      '/var/lib/docker',
      '/run/containers/storage',
    ];
    for (const v of hostPaths) {
      const path = v.hostPath!.path;
      expect(forbidden, `${v.name}: ${path}`).not.toContain(path.replace(/\/+$/, '') || '/');
      expect(path, v.name).not.toMatch(/\.sock$/);
      const mounts = agent().volumeMounts?.filter((m) => m.name === v.name) ?? [];
      expect(mounts.length, `${v.name} is mounted`).toBeGreaterThan(0);
      for (const m of mounts) {
        expect(m.readOnly, `${v.name} read-only`).toBe(true);
        // At the node's own path, so the agent's defaults (NSTATS_CONTAINERD_STATE, ...) find it.
        expect(m.mountPath, `${v.name} at its node path`).toBe(path);
      }
    }
    const containerd = hostPaths.find((v) => v.hostPath!.path.startsWith('/run/containerd'));
    expect(containerd?.hostPath?.path).toBe('/run/containerd/io.containerd.runtime.v2.task');
  });

  it('has no API access: no token, and no binding names its service account', () => {
    const ds = nodeAgent();
    const pod = podOf(ds);
    expect(pod.automountServiceAccountToken).toBe(false);
    const account = find<KubeObject & { automountServiceAccountToken?: boolean }>(
      'ServiceAccount',
      pod.serviceAccountName ?? '',
    );
    expect(account.automountServiceAccountToken).toBe(false);
    const bindings = MANIFESTS.filter((m) => m.object.kind.endsWith('RoleBinding')).map(
      (m) => m.object as unknown as IClusterRoleBinding,
    );
    for (const b of bindings) expect(b.subjects?.map((s) => s.name)).not.toContain(pod.serviceAccountName);
  });

  it('asks the names service through its Service, and is probed on its health port', () => {
    expectNamesServiceAt(envOf(agent(), 'NSTATS_NAMES_URL'));
    const health = agent().ports?.find((p) => p.name === 'health');
    expect(health?.containerPort).toBe(Number(envOf(agent(), 'NSTATS_HEALTH_PORT')));
    expect(agent().livenessProbe?.httpGet).toMatchObject({ path: '/livez', port: 'health' });
    expect(agent().readinessProbe?.httpGet).toMatchObject({ path: '/readyz', port: 'health' });
    expect(envOf(agent(), 'NSTATS_SPOOL_DIR')).toBe(
      agent().volumeMounts?.find((m) => m.name === 'nstats-spool')?.mountPath,
    );
    // nstats stops within NSTATS_SHUTDOWN_TIMEOUT_MS, 20 s by default: inside the grace period.
    expect(podOf(nodeAgent()).terminationGracePeriodSeconds).toBeGreaterThan(20);
  });
});
