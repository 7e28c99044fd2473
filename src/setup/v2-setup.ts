import { InfluxDB } from '@influxdata/influxdb-client';
import type { Logger } from '../log/logger.js';
import { HttpTransport } from '../sink/http-transport.js';
import { formatDuration, INFINITE, sameDuration } from './duration.js';
import {
  backfillFlux,
  countPoints,
  fingerprintFlux,
  sameFlux,
  TASK_NAME,
  TASK_OFFSET,
  taskFlux,
} from './flux.js';
import {
  InfluxRequestError,
  quoted,
  requestFailure,
  SetupError,
  type FailureKind,
  type SetupReporter,
} from './report.js';

/** What setup makes on InfluxDB 2.x. */
export interface V2SetupOptions {
  /** The server's base URL (NSTATS_INFLUX_URL). */
  readonly url: string;
  readonly token?: string;
  /** The organization's name; empty: the only one the token sees. */
  readonly org: string;
  readonly rawBucket: string;
  readonly rawSeconds: number;
  readonly longBucket: string;
  readonly longSeconds: number;
  /** Longest one request may take. */
  readonly timeoutMs: number;
  /** Longest the backfill query may take. */
  readonly backfillTimeoutMs: number;
  readonly log: Logger;
}

interface Org {
  readonly id: string;
  readonly name: string;
}
interface Bucket {
  readonly id: string;
  readonly name: string;
  readonly retentionRules?: ReadonlyArray<{ readonly type?: string; readonly everySeconds?: number }>;
}
interface Task {
  readonly id: string;
  readonly name: string;
  readonly flux?: string;
  readonly status?: string;
}

/** The fix for a failure of a request to InfluxDB 2.x (`what`: the request, for 404s). */
function fixFor(kind: FailureKind, what: string): string | undefined {
  switch (kind) {
    case 'unreachable':
    case 'timeout':
      return 'check NSTATS_INFLUX_URL and that InfluxDB is up and reachable from here';
    case 'auth':
      return 'check NSTATS_INFLUX_TOKEN (or NSTATS_INFLUX_TOKEN_FILE)';
    case 'forbidden':
      return "the token needs read and write access to the organization's buckets and tasks (an all-access token)";
    case 'not-found':
      return what.includes('/api/v2/orgs')
        ? 'check NSTATS_INFLUX_ORG; a server without /api/v2/orgs is no InfluxDB 2.x: for InfluxDB 1.x set NSTATS_INFLUX_API=v1 and NSTATS_INFLUX_DATABASE'
        : undefined;
    case 'refused':
      return undefined;
  }
}

/** The retention rules of a bucket that keeps its data this long (none: for ever). */
function retentionRules(seconds: number): Array<{ type: 'expire'; everySeconds: number }> {
  return seconds === INFINITE ? [] : [{ type: 'expire', everySeconds: seconds }];
}

function retentionOf(bucket: Bucket): number {
  return bucket.retentionRules?.find((r) => r.type === 'expire')?.everySeconds ?? INFINITE;
}

/**
 * Sets up retention and the 1 h roll-up on InfluxDB 2.x through its HTTP API, idempotently: the
 * raw bucket's retention, the long bucket, the roll-up task and a backfill through
 * `/api/v2/query`. Reports one line per object as it is done.
 * @throws SetupError naming the object, with InfluxDB's error text and the fix.
 */
export async function setupV2(o: V2SetupOptions, report: SetupReporter): Promise<void> {
  const http = new HttpTransport({
    url: o.url,
    timeoutMs: o.timeoutMs,
    ...(o.token ? { token: o.token } : {}),
  });
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const what = `${method} ${path.split('?')[0]}`;
    o.log.debug({ method, path }, `setup: ${what}`);
    try {
      return (await http.request(path, body, { method, headers: { accept: 'application/json' } })) as T;
    } catch (err) {
      throw requestFailure(err, what, o.url, o.timeoutMs);
    }
  };
  const step = async <T>(object: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      if (err instanceof InfluxRequestError)
        throw new SetupError(object, err.message, fixFor(err.kind, err.message), { cause: err });
      throw err;
    }
  };

  const orgObject = o.org ? `organization ${quoted(o.org)}` : 'organization';
  const org = await step(orgObject, async () => {
    const query = o.org ? `?${new URLSearchParams({ org: o.org }).toString()}` : '';
    const { orgs = [] } = await call<{ orgs?: Org[] }>('GET', `/api/v2/orgs${query}`);
    const found = o.org ? orgs.find((x) => x.name === o.org) : orgs.length === 1 ? orgs[0] : undefined;
    if (!found) {
      throw new SetupError(
        orgObject,
        o.org
          ? 'not found'
          : `the token sees ${orgs.length} organizations (${orgs.map((x) => quoted(x.name)).join(', ')})`,
        o.org ? 'check NSTATS_INFLUX_ORG' : 'set NSTATS_INFLUX_ORG',
      );
    }
    report({ object: `organization ${quoted(found.name)}`, status: 'found', detail: `id ${found.id}` });
    return found;
  });

  for (const [name, seconds] of [
    [o.rawBucket, o.rawSeconds],
    [o.longBucket, o.longSeconds],
  ] as const) {
    const object = `bucket ${quoted(name)}`;
    await step(object, async () => {
      const query = new URLSearchParams({ orgID: org.id, name }).toString();
      let buckets: Bucket[] = [];
      try {
        buckets = (await call<{ buckets?: Bucket[] }>('GET', `/api/v2/buckets?${query}`)).buckets ?? [];
      } catch (err) {
        // Some versions answer a name that matches nothing with 404.
        if (!(err instanceof InfluxRequestError && err.kind === 'not-found')) throw err;
      }
      const found = buckets.find((b) => b.name === name);
      const wanted = formatDuration(seconds);
      if (!found) {
        await call('POST', '/api/v2/buckets', {
          orgID: org.id,
          name,
          retentionRules: retentionRules(seconds),
          description: 'nstats setup',
        });
        return report({ object, status: 'created', detail: `retention ${wanted}` });
      }
      const current = retentionOf(found);
      if (sameDuration(current, seconds))
        return report({ object, status: 'found', detail: `retention ${wanted}` });
      await call('PATCH', `/api/v2/buckets/${encodeURIComponent(found.id)}`, {
        retentionRules: retentionRules(seconds),
      });
      report({ object, status: 'changed', detail: `retention ${formatDuration(current)} -> ${wanted}` });
    });
  }

  const target = { rawBucket: o.rawBucket, longBucket: o.longBucket, orgID: org.id };
  const taskObject = `task ${quoted(TASK_NAME)}`;
  await step(taskObject, async () => {
    const flux = taskFlux(target);
    const query = new URLSearchParams({ orgID: org.id, name: TASK_NAME }).toString();
    const { tasks = [] } = await call<{ tasks?: Task[] }>('GET', `/api/v2/tasks?${query}`);
    const [found, ...extra] = tasks.filter((t) => t.name === TASK_NAME);
    const where = `${quoted(o.rawBucket)} -> ${quoted(o.longBucket)}, every 1h (offset ${TASK_OFFSET}) for the last 2h`;
    if (!found) {
      await call('POST', '/api/v2/tasks', {
        orgID: org.id,
        flux,
        status: 'active',
        description: 'nstats: 1 h roll-up',
      });
      return report({ object: taskObject, status: 'created', detail: where });
    }
    for (const t of extra) await call('DELETE', `/api/v2/tasks/${encodeURIComponent(t.id)}`);
    if (extra.length === 0 && found.status === 'active' && sameFlux(found.flux ?? '', flux))
      return report({ object: taskObject, status: 'found', detail: where });
    await call('PATCH', `/api/v2/tasks/${encodeURIComponent(found.id)}`, { flux, status: 'active' });
    const why = [
      ...(sameFlux(found.flux ?? '', flux) ? [] : ['its Flux differed']),
      ...(found.status === 'active' ? [] : [`it was ${found.status ?? 'not active'}`]),
      ...(extra.length > 0 ? [`${extra.length} more of that name deleted`] : []),
    ];
    report({ object: taskObject, status: 'changed', detail: `${why.join(', ')}: updated; ${where}` });
  });

  await step('backfill', async () => {
    // The client's query API parses the annotated CSV; the project's transport carries it.
    const longQueries = new HttpTransport({
      url: o.url,
      timeoutMs: o.backfillTimeoutMs,
      ...(o.token ? { token: o.token } : {}),
    });
    const queryApi = new InfluxDB({ url: o.url, transport: longQueries }).getQueryApi({ org: org.id });
    const collect = async (flux: string) => {
      o.log.debug({ flux }, 'setup: Flux query');
      try {
        return await queryApi.collectRows<Record<string, unknown>>(flux);
      } catch (err) {
        throw requestFailure(err, 'the Flux query POST /api/v2/query', o.url, o.backfillTimeoutMs);
      }
    };
    const fingerprint = async () =>
      JSON.stringify(
        (await collect(fingerprintFlux(o.longBucket)))
          .map((r) => [r.result, r._measurement, r._field, r._value])
          .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      );
    const before = await fingerprint();
    const points = countPoints(await collect(backfillFlux(target)));
    const after = await fingerprint();
    const what = `${points} points written to ${quoted(o.longBucket)} from ${quoted(o.rawBucket)}, up to now`;
    if (before === after)
      report({
        object: 'backfill',
        status: 'unchanged',
        detail:
          points === 0
            ? `no raw points in ${quoted(o.rawBucket)}`
            : `${what}: the same points with the same values as before`,
      });
    else report({ object: 'backfill', status: before === '[]' ? 'created' : 'changed', detail: what });
  });
}
