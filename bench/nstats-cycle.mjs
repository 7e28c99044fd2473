// One nstats cycle after the capture, as src/pipeline/daemon.ts runs it in sampled mode with DNS
// off: parse iftop's text, take the last table, name the peers by their IPs, build one `nstat`
// point per flow (and the `(other flows)` point when iftop listed as many flows as -L allowed),
// and serialize them to line protocol: the text the sink would send.
import { parseIftop } from '../dist/parse/iftop-parser.js';
import { buildPoints, buildRemainderPoint } from '../dist/sink/points.js';
import { encodeLines } from '../dist/sink/line-protocol.js';

/** Identity tags as a pod gets them from the downward API (more tags than the seed's `hosts`). */
export const IDENTITY = { host: 'web-0', pod: 'web-0', namespace: 'shop', node: 'node-1' };
const TIME = new Date('2026-11-22T06:30:00Z');

/** Parse -> points -> line protocol. Returns the text and the counts, for the checks. */
export function nstatsCycle(text, flowLimit) {
  const parsed = parseIftop(text);
  const snapshot = parsed.snapshots.at(-1);
  const flows = snapshot?.flows ?? [];
  const named = flows.map((flow) => ({
    flow,
    sourceName: flow.source.address,
    destinationName: flow.destination.address,
  }));
  const ctx = { identity: IDENTITY, interface: parsed.interface ?? 'eth0', time: TIME };
  const points = buildPoints(named, ctx);
  const remainder = snapshot ? buildRemainderPoint(snapshot, flowLimit, ctx) : undefined;
  if (remainder) points.push(remainder);
  const lines = encodeLines(points, 'ms');
  return {
    body: lines.length > 0 ? `${lines.join('\n')}\n` : '',
    flows: flows.length,
    points: points.length,
    issues: parsed.issues.length,
  };
}
