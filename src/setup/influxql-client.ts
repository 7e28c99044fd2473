import type { Logger } from '../log/logger.js';
import { HttpTransport } from '../sink/http-transport.js';
import { basicAuthorization } from '../sink/v1-transport.js';
import { InfluxRequestError, requestFailure } from './report.js';

/** One series of an InfluxQL answer. */
export interface InfluxqlSeries {
  readonly name?: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly columns: readonly string[];
  /** Absent for a series without rows (`SHOW CONTINUOUS QUERIES` of a database that has none). */
  readonly values?: ReadonlyArray<readonly unknown[]>;
}

interface Answer {
  results?: Array<{ statement_id?: number; error?: string; series?: InfluxqlSeries[] }>;
  error?: string;
}

export interface InfluxqlClientOptions {
  /** The server's base URL (NSTATS_INFLUX_URL). */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /** Longest one request may take. */
  readonly timeoutMs: number;
  /** Each statement is logged at debug level. */
  readonly log: Logger;
}

/**
 * InfluxQL on InfluxDB 1.x: statements POSTed to `/query` (`q=`, `db=`, `epoch=ms`: times are
 * milliseconds since the epoch), with basic auth when a user is set, through the project's
 * HttpTransport. InfluxDB answers a statement it refuses with 200 and an `error` in that
 * statement's result; that is an error here too.
 */
export class InfluxqlClient {
  private readonly transports = new Map<number, HttpTransport>();
  private readonly authorization: Record<string, string>;

  constructor(private readonly options: InfluxqlClientOptions) {
    this.authorization =
      options.username === undefined
        ? {}
        : { authorization: basicAuthorization(options.username, options.password) };
  }

  private transport(timeoutMs: number): HttpTransport {
    let t = this.transports.get(timeoutMs);
    if (!t) this.transports.set(timeoutMs, (t = new HttpTransport({ url: this.options.url, timeoutMs })));
    return t;
  }

  /**
   * Runs the statements in order, one request each, and stops at the first that fails; resolves
   * with each statement's series. One request each: InfluxDB 1.6 answers a SELECT ... INTO that
   * fails among several statements with only "not executed", its own error text lost.
   * @throws InfluxRequestError naming the statement InfluxDB refused, with its error text.
   */
  async run(
    statements: readonly string[],
    options: { readonly db?: string; readonly timeoutMs?: number } = {},
  ): Promise<InfluxqlSeries[][]> {
    const out: InfluxqlSeries[][] = [];
    for (const statement of statements) out.push(await this.one(statement, options));
    return out;
  }

  /** One statement's series. */
  async one(
    statement: string,
    options: { readonly db?: string; readonly timeoutMs?: number } = {},
  ): Promise<InfluxqlSeries[]> {
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    this.options.log.debug({ statement }, 'setup: InfluxQL statement');
    const params = new URLSearchParams({
      q: statement,
      epoch: 'ms',
      ...(options.db ? { db: options.db } : {}),
    });
    let answer: Answer | undefined;
    try {
      answer = (await this.transport(timeoutMs).request('/query', params.toString(), {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          ...this.authorization,
        },
      })) as Answer | undefined;
    } catch (err) {
      throw requestFailure(err, statement, this.options.url, timeoutMs);
    }
    const error = answer?.error ?? answer?.results?.[0]?.error;
    if (error !== undefined)
      throw new InfluxRequestError('refused', `InfluxDB refused ${statement}: ${error}`, 200);
    return answer?.results?.[0]?.series ?? [];
  }
}

/** A series' rows as objects keyed by column. */
export function rows(series: InfluxqlSeries): Array<Record<string, unknown>> {
  return (series.values ?? []).map((v) => Object.fromEntries(series.columns.map((c, i) => [c, v[i]])));
}
