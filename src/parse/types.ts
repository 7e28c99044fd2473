/**
 * The typed form of iftop's text output (`iftop -t`). Everything the parser knows about a
 * capture is here; nothing downstream reads iftop's text again.
 *
 * Units: every rate is in bits per second, every byte count in bytes, both as plain numbers.
 * iftop prints K/M/G/T as powers of 1024 (for bits and for bytes); the parser multiplies them
 * out, so `1.50Kb` becomes `1536`.
 */

/** One side of a flow as iftop printed it (with `-n`: an address, never a name). */
export interface Endpoint {
  /** The address without the port: `10.0.0.7`, `fd00::1`. */
  readonly address: string;
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** The port when iftop ran with `-P`, otherwise undefined. */
  readonly port?: number;
  /** The port was a client's ephemeral port and was folded away (see foldEphemeralPorts). */
  readonly folded?: true;
}

/** iftop's three moving averages, in bits/s. */
export interface Rates {
  readonly last2s: number;
  readonly last10s: number;
  readonly last40s: number;
}

/** Traffic in one direction of a flow. */
export interface DirectionStats {
  /** Average rates over the last 2, 10 and 40 seconds, bits/s. */
  readonly rates: Rates;
  /** Bytes counted since iftop first saw the flow (iftop's `cumulative` column). */
  readonly cumulativeBytes: number;
}

/**
 * One flow (a pair of endpoints) of a snapshot. `source` is the first host of the pair
 * (the `=>` line, the local side for traffic iftop could attribute by MAC address),
 * `destination` the second (the `<=` line).
 */
export interface Flow {
  /** The 1-based position iftop gave it in the sorted list. */
  readonly rank: number;
  readonly source: Endpoint;
  readonly destination: Endpoint;
  /** Traffic from source to destination. */
  readonly sent: DirectionStats;
  /** Traffic from destination to source. */
  readonly received: DirectionStats;
}

/** The totals block that closes every snapshot. */
export interface Totals {
  readonly sendRate: Rates;
  readonly receiveRate: Rates;
  readonly totalRate: Rates;
  /** Peak rates since iftop started, bits/s. */
  readonly peak: { readonly sent: number; readonly received: number; readonly total: number };
  /** Bytes since iftop started. */
  readonly cumulative: {
    readonly sentBytes: number;
    readonly receivedBytes: number;
    readonly totalBytes: number;
  };
}

/** One printed table: iftop prints one per `-s` run, or one every 2 s in continuous mode. */
export interface Snapshot {
  /** 1-based line number of the table's heading line in the input. */
  readonly line: number;
  readonly flows: readonly Flow[];
  /** Undefined when the input ended before the totals block (a truncated capture). */
  readonly totals?: Totals;
}

/** A line the parser could not read; it was skipped and the rest kept. */
export interface ParseIssue {
  /** 1-based line number in the input. */
  readonly line: number;
  /** The line as it was (cut to 200 characters). */
  readonly raw: string;
  /** What was wrong, naming the field and the raw value. */
  readonly reason: string;
}

/** Everything read from one iftop output. */
export interface ParseResult {
  /** From iftop's `Listening on IF` line, when present. */
  readonly interface?: string;
  readonly snapshots: readonly Snapshot[];
  readonly issues: readonly ParseIssue[];
}
