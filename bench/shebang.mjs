// How the bundle runs itself: the environment assignments and Node flags of dist/nstats.mjs's
// shebang (`#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=32768 node`), so that the bench starts or
// measures nstats as `./nstats.mjs` would run. test/helpers/nstats.ts uses it too (its types:
// shebang.d.mts).
import { readFileSync } from 'node:fs';

/** `{ env, flags }` of the shebang of `file` (the built bundle). */
export function shebangOf(file) {
  const line = readFileSync(file, 'utf8').slice(0, 300).split('\n', 1)[0];
  const words = line.split(' ').slice(2); // after "#!/usr/bin/env -S"
  const node = words.indexOf('node');
  if (!line.startsWith('#!/usr/bin/env -S ') || node < 0)
    throw new Error(`${file}: unexpected shebang: ${line}`);
  const env = {};
  for (const w of words.slice(0, node)) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new Error(`${file}: unexpected shebang word ${w}: ${line}`);
    env[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return { line, env, flags: words.slice(node + 1) };
}
