import { HttpError, type Transport } from '@influxdata/influxdb-client';
import type { InfluxConfig } from '../config/config.js';
import { DeliveryError, type DeliveryTransport, type Verdict } from './delivery-queue.js';
import { HttpTransport } from './http-transport.js';
import type { Precision } from './line-protocol.js';
import { V1WriteTransport } from './v1-transport.js';

/** The HTTP status of a write error, or undefined when there was no answer. */
export function statusOf(error: unknown): number | undefined {
  return error instanceof HttpError ? error.statusCode : undefined;
}

/**
 * What a failed write means: no answer, 5xx, 408 and 429 may pass (retry); 400 and 422 refuse the
 * lines themselves, and 413 a request larger than the server takes (its max-body-size): both
 * are rejected, so the request is sent again in smaller parts, and only a single line the server
 * still refuses is dropped. Any other 4xx (auth, missing bucket or database) is a setup problem
 * that sending again cannot fix (refused).
 */
export function classifyWriteError(error: unknown): Verdict {
  const status = statusOf(error);
  if (status === undefined || status >= 500 || status === 408 || status === 429) return 'retry';
  if (status === 400 || status === 413 || status === 422) return 'rejected';
  return 'refused';
}

/** The server's Retry-After (seconds, as HTTP has it) in ms; 0 when absent. */
export function retryAfterMs(error: unknown): number {
  if (!(error instanceof HttpError)) return 0;
  const raw = error.headers?.['retry-after'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  return value !== undefined && /^\d+$/.test(value.trim()) ? Number(value) * 1000 : 0;
}

/** The server's own words: its JSON `error`/`message`, else the body, else the status line. */
export function serverMessage(error: unknown): string {
  if (error instanceof HttpError) {
    const json = error.json as { error?: unknown; message?: unknown } | undefined;
    const fromJson = [json?.error, json?.message].find((v): v is string => typeof v === 'string');
    const text = fromJson ?? error.body ?? error.message;
    return `${error.statusCode} ${text.trim().slice(0, 500)}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** A write error of the client (HttpError, a timeout, no answer) as the delivery queue reads it. */
export function deliveryError(error: unknown): DeliveryError {
  return new DeliveryError(classifyWriteError(error), serverMessage(error), {
    status: statusOf(error),
    retryAfterMs: retryAfterMs(error),
    cause: error,
  });
}

/**
 * Writes line protocol to InfluxDB: `/api/v2/write` with a token (2.x, 1.8+, VictoriaMetrics), or
 * `/write?db=` with basic auth (1.x before 1.8), through a Transport of the
 * `@influxdata/influxdb-client` contract (HttpTransport). Bodies above 1,000 bytes are gzipped.
 */
export class InfluxTransport implements DeliveryTransport {
  /** `influxdb <api> <url> <bucket or database>`. */
  readonly name: string;
  private readonly http: Transport;
  private readonly writePath: string;

  constructor(config: InfluxConfig, precision: Precision) {
    const base = new HttpTransport({
      url: config.url,
      timeoutMs: config.timeoutMs,
      ...(config.token ? { token: config.token } : {}),
    });
    const target = config.api === 'v1' ? (config.database ?? '') : (config.bucket ?? '');
    this.name = `influxdb ${config.api} ${config.url} ${target}`;
    this.http =
      config.api === 'v1'
        ? new V1WriteTransport(base, {
            database: target,
            ...(config.retentionPolicy ? { retentionPolicy: config.retentionPolicy } : {}),
            ...(config.username ? { username: config.username } : {}),
            ...(config.password ? { password: config.password } : {}),
          })
        : base;
    this.writePath = `/api/v2/write?org=${encodeURIComponent(config.org)}&bucket=${encodeURIComponent(target)}&precision=${precision}`;
  }

  /** One write; rejects with a DeliveryError whose cause is the client's error. */
  async send(lines: readonly string[], signal: AbortSignal): Promise<void> {
    try {
      await this.write(lines.join('\n'), signal);
    } catch (err) {
      throw deliveryError(err);
    }
  }

  /**
   * Checks reachability, auth and the bucket/database with an empty write to the same endpoint
   * the points go to (InfluxDB 1.6 answers 404 "database not found" to it, VictoriaMetrics 204).
   * Rejects with the client's HttpError (status code and server message).
   */
  async probe(): Promise<void> {
    await this.write('');
  }

  private async write(body: string, signal?: AbortSignal): Promise<void> {
    await this.http.request(this.writePath, body, {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      gzipThreshold: 1000,
      ...(signal ? { signal } : {}),
    });
  }
}
