import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';
import type { Capture, CaptureEnding, CaptureRequest, CaptureResult } from './capture.js';
import { CaptureError, classifyIftopFailure, tail } from './errors.js';
import { iftopArgs } from './iftop-args.js';

/** The double rule that closes each iftop table. */
const TABLE_END = /^={20,}$/m;

/** Options of the iftop runner. */
export interface IftopCaptureOptions {
  /** The iftop binary. Default `iftop`. */
  readonly iftopPath?: string;
  /** Time between SIGINT and SIGKILL. Default 1500 ms. */
  readonly graceMs?: number;
  /** Extra wait past iftop's own end before the deadline SIGINT. Default 1000 ms. */
  readonly slackMs?: number;
  /**
   * Run iftop under `setpriv --pdeathsig SIGKILL` (util-linux) when it is on PATH, so that iftop
   * dies with nstats even when nstats is SIGKILLed. Default true.
   */
  readonly parentDeathSignal?: boolean;
}

/** The first executable `name` on PATH, if any. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * iftop's rate columns are kept in 2 s slots and its first slot is partial (capture opens mid-slot),
 * so a 10 s window needs iftop to run 12 s: `-s` = sample + 2, rounded up to a slot.
 */
export function iftopSeconds(sampleSeconds: number): number {
  return 2 * Math.ceil(sampleSeconds / 2) + 2;
}

/** The iftop arguments for a request: one timed snapshot. */
export function sampleArgs(request: CaptureRequest): string[] {
  return iftopArgs({ ...request, seconds: iftopSeconds(request.sampleSeconds) });
}

/**
 * Runs `iftop -nNb -t -s N` once. iftop prints its table only when a packet arrives after N s, so on
 * an idle interface it would never exit: at N s + slack it gets SIGINT (it exits cleanly on that,
 * printing nothing), and SIGKILL after the grace. The process is never left behind: execa kills it
 * when nstats exits.
 */
export class IftopCapture implements Capture {
  private readonly iftopPath: string;
  private readonly graceMs: number;
  private readonly slackMs: number;
  private readonly setpriv: string | undefined;

  constructor(options: IftopCaptureOptions = {}) {
    this.iftopPath = options.iftopPath ?? 'iftop';
    this.graceMs = options.graceMs ?? 1500;
    this.slackMs = options.slackMs ?? 1000;
    // Note: the kernel clears the death signal when it execs a binary with file capabilities
    // (as iftop has in the nstats image); there, nstats is the container's PID 1 and iftop dies
    // with the container anyway.
    this.setpriv = (options.parentDeathSignal ?? true) ? findOnPath('setpriv') : undefined;
  }

  /** Wall-clock bound of one capture: iftop's run, the slack, and the grace. */
  maxDurationMs(sampleSeconds: number): number {
    return iftopSeconds(sampleSeconds) * 1000 + this.slackMs + this.graceMs;
  }

  async capture(request: CaptureRequest): Promise<CaptureResult> {
    const args = sampleArgs(request);
    const command = [this.iftopPath, ...args].join(' ');
    const startedAt = new Date();
    let aborted = false;
    const [file, argv] = this.setpriv
      ? [this.setpriv, ['--pdeathsig', 'SIGKILL', '--', this.iftopPath, ...args]]
      : [this.iftopPath, args];
    const child = execa(file, argv, {
      reject: false,
      stdin: 'ignore',
      timeout: iftopSeconds(request.sampleSeconds) * 1000 + this.slackMs,
      killSignal: 'SIGINT',
      forceKillAfterDelay: this.graceMs,
      cleanup: true,
      env: { LC_ALL: 'C' },
      stripFinalNewline: false,
    });
    const onAbort = (): void => {
      aborted = true;
      child.kill('SIGINT');
    };
    if (request.signal?.aborted) onAbort();
    request.signal?.addEventListener('abort', onAbort, { once: true });
    const result = await child.finally(() => request.signal?.removeEventListener('abort', onAbort));
    const endedAt = new Date();
    const stdout = String(result.stdout ?? '');
    const stderr = String(result.stderr ?? '');

    if (
      result.code === 'ENOENT' ||
      result.code === 'EACCES' ||
      (result.exitCode === 127 && classifyIftopFailure(stderr) === 'iftop-missing')
    ) {
      throw new CaptureError(
        'iftop-missing',
        request.interface,
        command,
        result.exitCode,
        result.code ?? tail(stderr),
      );
    }
    // A table that came out just before the deadline SIGINT counts as printed: its data is whole.
    const printedTable = TABLE_END.test(stdout);
    const ending: CaptureEnding = printedTable
      ? 'printed'
      : aborted
        ? 'aborted'
        : result.timedOut
          ? 'deadline'
          : 'printed';
    // A non-zero exit is a failure only when iftop exited by itself without a table.
    if (!printedTable && ending === 'printed' && result.exitCode !== 0) {
      throw new CaptureError(
        classifyIftopFailure(stderr),
        request.interface,
        command,
        result.exitCode,
        tail(stderr),
      );
    }
    return { command, text: stdout, stderr, startedAt, endedAt, ending };
  }
}
