import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lineBuffering } from '../../src/capture/iftop-stream.js';

const dir = mkdtempSync(join(tmpdir(), 'nstats-stdbuf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function lib(name: string, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, '');
  chmodSync(path, mode);
  return path;
}

describe('lineBuffering: how iftop is made line-buffered', () => {
  it('a set-user-ID libstdbuf.so: preloaded by its bare name, with _STDBUF_O=L, no stdbuf', () => {
    expect(lineBuffering(lib('libstdbuf.so', 0o4755), () => '/usr/bin/stdbuf')).toEqual({
      prefix: [],
      env: { LD_PRELOAD: 'libstdbuf.so', _STDBUF_O: 'L' },
    });
  });

  it('the library without the set-user-ID bit, or absent: stdbuf -oL', () => {
    expect(lineBuffering(lib('plain.so', 0o755), () => '/usr/bin/stdbuf')).toEqual({
      prefix: ['/usr/bin/stdbuf', '-oL'],
      env: {},
    });
    expect(lineBuffering(join(dir, 'absent.so'), () => '/usr/bin/stdbuf')).toEqual({
      prefix: ['/usr/bin/stdbuf', '-oL'],
      env: {},
    });
  });

  it('neither: iftop runs as is (its tables then arrive in blocks)', () => {
    expect(lineBuffering(join(dir, 'absent.so'), () => undefined)).toEqual({ prefix: [], env: {} });
  });
});
