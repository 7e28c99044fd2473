import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeMetadata } from '../../src/node/runtime-meta.js';

// RuntimeMetadata on the fixture trees of test/fixtures/runtime/ (see its README): Docker's
// config.v2.json under a data root named by daemon.json, containerd's and CRI-O's OCI bundles.

const FIXTURES = fileURLToPath(new URL('../fixtures/runtime/', import.meta.url));
const id = (c: string) => c.repeat(64);

let dir: string;
let meta: RuntimeMetadata;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nstats-runtime-'));
  await writeFile(
    join(dir, 'daemon.json'),
    JSON.stringify({ 'data-root': join(FIXTURES, 'docker', 'data-root') }),
  );
  meta = new RuntimeMetadata({
    dockerConfig: join(dir, 'daemon.json'),
    containerdState: join(FIXTURES, 'containerd'),
    crioStorage: join(FIXTURES, 'crio'),
  });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('RuntimeMetadata', () => {
  it("names a Docker container's pod from its labels, under daemon.json's data root", async () => {
    expect(await meta.dockerDataRoot()).toBe(join(FIXTURES, 'docker', 'data-root'));
    expect(await meta.lookup(id('d'), 'docker')).toEqual({
      runtime: 'docker',
      podName: 'web-0',
      podNamespace: 'store',
      podUid: '2d0e5c1a-4b7f-4e1a-9c3d-8f6a5b4c3d2e',
      containerName: 'web',
      sandbox: false,
    });
    expect(await meta.lookup(id('e'))).toMatchObject({ runtime: 'docker', podName: 'web-0', sandbox: true });
    expect((await meta.lookup(id('e')))?.containerName).toBeUndefined();
  });

  it("names containerd's and CRI-O's containers from their bundles' annotations", async () => {
    expect(await meta.lookup(id('c'), 'containerd')).toEqual({
      runtime: 'containerd',
      podName: 'checkout-7d9f8c6b5-x2x9k',
      podNamespace: 'shop',
      podUid: '0b7e6f9a-1c1e-4a8e-9f49-3f2a1c0d9e11',
      containerName: 'checkout',
      sandbox: false,
    });
    expect(await meta.lookup(id('f'))).toMatchObject({ runtime: 'containerd', sandbox: true });
    expect(await meta.lookup(id('a'), 'crio')).toEqual({
      runtime: 'crio',
      podName: 'redis-0',
      podNamespace: 'shop',
      podUid: '1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b',
      containerName: 'redis',
      sandbox: false,
    });
    expect(await meta.lookup(id('b'))).toMatchObject({ runtime: 'crio', sandbox: true });
  });

  it('a wrong hint does not stop the other runtimes from being asked', async () => {
    expect((await meta.lookup(id('a'), 'docker'))?.runtime).toBe('crio');
    expect((await meta.lookup(id('d'), 'containerd'))?.runtime).toBe('docker');
  });

  it('malformed, incomplete or absent files, and IDs that are not 64 hex digits, are no answer', async () => {
    expect(await meta.lookup(id('9'))).toBeUndefined(); // truncated JSON
    expect(await meta.lookup(id('8'))).toBeUndefined(); // an array
    expect(await meta.lookup(id('7'))).toBeUndefined(); // no namespace
    expect(await meta.lookup(id('1'))).toBeUndefined(); // nobody's
    expect(await meta.lookup('../../etc/passwd')).toBeUndefined();
    expect(await meta.lookup(id('D'))).toBeUndefined();
  });

  it("without daemon.json, or without data-root in it, Docker's data root is /var/lib/docker", async () => {
    const none = new RuntimeMetadata({
      dockerConfig: join(dir, 'absent.json'),
      containerdState: dir,
      crioStorage: dir,
    });
    expect(await none.dockerDataRoot()).toBe('/var/lib/docker');
    await writeFile(join(dir, 'other.json'), '{"log-driver": "json-file"}');
    const other = new RuntimeMetadata({
      dockerConfig: join(dir, 'other.json'),
      containerdState: dir,
      crioStorage: dir,
    });
    expect(await other.dockerDataRoot()).toBe('/var/lib/docker');
    await writeFile(join(dir, 'garbled.json'), '{"data-root": ');
    const garbled = new RuntimeMetadata({
      dockerConfig: join(dir, 'garbled.json'),
      containerdState: dir,
      crioStorage: dir,
    });
    expect(await garbled.dockerDataRoot()).toBe('/var/lib/docker');
  });
});
