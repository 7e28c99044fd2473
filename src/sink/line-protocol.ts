import type { Field, MetricRecord } from '../record/record.js';

/** Timestamp precision of line protocol. */
export type Precision = 'ns' | 'us' | 'ms' | 's';

/**
 * Records as InfluxDB line-protocol lines, the lines the Influx client's `Point` writes for the same
 * measurement, tags, fields and time (`line-protocol.test.ts` compares them on hostile input):
 * tags and fields sorted by key, empty tag keys and values and empty field keys left out, `,`,
 * space and `=` escaped with a backslash and `\n\r\t` written as `\n`..., string fields quoted.
 * A field the line protocol cannot carry (a float that is not finite, an integer outside the
 * signed 64-bit range) is left out; a record left without fields, or without a measurement, gives
 * no line.
 *
 * Records of one cycle mostly share their keys, their first tags and their time: the sorted keys,
 * the text of the shared tags and the time's text are kept for the length of one call, so each
 * is made once per call.
 */
export function encodeLines(records: readonly MetricRecord[], precision: Precision): string[] {
  const tags = new TagCache();
  const fieldOrder = new KeyOrder();
  let lastMs = Number.NaN;
  let lastTime = '';
  const lines: string[] = [];
  for (const r of records) {
    if (!r.measurement) continue;
    const head = tags.head(r.measurement, r.tags);
    let body = '';
    const fo = fieldOrder.of(r.fields);
    for (let i = 0; i < fo.keys.length; i++) {
      const key = fo.keys[i]!;
      const text = key ? fieldText(r.fields[key]!) : undefined;
      if (text !== undefined) body += `${body ? ',' : ' '}${fo.escaped[i]!}=${text}`;
    }
    if (!body) continue;
    const ms = r.time.getTime();
    if (ms !== lastMs) {
      lastMs = ms;
      lastTime = timestamp(r.time, precision);
    }
    lines.push(`${head}${body} ${lastTime}`);
  }
  return lines;
}

/**
 * The measurement and tags of a line (`nstat,hosts=web-0,...`). Records of one call mostly share
 * their first tags (the identity tags every point of a sample has): the text up to each tag is
 * kept from the last record, and a record whose first tags are the same strings starts from it.
 */
class TagCache {
  private readonly order = new KeyOrder();
  private order0: object | undefined;
  private measurement = '';
  /** The last record's tag values, by position in the sorted keys. */
  private values: (string | undefined)[] = [];
  /** prefixes[i]: the last record's measurement and tags before position i. */
  private prefixes: string[] = [];

  head(measurement: string, tags: Readonly<Record<string, string>>): string {
    const o = this.order.of(tags);
    if (o !== this.order0 || measurement !== this.measurement) {
      this.order0 = o;
      this.measurement = measurement;
      this.values = [];
      this.prefixes = [escapeMeasurement(measurement)];
    }
    const { keys, escaped } = o;
    const values = this.values;
    const prefixes = this.prefixes;
    let i = 0;
    while (i < prefixes.length - 1 && tags[keys[i]!] === values[i]) i++;
    let text = prefixes[i]!;
    for (; i < keys.length; i++) {
      const key = keys[i]!;
      const value = tags[key];
      values[i] = value;
      if (key && value) text += `,${escaped[i]!}=${escapeTag(value)}`;
      prefixes[i + 1] = text;
    }
    return text;
  }
}

/** A field's value as the client's `floatField`, `intField`, `stringField`, `booleanField` write it. */
function fieldText(f: Field): string | undefined {
  switch (f.type) {
    case 'float':
      return Number.isFinite(f.value) ? String(f.value) : undefined;
    case 'int':
      return Number.isNaN(f.value) || f.value <= -9223372036854776e3 || f.value >= 9223372036854776e3
        ? undefined
        : `${Math.floor(f.value)}i`;
    case 'string':
      return `"${f.value.replace(QUOTED, '\\$&')}"`;
    case 'bool':
      return f.value ? 'T' : 'F';
  }
}

/** A time as an integer in the given precision. */
export function timestamp(t: Date, precision: Precision): string {
  const ms = BigInt(t.getTime());
  switch (precision) {
    case 'ns':
      return (ms * 1_000_000n).toString();
    case 'us':
      return (ms * 1000n).toString();
    case 'ms':
      return ms.toString();
    case 's':
      return (ms / 1000n).toString();
  }
}

/**
 * An object's keys sorted as the client sorts them (`Object.keys(o).sort()`), each escaped; the
 * last order is given again while objects come with the same keys in the same order.
 */
class KeyOrder {
  private seen: readonly string[] = [];
  private order: { keys: readonly string[]; escaped: readonly string[] } = { keys: [], escaped: [] };

  of(o: object): { readonly keys: readonly string[]; readonly escaped: readonly string[] } {
    const keys = Object.keys(o);
    let same = keys.length === this.seen.length;
    for (let i = 0; same && i < keys.length; i++) same = keys[i] === this.seen[i];
    if (!same) {
      const sorted = [...keys].sort();
      this.order = { keys: sorted, escaped: sorted.map(escapeTag) };
      this.seen = keys;
    }
    return this.order;
  }
}

const QUOTED = /["\\]/g;
const TAG_SPECIAL = /[, =\n\r\t]/;
const TAG_SPECIALS = /[, =\n\r\t]/g;
const MEASUREMENT_SPECIAL = /[, \n\r\t]/;
const MEASUREMENT_SPECIALS = /[, \n\r\t]/g;
const ESCAPED: Readonly<Record<string, string>> = {
  ',': '\\,',
  ' ': '\\ ',
  '=': '\\=',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};
const escapeChar = (c: string): string => ESCAPED[c] ?? c;

/** Tag keys, tag values and field keys: `,`, space and `=` get a backslash, `\n\r\t` become `\n`... */
export function escapeTag(s: string): string {
  return TAG_SPECIAL.test(s) ? s.replace(TAG_SPECIALS, escapeChar) : s;
}

/** The measurement: the same without `=`. */
function escapeMeasurement(s: string): string {
  return MEASUREMENT_SPECIAL.test(s) ? s.replace(MEASUREMENT_SPECIALS, escapeChar) : s;
}
