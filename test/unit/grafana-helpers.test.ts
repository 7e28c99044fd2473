// The dashboard tests' two checkers must be able to fail: each broken input below is rejected, with
// the error where the break is, and the valid ones pass.
import { describe, expect, it } from 'vitest';
import { parseFlux } from '../helpers/flux.js';
import { validateDashboard } from '../helpers/grafana-schema.js';

const query = `import "strings"
from(bucket: v.bucket)
  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
  |> filter(fn: (r) => r._measurement == "nstat" and r.pod =~ /^(a|b)$/)
  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)
  |> group(columns: ["receiver"])
  |> sum()`;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const REMOVE = Symbol('remove');

/** A copy of `doc` with the value at JSON pointer `pointer` replaced, or removed. */
function edit(doc: Json, pointer: string, value: Json | typeof REMOVE): Json {
  const copy = structuredClone(doc);
  const keys = pointer.split('/').slice(1);
  const last = keys.pop() ?? '';
  const parent = keys.reduce<Json>((node, key) => (node as Record<string, Json>)[key] ?? null, copy);
  if (Array.isArray(parent)) {
    if (value === REMOVE) parent.splice(Number(last), 1);
    else parent[Number(last)] = value;
  } else {
    const record = parent as Record<string, Json>;
    if (value === REMOVE) delete record[last];
    else record[last] = value;
  }
  return copy;
}

/** The value at JSON pointer `pointer` in `doc`. */
function at(doc: Json, pointer: string): Json {
  return pointer
    .split('/')
    .slice(1)
    .reduce<Json>((node, key) => (node as Record<string, Json>)[key] ?? null, doc);
}

/** A small dashboard as Grafana 11 exports it: a row, a time series panel, one query variable. */
function dashboard(): Json {
  return {
    id: null,
    uid: 'nstats',
    title: 'nstats',
    tags: ['nstats'],
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-1h', to: 'now' },
    timepicker: {},
    links: [],
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    templating: {
      list: [
        {
          type: 'query',
          name: 'namespace',
          label: 'Namespace',
          datasource: { type: 'influxdb', uid: '${datasource}' },
          definition:
            'import "influxdata/influxdb/schema"\nschema.tagValues(bucket: v.bucket, tag: "namespace")',
          query: 'import "influxdata/influxdb/schema"\nschema.tagValues(bucket: v.bucket, tag: "namespace")',
          current: { selected: true, text: ['All'], value: ['$__all'] },
          includeAll: true,
          multi: true,
          options: [],
          refresh: 2,
          sort: 1,
          hide: 0,
          skipUrlSync: false,
        },
      ],
    },
    panels: [
      {
        type: 'row',
        id: 1,
        title: 'Traffic',
        collapsed: false,
        panels: [],
        gridPos: { h: 1, w: 24, x: 0, y: 0 },
      },
      {
        type: 'timeseries',
        id: 2,
        title: 'Bytes by receiver',
        gridPos: { h: 8, w: 12, x: 0, y: 1 },
        datasource: { type: 'influxdb', uid: '${datasource}' },
        targets: [{ refId: 'A', datasource: { type: 'influxdb', uid: '${datasource}' }, query }],
        fieldConfig: {
          defaults: {
            unit: 'bps',
            custom: { drawStyle: 'line', lineWidth: 1 },
            color: { mode: 'palette-classic' },
            thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }] },
          },
          overrides: [],
        },
        options: { legend: { displayMode: 'table', placement: 'bottom', showLegend: true } },
        transformations: [{ id: 'organize', options: {} }],
      },
    ],
  };
}

describe('validateDashboard', () => {
  it('passes a valid dashboard', () => {
    expect(validateDashboard(dashboard())).toEqual([]);
  });

  it.each<[string, string, Json | typeof REMOVE, string]>([
    [
      'a gridPos without w',
      '/panels/1/gridPos/w',
      REMOVE,
      "/panels/1/gridPos: must have required property 'w'",
    ],
    ['a gridPos wider than the grid', '/panels/1/gridPos/w', 25, '/panels/1/gridPos/w: must be <= 24'],
    ['a string schemaVersion', '/schemaVersion', '39', '/schemaVersion: must be integer'],
    ['a templating.list that is an object', '/templating/list', {}, '/templating/list: must be array'],
    ['no templating', '/templating', REMOVE, "/: must have required property 'templating'"],
    ['a misspelt panel key', '/panels/1/fieldconfig', {}, "/panels/1: has unknown property 'fieldconfig'"],
    ['a datasource as a string', '/panels/1/datasource', 'InfluxDB', '/panels/1/datasource: must be object'],
    ['targets that are not an array', '/panels/1/targets', {}, '/panels/1/targets: must be array'],
    [
      'a transformation without options',
      '/panels/1/transformations/0/options',
      REMOVE,
      "/panels/1/transformations/0: must have required property 'options'",
    ],
    ['a row without id', '/panels/0/id', REMOVE, "/panels/0: must have required property 'id'"],
    [
      'an unknown variable type',
      '/templating/list/0/type',
      'select',
      '/templating/list/0/type: must be equal to one of the allowed values',
    ],
    [
      'a string threshold value',
      '/panels/1/fieldConfig/defaults/thresholds/steps/0/value',
      '0',
      '/panels/1/fieldConfig/defaults/thresholds/steps/0/value: must be number',
    ],
  ])('rejects %s', (_name, pointer, value, expected) => {
    const errors = validateDashboard(edit(dashboard(), pointer, value));
    expect(
      errors.some((e) => e.startsWith(expected)),
      errors.join('\n'),
    ).toBe(true);
  });

  it("reports a broken panel as a panel's errors, not also as a row's", () => {
    expect(validateDashboard(edit(dashboard(), '/panels/1/gridPos/w', REMOVE))).toEqual([
      "/panels/1/gridPos: must have required property 'w'",
    ]);
  });

  it("reports a broken panel inside a row as that panel's errors", () => {
    const panel = edit(at(dashboard(), '/panels/1'), '/gridPos/w', REMOVE);
    let d = edit(dashboard(), '/panels/1', REMOVE);
    d = edit(d, '/panels/0/collapsed', true);
    d = edit(d, '/panels/0/panels', [panel]);
    expect(validateDashboard(d)).toEqual(["/panels/0/panels/0/gridPos: must have required property 'w'"]);
  });

  it('names every type a value may have when it has none of them', () => {
    expect(validateDashboard(edit(dashboard(), '/templating/list/0/current/value', 3))).toEqual([
      '/templating/list/0/current/value: must be string or array',
    ]);
  });

  it('rejects what is not a dashboard', () => {
    expect(validateDashboard([])).toEqual(['/: must be object']);
    expect(validateDashboard({ title: 'x' })).not.toEqual([]);
  });
});

describe('parseFlux', () => {
  it.each([
    ['a Grafana panel query', query],
    [
      'pivot, quantile and timeShift',
      `from(bucket: "nstats")
  |> range(start: -1h)
  |> pivot(rowKey:["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> quantile(q: 0.95, method: "exact_selector")
  |> timeShift(duration: -7d)`,
    ],
    [
      'join.inner and union',
      `import "join"
a = from(bucket: "nstats") |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
b = from(bucket: "nstats") |> range(start: -2h) |> timeShift(duration: 1h)
join.inner(left: a, right: b, on: (l, r) => l._time == r._time, as: (l, r) => ({l with prev: r._value}))
union(tables: [a, b])`,
    ],
    [
      'map with a record update',
      `from(bucket: "n") |> range(start: -1h) |> map(fn: (r) => ({r with _value: r._value * 8.0}))`,
    ],
    [
      'experimental imports',
      `import "experimental"
import "experimental/aggregate"
from(bucket: "n") |> range(start: -1h) |> experimental.group(columns: ["pod"], mode: "extend")`,
    ],
    [
      "Grafana's text substitution inside strings",
      `from(bucket: "\${bucket}") |> range(start: v.timeRangeStart) |> filter(fn: (r) => r.namespace == "\${namespace}")`,
    ],
    [
      'options, functions, conditionals, dicts, exists, comments',
      `import "dict"
option task = {name: "t", every: 1h}
// a comment
d = ["a": 1]
f = (tables=<-, n=1) => tables |> limit(n: n)
from(bucket: "n") |> range(start: 2024-01-01T00:00:00Z, stop: now())
  |> filter(fn: (r) => exists r.pod and r._value > dict.get(dict: d, key: "a", default: 0))
  |> map(fn: (r) => ({r with k: if r._value > 0 then "up" else "down"})) // trailing
  |> f(n: 2)`,
    ],
  ])('accepts %s', (_name, source) => {
    expect(parseFlux(source)).toEqual([]);
  });

  it.each([
    ['an unclosed paren', `from(bucket: "n" |> range(start: -1h)`, 'expected RPAREN, got EOF'],
    ['an extra paren', `from(bucket: "n") |> range(start: -1h))`, 'unexpected ")"'],
    ['an unclosed bracket', `from(bucket: "n") |> group(columns: ["a", "b")`, 'expected RBRACK, got RPAREN'],
    ['an unclosed record', `from(bucket: "n") |> map(fn: (r) => ({r with x: 1})`, 'expected RPAREN, got EOF'],
    [
      'a pipe to nothing',
      `from(bucket: "n") |> range(start: -1h) |> `,
      'pipe destination must be a function call',
    ],
    ['a pipe to a non-call', `from(bucket: "n") |> range`, 'pipe destination must be a function call'],
    [
      'an unterminated string',
      `from(bucket: "n) |> range(start: -1h)`,
      'unexpected token in string expression',
    ],
    ['a bad escape in a string', `x = "a\\qb"`, 'unexpected token in string expression'],
    ['an unclosed interpolation', `x = "\${namespace"`, 'unexpected token in string expression'],
    ['a bad regex', `from(bucket: "n") |> filter(fn: (r) => r.pod =~ /^(a|b$/)`, 'regex parse error'],
    ['a function without =>', `from(bucket: "n") |> filter(fn: (r) r._value > 1)`, 'missing operator'],
    ['an import without quotes', `import strings\nx = 1`, 'expected STRING'],
    ['a missing argument value', `from(bucket: ) |> range(start: -1h)`, 'missing property value'],
    [
      'a double comma',
      `from(bucket: "n") |> range(start: -1h,, stop: now())`,
      'missing property in property list',
    ],
    ['a trailing @', `from(bucket: "n") |> range(start: -1h) @`, 'unparsed text "@"'],
  ])('rejects %s', (_name, source, expected) => {
    const errors = parseFlux(source);
    expect(
      errors.some((e) => e.includes(expected)),
      errors.join('\n'),
    ).toBe(true);
  });

  it('says where the error is, as line:column', () => {
    expect(parseFlux('x = 1\ny = (2')).toEqual(['2:5: expected RPAREN, got EOF']);
  });

  it('substitutes Grafana variables where Flux would not take them as written', () => {
    const source = `from(bucket: "n") |> range(start: -1h) |> filter(fn: (r) => r.pod =~ /^\${pod:regex}$/)`;
    expect(parseFlux(source).join('\n')).toContain('regex parse error');
    expect(parseFlux(source, { pod: 'a|b' })).toEqual([]);
    expect(parseFlux('x = $limit + [[limit]]', { limit: '10' })).toEqual([]);
  });
});
