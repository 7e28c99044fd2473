import { counterDelta, type InterfaceCounters } from '../capture/interface-counters.js';
import type { IdentityConfig } from '../config/config.js';
import type { PeerInfo } from '../enrich/resolver.js';
import type { Flow } from '../parse/types.js';
import type { Observation, Remainder, SourceMode } from '../source/source.js';
import { float, int, type Field, type MetricRecord } from '../record/record.js';
import { safeTagValue } from './tag-value.js';

type Tags = Record<string, string>;

/** The measurement the seed wrote, kept so existing dashboards keep working. */
export const MEASUREMENT = 'nstat';

/** The port tag of a client's ephemeral port, folded away (NSTATS_FOLD_PORTS). */
export const EPHEMERAL = 'ephemeral';

/** A flow with its peers' names (a name, or the IP when there is none). */
export interface NamedFlow {
  readonly flow: Flow;
  readonly sourceName: string;
  readonly destinationName: string;
  /** More of what a resolver knew of each peer, written as `sender<Key>` / `receiver<Key>` tags. */
  readonly sourceTags?: Readonly<Record<string, string>>;
  readonly destinationTags?: Readonly<Record<string, string>>;
}

/** Each flow with what the resolvers knew of its peers; a peer nobody named keeps its IP. */
export function nameFlows(flows: readonly Flow[], peers: ReadonlyMap<string, PeerInfo>): NamedFlow[] {
  return flows.map((flow) => {
    const s = peers.get(flow.source.address);
    const d = peers.get(flow.destination.address);
    return {
      flow,
      sourceName: s?.name ?? flow.source.address,
      destinationName: d?.name ?? flow.destination.address,
      ...(s?.tags ? { sourceTags: s.tags } : {}),
      ...(d?.tags ? { destinationTags: d.tags } : {}),
    };
  });
}

/** What every point of one sample shares. */
export interface PointContext {
  readonly identity: IdentityConfig;
  readonly interface: string;
  /** The point's timestamp: when the sample ended. */
  readonly time: Date;
  /** How the rates were made: the `mode` tag (see SourceMode). */
  readonly mode?: SourceMode;
}

/**
 * The tags every point of a sample has, made safe: `hosts`, `interface`, `mode`, and `pod`,
 * `namespace` and `node` when the downward API gave them, `workload` when a resolver named the
 * pod's own address.
 */
function sampleTags(ctx: PointContext): Tags {
  const { host, pod, namespace, node, workload } = ctx.identity;
  const tags: Record<string, string> = {
    hosts: safeTagValue(host, 'unknown'),
    interface: safeTagValue(ctx.interface, 'unknown'),
  };
  if (ctx.mode) tags.mode = ctx.mode;
  if (pod) tags.pod = safeTagValue(pod, 'unknown');
  if (namespace) tags.namespace = safeTagValue(namespace, 'unknown');
  if (node) tags.node = safeTagValue(node, 'unknown');
  if (workload) tags.workload = safeTagValue(workload, 'unknown');
  return tags;
}

/**
 * One `nstat` point per flow. The seed's schema is kept exactly: tags `hosts`, `sender`,
 * `receiver`; float fields `sendRate`, `receiveRate` (bits/s over iftop's 10 s column, K = 1024
 * now). Added: tags `senderIp`, `receiverIp`, `interface`, `pod`/`namespace`/`node` when known,
 * `senderPort`/`receiverPort` with `-P`; integer fields `sentBytes`, `receivedBytes` (bytes iftop
 * counted for the flow during the sample).
 */
export function buildPoint(named: NamedFlow, ctx: PointContext): MetricRecord {
  return namedRecord(named, ctx.time, sampleTags(ctx));
}

function namedRecord(named: NamedFlow, time: Date, shared: Tags): MetricRecord {
  const source = { name: named.sourceName, ...(named.sourceTags ? { tags: named.sourceTags } : {}) };
  const destination = {
    name: named.destinationName,
    ...(named.destinationTags ? { tags: named.destinationTags } : {}),
  };
  return flowRecord(named.flow, source, destination, time, shared);
}

function portTag(e: Flow['source']): string | undefined {
  return e.folded ? EPHEMERAL : e.port === undefined ? undefined : String(e.port);
}

function flowRecord(
  flow: Flow,
  source: PeerInfo | undefined,
  destination: PeerInfo | undefined,
  time: Date,
  shared: Tags,
): MetricRecord {
  // Object.assign, then one key at a time: V8 builds a spread of `shared` into a literal with
  // more keys through a slow path, slower than the rest of the record and its line together.
  const tags: Tags = Object.assign({}, shared);
  tags.receiver = safeTagValue(destination?.name ?? flow.destination.address, flow.destination.address);
  tags.receiverIp = flow.destination.address;
  tags.sender = safeTagValue(source?.name ?? flow.source.address, flow.source.address);
  tags.senderIp = flow.source.address;
  const receiverPort = portTag(flow.destination);
  if (receiverPort !== undefined) tags.receiverPort = receiverPort;
  const senderPort = portTag(flow.source);
  if (senderPort !== undefined) tags.senderPort = senderPort;
  if (source?.tags) sideTags(tags, 'sender', source.tags);
  if (destination?.tags) sideTags(tags, 'receiver', destination.tags);
  return {
    measurement: MEASUREMENT,
    tags,
    fields: {
      sendRate: float(flow.sent.rates.last10s),
      receiveRate: float(flow.received.rates.last10s),
      sentBytes: int(Math.round(flow.sent.cumulativeBytes)),
      receivedBytes: int(Math.round(flow.received.cumulativeBytes)),
    },
    time,
  };
}

/** A resolver's extra tags of one peer, as `sender<Key>`; they never replace a tag set before. */
function sideTags(tags: Tags, side: 'sender' | 'receiver', extra: Readonly<Record<string, string>>): void {
  for (const [key, value] of Object.entries(extra)) {
    const name = side + key.charAt(0).toUpperCase() + key.slice(1);
    if (!(name in tags) && /^[A-Za-z][A-Za-z0-9_]*$/.test(key)) tags[name] = safeTagValue(value, 'unknown');
  }
}

/** Points for every flow of a sample. */
export function buildPoints(flows: readonly NamedFlow[], ctx: PointContext): MetricRecord[] {
  if (flows.length === 0) return [];
  const tags = sampleTags(ctx);
  return flows.map((f) => namedRecord(f, ctx.time, tags));
}

/** The measurement of the interface's own counters, written once per cycle. */
export const INTERFACE_MEASUREMENT = 'nstat_interface';

/**
 * One `nstat_interface` point per cycle: the kernel's counters of the captured interface (exact,
 * every byte the pod's interface passed, link-layer headers included). Integer fields `rxBytes`,
 * `txBytes`, `rxPackets`, `txPackets` are the cumulative counters (sum a period with
 * `non_negative_difference`, which also absorbs the reset when the interface is re-created);
 * `sampleRxBytes`... are what passed during the capture, `sampleSeconds` its length.
 */
export function buildInterfacePoint(
  counters: { readonly before: InterfaceCounters; readonly after: InterfaceCounters },
  ctx: PointContext,
): MetricRecord {
  const { before, after } = counters;
  const fields: Record<string, Field> = {
    rxBytes: int(after.rxBytes),
    txBytes: int(after.txBytes),
    rxPackets: int(after.rxPackets),
    txPackets: int(after.txPackets),
  };
  const d = counterDelta(before, after);
  if (d) {
    fields.sampleRxBytes = int(d.rxBytes);
    fields.sampleTxBytes = int(d.txBytes);
    fields.sampleRxPackets = int(d.rxPackets);
    fields.sampleTxPackets = int(d.txPackets);
    fields.sampleSeconds = float((after.at.getTime() - before.at.getTime()) / 1000);
  }
  return { measurement: INTERFACE_MEASUREMENT, tags: sampleTags(ctx), fields, time: ctx.time };
}

/** The `sender`/`receiver` of the remainder point: traffic of the flows iftop did not list. */
export const OTHER_FLOWS = '(other flows)';

/**
 * One more `nstat` point with `sender`/`receiver` = `(other flows)`: the traffic of the flows
 * beyond the flow limit (NSTATS_FLOW_LIMIT), which the source's totals still counted, so that the
 * flows of a window add up to the totals.
 */
export function buildRemainderPoint(remainder: Remainder, ctx: PointContext): MetricRecord {
  return otherFlowsPoint(remainder, ctx);
}

/**
 * Every record of one observation: a point per flow named by `peers`, the `(other flows)` point,
 * and the `nstat_interface` point, all at the window's end and tagged with the source's mode.
 * `nstats run` writes these and `nstats once -f line` prints them.
 */
export function buildRecords(
  observation: Observation,
  peers: ReadonlyMap<string, PeerInfo>,
  identity: IdentityConfig,
): MetricRecord[] {
  const ctx: PointContext = {
    identity,
    interface: observation.interface,
    time: observation.end,
    mode: observation.mode,
  };
  const shared = sampleTags(ctx);
  const records = observation.flows.map((f) =>
    flowRecord(f, peers.get(f.source.address), peers.get(f.destination.address), ctx.time, shared),
  );
  if (observation.remainder) records.push(otherFlowsPoint(observation.remainder, ctx));
  if (observation.counters) records.push(buildInterfacePoint(observation.counters, ctx));
  return records;
}

function otherFlowsPoint(v: Remainder, ctx: PointContext): MetricRecord {
  return {
    measurement: MEASUREMENT,
    tags: { ...sampleTags(ctx), receiver: OTHER_FLOWS, sender: OTHER_FLOWS },
    fields: {
      sendRate: float(v.sendRate),
      receiveRate: float(v.receiveRate),
      sentBytes: int(v.sentBytes),
      receivedBytes: int(v.receivedBytes),
    },
    time: ctx.time,
  };
}
