import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { parseIftop } from '../parse/iftop-parser.js';
import type { ParseIssue, Snapshot } from '../parse/types.js';
import { classifyIftopFailure, CaptureError, tail } from './errors.js';
import { iftopArgs } from './iftop-args.js';
import { findOnPath } from './find-on-path.js';

/** The double rule that closes each iftop table. */
const TABLE_END = /^={20,}\s*$/;

/** A table longer than this (bytes) without its closing rule is not iftop's: dropped, reported. */
const MAX_TABLE_BYTES = 4 * 1024 * 1024;

/** iftop's slot length: it closes a slot when a whole-second clock has moved on this much. */
const SLOT_SECONDS = 2;

/** The key iftop answers with one table, and nothing else (its "update"). */
const UPDATE_KEY = 'u';

/** How long closeSlot() waits for iftop's table after the key. */
const KEY_REPLY_MS = 500;

/**
 * A table identical to the one before it, arriving this soon after the key, is iftop's reprint of
 * that table (the key came before its slot was due), not a new slot: dropped. iftop answers a key
 * at once; the window also covers a table that was on its way when the key went out.
 */
const REPRINT_WINDOW_MS = 250;

/**
 * The one line of a table that iftop reads live when it prints (its running byte counters, not
 * the slot's): a reprint differs from the original there when packets came in between.
 */
const LIVE_LINE = /^Cumulative \(sent\/received\/total\):.*$/m;

export interface IftopStreamOptions {
  readonly interface: string;
  readonly flowLimit: number;
  readonly ports: boolean;
  readonly iftopPath?: string;
  /** Time between SIGINT and SIGKILL at stop(). Default 1500 ms. */
  readonly graceMs?: number;
  /** Every table iftop prints, parsed, with the time it arrived. */
  readonly onSnapshot?: (snapshot: Snapshot, at: Date) => void;
  /**
   * Every table iftop prints, as text, not parsed (for a reader that needs only some of them);
   * when given, onSnapshot and onIssues are not called. At exit, lines after the last table come
   * here too, with `complete` false.
   */
  readonly onTable?: (text: string, at: Date, complete: boolean) => void;
  /** Lines of a table that could not be read. */
  readonly onIssues?: (issues: readonly ParseIssue[]) => void;
  /** iftop exited without stop() being called: a CaptureError saying why. */
  readonly onExit: (error: CaptureError) => void;
  /** How iftop's stdout is made line-buffered; default lineBuffering(). */
  readonly buffering?: ReturnType<typeof lineBuffering>;
  /**
   * A command iftop runs under, asked at each start: the node agent's `nsenter --net=<ns> --`,
   * which enters a pod's network namespace and execs iftop there (same PID, so signals reach it).
   */
  readonly wrapper?: () => readonly string[];
}

/** What a source needs of the stream (a stand-in in unit tests). */
export interface StreamLike {
  readonly command: string;
  readonly running: boolean;
  /** Milliseconds spent parsing tables since the stream was made. */
  readonly parseMs: number;
  start(): void;
  /** Has iftop print its open slot (see IftopStream.closeSlot). */
  closeSlot(waitUntil?: number): Promise<void>;
  /** Closes the open slot (waiting until `slotDeadline` at most), then stops iftop. */
  stop(slotDeadline?: number): Promise<void>;
}

/**
 * Where the image installs coreutils' libstdbuf.so for iftop, with the set-user-ID bit (see the
 * Dockerfile).
 */
export const SECURE_STDBUF = '/usr/lib/libstdbuf.so';

/**
 * How iftop's stdout is made line-buffered. `stdbuf -oL` preloads libstdbuf.so by its full path,
 * which glibc ignores for a program with file capabilities (secure-execution mode), as iftop is
 * in the image, where it has `cap_net_raw+ep`. In that mode glibc preloads only a bare library name
 * found in a system directory, and only when the file has the set-user-ID bit. So when `lib` is
 * such a file, iftop gets `LD_PRELOAD=libstdbuf.so _STDBUF_O=L`, which is what stdbuf sets,
 * minus the path. Otherwise it runs under `stdbuf -oL` (when on PATH).
 */
export function lineBuffering(
  lib = SECURE_STDBUF,
  findStdbuf: () => string | undefined = () => findOnPath('stdbuf'),
): { readonly prefix: string[]; readonly env: Record<string, string> } {
  try {
    if ((statSync(lib).mode & 0o4000) !== 0) {
      return { prefix: [], env: { LD_PRELOAD: basename(lib), _STDBUF_O: 'L' } };
    }
  } catch {
    // not installed
  }
  const stdbuf = findStdbuf();
  return { prefix: stdbuf ? [stdbuf, '-oL'] : [], env: {} };
}

/**
 * One long-running `iftop -t` (continuous mode). iftop prints a table at each of its 2 s slot
 * rotations, which happen only when a packet arrives, and never flushes stdout: coreutils'
 * libstdbuf makes it line-buffered (see lineBuffering()), so every line comes through the pipe
 * at once. Its stdin is a pipe that stays open: iftop reads keys from it and must not see
 * end-of-file. The `u` key makes it rotate and print the open slot when one is due, so the bytes
 * at the end of a burst are not left unprinted until the next packet (or lost at stop): see
 * closeSlot(). stop() closes the slot, then sends SIGINT, and SIGKILL after the grace;
 * `setpriv --pdeathsig SIGKILL` makes it die with nstats.
 */
export class IftopStream implements StreamLike {
  readonly command: string;
  private child: ResultPromise | undefined;
  private stopping = false;
  private exited: Promise<void> | undefined;
  /** Keys work only when tables come through at once: a block-buffered reprint could not be told. */
  private keysWork = false;
  /** When iftop last rotated (its start, or the arrival of its last table), ms since the epoch. */
  private lastRotationAt = 0;
  private lastTable = '';
  private reprintUntil = 0;
  private tableWaiters: Array<() => void> = [];
  /** Tables dropped as reprints of the one before (answers to a key that came too early). */
  reprints = 0;
  /** Milliseconds spent parsing tables since the stream was made. */
  parseMs = 0;

  constructor(private readonly options: IftopStreamOptions) {
    const iftop = options.iftopPath ?? 'iftop';
    this.command = [...(options.wrapper?.() ?? []), iftop, ...iftopArgs(options)].join(' ');
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts iftop; tables are reported as they arrive. */
  start(): void {
    if (this.child) return;
    this.stopping = false;
    const iftop = this.options.iftopPath ?? 'iftop';
    const args = iftopArgs(this.options);
    const buffering = this.options.buffering ?? lineBuffering();
    this.keysWork = buffering.prefix.length > 0 || Object.keys(buffering.env).length > 0;
    this.lastRotationAt = Date.now();
    this.lastTable = '';
    const setpriv = findOnPath('setpriv');
    const argv = [...(this.options.wrapper?.() ?? []), ...buffering.prefix, iftop, ...args];
    const [file, rest] = setpriv
      ? [setpriv, ['--pdeathsig', 'SIGKILL', '--', ...argv]]
      : [argv[0]!, argv.slice(1)];
    const child = execa(file, rest, {
      reject: false,
      stdin: 'pipe',
      buffer: { stdout: false, stderr: true },
      cleanup: true,
      env: { LC_ALL: 'C', ...buffering.env },
      maxBuffer: { stderr: 64 * 1024 },
    });
    this.child = child;
    // A key written as iftop exits fails with EPIPE; the exit itself is reported below.
    child.stdin?.on('error', () => undefined);
    let table: string[] = [];
    let size = 0;
    const lines = createInterface({ input: child.stdout });
    const linesDone = new Promise<void>((resolve) => lines.once('close', resolve));
    lines.on('line', (line) => {
      if (line.startsWith('Listening on') && table.length === 0) return;
      table.push(line);
      size += line.length + 1;
      if (TABLE_END.test(line)) {
        const text = table.join('\n');
        table = [];
        size = 0;
        this.tableArrived(text);
      } else if (size > MAX_TABLE_BYTES) {
        this.options.onIssues?.([
          { line: 0, raw: table[0]?.slice(0, 200) ?? '', reason: `no end of table after ${size} bytes` },
        ]);
        table = [];
        size = 0;
      }
    });
    this.exited = child.then(async (result) => {
      // Lines after the last closing rule (a table cut off, or output that is not iftop's) are
      // read as one more, unfinished table: what is wrong with them is reported.
      // (An iftop that never started may leave its stdout unended: wait 1 s at most.)
      await Promise.race([linesDone, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      if (table.some((line) => line.trim() !== '')) this.restArrived(table.join('\n'));
      table = [];
      this.child = undefined;
      if (this.stopping) return;
      const stderr = String(result.stderr ?? '');
      const failure =
        result.code === 'ENOENT' || result.code === 'EACCES' ? 'iftop-missing' : classifyIftopFailure(stderr);
      this.options.onExit(
        new CaptureError(
          failure,
          this.options.interface,
          this.command,
          result.exitCode,
          result.code && failure === 'iftop-missing' ? result.code : tail(stderr),
        ),
      );
    });
  }

  private tableArrived(text: string): void {
    const now = Date.now();
    const waiters = this.tableWaiters;
    this.tableWaiters = [];
    for (const resolve of waiters) resolve();
    const comparable = text.replace(LIVE_LINE, '');
    if (now <= this.reprintUntil && comparable === this.lastTable) {
      this.reprints++;
      return;
    }
    this.lastTable = comparable;
    this.lastRotationAt = now;
    if (this.options.onTable) {
      this.options.onTable(text, new Date(now), true);
      return;
    }
    const t0 = performance.now();
    const parsed = parseIftop(text);
    this.parseMs += performance.now() - t0;
    if (parsed.issues.length > 0) this.options.onIssues?.(parsed.issues);
    const snapshot = parsed.snapshots.at(-1);
    if (snapshot) this.options.onSnapshot?.(snapshot, new Date(now));
  }

  private restArrived(text: string): void {
    if (this.options.onTable) {
      this.options.onTable(text, new Date(), false);
      return;
    }
    const parsed = parseIftop(text);
    if (parsed.issues.length > 0) this.options.onIssues?.(parsed.issues);
  }

  /**
   * Makes iftop print its open slot now, so the bytes since its last table are counted before a
   * period is taken or iftop is stopped. iftop closes a slot when its whole-second clock has moved
   * 2 s past the last rotation and a packet arrives, or a key is read: after the last packet of a
   * burst, the slot stays open until the next packet, however late. The `u` key makes iftop
   * rotate and print if a slot is due, and otherwise reprint its last table (with its live
   * cumulative line up to date), which is dropped.
   *
   * Without `waitUntil` the key is sent only if a slot is due now. With it, closeSlot waits for
   * the slot to be due (2 s at most, and not past `waitUntil`, ms since the epoch). Resolves once
   * iftop's table came, or after 500 ms.
   */
  async closeSlot(waitUntil?: number): Promise<void> {
    const child = this.child;
    if (!child || !this.keysWork || !child.stdin?.writable) return;
    // lastRotationAt is when the table arrived, at or after iftop's rotation: a slot is due from
    // 2 whole seconds after it (iftop compares whole seconds), perhaps a second later than needed.
    const dueAt = (Math.floor(this.lastRotationAt / 1000) + SLOT_SECONDS) * 1000;
    const wait = dueAt - Date.now();
    if (wait > 0) {
      if (waitUntil === undefined || Date.now() + wait > waitUntil) return;
      await new Promise((resolve) => setTimeout(resolve, wait));
      if (this.child !== child || !child.stdin?.writable) return;
    }
    let timer: NodeJS.Timeout | undefined;
    const replied = new Promise<void>((resolve) => {
      this.tableWaiters.push(resolve);
      timer = setTimeout(resolve, KEY_REPLY_MS);
    });
    this.reprintUntil = Date.now() + REPRINT_WINDOW_MS;
    child.stdin.write(UPDATE_KEY, () => undefined);
    await replied;
    clearTimeout(timer);
  }

  /**
   * Closes the open slot (waiting for it until `slotDeadline` at most, ms since the epoch), then
   * SIGINT, then SIGKILL after the grace; resolves when iftop is gone.
   */
  async stop(slotDeadline?: number): Promise<void> {
    const child = this.child;
    if (!child) return;
    await this.closeSlot(slotDeadline ?? Date.now() + 3000);
    if (this.child !== child) return;
    this.stopping = true;
    child.kill('SIGINT');
    const kill = setTimeout(() => child.kill('SIGKILL'), this.options.graceMs ?? 1500);
    await this.exited;
    clearTimeout(kill);
  }
}
