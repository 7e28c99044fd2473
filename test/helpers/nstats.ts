import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';
import { shebangOf } from '../../bench/shebang.mjs';

/** The built CLI as it ships: the bundle (npm test builds it first). */
export const NSTATS = fileURLToPath(new URL('../../dist/nstats.mjs', import.meta.url));

let shebang: { env: Record<string, string>; flags: string[] } | undefined;

/**
 * The bundle's shebang (`#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=32768 node`): the environment
 * it sets and the Node flags it passes (none now; scripts/bundle.mjs says why), read as the bench
 * reads it.
 */
function readShebang(): { env: Record<string, string>; flags: string[] } {
  shebang ??= shebangOf(NSTATS);
  return shebang;
}

/** The Node flags of the bundle's shebang, so that `node NSTATS` runs as `./nstats.mjs` would. */
export function nodeFlags(): string[] {
  return readShebang().flags;
}

/** The environment variables the bundle's shebang sets (glibc malloc settings). */
export function shebangEnv(): Record<string, string> {
  return readShebang().env;
}

/**
 * Runs the real `nstats` CLI (the built dist/, under this Node) with only the given settings in its
 * environment (plus PATH), so the developer's own NSTATS_* variables cannot leak into a test.
 */
export function nstats(
  args: readonly string[],
  env: Record<string, string> = {},
  options: { readonly timeout?: number } = {},
): ResultPromise<{
  reject: false;
  env: Record<string, string>;
  extendEnv: false;
  stdin: 'ignore';
  timeout?: number;
}> {
  return execa(process.execPath, [...nodeFlags(), NSTATS, ...args], {
    reject: false,
    env: cliEnv(env),
    extendEnv: false,
    stdin: 'ignore',
    ...options,
  });
}

/** PIDs of iftop processes capturing on an interface. */
export async function iftopPids(iface: string): Promise<number[]> {
  const r = await execa('pgrep', ['-f', `iftop .*-i ${iface} `], { reject: false });
  return String(r.stdout).split('\n').filter(Boolean).map(Number);
}

/** A JSON-lines log as objects (non-JSON lines are kept as `{ raw }`). */
export function logEvents(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return { raw: l };
      }
    });
}

/** The environment nstats() gives the CLI: PATH, the shebang's, no .env file, and `env`. */
export function cliEnv(env: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    ...shebangEnv(),
    NSTATS_ENV_FILE: '/dev/null',
    ...env,
  };
}

/**
 * Runs the built CLI behind a wrapper command that execs its arguments (e.g.
 * `setpriv --reuid=65534 ...`), with the same clean environment as nstats().
 */
export function nstatsVia(
  wrapper: readonly [string, ...string[]],
  args: readonly string[],
  env: Record<string, string> = {},
): ResultPromise<{ reject: false; env: Record<string, string>; extendEnv: false; stdin: 'ignore' }> {
  const [cmd, ...rest] = wrapper;
  return execa(cmd, [...rest, process.execPath, ...nodeFlags(), NSTATS, ...args], {
    reject: false,
    env: cliEnv(env),
    extendEnv: false,
    stdin: 'ignore',
  });
}

/** Quotes one word for /bin/sh. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Runs the built CLI on a pseudo-terminal (util-linux `script -qfec CMD /dev/null`), so its stdout
 * and stderr are both a TTY. What it writes to either comes back merged in `stdout` (with CRLF line
 * ends and escape sequences); the exit code is the CLI's.
 */
export function nstatsOnTerminal(
  args: readonly string[],
  env: Record<string, string> = {},
): ResultPromise<{ reject: false; env: Record<string, string>; extendEnv: false; stdin: 'ignore' }> {
  const command = [process.execPath, ...nodeFlags(), NSTATS, ...args].map(shellQuote).join(' ');
  return execa('script', ['-qfec', command, '/dev/null'], {
    reject: false,
    env: cliEnv(env),
    extendEnv: false,
    stdin: 'ignore',
  });
}

/** Whether a CLI process started by nstats() still runs. */
export function running(p: ReturnType<typeof nstats>): boolean {
  const child = p.nodeChildProcess;
  return child.exitCode === null && child.signalCode === null;
}

/** Stops a CLI process with SIGTERM and waits for it (SIGKILL after 15 s); its result. */
export async function stop(p: ReturnType<typeof nstats> | undefined) {
  if (!p) return undefined;
  if (running(p)) p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
  try {
    return await p;
  } finally {
    clearTimeout(timer);
  }
}
