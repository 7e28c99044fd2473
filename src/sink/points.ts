import type { Point, PointSettings } from '@influxdata/influxdb-client';
import { counterDelta, type InterfaceCounters } from '../capture/interface-counters.js';
import type { IdentityConfig } from '../config/config.js';
import type { Flow, Snapshot } from '../parse/types.js';
import { escapeTag, floatText, LinePoint, SharedTags } from './line-point.js';
import { safeTagValue } from './tag-value.js';

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
 * The tags every point of a sample has, made safe and escaped once for all its points: `hosts`,
 * `interface`, and `pod`, `namespace` and `node` when the downward API gave them.
 */
function sampleTags(ctx: PointContext): SharedTags {
  const { host, pod, namespace, node } = ctx.identity;
  const tags: Record<string, string> = {
    hosts: safeTagValue(host, 'unknown'),
    interface: safeTagValue(ctx.interface, 'unknown'),
  };
  if (pod) tags.pod = safeTagValue(pod, 'unknown');
  if (namespace) tags.namespace = safeTagValue(namespace, 'unknown');
  if (node) tags.node = safeTagValue(node, 'unknown');
  return new SharedTags(tags);
}

/**
 * One `nstat` point per flow. The seed's schema is kept exactly: tags `hosts`, `sender`,
 * `receiver`; float fields `sendRate`, `receiveRate` (bits/s over iftop's 10 s column, K = 1024
 * now). Added: tags `senderIp`, `receiverIp`, `interface`, `pod`/`namespace`/`node` when known,
 * `senderPort`/`receiverPort` with `-P`; integer fields `sentBytes`, `receivedBytes` (bytes iftop
 * counted for the flow during the sample).
 */
export function buildPoint(named: NamedFlow, ctx: PointContext): Point {
  return flowPoint(named, ctx.time, sampleTags(ctx));
}

function portTag(e: Flow['source']): string | undefined {
  return e.folded ? EPHEMERAL : e.port === undefined ? undefined : String(e.port);
}

/** The tags and fields of a flow's point, as flowPoint() gives them. */
interface FlowValues {
  readonly receiver: string;
  readonly receiverIp: string;
  readonly receiverPort: string | undefined;
  readonly sender: string;
  readonly senderIp: string;
  readonly senderPort: string | undefined;
  readonly sendRate: number;
  readonly receiveRate: number;
  readonly sentBytes: number;
  readonly receivedBytes: number;
}

/** The client's intField text of a number, or undefined where it throws. */
function intText(value: number): string | undefined {
  return Number.isNaN(value) || value <= -9223372036854776e3 || value >= 9223372036854776e3
    ? undefined
    : `${Math.floor(value)}i`;
}

/**
 * A flow's `nstat` point. Its line is written in one piece from the flow's values: tags and fields
 * in the order the line protocol sorts them (receiver, receiverIp, receiverPort, sender, senderIp,
 * senderPort; receiveRate, receivedBytes, sendRate, sentBytes), after the shared tags. That is
 * the line LinePoint writes for the same point (`points.test.ts` compares them), without sorting
 * keys or setting tags one by one: at 1,000 flows that saved about a tenth of a cycle's CPU.
 * Changing a tag or field afterwards (nstats does not) makes it an ordinary LinePoint first.
 */
class FlowPoint extends LinePoint {
  private values: FlowValues | undefined;
  /** The line without its time, while the point is as made. */
  private body = '';

  constructor(
    private readonly sharedTags: SharedTags,
    values: FlowValues,
  ) {
    super(MEASUREMENT, sharedTags);
    this.values = values;
    const sendRate = floatText(values.sendRate);
    const receiveRate = floatText(values.receiveRate);
    const sentBytes = intText(values.sentBytes);
    const receivedBytes = intText(values.receivedBytes);
    const last = sharedTags.keys[sharedTags.keys.length - 1];
    if (
      sendRate === undefined ||
      receiveRate === undefined ||
      sentBytes === undefined ||
      receivedBytes === undefined ||
      (last !== undefined && last >= 'receiver') ||
      !values.receiver ||
      !values.receiverIp ||
      !values.sender ||
      !values.senderIp ||
      values.receiverPort === '' ||
      values.senderPort === ''
    ) {
      // The ordinary way: the client's errors for bad values, LinePoint's for odd tags.
      this.asLinePoint();
      return;
    }
    const v = values;
    const receiverPort = v.receiverPort === undefined ? '' : `,receiverPort=${escapeTag(v.receiverPort)}`;
    const senderPort = v.senderPort === undefined ? '' : `,senderPort=${escapeTag(v.senderPort)}`;
    this.body =
      `${sharedTags.prefix(MEASUREMENT)},receiver=${escapeTag(v.receiver)},receiverIp=${escapeTag(v.receiverIp)}${receiverPort}` +
      `,sender=${escapeTag(v.sender)},senderIp=${escapeTag(v.senderIp)}${senderPort}` +
      ` receiveRate=${receiveRate},receivedBytes=${receivedBytes},sendRate=${sendRate},sentBytes=${sentBytes}`;
  }

  /** This point as an ordinary LinePoint: the flow's tags and fields set one by one. */
  private asLinePoint(): LinePoint {
    const v = this.values;
    this.values = undefined;
    if (v) {
      super.tag('receiver', v.receiver).tag('receiverIp', v.receiverIp);
      if (v.receiverPort !== undefined) super.tag('receiverPort', v.receiverPort);
      super.tag('sender', v.sender).tag('senderIp', v.senderIp);
      if (v.senderPort !== undefined) super.tag('senderPort', v.senderPort);
      super
        .floatField('sendRate', v.sendRate)
        .floatField('receiveRate', v.receiveRate)
        .intField('sentBytes', v.sentBytes)
        .intField('receivedBytes', v.receivedBytes);
    }
    return this;
  }

  override measurement(name: string): Point {
    this.asLinePoint();
    return super.measurement(name);
  }

  override tag(name: string, value: string): Point {
    this.asLinePoint();
    return super.tag(name, value);
  }

  override booleanField(name: string, value: unknown): Point {
    this.asLinePoint();
    return super.booleanField(name, value);
  }

  override intField(name: string, value: unknown): Point {
    this.asLinePoint();
    return super.intField(name, value);
  }

  override uintField(name: string, value: unknown): Point {
    this.asLinePoint();
    return super.uintField(name, value);
  }

  override floatField(name: string, value: unknown): Point {
    this.asLinePoint();
    return super.floatField(name, value);
  }

  override stringField(name: string, value: unknown): Point {
    this.asLinePoint();
    return super.stringField(name, value);
  }

  override toLineProtocol(settings?: Partial<PointSettings>): string | undefined {
    if (!this.values || settings?.defaultTags) {
      this.asLinePoint();
      return super.toLineProtocol(settings);
    }
    return this.withTime(this.body, settings);
  }
}

function flowPoint(named: NamedFlow, time: Date, tags: SharedTags): Point {
  const { flow } = named;
  return new FlowPoint(tags, {
    receiver: safeTagValue(named.destinationName, flow.destination.address),
    receiverIp: flow.destination.address,
    receiverPort: portTag(flow.destination),
    sender: safeTagValue(named.sourceName, flow.source.address),
    senderIp: flow.source.address,
    senderPort: portTag(flow.source),
    sendRate: flow.sent.rates.last10s,
    receiveRate: flow.received.rates.last10s,
    sentBytes: Math.round(flow.sent.cumulativeBytes),
    receivedBytes: Math.round(flow.received.cumulativeBytes),
  }).timestamp(time);
}

/** Points for every flow of a sample. */
export function buildPoints(flows: readonly NamedFlow[], ctx: PointContext): Point[] {
  if (flows.length === 0) return [];
  const tags = sampleTags(ctx);
  return flows.map((f) => flowPoint(f, ctx.time, tags));
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
): Point {
  const { before, after } = counters;
  const point = new LinePoint(INTERFACE_MEASUREMENT, sampleTags(ctx));
  point
    .intField('rxBytes', after.rxBytes)
    .intField('txBytes', after.txBytes)
    .intField('rxPackets', after.rxPackets)
    .intField('txPackets', after.txPackets);
  const d = counterDelta(before, after);
  if (d) {
    point
      .intField('sampleRxBytes', d.rxBytes)
      .intField('sampleTxBytes', d.txBytes)
      .intField('sampleRxPackets', d.rxPackets)
      .intField('sampleTxPackets', d.txPackets)
      .floatField('sampleSeconds', (after.at.getTime() - before.at.getTime()) / 1000);
  }
  return point.timestamp(ctx.time);
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
): Point | undefined {
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
): Point | undefined {
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
): Point {
  return new LinePoint(MEASUREMENT, sampleTags(ctx))
    .tag('receiver', OTHER_FLOWS)
    .tag('sender', OTHER_FLOWS)
    .floatField('sendRate', v.sendRate)
    .floatField('receiveRate', v.receiveRate)
    .intField('sentBytes', v.sentBytes)
    .intField('receivedBytes', v.receivedBytes)
    .timestamp(ctx.time);
}
