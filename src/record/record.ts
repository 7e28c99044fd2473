/**
 * The neutral record that flows from the pipeline to every sink: a measurement, tags, typed fields
 * and a time. Sinks encode it as they need (line protocol, Prometheus counters, a table); nothing
 * downstream of the record builder knows iftop or the Influx client.
 */

/** A field value with its type, as the line protocol distinguishes them. */
export type Field =
  | { readonly type: 'float'; readonly value: number }
  | { readonly type: 'int'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'bool'; readonly value: boolean };

export interface MetricRecord {
  readonly measurement: string;
  /**
   * Tag values as they are to be stored: made safe by the builder (see safeTagValue), not escaped
   * for any format. A tag with an empty key or value is not written.
   */
  readonly tags: Readonly<Record<string, string>>;
  /** At least one field, or the record is not written. */
  readonly fields: Readonly<Record<string, Field>>;
  readonly time: Date;
}

export const float = (value: number): Field => ({ type: 'float', value });
export const int = (value: number): Field => ({ type: 'int', value });
