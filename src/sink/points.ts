import { Point } from '@influxdata/influxdb-client';
import type { IdentityConfig } from '../config/config.js';
import type { Flow } from '../parse/types.js';
import { safeTagValue } from './tag-value.js';

/** The measurement the seed wrote, kept so existing dashboards keep working. */
export const MEASUREMENT = 'nstat';

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
 * One `nstat` point per flow. The seed's schema is kept exactly: tags `hosts`, `sender`,
 * `receiver`; float fields `sendRate`, `receiveRate` (bits/s over iftop's 10 s column, K = 1024
 * now). Added: tags `senderIp`, `receiverIp`, `interface`, `pod`/`namespace`/`node` when known,
 * `senderPort`/`receiverPort` with `-P`; integer fields `sentBytes`, `receivedBytes` (bytes iftop
 * counted for the flow during the sample).
 */
export function buildPoint(named: NamedFlow, ctx: PointContext): Point {
  const { flow } = named;
  const point = new Point(MEASUREMENT)
    .tag('hosts', safeTagValue(ctx.identity.host, 'unknown'))
    .tag('sender', safeTagValue(named.sourceName, flow.source.address))
    .tag('receiver', safeTagValue(named.destinationName, flow.destination.address))
    .tag('senderIp', flow.source.address)
    .tag('receiverIp', flow.destination.address)
    .tag('interface', safeTagValue(ctx.interface, 'unknown'));
  if (flow.source.port !== undefined) point.tag('senderPort', String(flow.source.port));
  if (flow.destination.port !== undefined) point.tag('receiverPort', String(flow.destination.port));
  if (ctx.identity.pod) point.tag('pod', safeTagValue(ctx.identity.pod, 'unknown'));
  if (ctx.identity.namespace) point.tag('namespace', safeTagValue(ctx.identity.namespace, 'unknown'));
  if (ctx.identity.node) point.tag('node', safeTagValue(ctx.identity.node, 'unknown'));
  return point
    .floatField('sendRate', flow.sent.rates.last10s)
    .floatField('receiveRate', flow.received.rates.last10s)
    .intField('sentBytes', Math.round(flow.sent.cumulativeBytes))
    .intField('receivedBytes', Math.round(flow.received.cumulativeBytes))
    .timestamp(ctx.time);
}

/** Points for every flow of a sample. */
export function buildPoints(flows: readonly NamedFlow[], ctx: PointContext): Point[] {
  return flows.map((f) => buildPoint(f, ctx));
}
