/**
 * The 1 h roll-up of the raw points: which measurement, which output field from which aggregate
 * of which raw field. One table, from which both the InfluxQL continuous queries (1.x) and the
 * Flux task (2.x) are written. The roll-up keeps the measurement names and every tag, so that a
 * dashboard reads the long data with the queries it uses on the raw data; the dashboards depend
 * on these field names exactly.
 */

/** An aggregate both InfluxQL and Flux have, by the same name. */
export type Aggregate = 'mean' | 'max' | 'sum' | 'count';

export interface RollupField {
  /** The field in the long policy/bucket. */
  readonly name: string;
  readonly aggregate: Aggregate;
  /** The raw field it is computed from. */
  readonly of: string;
}

export interface Rollup {
  readonly measurement: string;
  /** Name of the 1.x continuous query. */
  readonly continuousQuery: string;
  readonly fields: readonly RollupField[];
}

/** The width of one roll-up point: points are at the start of their hour (InfluxQL's time(1h)). */
export const ROLLUP_SECONDS = 3600;

/**
 * How far back each run of the continuous query / task recomputes: the hour that just ended and
 * the one before, so that points a sidecar's spool delivers up to an hour late are rolled up too.
 */
export const RESAMPLE_FOR_SECONDS = 2 * 3600;

const same = (aggregate: Aggregate, ...names: string[]): RollupField[] =>
  names.map((name) => ({ name, aggregate, of: name }));

export const ROLLUPS: readonly Rollup[] = [
  {
    measurement: 'nstat',
    continuousQuery: 'nstat_1h',
    fields: [
      { name: 'sendRate', aggregate: 'mean', of: 'sendRate' },
      { name: 'sendRateMax', aggregate: 'max', of: 'sendRate' },
      { name: 'receiveRate', aggregate: 'mean', of: 'receiveRate' },
      { name: 'receiveRateMax', aggregate: 'max', of: 'receiveRate' },
      { name: 'sentBytes', aggregate: 'sum', of: 'sentBytes' },
      { name: 'receivedBytes', aggregate: 'sum', of: 'receivedBytes' },
      // Every nstat point has a sendRate: this counts the points of the hour.
      { name: 'samples', aggregate: 'count', of: 'sendRate' },
    ],
  },
  {
    measurement: 'nstat_interface',
    continuousQuery: 'nstat_interface_1h',
    fields: [
      ...same('sum', 'sampleRxBytes', 'sampleTxBytes', 'sampleRxPackets', 'sampleTxPackets', 'sampleSeconds'),
      // Cumulative counters: the hour's last (largest) value, so non_negative_difference still works.
      ...same('max', 'rxBytes', 'txBytes', 'rxPackets', 'txPackets'),
    ],
  },
];
