// Bundles the compiled CLI (dist/cli/main.js, from tsc) and the parts of its dependencies it uses
// into one file, dist/nstats.mjs: the file that ships (package.json `bin`, the image's entry point)
// and the one the integration tests run.
//
// Why: Node keeps every loaded module's source and compiles what runs. One minified bundle with
// only the code nstats reaches loads less than ~300 separate modules: `nstats run` idle measured
// 95 MB RSS unbundled and 85 MB bundled on this machine, 82 MB with the flag below (see
// docs/memory.md; `node bench/rss.mjs`).
//
// The shebang sets MALLOC_MMAP_THRESHOLD_=32768: glibc's malloc then serves blocks of 32 KiB and
// more with their own mmap, returned to the system when freed, instead of raising its threshold
// and keeping freed memory in its heap (idle RSS of `nstats run` -5 to -7 MB; no CPU difference
// measured on a 10,000-flow `nstats once`).
// It leaves V8's young generation at its default size. An earlier build capped it at 1 MB
// (--max-semi-space-size=1): 3 MB less idle RSS and 35 MB less at a 10,000-flow peak, but a
// 1,000-flow cycle (parse, points, line protocol) then takes 4.8 ms of CPU instead of 2.4 ms: the
// cycle's objects outlive several scavenges and get copied and promoted. See docs/memory.md.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { builtinModules } from 'node:module';
import { build } from 'esbuild';

/**
 * Node's built-in modules are loaded with require(), not with an ESM import. Importing a built-in
 * from ESM makes Node read every one of its exports to build the module namespace, and some are
 * lazy getters: `import ... from 'node:http'` reads `http.WebSocket`, which loads undici (Node's
 * fetch) and http2, neither used by nstats (+16 MB for a bare `node`; in `nstats run`, which
 * already loads much of what they share, idle RSS went from 82.1 to 80.0 MB). require() returns the
 * exports object, and esbuild's interop reads a property only when the code uses it.
 */
function builtinsThroughRequire() {
  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  return {
    name: 'builtins-through-require',
    setup(b) {
      b.onResolve({ filter: /^[a-z_:/0-9]+$/ }, (args) => {
        if (!builtins.has(args.path)) return undefined;
        // The require() inside the stand-in module below is the real one (external).
        if (args.namespace === 'builtin') return { path: args.path, external: true };
        return { path: args.path, namespace: 'builtin' };
      });
      b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(args.path)});`,
        loader: 'js',
      }));
    },
  };
}

const SHEBANG = '#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=32768 node';

const result = await build({
  entryPoints: { nstats: 'dist/cli/main.js' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  // Code only some commands load (the Kubernetes client, for `nstats names` and NSTATS_KUBERNETES)
  // is imported dynamically and goes to a chunk of its own: the sidecar never reads it.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  minify: true,
  // Keep function and class names: they appear in error stacks and logs.
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
  // Bundled CommonJS dependencies call require() for Node's built-in modules.
  banner: {
    js: `import { createRequire as __nstatsRequire } from 'node:module';\nconst require = __nstatsRequire(import.meta.url);`,
  },
  plugins: [builtinsThroughRequire()],
  write: false,
});

// esbuild keeps the entry's own `#!/usr/bin/env node` line first; ours replaces it.
rmSync('dist/chunks', { recursive: true, force: true });
for (const out of result.outputFiles) {
  if (out.path.endsWith('/nstats.mjs')) {
    const code = out.text.replace(/^#![^\n]*\n/, '');
    writeFileSync(out.path, `${SHEBANG}\n${code}`, { mode: 0o755 });
    console.log(`dist/nstats.mjs: ${(Buffer.byteLength(code) / 1024).toFixed(0)} KiB`);
  } else {
    mkdirSync(dirname(out.path), { recursive: true });
    writeFileSync(out.path, out.text);
  }
}
console.log(
  `dist/chunks: ${result.outputFiles.length - 1} files, loaded only by the commands that need them`,
);
