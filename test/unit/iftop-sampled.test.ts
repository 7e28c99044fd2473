import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureError } from '../../src/capture/errors.js';
import { findOnPath } from '../../src/capture/find-on-path.js';
import { iftopArgs, iftopSeconds } from '../../src/capture/iftop-args.js';
import { SampledIftopSource, type SampledIftopOptions } from '../../src/source/iftop-sampled.js';

let dir: string;
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/iftop/${name}.txt`, import.meta.url));

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

function source(iftopPath: string, more: Partial<SampledIftopOptions> = {}): SampledIftopSource {
  return new SampledIftopSource({
    interface: 'eth0',
    sampleSeconds: 2,
    flowLimit: 100,
    ports: false,
    foldPorts: true,
    iftopPath,
    graceMs: 1500,
    sysClassNet: join(dir, 'no-sysfs'),
    ...more,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nstats-sampled-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('iftop arguments', () => {
  it('numeric, text mode, the flow limit, -P on request; -s only when asked', () => {
    expect(iftopArgs({ interface: 'eth0', flowLimit: 100 })).toEqual([
      '-nNb',
      '-t',
      '-i',
      'eth0',
      '-L',
      '100',
    ]);
    expect(iftopArgs({ interface: 'eth0', flowLimit: 7, ports: true, seconds: 4 })).toEqual([
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
    // The window: sample + 2 s, rounded up to iftop's 2 s slots.
    expect(iftopSeconds(10)).toBe(12);
    expect(iftopSeconds(9)).toBe(12);
    expect(iftopSeconds(2)).toBe(4);
  });
});

describe('SampledIftopSource with a stand-in iftop', { timeout: 20_000 }, () => {
  it('keeps the table iftop prints for the `u` key at the end of the window', async () => {
    // One table at start; at the key, a different one (the closed slot); SIGINT ends it.
    const path = await standIn(
      'keyed',
      `trap "exit 0" INT\necho "Listening on $4"\ncat "${fixture('ipv6')}"\n` +
        `while read -r -n1 key; do [ "$key" = u ] && cat "${fixture('ipv4')}"; done\nwhile true; do sleep 0.1; done`,
    );
    const t0 = performance.now();
    const o = await source(path).collect();
    const elapsed = performance.now() - t0;
    expect(o).toMatchObject({ mode: 'sampled', ending: 'printed', tables: 2, interface: 'eth0' });
    expect(o.command).toBe(`${path} -nNb -t -i eth0 -L 100`);
    expect(o.flows.map((f) => f.destination.address)).toEqual(['198.18.225.2']);
    expect(o.totals?.cumulative.sentBytes).toBeGreaterThan(0);
    expect(o.countersError).toMatch(/ENOENT/);
    expect(elapsed).toBeGreaterThanOrEqual(iftopSeconds(2) * 1000);
    expect(elapsed).toBeLessThan(iftopSeconds(2) * 1000 + 3000);
    const pid = Number(await readFile(`${path}.pid`, 'utf8'));
    expect(alive(pid)).toBe(false);
  });

  it('an iftop that never prints: ending "deadline", no flows, stopped with SIGINT', async () => {
    const path = await standIn(
      'idle',
      'trap "exit 0" INT\necho "Listening on $4"\nwhile true; do sleep 0.1; done',
    );
    const o = await source(path).collect();
    expect(o).toMatchObject({ ending: 'deadline', tables: 0, flows: [] });
    expect(o.totals).toBeUndefined();
  });

  it('kills an iftop that ignores SIGINT after the grace, leaving no process', async () => {
    const path = await standIn('stubborn', 'trap "" INT\nwhile true; do sleep 0.1; done');
    const t0 = performance.now();
    const o = await source(path, { graceMs: 300 }).collect();
    expect(o.ending).toBe('deadline');
    expect(performance.now() - t0).toBeLessThan(iftopSeconds(2) * 1000 + 2500 + 300 + 1000);
    const pid = Number(await readFile(`${path}.pid`, 'utf8'));
    expect(alive(pid)).toBe(false);
  });

  it('ends early and cleanly when aborted, keeping the table it has', async () => {
    const path = await standIn(
      'abortable',
      `trap "exit 0" INT\ncat "${fixture('ipv4')}"\nwhile true; do sleep 0.1; done`,
    );
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 500);
    const t0 = performance.now();
    const o = await source(path).collect(abort.signal);
    expect(o.ending).toBe('aborted');
    expect(o.flows).toHaveLength(1);
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it('keeps a table printed before iftop failed', async () => {
    const path = await standIn('dies', `cat "${fixture('ipv4')}"\necho "pcap: something broke" >&2\nexit 1`);
    const o = await source(path).collect();
    expect(o.ending).toBe('printed');
    expect(o.flows).toHaveLength(1);
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
    const t0 = performance.now();
    const err = await source(path)
      .collect()
      .catch((e: unknown) => e);
    // It does not wait out the window.
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(err).toBeInstanceOf(CaptureError);
    const e = err as CaptureError;
    expect(e.failure).toBe(failure);
    expect(e.exitCode).toBe(1);
    expect(e.stderrTail).toContain(stderr.slice(0, 20));
    expect(e.message).toContain(path);
    expect(e.fix).toMatch(fix);
  });

  it('says how to install iftop when it is missing', async () => {
    const err = await source(join(dir, 'no-such-iftop'))
      .collect()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CaptureError);
    expect((err as CaptureError).failure).toBe('iftop-missing');
    expect((err as CaptureError).message).toMatch(/apt-get install iftop/);
  });

  it('finds programs on PATH', () => {
    expect(findOnPath('sh', '/nonexistent:/bin:/usr/bin')).toMatch(/\/sh$/);
    expect(findOnPath('no-such-program-here', '/bin:/usr/bin')).toBeUndefined();
  });
});
