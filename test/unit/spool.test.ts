import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskSpool, MemorySpool, SpoolError, storedBytes, type Spool } from '../../src/sink/spool.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nstats-spool-'));
});
afterEach(async () => {
  await chmod(dir, 0o700).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

const batch = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => `nstat,hosts=${tag} sendRate=${i} ${1_700_000_000_000 + i}`);

for (const kind of ['disk', 'memory'] as const) {
  const make = (maxBytes = 1 << 20): Spool =>
    kind === 'disk' ? new DiskSpool(dir, maxBytes) : new MemorySpool(maxBytes);

  describe(`${kind} spool`, () => {
    it('hands batches back oldest first, in groups up to maxLines, and forgets acknowledged ones', async () => {
      const s = make();
      await s.open();
      await s.append(batch(3, 'a'));
      await s.append(batch(2, 'b'));
      await s.append(batch(4, 'c'));
      expect(s.stats).toMatchObject({ batches: 3, points: 9 });
      const first = await s.take(5);
      expect(first.map((b) => b.lines.length)).toEqual([3, 2]);
      expect(first[0]!.lines).toEqual(batch(3, 'a'));
      // What is being sent is not handed out twice.
      const second = await s.take(100);
      expect(second.map((b) => b.lines[0])).toEqual([batch(4, 'c')[0]]);
      await s.ack(first.map((b) => b.id));
      s.release(second.map((b) => b.id));
      expect(s.stats).toMatchObject({ batches: 1, points: 4, bytes: storedBytes(batch(4, 'c')) });
      // A batch larger than maxLines still comes alone (never none).
      expect((await s.take(1)).map((b) => b.lines.length)).toEqual([4]);
    });

    it('drops the oldest batches beyond its cap, never one being sent, and counts them', async () => {
      const one = storedBytes(batch(10, 'x'));
      const s = make(one * 2);
      await s.open();
      await s.append(batch(10, 'a'));
      const sending = await s.take(10);
      await s.append(batch(10, 'b'));
      expect(await s.append(batch(10, 'c'))).toBe(10);
      expect(s.stats).toMatchObject({ points: 20, droppedPoints: 10 });
      // 'a' was in flight: 'b' went instead.
      await s.ack(sending.map((b) => b.id));
      const left = await s.take(100);
      expect(left.map((b) => b.lines[0])).toEqual([batch(10, 'c')[0]]);
    });
  });
}

describe('disk spool across restarts', () => {
  it('a new instance finds the batches left, in order, with their lines and timestamps unchanged', async () => {
    const a = new DiskSpool(dir, 1 << 20);
    await a.open();
    await a.append(batch(2, 'old'));
    await a.append(batch(3, 'new'));
    const b = new DiskSpool(dir, 1 << 20);
    expect(await b.open()).toMatchObject({
      batches: 2,
      points: 5,
      bytes: storedBytes([...batch(2, 'old'), ...batch(3, 'new')]),
    });
    const got = await b.take(100);
    expect(got.flatMap((x) => x.lines)).toEqual([...batch(2, 'old'), ...batch(3, 'new')]);
    // New batches number after the recovered ones.
    await b.append(batch(1, 'next'));
    expect(b.nextId).toBe(got.at(-1)!.id + 2);
  });

  it('removes batches cut short by a crash (.tmp), and leaves files it did not write alone', async () => {
    await writeFile(join(dir, '0000000000000007-5.lp.tmp'), 'nstat,hosts=half');
    await writeFile(join(dir, 'README'), 'not a batch');
    const foreign: string[] = [];
    const s = new DiskSpool(dir, 1 << 20, (n) => foreign.push(n));
    expect(await s.open()).toMatchObject({ batches: 0, points: 0 });
    expect(foreign).toEqual(['README']);
    expect((await readdir(dir)).sort()).toEqual(['README']);
  });

  it('stores one file per batch and removes it once acknowledged', async () => {
    const s = new DiskSpool(dir, 1 << 20);
    await s.open();
    await s.append(batch(2, 'a'));
    const files = await readdir(dir);
    expect(files).toEqual(['0000000000000001-2.lp']);
    expect(await readFile(join(dir, files[0]!), 'utf8')).toBe(`${batch(2, 'a').join('\n')}\n`);
    await s.ack((await s.take(10)).map((b) => b.id));
    expect(await readdir(dir)).toEqual([]);
  });

  it('says which setting to change when the directory cannot be written', async () => {
    if (process.getuid?.() === 0) {
      // root writes anywhere; a path under a regular file cannot be a directory for anyone.
      await writeFile(join(dir, 'file'), '');
      await expect(new DiskSpool(join(dir, 'file', 'spool'), 1).open()).rejects.toThrow(
        /^spool: cannot create .*\/file\/spool \(ENOTDIR\): set NSTATS_SPOOL_DIR to a writable directory/,
      );
    } else {
      await chmod(dir, 0o500);
      await expect(new DiskSpool(dir, 1).open()).rejects.toBeInstanceOf(SpoolError);
    }
  });
});
