import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Settings never logged, whatever object they appear in. */
const REDACT = [
  'token',
  'password',
  '*.token',
  '*.password',
  'influx.token',
  'influx.password',
  'config.influx.token',
  'config.influx.password',
];

/**
 * JSON logs, one event per line, on stderr (stdout is for data: line protocol, tables, JSON).
 * Each event carries `component` and its message starts with it: `capture: iftop stopped at the deadline`.
 */
export function createLogger(level: string, destination: NodeJS.WritableStream | number = 2): Logger {
  return pino(
    {
      level,
      base: { app: 'nstats' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: '(hidden)' },
    },
    typeof destination === 'number' ? pino.destination({ fd: destination, sync: true }) : destination,
  );
}

/** A child logger for one pipeline component. */
export function componentLogger(parent: Logger, component: string): Logger {
  return parent.child({ component });
}
