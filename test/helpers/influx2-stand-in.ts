/**
 * A stand-in for the parts of the InfluxDB 2.x HTTP API `nstats setup` uses, in process: orgs,
 * buckets, tasks and `/api/v2/query`. It is not InfluxDB: it keeps buckets and tasks in memory,
 * answers as the API documentation says (JSON bodies, 401 without the token, 404 for an unknown
 * organization), records every request for the test to check, and cannot run Flux. A query that
 * writes with `to()` (the backfill) is answered with `rollupRows`, as if those rows had been
 * written to the long bucket; the fingerprint query (`yield(name: "count")`) is answered with the
 * count and sum of what was "written" so far. No InfluxDB 2.x server could be installed where these
 * tests were written, so the 2.x path has only been run against this stand-in.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
}

export interface StandInBucket {
  id: string;
  orgID: string;
  name: string;
  retentionRules: Array<{ type: string; everySeconds: number; shardGroupDurationSeconds?: number }>;
}

export interface StandInTask {
  id: string;
  orgID: string;
  name: string;
  flux: string;
  status: string;
  every?: string;
  offset?: string;
}

/** One row a Flux query gives back: the columns of a point's field. */
export type FluxRow = Readonly<Record<string, string | number>>;

export interface InfluxStandIn {
  readonly url: string;
  readonly requests: SeenRequest[];
  readonly orgs: Array<{ id: string; name: string }>;
  readonly buckets: StandInBucket[];
  readonly tasks: StandInTask[];
  /** The rows the backfill query "writes" and gives back. */
  rollupRows: FluxRow[];
  /** What the long bucket holds: set by a backfill query. */
  written: FluxRow[];
  close(): Promise<void>;
}

/** Annotated CSV (as /api/v2/query answers) of rows, one table per row. */
export function annotatedCsv(rows: readonly FluxRow[]): string {
  const blocks = rows.map((row, i) => {
    const columns = Object.keys(row);
    const type = (c: string) =>
      c === '_time' || c === '_start' || c === '_stop'
        ? 'dateTime:RFC3339'
        : typeof row[c] === 'number'
          ? Number.isInteger(row[c])
            ? 'long'
            : 'double'
          : 'string';
    return [
      `#datatype,string,long,${columns.map(type).join(',')}`,
      `#group,false,false,${columns.map((c) => String(c !== '_value' && c !== '_time')).join(',')}`,
      `#default,_result,,${columns.map(() => '').join(',')}`,
      `,result,table,${columns.join(',')}`,
      `,,${i},${columns.map((c) => String(row[c])).join(',')}`,
    ].join('\r\n');
  });
  return `${blocks.join('\r\n\r\n')}\r\n\r\n`;
}

/** Count and sum of `_value` by result, measurement and field, as the fingerprint query gives them. */
function fingerprintRows(written: readonly FluxRow[]): FluxRow[] {
  const groups = new Map<string, { m: string; f: string; values: number[] }>();
  for (const r of written) {
    const key = `${r._measurement}\u0000${r._field}`;
    const g = groups.get(key) ?? { m: String(r._measurement), f: String(r._field), values: [] };
    g.values.push(Number(r._value));
    groups.set(key, g);
  }
  return [...groups.values()].flatMap((g) => [
    { result: 'count', _measurement: g.m, _field: g.f, _value: g.values.length },
    { result: 'sum', _measurement: g.m, _field: g.f, _value: g.values.reduce((a, b) => a + b, 0) },
  ]);
}

export async function startInfluxStandIn(token: string): Promise<InfluxStandIn> {
  let nextId = 1;
  const id = () => (nextId++).toString(16).padStart(16, '0');
  const state: Omit<InfluxStandIn, 'url' | 'close'> = {
    requests: [],
    orgs: [{ id: 'aaaa000000000001', name: 'acme' }],
    buckets: [],
    tasks: [],
    rollupRows: [],
    written: [],
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stand-in');
      const text = Buffer.concat(chunks).toString('utf8');
      const body: unknown = text === '' ? undefined : JSON.parse(text);
      state.requests.push({
        method: req.method ?? '',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body,
      });
      const json = (status: number, value: unknown) => {
        res
          .writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
          .end(JSON.stringify(value));
      };
      if (req.headers.authorization !== `Token ${token}`)
        return json(401, { code: 'unauthorized', message: 'unauthorized access' });
      const q = url.searchParams;
      const route = `${req.method} ${url.pathname}`;
      const b = body as Record<string, unknown>;
      if (route === 'GET /api/v2/orgs') {
        const name = q.get('org');
        const orgs = name === null ? state.orgs : state.orgs.filter((o) => o.name === name);
        if (name !== null && orgs.length === 0)
          return json(404, { code: 'not found', message: `organization name "${name}" not found` });
        return json(200, { orgs });
      }
      if (route === 'GET /api/v2/buckets')
        return json(200, {
          buckets: state.buckets.filter(
            (x) => x.orgID === q.get('orgID') && (!q.get('name') || x.name === q.get('name')),
          ),
        });
      if (route === 'POST /api/v2/buckets') {
        if (state.buckets.some((x) => x.name === b.name))
          return json(422, { code: 'conflict', message: 'bucket with name exists' });
        const bucket = {
          id: id(),
          orgID: String(b.orgID),
          name: String(b.name),
          retentionRules: b.retentionRules as StandInBucket['retentionRules'],
        };
        state.buckets.push(bucket);
        return json(201, bucket);
      }
      const bucketId = /^\/api\/v2\/buckets\/([^/]+)$/.exec(url.pathname)?.[1];
      if (req.method === 'PATCH' && bucketId) {
        const bucket = state.buckets.find((x) => x.id === bucketId);
        if (!bucket) return json(404, { code: 'not found', message: 'bucket not found' });
        bucket.retentionRules = b.retentionRules as StandInBucket['retentionRules'];
        return json(200, bucket);
      }
      if (route === 'GET /api/v2/tasks')
        return json(200, {
          tasks: state.tasks.filter(
            (t) => t.orgID === q.get('orgID') && (!q.get('name') || t.name === q.get('name')),
          ),
        });
      const option = (flux: string, key: string) =>
        new RegExp(`option task = \\{[^}]*\\b${key}: ("?)([^,}"]+)\\1`).exec(flux)?.[2];
      if (route === 'POST /api/v2/tasks') {
        const flux = String(b.flux);
        const name = option(flux, 'name');
        if (!name) return json(400, { code: 'invalid', message: 'task must have a name option' });
        const task: StandInTask = {
          id: id(),
          orgID: String(b.orgID),
          name,
          flux,
          status: typeof b.status === 'string' ? b.status : 'active',
        };
        const every = option(flux, 'every');
        const offset = option(flux, 'offset');
        if (every) task.every = every;
        if (offset) task.offset = offset;
        state.tasks.push(task);
        return json(201, task);
      }
      const taskId = /^\/api\/v2\/tasks\/([^/]+)$/.exec(url.pathname)?.[1];
      if (taskId && (req.method === 'PATCH' || req.method === 'DELETE')) {
        const i = state.tasks.findIndex((t) => t.id === taskId);
        if (i < 0) return json(404, { code: 'not found', message: 'task not found' });
        if (req.method === 'DELETE') {
          state.tasks.splice(i, 1);
          return res.writeHead(204).end();
        }
        const task = state.tasks[i]!;
        if (typeof b.flux === 'string') task.flux = b.flux;
        if (typeof b.status === 'string') task.status = b.status;
        return json(200, task);
      }
      if (route === 'POST /api/v2/query') {
        const flux = String(b.query);
        const csv = (rows: readonly FluxRow[]) =>
          res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8' }).end(annotatedCsv(rows));
        if (flux.includes('yield(name: "count")')) return csv(fingerprintRows(state.written));
        if (/\|> to\(bucket: /.test(flux)) {
          // Written again: the same series and times replace what was there.
          const key = (r: FluxRow) => JSON.stringify(Object.entries(r).filter(([k]) => k !== '_value'));
          const merged = new Map(state.written.map((r) => [key(r), r]));
          for (const r of state.rollupRows) merged.set(key(r), r);
          state.written = [...merged.values()];
          return csv(state.rollupRows);
        }
        return json(400, {
          code: 'invalid',
          message: 'the stand-in runs no Flux but the fingerprint and the backfill',
        });
      }
      json(404, { code: 'not found', message: 'path not found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const stand: InfluxStandIn = Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
  return stand;
}
