/** Types of bench/shebang.mjs, for the TypeScript tests that use it (test/helpers/nstats.ts). */
export function shebangOf(file: string): {
  line: string;
  env: Record<string, string>;
  flags: string[];
};
