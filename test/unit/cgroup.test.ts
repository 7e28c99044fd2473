import { describe, expect, it } from 'vitest';
import { parseCgroupFile, parseCgroupPath } from '../../src/node/cgroup.js';

// The cgroup path shapes the kubelet and the runtimes make (cgroup v1 and v2, cgroupfs and systemd
// drivers, Docker, containerd, CRI-O), as /proc/<pid>/cgroup shows them.

const UID = '0f3c9b9e-5d1a-4c1e-9f5e-2b7a1c0d9e8f';
const UID_ = UID.replaceAll('-', '_');
const STATIC = '3c6f1e0d9b8a7f6e5d4c3b2a19081726';
const ID = 'a'.repeat(8) + '0123456789abcdef'.repeat(3) + 'b'.repeat(8);
const ID2 = 'c'.repeat(64);

describe('parseCgroupPath', () => {
  const cases: Array<[string, string, Record<string, unknown>]> = [
    [
      'cgroupfs, burstable (Docker or containerd)',
      `/kubepods/burstable/pod${UID}/${ID}`,
      { qos: 'burstable' },
    ],
    ['cgroupfs, Guaranteed', `/kubepods/pod${UID}/${ID}`, { qos: 'guaranteed' }],
    ['cgroupfs, CRI-O', `/kubepods/besteffort/pod${UID}/crio-${ID}`, { qos: 'besteffort', runtime: 'crio' }],
    [
      'systemd, containerd',
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`,
      { qos: 'burstable', runtime: 'containerd' },
    ],
    [
      'systemd, CRI-O',
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-${ID}.scope`,
      { qos: 'besteffort', runtime: 'crio' },
    ],
    [
      'systemd, Docker, Guaranteed',
      `/kubepods.slice/kubepods-pod${UID_}.slice/docker-${ID}.scope`,
      { qos: 'guaranteed', runtime: 'docker' },
    ],
    [
      'containerd colon form',
      `/system.slice/containerd.service/kubepods-burstable-pod${UID_}.slice:cri-containerd:${ID}`,
      { qos: 'burstable', runtime: 'containerd' },
    ],
    [
      'relative, from a private cgroup namespace',
      `/../../kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
      { qos: 'besteffort', runtime: 'containerd' },
    ],
    [
      'relative without the leading slash',
      `../../kubepods-burstable-pod${UID_}.slice/crio-${ID}.scope`,
      { qos: 'burstable', runtime: 'crio' },
    ],
  ];
  for (const [what, path, extra] of cases) {
    it(what, () => {
      expect(parseCgroupPath(path)).toEqual({
        kind: 'pod',
        identity: { podUid: UID, containerId: ID, path, ...extra },
      });
    });
  }

  it('Docker in Docker (kind): the innermost pod and its container', () => {
    const path = `/docker/${ID2}/kubepods/burstable/pod${UID}/${ID}`;
    expect(parseCgroupPath(path)).toMatchObject({ kind: 'pod', identity: { podUid: UID, containerId: ID } });
    const nested = `/kubepods/besteffort/pod${STATIC}/${ID2}/kubepods/burstable/pod${UID}/${ID}`;
    expect(parseCgroupPath(nested)).toMatchObject({
      kind: 'pod',
      identity: { podUid: UID, containerId: ID },
    });
  });

  it("a static pod's 32-hex UID, both drivers", () => {
    expect(parseCgroupPath(`/kubepods/burstable/pod${STATIC}/${ID}`)).toMatchObject({
      identity: { podUid: STATIC, containerId: ID },
    });
    expect(
      parseCgroupPath(
        `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${STATIC}.slice/cri-containerd-${ID}.scope`,
      ),
    ).toMatchObject({ identity: { podUid: STATIC, containerId: ID, runtime: 'containerd' } });
  });

  it('a process in the pod cgroup itself: the pod without a container', () => {
    expect(parseCgroupPath(`/kubepods/burstable/pod${UID}`)).toEqual({
      kind: 'pod',
      identity: { podUid: UID, qos: 'burstable', path: `/kubepods/burstable/pod${UID}` },
    });
  });

  it('excludes CRI-O conmon and mount units', () => {
    expect(
      parseCgroupPath(
        `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-conmon-${ID}.scope`,
      ),
    ).toMatchObject({ kind: 'excluded', reason: 'crio-conmon' });
    expect(parseCgroupPath(`/kubepods/besteffort/pod${UID}/crio-conmon-${ID}`)).toMatchObject({
      kind: 'excluded',
      reason: 'crio-conmon',
    });
    expect(
      parseCgroupPath(
        `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/var-lib-kubelet-pods-x.mount`,
      ),
    ).toMatchObject({ kind: 'excluded', reason: 'mount unit' });
  });

  it('finds no pod in host cgroups and unknown shapes', () => {
    for (const path of [
      '/',
      '/system.slice/sshd.service',
      '/user.slice/user-0.slice/session-1.scope',
      `/docker/${ID}`,
      '/kubepods/burstable',
      '/kubepods.slice/kubepods-burstable.slice',
      `/kubepods/burstable/podnot-a-uid/${ID}`,
      `/kubepods/burstable/pod${UID.toUpperCase()}/${ID}`,
      `/kubepods/burstable/pod${UID}x/${ID}`,
      '',
    ]) {
      expect(parseCgroupPath(path), path).toEqual({ kind: 'none' });
    }
  });

  it("keeps the pod when the container's cgroup has an unknown shape", () => {
    expect(parseCgroupPath(`/kubepods/burstable/pod${UID}/something-new`)).toEqual({
      kind: 'pod',
      identity: { podUid: UID, qos: 'burstable', path: `/kubepods/burstable/pod${UID}/something-new` },
    });
  });
});

describe('parseCgroupFile', () => {
  it('cgroup v2: one line', () => {
    const text = `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope\n`;
    expect(parseCgroupFile(text)).toMatchObject({ kind: 'pod', identity: { podUid: UID, containerId: ID } });
  });

  it('cgroup v1: a line per hierarchy, the named ones and the systemd one', () => {
    const text = [
      `12:pids:/kubepods/burstable/pod${UID}/${ID}`,
      `11:cpu,cpuacct:/kubepods/burstable/pod${UID}/${ID}`,
      '10:rdma:/',
      `1:name=systemd:/kubepods/burstable/pod${UID}/${ID}`,
      '',
    ].join('\n');
    expect(parseCgroupFile(text)).toMatchObject({ kind: 'pod', identity: { podUid: UID, containerId: ID } });
  });

  it('hybrid: the v2 line decides, wherever it is', () => {
    const text = [
      `4:pids:/kubepods/burstable/pod${STATIC}/${ID2}`,
      `0::/kubepods/burstable/pod${UID}/${ID}`,
    ].join('\n');
    expect(parseCgroupFile(text)).toMatchObject({ identity: { podUid: UID, containerId: ID } });
  });

  it('a host process; an excluded one; lines of unknown shape ignored', () => {
    expect(parseCgroupFile('0::/system.slice/containerd.service\n')).toEqual({ kind: 'none' });
    expect(parseCgroupFile(`0::/kubepods/besteffort/pod${UID}/crio-conmon-${ID}\n`)).toMatchObject({
      kind: 'excluded',
    });
    expect(parseCgroupFile('garbage\n\n:::\n')).toEqual({ kind: 'none' });
    expect(parseCgroupFile(`garbage\n0::/kubepods/pod${UID}/${ID}\n`)).toMatchObject({ kind: 'pod' });
  });
});
