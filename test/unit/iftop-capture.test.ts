import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureError } from '../../src/capture/errors.js';
import { findOnPath, IftopCapture, iftopSeconds, sampleArgs } from '../../src/capture/iftop-capture.js';

let dir: string;

/** A stand-in iftop: a shell script that records its PID and arguments, then does `body`. */
async function standIn(name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/bash\necho $$ > "${path}.pid"\necho "$@" > "${path}.args"\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const REQUEST = { interface: 'eth0', sampleSeconds: 2, flowLimit: 100, ports: false };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nstats-capture-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('iftop arguments', () => {
  it('runs numeric, text mode, sample + 2 s rounded to 2 s slots, the flow limit, -P on request', () => {
    expect(sampleArgs({ ...REQUEST, sampleSeconds: 10 })).toEqual([
      '-nNb',
      '-t',
      '-i',
      'eth0',
      '-s',
      '12',
      '-L',
      '100',
    ]);
    expect(sampleArgs({ ...REQUEST, ports: true, flowLimit: 7 })).toEqual([
      '-nNb',
      '-t',
      '-i',
      'eth0',
      '-s',
      '4',
      '-L',
      '7',
      '-P',
    ]);
    expect(iftopSeconds(9)).toBe(12);
    expect(iftopSeconds(2)).toBe(4);
  });
});

describe('IftopCapture with a stand-in iftop', () => {
  it('returns what iftop printed when it exits by itself', async () => {
    const path = await standIn('prints', 'echo "Listening on $4"; echo table');
    const r = await new IftopCapture({ iftopPath: path }).capture(REQUEST);
    expect(r.ending).toBe('printed');
    expect(r.text).toBe('Listening on eth0\ntable\n');
    expect(r.command).toBe(`${path} -nNb -t -i eth0 -s 4 -L 100`);
  });

  it('stops an iftop that never prints with SIGINT at the deadline', async () => {
    const path = await standIn(
      'idle',
      'trap "echo partial; exit 0" INT\necho "Listening on $4"\nwhile true; do sleep 0.1; done',
    );
    const capture = new IftopCapture({ iftopPath: path, slackMs: 200, graceMs: 2000 });
    const t0 = performance.now();
    const r = await capture.capture(REQUEST);
    const elapsed = performance.now() - t0;
    expect(r.ending).toBe('deadline');
    expect(r.text).toBe('Listening on eth0\npartial\n');
    expect(elapsed).toBeGreaterThanOrEqual(4000);
    expect(elapsed).toBeLessThan(capture.maxDurationMs(2));
  });

  it('kills an iftop that ignores SIGINT after the grace, leaving no process', async () => {
    const path = await standIn('stubborn', 'trap "" INT\nwhile true; do sleep 0.1; done');
    const capture = new IftopCapture({ iftopPath: path, slackMs: 100, graceMs: 300 });
    const t0 = performance.now();
    const r = await capture.capture(REQUEST);
    expect(r.ending).toBe('deadline');
    expect(performance.now() - t0).toBeLessThan(capture.maxDurationMs(2) + 500);
    const pid = Number(await readFile(`${path}.pid`, 'utf8'));
    expect(alive(pid)).toBe(false);
  });

  it('ends early and cleanly when aborted', async () => {
    const path = await standIn('abortable', 'trap "echo bye; exit 0" INT\nwhile true; do sleep 0.1; done');
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 300);
    const t0 = performance.now();
    const r = await new IftopCapture({ iftopPath: path }).capture({ ...REQUEST, signal: abort.signal });
    expect(r.ending).toBe('aborted');
    expect(r.text).toBe('bye\n');
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it.each([
    [
      'permission',
      "pcap_open_live(eth0): eth0: You don't have permission to perform this capture on that device (socket: Operation not permitted)",
      /CAP_NET_RAW/,
    ],
    ['no-such-interface', 'ioctl(SIOCGIFHWADDR): No such device', /NSTATS_INTERFACE/],
    ['failed', 'something else broke', /run the same command by hand/],
  ])('names the cause and the fix when iftop fails: %s', async (failure, stderr, fix) => {
    const path = await standIn(`fail-${failure}`, `echo "${stderr}" >&2; exit 1`);
    const err = await new IftopCapture({ iftopPath: path }).capture(REQUEST).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CaptureError);
    const e = err as CaptureError;
    expect(e.failure).toBe(failure);
    expect(e.exitCode).toBe(1);
    expect(e.stderrTail).toContain(stderr.slice(0, 20));
    expect(e.message).toContain(path);
    expect(e.fix).toMatch(fix);
  });

  it.each([true, false])(
    'says how to install iftop when it is missing (through setpriv: %s)',
    async (parentDeathSignal) => {
      const capture = new IftopCapture({ iftopPath: join(dir, 'no-such-iftop'), parentDeathSignal });
      const err = await capture.capture(REQUEST).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CaptureError);
      expect((err as CaptureError).failure).toBe('iftop-missing');
      expect((err as CaptureError).message).toMatch(/apt-get install iftop/);
    },
  );

  it('finds programs on PATH', () => {
    expect(findOnPath('sh', '/nonexistent:/bin:/usr/bin')).toMatch(/\/sh$/);
    expect(findOnPath('no-such-program-here', '/bin:/usr/bin')).toBeUndefined();
  });
});
