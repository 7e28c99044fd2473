import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One appended batch of line-protocol lines, stored and acknowledged as a unit. */
export interface SpoolBatch {
  readonly id: number;
  readonly lines: readonly string[];
}

/** What a spool holds now and what it had to drop since start-up. */
export interface SpoolStats {
  batches: number;
  points: number;
  bytes: number;
  /** Points dropped because the spool was full (oldest first). */
  droppedPoints: number;
}

/**
 * Points not yet acknowledged by the server, oldest first. Lines are stored as written (with their
 * timestamps), so a replay sends exactly what the cycle produced. Appending beyond `maxBytes`
 * drops the oldest batches (never one being sent) and counts them.
 */
export interface Spool {
  readonly kind: 'disk' | 'memory';
  /** The directory, or `memory`. */
  readonly location: string;
  readonly maxBytes: number;
  readonly stats: Readonly<SpoolStats>;
  /** The id the next append gets; ids only grow (across restarts too, for a disk spool). */
  readonly nextId: number;
  /** Recovers what an earlier run left (disk); resolves with what is there. */
  open(): Promise<Readonly<SpoolStats>>;
  /** Stores a batch; resolves with the number of points dropped to make room. */
  append(lines: readonly string[]): Promise<number>;
  /** The oldest batches not being sent, whose lines add up to at most `maxLines` (at least one). */
  take(maxLines: number): Promise<SpoolBatch[]>;
  /** The batches were delivered (or rejected for good): remove them. */
  ack(ids: readonly number[]): Promise<void>;
  /** The batches were not delivered: they may be taken again. */
  release(ids: readonly number[]): void;
}

interface Entry {
  readonly id: number;
  readonly points: number;
  readonly bytes: number;
}

/** UTF-8 size of the lines as stored: each followed by `\n`. */
export function storedBytes(lines: readonly string[]): number {
  let n = 0;
  for (const l of lines) n += Buffer.byteLength(l, 'utf8') + 1;
  return n;
}

/** The bookkeeping both spools share: the index, the size cap, what is in flight. */
abstract class IndexedSpool implements Spool {
  abstract readonly kind: 'disk' | 'memory';
  abstract readonly location: string;
  readonly stats: SpoolStats = { batches: 0, points: 0, bytes: 0, droppedPoints: 0 };
  /** Oldest first. Bounded: its entries' bytes add up to at most maxBytes (plus those in flight). */
  protected readonly index: Entry[] = [];
  private readonly inFlight = new Set<number>();
  nextId = 1;

  constructor(readonly maxBytes: number) {}

  protected abstract store(id: number, lines: readonly string[]): Promise<void>;
  protected abstract load(entry: Entry): Promise<string[]>;
  protected abstract remove(id: number, points: number): Promise<void>;

  open(): Promise<Readonly<SpoolStats>> {
    return Promise.resolve(this.stats);
  }

  async append(lines: readonly string[]): Promise<number> {
    if (lines.length === 0) return 0;
    const bytes = storedBytes(lines);
    const id = this.nextId++;
    await this.store(id, lines);
    this.add({ id, points: lines.length, bytes });
    return this.trim();
  }

  /** Drops the oldest batches not in flight until the spool fits its cap again. */
  private async trim(): Promise<number> {
    let dropped = 0;
    let i = 0;
    while (this.stats.bytes > this.maxBytes && i < this.index.length) {
      const entry = this.index[i]!;
      if (this.inFlight.has(entry.id)) {
        i++;
        continue;
      }
      this.index.splice(i, 1);
      this.subtract(entry);
      dropped += entry.points;
      await this.remove(entry.id, entry.points);
    }
    this.stats.droppedPoints += dropped;
    return dropped;
  }

  async take(maxLines: number): Promise<SpoolBatch[]> {
    const picked: Entry[] = [];
    let lines = 0;
    for (const entry of this.index) {
      if (this.inFlight.has(entry.id)) continue;
      if (picked.length > 0 && lines + entry.points > maxLines) break;
      picked.push(entry);
      lines += entry.points;
    }
    for (const e of picked) this.inFlight.add(e.id);
    try {
      return await Promise.all(picked.map(async (e) => ({ id: e.id, lines: await this.load(e) })));
    } catch (err) {
      this.release(picked.map((e) => e.id));
      throw err;
    }
  }

  async ack(ids: readonly number[]): Promise<void> {
    const done = new Set(ids);
    for (let i = this.index.length - 1; i >= 0; i--) {
      const entry = this.index[i]!;
      if (!done.has(entry.id)) continue;
      this.index.splice(i, 1);
      this.subtract(entry);
      this.inFlight.delete(entry.id);
      await this.remove(entry.id, entry.points);
    }
  }

  release(ids: readonly number[]): void {
    for (const id of ids) this.inFlight.delete(id);
  }

  protected add(entry: Entry): void {
    this.index.push(entry);
    this.stats.batches++;
    this.stats.points += entry.points;
    this.stats.bytes += entry.bytes;
  }

  private subtract(entry: Entry): void {
    this.stats.batches--;
    this.stats.points -= entry.points;
    this.stats.bytes -= entry.bytes;
  }
}

/** A bounded buffer in memory: survives outages, not restarts (no NSTATS_SPOOL_DIR). */
export class MemorySpool extends IndexedSpool {
  readonly kind = 'memory';
  readonly location = 'memory';
  private readonly data = new Map<number, readonly string[]>();

  protected store(id: number, lines: readonly string[]): Promise<void> {
    this.data.set(id, [...lines]);
    return Promise.resolve();
  }

  protected load(entry: Entry): Promise<string[]> {
    return Promise.resolve([...(this.data.get(entry.id) ?? [])]);
  }

  protected remove(id: number): Promise<void> {
    this.data.delete(id);
    return Promise.resolve();
  }
}

/** `0000000000000042-17.lp`: batch 42, 17 points. */
const FILE = /^(\d{16})-([1-9]\d*)\.lp$/;

function fileName(id: number, points: number): string {
  return `${String(id).padStart(16, '0')}-${points}.lp`;
}

/** The spool directory cannot be used; says which setting to change. */
export class SpoolError extends Error {
  constructor(dir: string, action: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException).code ?? (cause as Error).message;
    super(
      `spool: cannot ${action} ${dir} (${code}): set NSTATS_SPOOL_DIR to a writable directory (an emptyDir volume in Kubernetes), or unset it to buffer in memory`,
      { cause },
    );
    this.name = 'SpoolError';
  }
}

/**
 * A directory of batch files, one per append, named by sequence number and point count. A batch is
 * written to a temporary file, synced and renamed, so a crash leaves either the whole batch or
 * none of it; a restart replays what is there, oldest first. Memory holds only the index.
 */
export class DiskSpool extends IndexedSpool {
  readonly kind = 'disk';

  constructor(
    readonly location: string,
    maxBytes: number,
    /** Told of files in the directory that are not batches (left alone). */
    private readonly onForeignFile: (name: string) => void = () => undefined,
  ) {
    super(maxBytes);
  }

  override async open(): Promise<Readonly<SpoolStats>> {
    const dir = this.location;
    await mkdir(dir, { recursive: true }).catch((err: unknown) => {
      throw new SpoolError(dir, 'create', err);
    });
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      throw new SpoolError(dir, 'read', err);
    }
    const found: Entry[] = [];
    for (const name of names) {
      if (name.endsWith('.tmp')) {
        // A batch cut short by a crash before its rename: never acknowledged, never complete.
        await rm(join(dir, name), { force: true });
        continue;
      }
      const m = FILE.exec(name);
      if (!m) {
        this.onForeignFile(name);
        continue;
      }
      const { size } = await stat(join(dir, name));
      found.push({ id: Number(m[1]), points: Number(m[2]), bytes: size });
    }
    found.sort((a, b) => a.id - b.id);
    // A batch's file name is made from its id and point count, so the index holds no names.
    for (const f of found) this.add(f);
    this.nextId = (found.at(-1)?.id ?? 0) + 1;
    // Proves the directory is writable now rather than at the first outage.
    const probe = join(dir, `.probe-${process.pid}.tmp`);
    await writeFile(probe, '').catch((err: unknown) => {
      throw new SpoolError(dir, 'write to', err);
    });
    await rm(probe, { force: true });
    return this.stats;
  }

  protected async store(id: number, lines: readonly string[]): Promise<void> {
    const name = fileName(id, lines.length);
    const path = join(this.location, name);
    const tmp = `${path}.tmp`;
    try {
      await writeFile(tmp, `${lines.join('\n')}\n`, { flush: true });
      await rename(tmp, path);
      const d = await open(this.location, 'r');
      await d.sync().finally(() => d.close());
    } catch (err) {
      await rm(tmp, { force: true });
      throw new SpoolError(this.location, 'write a batch to', err);
    }
  }

  protected async load(entry: Entry): Promise<string[]> {
    const text = await readFile(join(this.location, fileName(entry.id, entry.points)), 'utf8');
    return text.split('\n').filter((l) => l.length > 0);
  }

  protected async remove(id: number, points: number): Promise<void> {
    await rm(join(this.location, fileName(id, points)), { force: true });
  }
}
