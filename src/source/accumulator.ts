import { flowKey, foldEphemeralPorts } from '../parse/fold-ports.js';
import type { Endpoint, Flow, Snapshot } from '../parse/types.js';
import type { Remainder } from './source.js';

/** Bytes one period held, per flow, plus what iftop's totals counted beyond the listed flows. */
export interface Period {
  /** One flow per peer pair (and server port), `cumulativeBytes` = the period's bytes, every rate = their mean bits/s. */
  readonly flows: Flow[];
  /**
   * Bytes of the flows iftop did not list (it listed as many as its limit allowed), and their mean
   * bits/s over the period; undefined when there were none.
   */
  readonly remainder?: Remainder;
  /** Tables that went into the period. */
  readonly snapshots: number;
  readonly start: Date;
  readonly end: Date;
}

interface Entry {
  source: Endpoint;
  destination: Endpoint;
  rank: number;
  sent: number;
  received: number;
}

/**
 * Adds up the tables of a continuous iftop into exact per-flow bytes. iftop's "last 2s" column is
 * the bytes of the slot it just closed times 8 / 2 s, whatever the slot's real length (a slot
 * closes only when a packet arrives), and each table is printed once as its slot closes: so a
 * flow's bytes are the sum of `last2s / 4` over the tables. (Its cumulative column would do too,
 * but it is rounded to three digits of a growing number, and restarts when iftop forgets a flow
 * idle for 40 s.) Totals work the same way: what they hold beyond the listed flows is the
 * remainder, counted when iftop listed `flowLimit` flows.
 */
export class FlowAccumulator {
  private entries = new Map<string, Entry>();
  private remainderSent = 0;
  private remainderReceived = 0;
  private snapshots = 0;
  private start: Date;

  constructor(
    private readonly flowLimit: number,
    private readonly foldPorts: boolean,
    now = new Date(),
  ) {
    this.start = now;
  }

  add(snapshot: Snapshot): void {
    this.snapshots++;
    let sent = 0;
    let received = 0;
    const flows = this.foldPorts ? foldEphemeralPorts(snapshot.flows) : snapshot.flows;
    for (const f of flows) {
      const s = f.sent.rates.last2s / 4;
      const r = f.received.rates.last2s / 4;
      sent += s;
      received += r;
      const k = flowKey(f);
      const e = this.entries.get(k);
      if (e) {
        e.sent += s;
        e.received += r;
        e.rank = Math.min(e.rank, f.rank);
      } else {
        this.entries.set(k, {
          source: f.source,
          destination: f.destination,
          rank: f.rank,
          sent: s,
          received: r,
        });
      }
    }
    const t = snapshot.totals;
    if (t && snapshot.flows.length >= this.flowLimit) {
      this.remainderSent += Math.max(0, t.sendRate.last2s / 4 - sent);
      this.remainderReceived += Math.max(0, t.receiveRate.last2s / 4 - received);
    }
  }

  /** The period since the last drain, and a new one begins at `now`. */
  drain(now = new Date()): Period {
    const seconds = Math.max(0.001, (now.getTime() - this.start.getTime()) / 1000);
    const rate = (bytes: number) => {
      const bps = (bytes * 8) / seconds;
      return { last2s: bps, last10s: bps, last40s: bps };
    };
    const flows = [...this.entries.values()]
      .sort((a, b) => b.sent + b.received - (a.sent + a.received))
      .map((e, i) => ({
        rank: i + 1,
        source: e.source,
        destination: e.destination,
        sent: { rates: rate(e.sent), cumulativeBytes: Math.round(e.sent) },
        received: { rates: rate(e.received), cumulativeBytes: Math.round(e.received) },
      }));
    const sentBytes = Math.round(this.remainderSent);
    const receivedBytes = Math.round(this.remainderReceived);
    const period: Period = {
      flows,
      ...(sentBytes + receivedBytes > 0
        ? {
            remainder: {
              sentBytes,
              receivedBytes,
              sendRate: rate(this.remainderSent).last2s,
              receiveRate: rate(this.remainderReceived).last2s,
            },
          }
        : {}),
      snapshots: this.snapshots,
      start: this.start,
      end: now,
    };
    this.entries = new Map();
    this.remainderSent = 0;
    this.remainderReceived = 0;
    this.snapshots = 0;
    this.start = now;
    return period;
  }
}
