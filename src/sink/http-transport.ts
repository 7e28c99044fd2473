import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { createGunzip, gzip } from 'node:zlib';
import {
  AbortError,
  createTextDecoderCombiner,
  HttpError,
  RequestTimedOutError,
  type ChunkCombiner,
  type CommunicationObserver,
  type ResponseStartedFn,
  type SendOptions,
  type Transport,
} from '@influxdata/influxdb-client';

const gzipAsync = promisify(gzip);

/** Most characters of an error response's body kept (as the client's own transport does). */
const MAX_ERROR_BODY = 1000;

export interface HttpTransportOptions {
  /** The server's base URL, `http(s)://host[:port][/path]`; request paths are appended to it. */
  readonly url: string;
  /** Sent as `Authorization: Token ...` unless a request sets its own authorization header. */
  readonly token?: string;
  /** Longest one request may take, from connecting to the last byte of the answer. */
  readonly timeoutMs: number;
}

/** An answer whose status was below 300; its body not read yet. */
interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Readable;
}

/**
 * The client's Transport contract over Node's `http`/`https` and the WHATWG URL: what
 * `@influxdata/influxdb-client`'s own Node transport does for nstats (Token auth, gzip above a
 * threshold, HttpError with the server's status, body, headers and Retry-After, AbortError,
 * RequestTimedOutError), without its use of the legacy `url.parse()`, which makes Node print a
 * deprecation warning, not a JSON log line, on stderr. Unlike it, the timeout bounds the whole
 * request (not only an idle socket), and a timed-out or aborted request is destroyed.
 */
export class HttpTransport implements Transport {
  readonly chunkCombiner: ChunkCombiner = createTextDecoderCombiner();
  private readonly base: URL;
  private readonly prefix: string;

  constructor(private readonly options: HttpTransportOptions) {
    this.base = new URL(options.url);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:')
      throw new TypeError(`HttpTransport: expected an http: or https: URL, not ${options.url}`);
    this.prefix = this.base.pathname.replace(/\/+$/, '');
  }

  /** Sends the request; resolves with the answer once its status (below 300) has come. */
  private async open(path: string, body: string, options: SendOptions): Promise<Answer> {
    const signal = options.signal;
    if (signal?.aborted) throw new AbortError();
    let payload = Buffer.from(body, 'utf8');
    const headers: Record<string, string> = {
      'content-type': 'application/json; charset=utf-8',
      'user-agent': 'nstats',
      ...(this.options.token ? { authorization: `Token ${this.options.token}` } : {}),
      ...options.headers,
    };
    if (options.gzipThreshold !== undefined && payload.length > options.gzipThreshold) {
      payload = await gzipAsync(payload);
      headers['content-encoding'] = 'gzip';
    }
    headers['content-length'] = String(payload.length);
    const send = this.base.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<Answer>((resolve, reject) => {
      const req = send(new URL(this.prefix + path, this.base), { method: options.method, headers });
      let response: IncomingMessage | undefined;
      let decoded: Readable | undefined;
      const fail = (error: Error) => {
        done();
        // An answer being read ends with the error; before it, the promise rejects.
        if (decoded && !decoded.destroyed) decoded.destroy(error);
        if (response && !response.destroyed) response.destroy(error);
        req.destroy(error);
        reject(error);
      };
      const onAbort = () => fail(new AbortError());
      const timer = setTimeout(() => fail(new RequestTimedOutError()), this.options.timeoutMs);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', fail);
      req.on('response', (res) => {
        response = res;
        res.on('error', done);
        res.on('close', done);
        const status = res.statusCode ?? 600;
        decoded = res.headers['content-encoding'] === 'gzip' ? res.pipe(createGunzip()) : res;
        if (status < 300) {
          resolve({ status, headers: res.headers, body: decoded });
          return;
        }
        void readText(decoded, String(res.headers['content-type']).startsWith('application/json')).then(
          (text) => {
            done();
            const fallback = res.headers['x-influxdb-error'];
            reject(
              new HttpError(
                status,
                res.statusMessage,
                text === '' && fallback !== undefined ? String(fallback) : text,
                headerValue(res.headers['retry-after']),
                res.headers['content-type'],
                undefined,
                res.headers,
              ),
            );
          },
          fail,
        );
      });
      req.end(payload);
    });
  }

  send(
    path: string,
    body: string,
    options: SendOptions,
    callbacks: Partial<CommunicationObserver<Uint8Array>> = {},
  ): void {
    let ended = false;
    const end = (error?: Error) => {
      if (ended) return;
      ended = true;
      if (error) callbacks.error?.(error);
      else callbacks.complete?.();
    };
    let answer: Answer | undefined;
    callbacks.useCancellable?.({
      cancel: () => {
        answer?.body.destroy();
        end();
      },
      isCancelled: () => ended,
    });
    this.open(path, body, options).then((a) => {
      answer = a;
      if (ended) return void a.body.destroy();
      callbacks.responseStarted?.(a.headers, a.status);
      a.body.on('data', (chunk: Buffer) => {
        if (ended || callbacks.next?.(chunk) !== false) return;
        if (!callbacks.useResume) {
          a.body.destroy();
          end(new Error('HttpTransport: the consumer paused, but gave no useResume'));
          return;
        }
        a.body.pause();
        callbacks.useResume(() => a.body.resume());
      });
      a.body.on('end', () => end());
      a.body.on('error', (e) => end(e));
    }, end);
  }

  /** The answer decoded by its content type: JSON parsed, text as a string, else bytes. */
  async request(
    path: string,
    body: unknown,
    options: SendOptions,
    responseStarted?: ResponseStartedFn,
  ): Promise<unknown> {
    const text =
      body === undefined || body === null || body === ''
        ? ''
        : typeof body === 'string'
          ? body
          : JSON.stringify(body);
    const answer = await this.open(path, text, options);
    responseStarted?.(answer.headers, answer.status);
    const chunks: Buffer[] = [];
    for await (const chunk of answer.body) chunks.push(chunk as Buffer);
    const data = Buffer.concat(chunks);
    if (answer.status === 204) return undefined;
    const type = options.headers?.accept ?? String(answer.headers['content-type'] ?? '');
    if (type.includes('json'))
      return data.length > 0 ? (JSON.parse(data.toString('utf8')) as unknown) : undefined;
    if (type.includes('text') || type.startsWith('application/csv')) return data.toString('utf8');
    return data;
  }

  async *iterate(path: string, body: string, options: SendOptions): AsyncIterableIterator<Uint8Array> {
    const answer = await this.open(path, body, options);
    for await (const chunk of answer.body) yield chunk as Uint8Array;
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The body as text: all of a JSON answer, at most MAX_ERROR_BODY characters of anything else. */
async function readText(body: Readable, whole: boolean): Promise<string> {
  let text = '';
  for await (const chunk of body) {
    text += (chunk as Buffer).toString('utf8');
    if (!whole && text.length > MAX_ERROR_BODY) {
      body.destroy();
      return text.slice(0, MAX_ERROR_BODY);
    }
  }
  return text;
}
