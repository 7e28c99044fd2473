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
    const { perm, first, next } = fieldOrder.of(r.fields);
    const values = Object.values(r.fields);
    let body = '';
    for (let i = 0; i < perm.length; i++) {
      const text = fieldText(values[perm[i]!]!);
      if (text !== undefined) body += (body ? next[i]! : first[i]!) + text;
    }
    if (!body) continue;
    const ms = r.time.getTime();
    if (ms !== lastMs) {
      lastMs = ms;
      lastTime = ` ${timestamp(r.time, precision)}`;
    }
    lines.push(head + body + lastTime);
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
  private order0: Order | undefined;
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
    const { perm, next } = o;
    const given = Object.values(tags);
    const values = this.values;
    const prefixes = this.prefixes;
    let i = 0;
    while (i < prefixes.length - 1 && given[perm[i]!] === values[i]) i++;
    let text = prefixes[i]!;
    for (; i < perm.length; i++) {
      const value = given[perm[i]!];
      values[i] = value;
      if (value) text += next[i]! + escapeTag(value);
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
 * The order in which an object's values are written: `perm[i]` is the position, in the object's
 * own key order, of the i-th key sorted as the client sorts them (`Object.keys(o).sort()`), empty
 * keys left out; `first[i]` and `next[i]` are that key escaped, as ` key=` and `,key=`.
 */
interface Order {
  readonly perm: readonly number[];
  readonly first: readonly string[];
  readonly next: readonly string[];
}

/**
 * The order of an object's keys; the last order is given again while objects come with the same
 * keys in the same order, so that their values are read with `Object.values` by position, not
 * looked up by key.
 */
class KeyOrder {
  private seen: readonly string[] = [];
  private order: Order = { perm: [], first: [], next: [] };

  of(o: object): Order {
    const keys = Object.keys(o);
    const seen = this.seen;
    let same = keys.length === seen.length;
    for (let i = 0; same && i < keys.length; i++) same = keys[i] === seen[i];
    if (!same) {
      const perm = keys
        .map((_, i) => i)
        .filter((i) => keys[i] !== '')
        .sort((a, b) => byCodeUnits(keys[a]!, keys[b]!));
      const escaped = perm.map((i) => escapeTag(keys[i]!));
      this.order = { perm, first: escaped.map((k) => ` ${k}=`), next: escaped.map((k) => `,${k}=`) };
      this.seen = keys;
    }
    return this.order;
  }
}

/** The order of `Array.prototype.sort` without a comparator: by UTF-16 code units. */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
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
