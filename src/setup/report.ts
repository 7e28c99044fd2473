import { HttpError, RequestTimedOutError } from '@influxdata/influxdb-client';
import { serverMessage } from '../sink/influx-transport.js';
import { errorText } from '../util/error-text.js';

/**
 * What `nstats setup` did to one object: `created` (it was not there), `found` (already as
 * configured), `changed` (altered to the settings); for the backfill, `unchanged` when the long
 * data held the same points and values before as after.
 */
export type SetupStatus = 'created' | 'found' | 'changed' | 'unchanged';

/** One line of setup's output: the object, what was done, and details. */
export interface SetupLine {
  /** E.g. `retention policy "raw"`, `backfill`. */
  readonly object: string;
  readonly status: SetupStatus;
  readonly detail?: string;
}

/** `retention policy "raw": created (duration 7d)`. */
export function formatLine(line: SetupLine): string {
  return `${line.object}: ${line.status}${line.detail ? ` (${line.detail})` : ''}`;
}

/** Where setup's lines go, one at a time, as each object is done. */
export type SetupReporter = (line: SetupLine) => void;

/** A name in setup's output: in double quotes, as InfluxQL writes identifiers. */
export function quoted(name: string): string {
  return JSON.stringify(name);
}

/** How a request to InfluxDB failed. */
export type FailureKind = 'unreachable' | 'timeout' | 'auth' | 'forbidden' | 'not-found' | 'refused';

/**
 * A request to InfluxDB that failed (no answer, an error status, or an error InfluxDB gave for a
 * statement), with the server's own words.
 */
export class InfluxRequestError extends Error {
  override readonly name = 'InfluxRequestError';
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * The error of one request (`what`: the statement or `GET /api/v2/buckets`) as an
 * InfluxRequestError: no answer at all, the time limit, or the status and InfluxDB's error text.
 */
export function requestFailure(
  err: unknown,
  what: string,
  url: string,
  timeoutMs: number,
): InfluxRequestError {
  if (err instanceof InfluxRequestError) return err;
  if (err instanceof HttpError) {
    const kind: FailureKind =
      err.statusCode === 401
        ? 'auth'
        : err.statusCode === 403
          ? 'forbidden'
          : err.statusCode === 404
            ? 'not-found'
            : 'refused';
    const words = kind === 'auth' ? 'InfluxDB refused the credentials' : `InfluxDB refused ${what}`;
    return new InfluxRequestError(kind, `${words}: ${serverMessage(err)}`, err.statusCode, { cause: err });
  }
  if (err instanceof RequestTimedOutError)
    return new InfluxRequestError(
      'timeout',
      `no answer from ${url} within ${timeoutMs} ms to ${what}`,
      undefined,
      { cause: err },
    );
  return new InfluxRequestError('unreachable', `${url} does not answer: ${errorText(err)}`, undefined, {
    cause: err,
  });
}

/**
 * Setup could not go on: which object, what went wrong (InfluxDB's words included) and the fix.
 * Exit code 1.
 */
export class SetupError extends Error {
  override readonly name = 'SetupError';
  constructor(
    readonly object: string,
    readonly problem: string,
    readonly fix?: string,
    options?: ErrorOptions,
  ) {
    super(`setup: ${object}: ${problem}${fix ? `. Fix: ${fix}` : ''}`, options);
  }
}
