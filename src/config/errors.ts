/** One bad setting: the variable, its value (hidden when secret) and what was expected. */
export interface ConfigProblem {
  readonly variable: string;
  readonly value: string | undefined;
  readonly expected: string;
}

/** Raised by `loadConfig`; lists every bad setting at once. Exit code 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      `config: ${problems.length} invalid setting${problems.length === 1 ? '' : 's'}\n` +
        problems
          .map(
            (p) =>
              `  ${p.variable}=${p.value === undefined ? '(unset)' : JSON.stringify(p.value)}: ${p.expected}`,
          )
          .join('\n'),
    );
  }
}
