import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';

/** The built CLI (npm test builds it first). */
export const NSTATS = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/**
 * Runs the real `nstats` CLI (the built dist/, under this Node) with only the given settings in its
 * environment (plus PATH), so the developer's own NSTATS_* variables cannot leak into a test.
 */
export function nstats(
  args: readonly string[],
  env: Record<string, string> = {},
): ResultPromise<{ reject: false; env: Record<string, string>; extendEnv: false; stdin: 'ignore' }> {
  return execa(process.execPath, [NSTATS, ...args], {
    reject: false,
    env: {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      NSTATS_ENV_FILE: '/nonexistent',
      ...env,
    },
    extendEnv: false,
    stdin: 'ignore',
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
