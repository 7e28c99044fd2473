// Builds nstats' Grafana dashboards: one definition per panel, written twice, as InfluxQL
// (InfluxDB 1.x) in grafana/dashboards/influxql/ and as Flux (InfluxDB 2.x) in
// grafana/dashboards/flux/. Same uids-per-set, panels, ids, positions, units and variables, so the
// two sets cannot drift apart.
//
//   node scripts/dashboards.mjs          writes the files
//   node scripts/dashboards.mjs --check  exits 1 if a file differs from what would be written
//
// Query rules the panels follow (docs/grafana.md says why):
// - a rate is averaged per series first (mean per series and time bucket), then summed across
//   series: a bucket holding several cycles of one flow must not count it several times;
// - bytes are summed only from fields that are per-window deltas (`sentBytes`, `receivedBytes`,
//   `sample*`), never from the cumulative interface counters (those go through a difference);
// - cluster totals take one side of every flow: egress from the sending pod's points, ingress from
//   the receiving pod's, so a pod-to-pod flow, reported by both ends, is counted once in each.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OUT = join(ROOT, 'grafana', 'dashboards');

/** Grafana's dashboard model version the files are written for (Grafana 10.4 to 11). */
export const SCHEMA_VERSION = 39;
const DS = { type: 'influxdb', uid: '${datasource}' };
/**
 * Smallest time bucket of the panels: one schedule tick of the default NSTATS_SCHEDULE. A bucket
 * shorter than a tick would hold no point for most series and make sums of rates saw-toothed.
 */
const MIN_INTERVAL = '1m';

// ---------------------------------------------------------------------------------------------
// Filters

/** InfluxQL: a tag matches a (multi-value) variable, formatted by Grafana as an escaped regex. */
const qlTag = (tag, v) => `"${tag}" =~ /^$${v}$/`;
/**
 * Flux: the same. A tag that is absent from a point (no names service: no `workload`) matches
 * only when the variable matches the empty string, which its "All" value (`.*`) does: as InfluxQL
 * treats an absent tag as the empty string.
 */
const fxTag = (tag, v, optional = false) =>
  optional
    ? `((exists r.${tag} and r.${tag} =~ /^\${${v}:regex}$/) or (not exists r.${tag} and "" =~ /^\${${v}:regex}$/))`
    : `r.${tag} =~ /^\${${v}:regex}$/`;

const POD_FILTER = {
  influxql: [
    qlTag('namespace', 'namespace'),
    qlTag('workload', 'workload'),
    qlTag('pod', 'pod'),
    qlTag('receiverNamespace', 'peer_namespace'),
    qlTag('receiverWorkload', 'peer_workload'),
  ].join(' AND '),
  flux: [
    fxTag('namespace', 'namespace'),
    fxTag('workload', 'workload', true),
    fxTag('pod', 'pod'),
    fxTag('receiverNamespace', 'peer_namespace', true),
    fxTag('receiverWorkload', 'peer_workload', true),
  ].join(' and '),
};
const NS_FILTER = { influxql: qlTag('namespace', 'namespace'), flux: fxTag('namespace', 'namespace') };
const NS_POD_FILTER = {
  influxql: `${qlTag('namespace', 'namespace')} AND ${qlTag('pod', 'pod')}`,
  flux: `${fxTag('namespace', 'namespace')} and ${fxTag('pod', 'pod')}`,
};
const IF_FILTER = {
  influxql: `${NS_POD_FILTER.influxql} AND ${qlTag('interface', 'interface')}`,
  flux: `${NS_POD_FILTER.flux} and ${fxTag('interface', 'interface')}`,
};

// ---------------------------------------------------------------------------------------------
// Query builders. `f` is a filter pair from above; `from` is the InfluxQL measurement (with a
// retention policy for the long-term data); Flux reads `${bucket}` or `${long}`.

const RAW = { influxql: '"nstat"', bucket: 'bucket', measurement: 'nstat' };
const LONG = { influxql: '"$long"."nstat"', bucket: 'long', measurement: 'nstat' };
const RAW_IF = { influxql: '"nstat_interface"', bucket: 'bucket', measurement: 'nstat_interface' };

const fxFrom = (src, f, fields) => {
  const fieldTest = fields.map((x) => `r._field == "${x}"`).join(' or ');
  return [
    `from(bucket: "\${${src.bucket}}")`,
    `  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)`,
    `  |> filter(fn: (r) => r._measurement == "${src.measurement}" and ${fields.length > 1 ? `(${fieldTest})` : fieldTest})`,
    `  |> filter(fn: (r) => ${f.flux})`,
  ].join('\n');
};

/** Sum across series of each series' mean rate per time bucket, one line per `by` tag (or one). */
function rateOverTime(field, f, by, src = RAW) {
  const group = by ? `, "${by}"` : '';
  return {
    influxql:
      `SELECT sum("r") AS "${field}" FROM (SELECT mean("${field}") AS "r" FROM ${src.influxql} ` +
      `WHERE $timeFilter AND ${f.influxql} GROUP BY time($__interval), * fill(none)) ` +
      `GROUP BY time($__interval)${group} fill(none)`,
    flux: [
      fxFrom(src, f, [field]),
      `  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)`,
      `  |> group(columns: [${by ? `"${by}"` : ''}])`,
      `  |> aggregateWindow(every: v.windowPeriod, fn: sum, createEmpty: false)`,
      `  |> rename(columns: {_value: "${field}"})`,
    ].join('\n'),
  };
}

/** Bytes of per-window delta fields summed over the range, one row per combination of `by`. */
function bytesByTags(fields, f, by, src = RAW, { top, as = 'bytes' } = {}) {
  const tags = by.map((t) => `"${t}"`).join(', ');
  const sumQl = fields.map((x) => `sum("${x}")`).join(' + ');
  const groupBy = by.length ? ` GROUP BY ${tags}` : '';
  const inner = `SELECT ${sumQl} AS "b" FROM ${src.influxql} WHERE $timeFilter AND ${f.influxql}${groupBy}`;
  const influxql = top
    ? `SELECT top("b", ${tags}, ${top}) AS "${as}" FROM (${inner})`
    : `SELECT sum("b") AS "${as}" FROM (${inner})${groupBy}`;
  const flux = [
    fxFrom(src, f, fields),
    `  |> group(columns: [${by.map((t) => `"${t}"`).join(', ')}])`,
    `  |> sum()`,
    `  |> group()`,
    `  |> sort(columns: ["_value"], desc: true)`,
    ...(top ? [`  |> limit(n: ${top})`] : []),
    `  |> rename(columns: {_value: "${as}"})`,
  ].join('\n');
  return { influxql, flux };
}

// ---------------------------------------------------------------------------------------------
// Panels

let nextId = 1;
/** Panel ids restart at 1 per dashboard and follow declaration order. */
const resetIds = () => (nextId = 1);

function panel(
  type,
  title,
  grid,
  {
    description,
    unit,
    targets,
    options = {},
    custom,
    overrides = [],
    transformations,
    interval,
    links,
    decimals,
  },
) {
  const defaults = { unit };
  if (custom) defaults.custom = custom;
  if (decimals !== undefined) defaults.decimals = decimals;
  if (links) defaults.links = links;
  return {
    id: nextId++,
    type,
    title,
    description,
    gridPos: { x: grid[0], y: grid[1], w: grid[2], h: grid[3] },
    datasource: DS,
    ...(interval ? { interval } : {}),
    fieldConfig: { defaults, overrides },
    options,
    targets,
    transformations: transformations ?? { influxql: [], flux: [] },
  };
}

/** A target: `q` is { influxql, flux }; `format` applies to InfluxQL (Flux frames are tables). */
const target = (refId, q, { format = 'time_series', alias } = {}) => ({ refId, q, format, alias });

const statOptions = (calc = 'lastNotNull') => ({
  reduceOptions: { calcs: [calc], fields: '', values: false },
  colorMode: 'value',
  graphMode: 'area',
  justifyMode: 'auto',
  textMode: 'auto',
  orientation: 'auto',
});
const legend = { showLegend: true, displayMode: 'table', placement: 'right', calcs: ['mean', 'max'] };
const stacked = {
  stacking: { mode: 'normal', group: 'A' },
  fillOpacity: 30,
  lineWidth: 1,
  drawStyle: 'line',
};
const bars = { drawStyle: 'bars', fillOpacity: 80, stacking: { mode: 'normal', group: 'A' } };

/** Fields renamed on InfluxQL's table frames (InfluxQL cannot alias a tag). */
const rename = (map) => ({ id: 'organize', options: { renameByName: map, excludeByName: { Time: true } } });

// ---------------------------------------------------------------------------------------------
// Variables

const dsVar = {
  type: 'datasource',
  name: 'datasource',
  label: 'InfluxDB',
  query: 'influxdb',
  current: {},
  hide: 0,
  options: [],
  refresh: 1,
  regex: '',
};

/** A tag-values variable, narrowed by the variables before it. */
function tagVar(
  name,
  label,
  tag,
  { where = [], multi = false, allValue, measurement = 'nstat', optional = false },
) {
  const wq = where.map(([t, v]) => qlTag(t, v)).join(' AND ');
  const wf = where.map(([t, v, opt]) => fxTag(t, v, opt)).join(' and ');
  return {
    name,
    label,
    tag,
    multi,
    allValue: allValue ?? (optional ? '.*' : undefined),
    influxql: `SHOW TAG VALUES FROM "${measurement}" WITH KEY = "${tag}"${wq ? ` WHERE ${wq}` : ''}`,
    flux: [
      'import "influxdata/influxdb/schema"',
      '',
      `schema.tagValues(`,
      `  bucket: "\${bucket}",`,
      `  tag: "${tag}",`,
      `  predicate: (r) => r._measurement == "${measurement}"${wf ? ` and ${wf}` : ''},`,
      `  start: v.timeRangeStart,`,
      `  stop: v.timeRangeStop,`,
      `)`,
    ].join('\n'),
  };
}

function textVar(name, label, { influxql, flux }, description) {
  return { name, label, text: { influxql, flux }, description };
}

const NAMESPACE = tagVar('namespace', 'Namespace', 'namespace', { multi: true });
const WORKLOAD = tagVar('workload', 'Workload', 'workload', {
  where: [['namespace', 'namespace']],
  optional: true,
});
const POD = tagVar('pod', 'Pod', 'pod', {
  where: [
    ['namespace', 'namespace'],
    ['workload', 'workload', true],
  ],
  multi: true,
});
const PEER_NS = tagVar('peer_namespace', 'Peer namespace', 'receiverNamespace', {
  where: [
    ['namespace', 'namespace'],
    ['pod', 'pod'],
  ],
  optional: true,
});
const PEER_WL = tagVar('peer_workload', 'Peer workload', 'receiverWorkload', {
  where: [
    ['namespace', 'namespace'],
    ['pod', 'pod'],
    ['receiverNamespace', 'peer_namespace', true],
  ],
  optional: true,
});
const POD_ONLY = tagVar('pod', 'Pod', 'pod', { where: [['namespace', 'namespace']], multi: true });
const INTERFACE = tagVar('interface', 'Interface', 'interface', {
  where: [
    ['namespace', 'namespace'],
    ['pod', 'pod'],
  ],
  multi: true,
  measurement: 'nstat_interface',
});
/**
 * Where the hourly roll-ups are (`nstats setup`): a retention policy of the same database on 1.x,
 * a bucket on 2.x. Same name in both sets, so a link or a bookmark works with either.
 */
const LONG_VAR = textVar(
  'long',
  'Long-term data',
  { influxql: 'long', flux: 'nstats_long' },
  'Retention policy (InfluxDB 1.x) or bucket (2.x) holding the hourly roll-ups of nstats setup',
);

const link = (title, uid) => ({ title, uid });

// ---------------------------------------------------------------------------------------------
// Dashboards

function podDashboard() {
  resetIds();
  const F = POD_FILTER;
  const egress = rateOverTime('sendRate', F);
  const ingress = rateOverTime('receiveRate', F);
  const peerBytes = bytesByTags(['sentBytes', 'receivedBytes'], F, ['receiver'], RAW, { top: 10 });
  const peerSums = `SELECT sum("sentBytes") + sum("receivedBytes") AS "b" FROM "nstat" WHERE $timeFilter AND ${F.influxql} GROUP BY "receiver"`;
  const peerTags = ['receiver', 'receiverKind', 'receiverNamespace', 'receiverWorkload'];
  const podView =
    '/d/nstats-pod?${__url_time_range}&var-namespace=${__data.fields.receiverNamespace}&var-workload=${__data.fields.receiverWorkload}&var-pod=$__all';
  return {
    uid: 'nstats-pod',
    title: 'nstats / Pod bandwidth',
    description: 'Where a pod\u2019s bandwidth goes: egress by destination, ingress by source, top peers.',
    vars: [NAMESPACE, WORKLOAD, POD, PEER_NS, PEER_WL],
    links: [
      link('Namespace overview', 'nstats-overview'),
      link('Long-term trends', 'nstats-trends'),
      link('Interface counters', 'nstats-interface'),
    ],
    panels: [
      panel('stat', 'Sending now', [0, 0, 6, 4], {
        description:
          'Egress of the selected pods to the selected peers: the sum over flows of each flow\u2019s mean send rate in the last bucket.',
        unit: 'bps',
        interval: MIN_INTERVAL,
        targets: [target('A', egress)],
        options: statOptions(),
      }),
      panel('stat', 'Receiving now', [6, 0, 6, 4], {
        description: 'Ingress of the selected pods from the selected peers, as "Sending now".',
        unit: 'bps',
        interval: MIN_INTERVAL,
        targets: [target('A', ingress)],
        options: statOptions(),
      }),
      panel('stat', 'Sent over the range', [12, 0, 6, 4], {
        description:
          'IP bytes the selected pods sent to the selected peers (continuous mode: every byte; sampled mode: the bytes of the sampled windows only).',
        unit: 'bytes',
        targets: [target('A', bytesByTags(['sentBytes'], F, [], RAW))],
        options: { ...statOptions('sum'), graphMode: 'none' },
      }),
      panel('stat', 'Received over the range', [18, 0, 6, 4], {
        description: 'IP bytes the selected pods received from the selected peers, as "Sent over the range".',
        unit: 'bytes',
        targets: [target('A', bytesByTags(['receivedBytes'], F, [], RAW))],
        options: { ...statOptions('sum'), graphMode: 'none' },
      }),
      panel('timeseries', 'Egress by destination', [0, 4, 12, 9], {
        description: 'Send rate of the selected pods, stacked by peer (`receiver`).',
        unit: 'bps',
        interval: MIN_INTERVAL,
        custom: stacked,
        targets: [target('A', rateOverTime('sendRate', F, 'receiver'), { alias: '$tag_receiver' })],
        options: { legend, tooltip: { mode: 'multi', sort: 'desc' } },
      }),
      panel('timeseries', 'Ingress by source', [12, 4, 12, 9], {
        description: 'Receive rate of the selected pods, stacked by peer.',
        unit: 'bps',
        interval: MIN_INTERVAL,
        custom: stacked,
        targets: [target('A', rateOverTime('receiveRate', F, 'receiver'), { alias: '$tag_receiver' })],
        options: { legend, tooltip: { mode: 'multi', sort: 'desc' } },
      }),
      panel('timeseries', 'Send vs receive', [0, 13, 24, 8], {
        description: 'Egress up, ingress down (mirrored), all selected peers together.',
        unit: 'bps',
        interval: MIN_INTERVAL,
        custom: { fillOpacity: 20, lineWidth: 1 },
        targets: [
          target('send', egress, { alias: 'send' }),
          target('receive', ingress, { alias: 'receive' }),
        ],
        overrides: [
          {
            matcher: { id: 'byFrameRefID', options: 'receive' },
            properties: [{ id: 'custom.transform', value: 'negative-Y' }],
          },
        ],
        options: {
          legend: { showLegend: true, displayMode: 'list', placement: 'bottom', calcs: [] },
          tooltip: { mode: 'multi', sort: 'none' },
        },
      }),
      panel('bargauge', 'Top peers by bytes', [0, 21, 12, 10], {
        description:
          'The 10 peers the selected pods exchanged the most bytes with over the range (both ways), and the rest together.',
        unit: 'bytes',
        targets: [
          target('top', peerBytes, { format: 'table' }),
          target(
            'total',
            { influxql: `SELECT sum("b") AS "total" FROM (${peerSums})`, flux: null },
            { format: 'table' },
          ),
          target(
            'top10',
            {
              influxql: `SELECT sum("t") AS "top10" FROM (SELECT top("b", "receiver", 10) AS "t" FROM (${peerSums}))`,
              flux: null,
            },
            { format: 'table' },
          ),
          // Flux ranks and adds up the rest itself.
          target('rest', {
            influxql: null,
            flux: [
              fxFrom(RAW, F, ['sentBytes', 'receivedBytes']),
              '  |> group(columns: ["receiver"])',
              '  |> sum()',
              '  |> group()',
              '  |> sort(columns: ["_value"], desc: true)',
              '  |> limit(n: 1000000, offset: 10)',
              '  |> sum()',
              '  |> map(fn: (r) => ({receiver: "(rest)", bytes: r._value}))',
            ].join('\n'),
          }),
        ],
        transformations: {
          // The rest = total - the top 10's sum, computed by Grafana on the two one-row frames.
          influxql: [
            {
              id: 'joinByField',
              filter: { id: 'byRefId', options: '/^(total|top10)$/' },
              options: { mode: 'outer' },
            },
            {
              id: 'calculateField',
              filter: { id: 'byRefId', options: '/^(total|top10)$/' },
              options: {
                mode: 'binary',
                binary: { left: 'total', operator: '-', right: 'top10' },
                alias: '(rest)',
                replaceFields: true,
              },
            },
          ],
          flux: [],
        },
        options: {
          reduceOptions: { calcs: ['lastNotNull'], fields: '', values: true },
          orientation: 'horizontal',
          displayMode: 'gradient',
          showUnfilled: true,
        },
      }),
      panel('table', 'Peers', [12, 21, 12, 10], {
        description:
          'Every peer of the selected pods over the range. Click a peer to open its own view (pods with a names service).',
        unit: 'bytes',
        targets: [
          target('A', bytesByTags(['sentBytes'], F, peerTags, RAW, { as: 'sent' }), { format: 'table' }),
          target('B', bytesByTags(['receivedBytes'], F, peerTags, RAW, { as: 'received' }), {
            format: 'table',
          }),
        ],
        transformations: {
          influxql: [{ id: 'merge', options: {} }, rename({})],
          flux: [{ id: 'merge', options: {} }],
        },
        overrides: [
          {
            matcher: { id: 'byName', options: 'receiver' },
            properties: [{ id: 'links', value: [{ title: 'This peer\u2019s own view', url: podView }] }],
          },
        ],
        options: { showHeader: true, sortBy: [{ displayName: 'sent', desc: true }] },
      }),
    ],
  };
}

function overviewDashboard() {
  resetIds();
  const F = NS_FILTER;
  const pods = ['namespace', 'pod'];
  return {
    uid: 'nstats-overview',
    title: 'nstats / Namespace and cluster overview',
    description:
      'Top talking pods and workloads, the service map and the top flows. Totals take one side of each flow: egress from the sending pod, ingress at the receiving pod.',
    vars: [NAMESPACE],
    links: [
      link('Pod bandwidth', 'nstats-pod'),
      link('Long-term trends', 'nstats-trends'),
      link('Interface counters', 'nstats-interface'),
    ],
    panels: [
      panel('stat', 'Egress (sending side)', [0, 0, 8, 4], {
        description:
          'What the pods of the selected namespaces send, summed from the sending pods\u2019 points only: a pod-to-pod flow counts once.',
        unit: 'bps',
        interval: MIN_INTERVAL,
        targets: [target('A', rateOverTime('sendRate', F))],
        options: statOptions(),
      }),
      panel('stat', 'Ingress (receiving side)', [8, 0, 8, 4], {
        description:
          'What the pods of the selected namespaces receive, from the receiving pods\u2019 points only.',
        unit: 'bps',
        interval: MIN_INTERVAL,
        targets: [target('A', rateOverTime('receiveRate', F))],
        options: statOptions(),
      }),
      panel('stat', 'Pods reporting', [16, 0, 8, 4], {
        description: 'Pods with at least one flow in the range.',
        unit: 'none',
        targets: [
          target('A', {
            influxql: `SELECT count("r") AS "pods" FROM (SELECT last("sendRate") AS "r" FROM "nstat" WHERE $timeFilter AND ${F.influxql} GROUP BY "namespace", "pod")`,
            flux: [
              fxFrom(RAW, F, ['sendRate']),
              '  |> group(columns: ["namespace", "pod"])',
              '  |> last()',
              '  |> group()',
              '  |> count()',
              '  |> rename(columns: {_value: "pods"})',
            ].join('\n'),
          }),
        ],
        options: { ...statOptions(), graphMode: 'none' },
      }),
      panel('table', 'Top talking pods', [0, 4, 12, 10], {
        description:
          'The 10 pods that exchanged the most bytes over the range (sent + received, their own points).',
        unit: 'bytes',
        targets: [
          target('A', bytesByTags(['sentBytes', 'receivedBytes'], F, pods, RAW, { top: 10 }), {
            format: 'table',
          }),
        ],
        transformations: { influxql: [rename({})], flux: [] },
        options: { showHeader: true, sortBy: [{ displayName: 'bytes', desc: true }] },
      }),
      panel('table', 'Top talking workloads', [12, 4, 12, 10], {
        description:
          'As "Top talking pods", the pods of a workload added up (the `workload` tag: sidecars with a names service and POD_IP).',
        unit: 'bytes',
        targets: [
          target(
            'A',
            bytesByTags(['sentBytes', 'receivedBytes'], F, ['namespace', 'workload'], RAW, { top: 10 }),
            {
              format: 'table',
            },
          ),
        ],
        transformations: { influxql: [rename({})], flux: [] },
        options: { showHeader: true, sortBy: [{ displayName: 'bytes', desc: true }] },
      }),
      panel('nodeGraph', 'Service map', [0, 14, 24, 12], {
        description:
          'Who sends to whom: an edge per sender -> receiver with the bytes sent over the range, from the sending pods\u2019 points only (so each flow is drawn once per direction). Nodes are made from the edges by the panel; peers that run no nstats appear as targets only.',
        unit: 'bytes',
        targets: [
          target(
            'edges',
            {
              influxql: `SELECT sum("sentBytes") AS "mainstat" FROM "nstat" WHERE $timeFilter AND ${F.influxql} GROUP BY "sender", "receiver"`,
              flux: [
                fxFrom(RAW, F, ['sentBytes']),
                '  |> group(columns: ["sender", "receiver"])',
                '  |> sum()',
                '  |> group()',
                '  |> map(fn: (r) => ({id: r.sender + " -> " + r.receiver, source: r.sender, target: r.receiver, mainstat: r._value}))',
              ].join('\n'),
            },
            { format: 'table' },
          ),
        ],
        transformations: {
          influxql: [
            {
              id: 'organize',
              options: {
                excludeByName: { Time: true },
                renameByName: { sender: 'source', receiver: 'target' },
              },
            },
            { id: 'calculateField', options: { mode: 'index', index: { asPercentile: false }, alias: 'id' } },
          ],
          flux: [],
        },
        options: { edges: { mainStatUnit: 'bytes' }, nodes: { mainStatUnit: 'bytes' } },
      }),
      panel('table', 'Top flows', [0, 26, 24, 10], {
        description:
          'The 20 flows that carried the most bytes over the range, each direction from its sending pod.',
        unit: 'bytes',
        targets: [
          target(
            'A',
            bytesByTags(['sentBytes'], F, ['namespace', 'pod', 'sender', 'receiver'], RAW, { top: 20 }),
            { format: 'table' },
          ),
        ],
        transformations: { influxql: [rename({})], flux: [] },
        options: { showHeader: true, sortBy: [{ displayName: 'bytes', desc: true }] },
      }),
    ],
  };
}

function trendsDashboard() {
  resetIds();
  const F = NS_POD_FILTER;
  const hourly = (field) =>
    `SELECT sum("${field}") AS "r" FROM "$long"."nstat" WHERE $timeFilter AND ${F.influxql} GROUP BY time(1h), "namespace", "pod"`;
  const fxHourly = (field) =>
    [
      fxFrom(LONG, F, [field]),
      '  |> group(columns: ["namespace", "pod"])',
      '  |> aggregateWindow(every: 1h, fn: sum, createEmpty: false)',
    ].join('\n');
  /** Bytes both ways per day from the hourly roll-ups (sums of sums), one series per `by`. */
  const dailyBytes = (by) => ({
    influxql: `SELECT sum("sentBytes") + sum("receivedBytes") AS "bytes" FROM "$long"."nstat" WHERE $timeFilter AND ${F.influxql} GROUP BY time(1d), "${by}" fill(none)`,
    flux: [
      fxFrom(LONG, F, ['sentBytes', 'receivedBytes']),
      `  |> group(columns: ["${by}"])`,
      '  |> aggregateWindow(every: 1d, fn: sum, createEmpty: false)',
    ].join('\n'),
  });
  const week = (startQl, stopQl, startFx, stopFx, as) => ({
    influxql: `SELECT sum("sentBytes") + sum("receivedBytes") AS "${as}" FROM "$long"."nstat" WHERE time > now() - ${startQl} AND time <= now() - ${stopQl} AND ${F.influxql} GROUP BY "pod"`,
    flux: [
      'from(bucket: "${long}")',
      `  |> range(start: -${startFx}, stop: ${stopFx === '0d' ? 'now()' : `-${stopFx}`})`,
      '  |> filter(fn: (r) => r._measurement == "nstat" and (r._field == "sentBytes" or r._field == "receivedBytes"))',
      `  |> filter(fn: (r) => ${F.flux})`,
      '  |> group(columns: ["pod"])',
      '  |> sum()',
      `  |> rename(columns: {_value: "${as}"})`,
    ].join('\n'),
  });
  return {
    uid: 'nstats-trends',
    title: 'nstats / Long-term trends',
    description: 'Months of trend from the hourly roll-ups that nstats setup keeps (400 days by default).',
    vars: [NAMESPACE, POD_ONLY, LONG_VAR],
    time: { from: 'now-30d', to: 'now' },
    links: [link('Pod bandwidth', 'nstats-pod'), link('Namespace overview', 'nstats-overview')],
    panels: [
      panel('timeseries', 'Daily bytes per pod', [0, 0, 12, 9], {
        description:
          'Bytes each pod sent and received per day (sums of the hourly roll-ups of sentBytes + receivedBytes).',
        unit: 'bytes',
        custom: bars,
        targets: [target('A', dailyBytes('pod'), { alias: '$tag_pod' })],
        options: { legend, tooltip: { mode: 'multi', sort: 'desc' } },
      }),
      panel('timeseries', 'Daily bytes per peer', [12, 0, 12, 9], {
        description: 'Bytes the selected pods exchanged with each peer per day.',
        unit: 'bytes',
        custom: bars,
        targets: [target('A', dailyBytes('receiver'), { alias: '$tag_receiver' })],
        options: { legend, tooltip: { mode: 'multi', sort: 'desc' } },
      }),
      panel('table', '95th-percentile rate per pod', [0, 9, 12, 9], {
        description:
          'Per pod, the 95th percentile over the hours of the range of its hourly rate (the sum over its flows of each flow\u2019s hourly mean), each way. Hours in which the pod reported nothing are left out.',
        unit: 'bps',
        targets: [
          target(
            'A',
            {
              influxql: `SELECT percentile("r", 95) AS "send p95" FROM (${hourly('sendRate')}) GROUP BY "namespace", "pod"`,
              flux: [
                fxHourly('sendRate'),
                '  |> quantile(q: 0.95, method: "exact_selector")',
                '  |> rename(columns: {_value: "send p95"})',
              ].join('\n'),
            },
            { format: 'table' },
          ),
          target(
            'B',
            {
              influxql: `SELECT percentile("r", 95) AS "receive p95" FROM (${hourly('receiveRate')}) GROUP BY "namespace", "pod"`,
              flux: [
                fxHourly('receiveRate'),
                '  |> quantile(q: 0.95, method: "exact_selector")',
                '  |> rename(columns: {_value: "receive p95"})',
              ].join('\n'),
            },
            { format: 'table' },
          ),
        ],
        transformations: {
          influxql: [{ id: 'merge', options: {} }, rename({})],
          flux: [{ id: 'merge', options: {} }],
        },
        options: { showHeader: true, sortBy: [{ displayName: 'send p95', desc: true }] },
      }),
      panel('table', 'Week over week', [12, 9, 12, 9], {
        description:
          'Bytes per pod in the last 7 days against the 7 days before (whatever the time picker says), and the change.',
        unit: 'bytes',
        targets: [
          target('this', week('7d', '0d', '7d', '0d', 'last 7 days'), { format: 'table' }),
          target('before', week('14d', '7d', '14d', '7d', 'the 7 days before'), { format: 'table' }),
        ],
        transformations: {
          influxql: [
            { id: 'joinByField', options: { byField: 'pod', mode: 'outer' } },
            {
              id: 'calculateField',
              options: {
                mode: 'binary',
                binary: { left: 'last 7 days', operator: '/', right: 'the 7 days before' },
                alias: 'ratio',
              },
            },
            rename({}),
          ],
          flux: [
            { id: 'joinByField', options: { byField: 'pod', mode: 'outer' } },
            {
              id: 'calculateField',
              options: {
                mode: 'binary',
                binary: { left: 'last 7 days', operator: '/', right: 'the 7 days before' },
                alias: 'ratio',
              },
            },
          ],
        },
        overrides: [
          { matcher: { id: 'byName', options: 'ratio' }, properties: [{ id: 'unit', value: 'percentunit' }] },
        ],
        options: { showHeader: true, sortBy: [{ displayName: 'last 7 days', desc: true }] },
      }),
    ],
  };
}

function interfaceDashboard() {
  resetIds();
  const F = IF_FILTER;
  /** Rate from a cumulative counter: per series (pod x interface) difference, then summed by pod. */
  const counterRate = (field, scale) => ({
    influxql:
      `SELECT sum("r") AS "${field}" FROM (SELECT non_negative_derivative(max("${field}"), 1s)${scale === 1 ? '' : ` * ${scale}`} AS "r" ` +
      `FROM "nstat_interface" WHERE $timeFilter AND ${F.influxql} GROUP BY time($__interval), * fill(none)) ` +
      `GROUP BY time($__interval), "pod" fill(none)`,
    flux: [
      fxFrom(RAW_IF, F, [field]),
      '  |> aggregateWindow(every: v.windowPeriod, fn: max, createEmpty: false)',
      '  |> derivative(unit: 1s, nonNegative: true)',
      ...(scale === 1 ? [] : [`  |> map(fn: (r) => ({r with _value: r._value * ${scale}.0}))`]),
      '  |> group(columns: ["pod"])',
      '  |> aggregateWindow(every: v.windowPeriod, fn: sum, createEmpty: false)',
      `  |> rename(columns: {_value: "${field}"})`,
    ].join('\n'),
  });
  return {
    uid: 'nstats-interface',
    title: 'nstats / Interface counters',
    description:
      'The kernel\u2019s counters of each captured interface (nstat_interface): exact, whatever the capture saw.',
    vars: [NAMESPACE, POD_ONLY, INTERFACE],
    links: [link('Pod bandwidth', 'nstats-pod'), link('Namespace overview', 'nstats-overview')],
    panels: [
      panel('timeseries', 'Interface bit rate', [0, 0, 24, 9], {
        description:
          'Receive (down) and transmit (up) per pod, from the cumulative byte counters (link-layer bytes).',
        unit: 'bps',
        interval: MIN_INTERVAL,
        custom: { fillOpacity: 20, lineWidth: 1 },
        targets: [
          target('tx', counterRate('txBytes', 8), { alias: '$tag_pod transmit' }),
          target('rx', counterRate('rxBytes', 8), { alias: '$tag_pod receive' }),
        ],
        overrides: [
          {
            matcher: { id: 'byFrameRefID', options: 'rx' },
            properties: [{ id: 'custom.transform', value: 'negative-Y' }],
          },
        ],
        options: { legend, tooltip: { mode: 'multi', sort: 'desc' } },
      }),
      panel('timeseries', 'Interface packet rate', [0, 9, 12, 8], {
        description: 'Packets per second each way per pod, from the cumulative packet counters.',
        unit: 'pps',
        interval: MIN_INTERVAL,
        custom: { fillOpacity: 10, lineWidth: 1 },
        targets: [
          target('tx', counterRate('txPackets', 1), { alias: '$tag_pod transmit' }),
          target('rx', counterRate('rxPackets', 1), { alias: '$tag_pod receive' }),
        ],
        overrides: [
          {
            matcher: { id: 'byFrameRefID', options: 'rx' },
            properties: [{ id: 'custom.transform', value: 'negative-Y' }],
          },
        ],
        options: { legend, tooltip: { mode: 'multi', sort: 'desc' } },
      }),
      panel('bargauge', 'Bytes in the captures', [12, 9, 12, 8], {
        description:
          'Interface bytes during the captures (sample* fields: per-capture deltas) against the flows\u2019 bytes in the same captures: how much of the traffic the flows account for (iftop counts IP bytes, the interface link-layer bytes).',
        unit: 'bytes',
        targets: [
          target(
            'interface',
            bytesByTags(['sampleRxBytes', 'sampleTxBytes'], F, [], RAW_IF, { as: 'interface' }),
            { format: 'table' },
          ),
          target(
            'flows',
            bytesByTags(['sentBytes', 'receivedBytes'], NS_POD_FILTER, [], RAW, { as: 'flows' }),
            { format: 'table' },
          ),
        ],
        options: {
          reduceOptions: { calcs: ['lastNotNull'], fields: '', values: true },
          orientation: 'horizontal',
          displayMode: 'basic',
          showUnfilled: true,
        },
      }),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Rendering

function renderVar(v, lang) {
  if (v.text) {
    const value = v.text[lang];
    return {
      type: 'textbox',
      name: v.name,
      label: v.label,
      description: v.description,
      query: value,
      current: { text: value, value },
      options: [{ selected: true, text: value, value }],
      hide: 0,
    };
  }
  const out = {
    type: 'query',
    name: v.name,
    label: v.label,
    datasource: DS,
    query: lang === 'influxql' ? v.influxql : v.flux,
    definition: lang === 'influxql' ? v.influxql : v.flux,
    refresh: 2,
    includeAll: true,
    multi: v.multi,
    sort: 1,
    current: { text: 'All', value: '$__all' },
    options: [],
    hide: 0,
    regex: '',
  };
  if (v.allValue) out.allValue = v.allValue;
  return out;
}

function renderTarget(t, lang) {
  const query = t.q[lang];
  if (lang === 'influxql') {
    return {
      refId: t.refId,
      datasource: DS,
      query,
      rawQuery: true,
      resultFormat: t.format,
      ...(t.alias ? { alias: t.alias } : {}),
    };
  }
  return { refId: t.refId, datasource: DS, query };
}

function render(d, lang) {
  // Selected first: the data source grafana/provisioning/ makes for this set (else Grafana's default).
  const current =
    lang === 'influxql'
      ? { text: 'nstats InfluxQL', value: 'nstats-influxql' }
      : { text: 'nstats Flux', value: 'nstats-flux' };
  const vars = [{ ...dsVar, current }];
  if (lang === 'flux') {
    vars.push({
      type: 'textbox',
      name: 'bucket',
      label: 'Bucket',
      description: 'The bucket the sidecars write to (NSTATS_INFLUX_BUCKET)',
      query: 'nstats',
      current: { text: 'nstats', value: 'nstats' },
      options: [{ selected: true, text: 'nstats', value: 'nstats' }],
      hide: 0,
    });
  }
  vars.push(...d.vars.map((v) => renderVar(v, lang)));
  const panels = d.panels.map((p) => {
    const { transformations, targets, ...rest } = p;
    return {
      ...rest,
      // A target with no counterpart in this language (InfluxQL needs a helper query Flux does without).
      targets: targets.filter((t) => t.q[lang] !== null).map((t) => renderTarget(t, lang)),
      transformations: transformations[lang],
    };
  });
  return {
    annotations: { list: [] },
    description: `${d.description} (${lang === 'influxql' ? 'InfluxQL, InfluxDB 1.x' : 'Flux, InfluxDB 2.x'})`,
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    id: null,
    links: d.links.map((l) => ({
      title: l.title,
      type: 'link',
      url: `/d/${uidFor(l.uid, lang)}?\${__url_time_range}&\${namespace:queryparam}`,
      keepTime: false,
      includeVars: false,
      asDropdown: false,
      icon: 'dashboard',
      tags: [],
      targetBlank: false,
      tooltip: '',
    })),
    panels: panels.map((p) => linkUids(p, lang)),
    refresh: '1m',
    schemaVersion: SCHEMA_VERSION,
    tags: ['nstats', lang],
    templating: { list: vars },
    time: d.time ?? { from: 'now-6h', to: 'now' },
    timepicker: {},
    timezone: '',
    title: lang === 'influxql' ? d.title : `${d.title} (Flux)`,
    uid: uidFor(d.uid, lang),
    version: 1,
  };
}

/** The Flux set gets its own uids, so both sets can be provisioned side by side. */
const uidFor = (uid, lang) => (lang === 'flux' ? `${uid}-flux` : uid);

/** Data links inside panels point to the same language's dashboards. */
function linkUids(p, lang) {
  const json = JSON.stringify(p).replace(/\/d\/(nstats-[a-z]+)\?/g, (_, uid) => `/d/${uidFor(uid, lang)}?`);
  return JSON.parse(json);
}

export function buildDashboards() {
  const specs = [podDashboard(), overviewDashboard(), trendsDashboard(), interfaceDashboard()];
  const files = {};
  for (const lang of ['influxql', 'flux']) {
    for (const d of specs) {
      files[join(lang, `${d.uid}.json`)] = `${JSON.stringify(render(d, lang), null, 2)}\n`;
    }
  }
  return files;
}

function main() {
  const check = process.argv.includes('--check');
  const files = buildDashboards();
  let stale = 0;
  for (const [rel, text] of Object.entries(files)) {
    const path = join(OUT, rel);
    let old = '';
    try {
      old = readFileSync(path, 'utf8');
    } catch {
      // absent: written below, or reported as stale
    }
    if (old === text) continue;
    if (check) {
      console.error(`stale: grafana/dashboards/${rel} (run node scripts/dashboards.mjs)`);
      stale++;
    } else {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
      console.log(`wrote grafana/dashboards/${rel}`);
    }
  }
  if (stale) process.exit(1);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
