import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { parseIftop } from '../parse/iftop-parser.js';
import type { ParseIssue, Snapshot } from '../parse/types.js';
import { classifyIftopFailure, CaptureError, tail } from './errors.js';
import { findOnPath } from './iftop-capture.js';

/** The double rule that closes each iftop table. */
const TABLE_END = /^={20,}\s*$/;

/** A table longer than this (bytes) without its closing rule is not iftop's: dropped, reported. */
const MAX_TABLE_BYTES = 4 * 1024 * 1024;

export interface IftopStreamOptions {
  readonly interface: string;
  readonly flowLimit: number;
  readonly ports: boolean;
  readonly iftopPath?: string;
  /** Time between SIGINT and SIGKILL at stop(). Default 1500 ms. */
  readonly graceMs?: number;
  /** Every table iftop prints, parsed, with the time it arrived. */
  readonly onSnapshot: (snapshot: Snapshot, at: Date) => void;
  /** Lines of a table that could not be read. */
  readonly onIssues?: (issues: readonly ParseIssue[]) => void;
  /** iftop exited without stop() being called: a CaptureError saying why. */
  readonly onExit: (error: CaptureError) => void;
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

/** The arguments of a continuous iftop: numeric, text output, no `-s` (it runs until stopped). */
export function streamArgs(o: Pick<IftopStreamOptions, 'interface' | 'flowLimit' | 'ports'>): string[] {
  return ['-nNb', '-t', '-i', o.interface, '-L', String(o.flowLimit), ...(o.ports ? ['-P'] : [])];
}

/**
 * One long-running `iftop -t` (continuous mode). iftop prints a table at each of its 2 s slot
 * rotations, which happen only when a packet arrives, and never flushes stdout: coreutils'
 * libstdbuf makes it line-buffered (see lineBuffering()), so every line comes through the pipe
 * at once. Its stdin is a pipe that
 * stays open (iftop reads keys from it and must not see end-of-file). stop() sends SIGINT, and
 * SIGKILL after the grace; `setpriv --pdeathsig SIGKILL` makes it die with nstats.
 */
export class IftopStream {
  readonly command: string;
  private child: ResultPromise | undefined;
  private stopping = false;
  private exited: Promise<void> | undefined;

  constructor(private readonly options: IftopStreamOptions) {
    const iftop = options.iftopPath ?? 'iftop';
    this.command = [iftop, ...streamArgs(options)].join(' ');
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts iftop; tables are reported as they arrive. */
  start(): void {
    if (this.child) return;
    this.stopping = false;
    const iftop = this.options.iftopPath ?? 'iftop';
    const args = streamArgs(this.options);
    const buffering = lineBuffering();
    const setpriv = findOnPath('setpriv');
    const argv = [...buffering.prefix, iftop, ...args];
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
    let table: string[] = [];
    let size = 0;
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      if (line.startsWith('Listening on') && table.length === 0) return;
      table.push(line);
      size += line.length + 1;
      if (TABLE_END.test(line)) {
        const parsed = parseIftop(table.join('\n'));
        table = [];
        size = 0;
        if (parsed.issues.length > 0) this.options.onIssues?.(parsed.issues);
        const snapshot = parsed.snapshots.at(-1);
        if (snapshot) this.options.onSnapshot(snapshot, new Date());
      } else if (size > MAX_TABLE_BYTES) {
        this.options.onIssues?.([
          { line: 0, raw: table[0]?.slice(0, 200) ?? '', reason: `no end of table after ${size} bytes` },
        ]);
        table = [];
        size = 0;
      }
    });
    this.exited = child.then((result) => {
      lines.close();
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

  /** SIGINT, then SIGKILL after the grace; resolves when iftop is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.stopping = true;
    child.kill('SIGINT');
    const kill = setTimeout(() => child.kill('SIGKILL'), this.options.graceMs ?? 1500);
    await this.exited;
    clearTimeout(kill);
  }
}
