import type { DirectionStats, Endpoint, Flow } from './types.js';

/**
 * Ports from here up are taken for a client's ephemeral port: Linux hands them out from 32768
 * (to 60999), Windows and the IANA range from 49152. Ports below are services.
 */
export const EPHEMERAL_PORTS_FROM = 32768;

/** Which side's port is the client's: the ephemeral one, the higher one when both are. */
function clientSide(flow: Flow, from: number): 'source' | 'destination' | undefined {
  const s = flow.source.port;
  const d = flow.destination.port;
  if (s === undefined || d === undefined) return undefined;
  const se = s >= from;
  const de = d >= from;
  if (se && !de) return 'source';
  if (de && !se) return 'destination';
  if (se && de) return s >= d ? 'source' : 'destination';
  return undefined;
}

function fold(e: Endpoint): Endpoint {
  return { address: e.address, family: e.family, folded: true };
}

function add(a: DirectionStats, b: DirectionStats): DirectionStats {
  return {
    rates: {
      last2s: a.rates.last2s + b.rates.last2s,
      last10s: a.rates.last10s + b.rates.last10s,
      last40s: a.rates.last40s + b.rates.last40s,
    },
    cumulativeBytes: a.cumulativeBytes + b.cumulativeBytes,
  };
}

/** Identifies a flow by its endpoints (a folded port counts as one port). */
export function flowKey(flow: Pick<Flow, 'source' | 'destination'>): string {
  const key = (e: Endpoint) => `${e.address}|${e.folded ? '*' : String(e.port ?? '')}`;
  return `${key(flow.source)}>${key(flow.destination)}`;
}

/**
 * Keeps series bounded with `-P`: each connection's client port is new, so a pod making 10,000
 * short connections to one service would make 10,000 series. The client's port is dropped (the
 * server's kept) and the connections between the same two addresses to the same server port
 * become one flow, their rates and bytes added. Flows where neither port looks ephemeral keep
 * both. Order is kept (the first flow of a group gives the rank).
 */
export function foldEphemeralPorts(flows: readonly Flow[], from = EPHEMERAL_PORTS_FROM): Flow[] {
  const merged = new Map<string, Flow>();
  for (const flow of flows) {
    const side = clientSide(flow, from);
    const f: Flow =
      side === 'source'
        ? { ...flow, source: fold(flow.source) }
        : side === 'destination'
          ? { ...flow, destination: fold(flow.destination) }
          : flow;
    const k = flowKey(f);
    const seen = merged.get(k);
    merged.set(
      k,
      seen ? { ...seen, sent: add(seen.sent, f.sent), received: add(seen.received, f.received) } : f,
    );
  }
  return [...merged.values()];
}
