import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IftopStream, type IftopStreamOptions } from '../../src/capture/iftop-stream.js';
import type { Snapshot } from '../../src/parse/types.js';

// IftopStream against a stand-in iftop (a shell script): it prints a table at start, then one
// table per `u` key read from stdin, in the order given, as the real iftop answers its update key:
// a new table when a slot is due, else a reprint of the last one. The real iftop's answers are
// checked on a veth pair in test/integration/continuous.test.ts.

let dir: string;
let tables: string[];
/** iftop exits not asked for by stop(): none expected. */
const exits: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nstats-stream-'));
  const text = await readFile(new URL('../fixtures/iftop/continuous.txt', import.meta.url), 'utf8');
  // The fixture's tables, each ending with its closing rule.
  tables = text
    .replace(/^Listening on .*\n/, '')
    .split(/(?<=^=+\n)/m)
    .filter((t) => t.includes('=>'));
  expect(tables.length).toBeGreaterThanOrEqual(3);
});
afterAll(async () => {
  expect(exits).toEqual([]);
  await rm(dir, { recursive: true, force: true });
});

/**
 * A stand-in iftop printing the `first` tables at start (0.1 s apart), then `answers[k]` at the
 * k-th key, logging the keys it reads.
 */
async function standIn(
  name: string,
  first: string | readonly string[],
  answers: readonly string[],
): Promise<string> {
  const starting = typeof first === 'string' ? [first] : first;
  const path = join(dir, name);
  await Promise.all(starting.map((t, i) => writeFile(`${path}.start${i}`, t)));
  await Promise.all(answers.map((t, i) => writeFile(`${path}.${i + 1}`, t)));
  await writeFile(
    path,
    [
      '#!/bin/bash',
      'echo "Listening on eth0"',
      ...starting.map((_, i) => `cat "${path}.start${i}"; sleep 0.1`),
      'n=1',
      'while IFS= read -r -n1 key; do',
      `  echo "$key" >> "${path}.keys"`,
      `  [ "$key" = u ] && [ -f "${path}.$n" ] && cat "${path}.$n" && n=$((n + 1))`,
      'done',
      '',
    ].join('\n'),
  );
  await chmod(path, 0o755);
  return path;
}

async function keysRead(path: string): Promise<number> {
  const text = await readFile(`${path}.keys`, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).length;
}

function stream(iftopPath: string, snapshots: Snapshot[], buffering?: IftopStreamOptions['buffering']) {
  return new IftopStream({
    interface: 'eth0',
    flowLimit: 10,
    ports: false,
    iftopPath,
    graceMs: 200,
    onSnapshot: (s) => snapshots.push(s),
    onExit: (e) => exits.push(e.message),
    ...(buffering ? { buffering } : {}),
  });
}

const until = async (check: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
};

describe('IftopStream.closeSlot: the update key', () => {
  it('sends the key only once a slot is due, drops a reprint of the last table, keeps a new one', async () => {
    const [a, b] = tables as [string, string];
    // iftop's reprint has its last line (running byte counters) up to date: it still is a reprint.
    const reprint = a.replace(/^(Cumulative \(sent\/received\/total\):\s+)\S+/m, '$1999KB');
    expect(reprint).not.toBe(a);
    const path = await standIn('due', a, [reprint, b, tables[2]!]);
    const snapshots: Snapshot[] = [];
    const s = stream(path, snapshots);
    s.start();
    await until(() => snapshots.length === 1);
    expect(snapshots).toHaveLength(1);
    // Just after a table no slot is due: without waitUntil, no key is sent.
    await s.closeSlot();
    expect(await keysRead(path)).toBe(0);
    // Waiting for the slot: the key goes out within 2 s; the answer here is a reprint, dropped.
    const t0 = Date.now();
    await s.closeSlot(Date.now() + 5000);
    expect(Date.now() - t0).toBeLessThan(2600);
    expect(await keysRead(path)).toBe(1);
    expect(s.reprints).toBe(1);
    expect(snapshots).toHaveLength(1);
    // A reprint is not a rotation: the slot is still due, the next key gets a new table.
    await s.closeSlot();
    expect(await keysRead(path)).toBe(2);
    expect(snapshots).toHaveLength(2);
    expect(snapshots[1]!.flows[0]!.sent.rates.last2s).toBeGreaterThan(0);
    // stop() waits for the slot again before SIGINT: the third table is counted too.
    await s.stop(Date.now() + 5000);
    expect(await keysRead(path)).toBe(3);
    expect(snapshots).toHaveLength(3);
  }, 15_000);

  it('keeps a table identical to the one before when no key asked for it (steady traffic)', async () => {
    const path = await standIn('steady', [tables[1]!, tables[1]!], []);
    const snapshots: Snapshot[] = [];
    const s = stream(path, snapshots);
    s.start();
    await until(() => snapshots.length === 2);
    expect(snapshots).toHaveLength(2);
    expect(s.reprints).toBe(0);
    await s.stop(Date.now());
  });

  it('does not wait past its deadline, and sends no key when output is not line-buffered', async () => {
    const path = await standIn('late', tables[0]!, [tables[1]!]);
    const snapshots: Snapshot[] = [];
    const s = stream(path, snapshots);
    s.start();
    await until(() => snapshots.length === 1);
    await s.closeSlot(Date.now() + 100);
    expect(await keysRead(path)).toBe(0);
    await s.stop(Date.now());
    expect(await keysRead(path)).toBe(0);

    const plain = await standIn('plain', tables[0]!, [tables[1]!]);
    const got: Snapshot[] = [];
    const p = stream(plain, got, { prefix: [], env: {} });
    p.start();
    await until(() => got.length === 1);
    await new Promise((r) => setTimeout(r, 2100));
    await p.closeSlot();
    expect(await keysRead(plain)).toBe(0);
    await p.stop();
  }, 15_000);
});
