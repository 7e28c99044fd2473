import { convertTimeToNanos, Point, type PointSettings } from '@influxdata/influxdb-client';

/**
 * Tags that many points share (a sample's `hosts`, `interface`, `pod`...), escaped for the line
 * protocol once for all of them.
 */
export class SharedTags {
  readonly values: Readonly<Record<string, string>>;
  /** The keys, sorted. */
  readonly keys: readonly string[];
  /** `,key=value` for each key with a value, escaped, in key order. */
  readonly line: string;
  private lastName: string | undefined;
  private lastPrefix = '';

  constructor(values: Readonly<Record<string, string>>) {
    // Assigned one by one, as Point.tag() does (a "__proto__" key is then no tag, as there).
    const own: Record<string, string> = {};
    for (const [key, value] of Object.entries(values)) own[key] = value;
    this.values = own;
    const order = sortKeys(own);
    this.keys = order.keys;
    this.line = tagsLine(own, order);
  }

  /** The escaped measurement `name` followed by `line`, made once while the name stays the same. */
  prefix(name: string): string {
    if (name !== this.lastName) {
      this.lastPrefix = escapeMeasurement(name) + this.line;
      this.lastName = name;
    }
    return this.lastPrefix;
  }
}

const NO_SHARED_TAGS = new SharedTags({});

/** Text of recent float field values (String(value); Map keys: -0 is 0, whose text is also "0"). */
const FLOAT_TEXT = new Map<number, string>();
const FLOAT_TEXT_MAX = 8192;

/**
 * A float field's text as the client's floatField writes it for a number, `String(value)`, or
 * undefined for NaN and infinities (which it rejects). Recent texts are kept.
 */
export function floatText(value: number): string | undefined {
  let text = FLOAT_TEXT.get(value);
  if (text === undefined) {
    if (!Number.isFinite(value)) return undefined;
    text = String(value);
    if (FLOAT_TEXT.size >= FLOAT_TEXT_MAX) FLOAT_TEXT.clear();
    FLOAT_TEXT.set(value, text);
  }
  return text;
}

/**
 * The client's `Point`, with a faster `toLineProtocol` that writes exactly the same line.
 *
 * Why: the client's serializer escapes every tag key and value one character at a time (a string
 * search per character) and sorts the tag and field keys of every point. At 1,000 flows that was
 * about 5 ms of a cycle's CPU, more than half of the cycle, against a budget of 2.5 ms (issue 4).
 * Here a value is escaped only when a regular expression finds something to escape, the sorted
 * and escaped keys are reused while points come with the same keys (RecentKeyOrder), and the tags
 * a sample's points share are escaped once (SharedTags).
 *
 * Everything else stays the client's: the points are still `Point`s, field values are formatted
 * and checked by its methods, and the sinks write the points as before. `line-point.test.ts`
 * compares this serializer to the client's on many hostile points.
 */
export class LinePoint extends Point {
  // The client keeps these private, and reads them only in its own toLineProtocol, which is
  // replaced here; so tag() records the tags here only (the client's own stay empty).
  private measurementName: string | undefined;
  private readonly tagValues: Record<string, string> = {};
  private pointTime: Date | number | string | undefined;

  /** `shared`: tags as if set with `tag()` first (a tag set on the point wins). */
  constructor(
    measurementName?: string,
    private readonly shared: SharedTags = NO_SHARED_TAGS,
  ) {
    super(measurementName);
    if (measurementName) this.measurementName = measurementName;
  }

  override measurement(name: string): Point {
    super.measurement(name);
    this.measurementName = name;
    return this;
  }

  override tag(name: string, value: string): Point {
    this.tagValues[name] = value;
    return this;
  }

  /**
   * The client's floatField, with the text of recent numbers kept: a double's shortest decimal
   * text is costly to make, and iftop's three-digit rates repeat (a 1,000-flow table has about
   * half as many distinct rates as rates). Anything but a finite number goes to the client's.
   */
  override floatField(name: string, value: unknown): Point {
    const text = typeof value === 'number' ? floatText(value) : undefined;
    if (text === undefined) return super.floatField(name, value); // the client's check and error
    this.fields[name] = text;
    return this;
  }

  override timestamp(value: Date | number | string | undefined): Point {
    super.timestamp(value);
    this.pointTime = value;
    return this;
  }

  /** The client's `toLineProtocol`, step by step, with the fast paths above. */
  override toLineProtocol(settings?: Partial<PointSettings>): string | undefined {
    if (!this.measurementName) return undefined;
    let fields = '';
    const fieldOrder = FIELD_KEYS.of(this.fields);
    for (let i = 0; i < fieldOrder.keys.length; i++) {
      const key = fieldOrder.keys[i];
      if (!key) continue;
      // `key=` or `,key=`, escaped: fewer pieces to join.
      const prefix = (fields.length > 0 ? fieldOrder.after[i] : fieldOrder.first[i]) ?? '';
      fields += `${prefix}${this.fields[key]}`;
    }
    if (fields.length === 0) return undefined; // no fields present
    // The escaped measurement and tags.
    let head: string;
    const own = TAG_KEYS.of(this.tagValues);
    const first = own.keys[0];
    const last = this.shared.keys[this.shared.keys.length - 1];
    if (!settings?.defaultTags && (first === undefined || last === undefined || last < first)) {
      // The shared keys all come before the point's own: their line is the start of this one.
      head = this.shared.prefix(this.measurementName) + tagsLine(this.tagValues, own);
    } else {
      const all = { ...settings?.defaultTags, ...this.shared.values, ...this.tagValues };
      head = escapeMeasurement(this.measurementName) + tagsLine(all, sortKeys(all));
    }
    return this.withTime(`${head} ${fields}`, settings);
  }

  /** A line without its time, and the time as the client writes it (when there is one). */
  protected withTime(line: string, settings?: Partial<PointSettings>): string {
    const time = settings?.convertTime
      ? settings.convertTime(this.pointTime)
      : convertTimeToNanos(this.pointTime);
    return time !== undefined ? `${line} ${time}` : line;
  }
}

/** An object's keys in line-protocol order, each escaped as `key=` and as `,key=`. */
interface KeyOrder {
  readonly keys: readonly string[];
  readonly first: readonly string[];
  readonly after: readonly string[];
}

/** `Object.keys(o).sort()`, as the client sorts them, with the escaped keys. */
function sortKeys(o: object): KeyOrder {
  const keys = Object.keys(o).sort();
  const first = keys.map((k) => `${escapeTag(k)}=`);
  return { keys, first, after: first.map((k) => `,${k}`) };
}

/**
 * sortKeys for objects that keep getting the same keys in the same order (the points of one
 * kind): the last order is kept and given again while the keys come in that order.
 */
class RecentKeyOrder {
  private seen: readonly string[] = [];
  private order: KeyOrder = { keys: [], first: [], after: [] };

  of(o: object): KeyOrder {
    const keys = Object.keys(o);
    let same = keys.length === this.seen.length;
    for (let i = 0; same && i < keys.length; i++) same = keys[i] === this.seen[i];
    if (!same) {
      this.order = sortKeys(o);
      this.seen = keys;
    }
    return this.order;
  }
}

const FIELD_KEYS = new RecentKeyOrder();
const TAG_KEYS = new RecentKeyOrder();

/** `,key=value` for each key (in the given order) that is not empty and has a value. */
function tagsLine(values: Readonly<Record<string, string>>, order: KeyOrder): string {
  let line = '';
  for (let i = 0; i < order.keys.length; i++) {
    const key = order.keys[i];
    if (!key) continue;
    const value = values[key];
    if (value) line += (order.after[i] ?? '') + escapeTag(value);
  }
  return line;
}

// The client's escapes (`escape.tag`, `escape.measurement`), as regular expressions.
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
