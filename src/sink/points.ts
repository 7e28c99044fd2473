import { counterDelta, type InterfaceCounters } from '../capture/interface-counters.js';
import type { IdentityConfig } from '../config/config.js';
import type { Flow, Snapshot } from '../parse/types.js';
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
}

/** What every point of one sample shares. */
export interface PointContext {
  readonly identity: IdentityConfig;
  readonly interface: string;
  /** The point's timestamp: when the sample ended. */
  readonly time: Date;
}

/**
 * The tags every point of a sample has, made safe: `hosts`, `interface`, and `pod`, `namespace`
 * and `node` when the downward API gave them.
 */
function sampleTags(ctx: PointContext): Tags {
  const { host, pod, namespace, node } = ctx.identity;
  const tags: Record<string, string> = {
    hosts: safeTagValue(host, 'unknown'),
    interface: safeTagValue(ctx.interface, 'unknown'),
  };
  if (pod) tags.pod = safeTagValue(pod, 'unknown');
  if (namespace) tags.namespace = safeTagValue(namespace, 'unknown');
  if (node) tags.node = safeTagValue(node, 'unknown');
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
  return flowRecord(named, ctx.time, sampleTags(ctx));
}

function portTag(e: Flow['source']): string | undefined {
  return e.folded ? EPHEMERAL : e.port === undefined ? undefined : String(e.port);
}

function flowRecord(named: NamedFlow, time: Date, shared: Tags): MetricRecord {
  const { flow } = named;
  // Object.assign, then one key at a time: a spread of `shared` into a literal with more keys
  // costs about 7 µs per record in V8, more than the rest of the record and its line together.
  const tags: Tags = Object.assign({}, shared);
  tags.receiver = safeTagValue(named.destinationName, flow.destination.address);
  tags.receiverIp = flow.destination.address;
  tags.sender = safeTagValue(named.sourceName, flow.source.address);
  tags.senderIp = flow.source.address;
  const receiverPort = portTag(flow.destination);
  if (receiverPort !== undefined) tags.receiverPort = receiverPort;
  const senderPort = portTag(flow.source);
  if (senderPort !== undefined) tags.senderPort = senderPort;
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

/** Points for every flow of a sample. */
export function buildPoints(flows: readonly NamedFlow[], ctx: PointContext): MetricRecord[] {
  if (flows.length === 0) return [];
  const tags = sampleTags(ctx);
  return flows.map((f) => flowRecord(f, ctx.time, tags));
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
 * When iftop listed as many flows as it was allowed (`-L`, NSTATS_FLOW_LIMIT), the busiest ones,
 * the rest are not lost: its totals still count them. One more `nstat` point with
 * `sender`/`receiver` = `(other flows)` carries the difference, so that the flows of a sample add
 * up to iftop's totals. iftop prints three significant digits, so the sum is exact to about 0.5 %.
 * Undefined when iftop listed fewer flows than the limit (it listed them all) or printed no totals.
 */
export function buildRemainderPoint(
  snapshot: Snapshot,
  flowLimit: number,
  ctx: PointContext,
): MetricRecord | undefined {
  const t = snapshot.totals;
  if (!t || snapshot.flows.length < flowLimit) return undefined;
  let sent = 0;
  let received = 0;
  let sendRate = 0;
  let receiveRate = 0;
  for (const f of snapshot.flows) {
    sent += f.sent.cumulativeBytes;
    received += f.received.cumulativeBytes;
    sendRate += f.sent.rates.last10s;
    receiveRate += f.received.rates.last10s;
  }
  return otherFlowsPoint(
    {
      sendRate: Math.max(0, t.sendRate.last10s - sendRate),
      receiveRate: Math.max(0, t.receiveRate.last10s - receiveRate),
      sentBytes: Math.max(0, Math.round(t.cumulative.sentBytes - sent)),
      receivedBytes: Math.max(0, Math.round(t.cumulative.receivedBytes - received)),
    },
    ctx,
  );
}

/** The `(other flows)` point of a continuous period: bytes and their mean rate. */
export function buildPeriodRemainderPoint(
  remainder: { readonly sentBytes: number; readonly receivedBytes: number },
  seconds: number,
  ctx: PointContext,
): MetricRecord | undefined {
  if (remainder.sentBytes + remainder.receivedBytes <= 0) return undefined;
  return otherFlowsPoint(
    {
      sendRate: (remainder.sentBytes * 8) / seconds,
      receiveRate: (remainder.receivedBytes * 8) / seconds,
      sentBytes: remainder.sentBytes,
      receivedBytes: remainder.receivedBytes,
    },
    ctx,
  );
}

function otherFlowsPoint(
  v: { sendRate: number; receiveRate: number; sentBytes: number; receivedBytes: number },
  ctx: PointContext,
): MetricRecord {
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
