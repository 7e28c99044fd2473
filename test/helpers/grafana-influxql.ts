/**
 * What Grafana's InfluxDB data source (InfluxQL mode) does to a dashboard's query before it sends
 * it, so the tests can run the dashboards' queries against a real InfluxDB 1.x:
 *
 * - `$timeFilter` becomes `time >= <from>ms and time <= <to>ms` (Grafana's getTimeFilter);
 * - `$__interval` becomes the panel's interval: the range divided by the panel's data points,
 *   rounded to Grafana's steps, never below the panel's `interval` (its min interval);
 *   `$__interval_ms` the same in ms;
 * - a variable (`$name`, `${name}`, `[[name]]`) is replaced by its value; for a variable that is
 *   multi-value or has "All", each value is regex-escaped and several values are joined as
 *   `(a|b)`, as InfluxQL's `=~ /^$var$/` expects (Grafana's interpolateQueryExpr); "All" is the
 *   variable's allValue when it has one (used as is), else every value it offers.
 */

/** A dashboard variable as a panel query sees it. */
export interface VariableValue {
  /** Selected values; `'$__all'` for "All". */
  readonly value: readonly string[] | '$__all';
  /** What "All" expands to (the variable's `allValue`), if set. */
  readonly allValue?: string;
  /** Every value the variable offers (its own query's result), for "All" without allValue. */
  readonly options?: readonly string[];
  /** Multi-value or include-All: values are regex-escaped. */
  readonly regex: boolean;
}

export interface ExpandOptions {
  readonly fromMs: number;
  readonly toMs: number;
  /** The panel's min interval (`interval`), e.g. "1m". */
  readonly minInterval?: string;
  /** Data points Grafana asks for (the panel's width in pixels; 1000 is a wide panel). */
  readonly maxDataPoints?: number;
  readonly variables: Readonly<Record<string, VariableValue>>;
}

/** Grafana's kbn.regexEscape. */
export function regexEscape(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');
}

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(text.trim());
  if (!m) throw new Error(`not a Grafana interval: ${text}`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** Grafana's rangeUtil.roundInterval: the step an auto interval is rounded to. */
export function roundInterval(ms: number): number {
  const steps: Array<[number, number]> = [
    [15, 10],
    [35, 20],
    [75, 50],
    [150, 100],
    [350, 200],
    [750, 500],
    [1500, 1000],
    [3500, 2000],
    [7500, 5000],
    [12500, 10_000],
    [17500, 15_000],
    [25000, 20_000],
    [45000, 30_000],
    [90000, 60_000],
    [210000, 120_000],
    [450000, 300_000],
    [750000, 600_000],
    [1050000, 900_000],
    [1500000, 1_200_000],
    [2700000, 1_800_000],
    [5400000, 3_600_000],
    [9000000, 7_200_000],
    [16200000, 10_800_000],
    [32400000, 21_600_000],
    [86400000, 43_200_000],
    [604800000, 86_400_000],
    [1814400000, 604_800_000],
    [3628800000, 2_592_000_000],
  ];
  for (const [below, step] of steps) if (ms < below) return step;
  return 31_536_000_000;
}

/** An interval in ms as Grafana writes it into a query (`1m`, `30s`, `200ms`). */
export function intervalText(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** The panel's `$__interval` in ms. */
export function panelIntervalMs(
  o: Pick<ExpandOptions, 'fromMs' | 'toMs' | 'minInterval' | 'maxDataPoints'>,
): number {
  const auto = roundInterval((o.toMs - o.fromMs) / (o.maxDataPoints ?? 1000));
  const min = o.minInterval ? parseDuration(o.minInterval) : 0;
  return Math.max(auto, min);
}

function variableText(name: string, v: VariableValue): string {
  const values = v.value === '$__all' ? undefined : v.value;
  if (values === undefined) {
    if (v.allValue !== undefined) return v.allValue;
    if (!v.options) throw new Error(`variable ${name}: "All" without options or allValue`);
    return join(v.options, v.regex);
  }
  return join(values, v.regex);
}

function join(values: readonly string[], regex: boolean): string {
  if (!regex) return values.join(',');
  const escaped = values.map(regexEscape);
  return escaped.length === 1 ? escaped[0]! : `(${escaped.join('|')})`;
}

/** The query Grafana would send. Throws on a `$name` no variable or macro gives. */
export function expandInfluxQL(query: string, o: ExpandOptions): string {
  const intervalMs = panelIntervalMs(o);
  const macros: Record<string, string> = {
    timeFilter: `time >= ${o.fromMs}ms and time <= ${o.toMs}ms`,
    __interval: intervalText(intervalMs),
    __interval_ms: String(intervalMs),
  };
  return query.replace(
    /\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]|\$(\w+)/g,
    (whole, braced: string, _fmt: string, bracketed: string, bare: string) => {
      const name = braced ?? bracketed ?? bare;
      if (name in macros) return macros[name]!;
      const v = o.variables[name];
      if (!v) throw new Error(`query uses $${name}, which is neither a macro nor a variable: ${whole}`);
      return variableText(name, v);
    },
  );
}
