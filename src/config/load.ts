import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { config as dotenv } from 'dotenv';
import type { Config } from './config.js';
import { ConfigError, type ConfigProblem } from './errors.js';
import { parseRetention } from '../setup/duration.js';
import {
  DEFAULT_SPOOL_MAX_MB,
  SETTINGS,
  settingDefault,
  settingsSchema,
  type SettingName,
  type Settings,
} from './schema.js';

/** Environment as read: names to values, unset or empty meaning "not set". */
export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Reads `.env` from the working directory, or the file NSTATS_ENV_FILE names, into `env` without
 * overriding what is already set. `.env` may be absent; a file named by NSTATS_ENV_FILE must be
 * readable.
 * @throws ConfigError naming NSTATS_ENV_FILE (or `.env`) when the file cannot be read.
 */
export function loadDotenvFile(env: NodeJS.ProcessEnv = process.env): void {
  const named = env.NSTATS_ENV_FILE;
  const path = named?.trim() ?? '.env';
  if (named !== undefined && path === '') {
    throw new ConfigError([
      {
        variable: 'NSTATS_ENV_FILE',
        value: named,
        expected: 'is empty: name a settings file, or unset it to read .env from the working directory',
      },
    ]);
  }
  const { error } = dotenv({ path, processEnv: env, quiet: true, override: false });
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (error === undefined || (named === undefined && code === 'ENOENT')) return;
  throw new ConfigError([
    {
      variable: named === undefined ? '.env' : 'NSTATS_ENV_FILE',
      value: path,
      expected: `expected a readable settings file (${code ?? error.message})`,
    },
  ]);
}

/** The variable a setting was read from: its own name, else the first alias that is set. */
function pick(env: Environment, name: SettingName): { variable: string; value: string | undefined } {
  for (const variable of [name, ...(SETTINGS[name].aliases ?? [])]) {
    const value = env[variable];
    if (value !== undefined) return { variable, value };
  }
  return { variable: name, value: undefined };
}

/** A variable's place in the settings table (an alias counts as its setting). */
function order(variable: string): number {
  return Object.values(SETTINGS).findIndex((d) => d.env === variable || d.aliases?.includes(variable));
}

function shown(name: SettingName, value: string | undefined): string | undefined {
  return SETTINGS[name].secret && value !== undefined ? '(hidden)' : value;
}

/**
 * Validates the environment once and builds the typed config. Makes no network calls.
 * @throws ConfigError listing every bad setting (variable, value, what was expected).
 */
export function loadConfig(env: Environment, defaults: { hostname?: () => string } = {}): Config {
  retired(env);
  const names = Object.keys(SETTINGS) as SettingName[];
  const picked = new Map(names.map((n) => [n, pick(env, n)]));
  // A variable set to nothing is a mistake (a missing key in a ConfigMap, a typo), not a default:
  // it is refused, as an unusable value would be.
  const empty = names.filter((n) => picked.get(n)?.value?.trim() === '');
  const input = Object.fromEntries(
    names.map((n) => [n, empty.includes(n) ? undefined : picked.get(n)?.value]),
  );
  const parsed = settingsSchema.safeParse(input);
  if (!parsed.success || empty.length > 0) {
    const problem = (name: SettingName, expected: string): ConfigProblem => {
      const p = picked.get(name);
      return { variable: p?.variable ?? name, value: shown(name, p?.value), expected };
    };
    const problems = [
      ...empty.map((n) =>
        problem(n, `is empty: set a value, or unset it for the default (${settingDefault(n)})`),
      ),
      ...(parsed.error?.issues ?? []).map((issue) =>
        problem(String(issue.path[0]) as SettingName, issue.message),
      ),
    ].sort((a, b) => order(a.variable) - order(b.variable));
    throw new ConfigError(problems);
  }
  const s = parsed.data;
  const problems: ConfigProblem[] = [];
  const influx = buildInflux(s, picked, problems);
  const sinks = s.NSTATS_SINKS ?? [influx ? 'influxdb' : 'stdout'];
  if (sinks.includes('influxdb') && !influx) {
    problems.push({
      variable: 'NSTATS_SINKS',
      value: picked.get('NSTATS_SINKS')?.value,
      expected: "influxdb needs NSTATS_INFLUX_URL (or the seed's INFLUX): set it, or leave influxdb out",
    });
  }
  if (sinks.includes('prometheus') && s.NSTATS_HEALTH_PORT === 0) {
    problems.push({
      variable: 'NSTATS_SINKS',
      value: picked.get('NSTATS_SINKS')?.value,
      expected:
        'prometheus is served on the health port: set NSTATS_HEALTH_PORT (e.g. 9090), or leave prometheus out',
    });
  }
  if (s.NSTATS_NAMES_URL && s.NSTATS_KUBERNETES) {
    problems.push({
      variable: 'NSTATS_KUBERNETES',
      value: picked.get('NSTATS_KUBERNETES')?.value,
      expected:
        'either a names service (NSTATS_NAMES_URL) or the watch in this process (NSTATS_KUBERNETES), not both',
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    capture: {
      ...(s.NSTATS_INTERFACE === undefined ? {} : { interface: s.NSTATS_INTERFACE }),
      mode: s.NSTATS_MODE,
      sampleSeconds: s.NSTATS_SAMPLE_SECONDS,
      flowLimit: s.NSTATS_FLOW_LIMIT,
      ports: s.NSTATS_PORTS,
      foldPorts: s.NSTATS_FOLD_PORTS,
      iftopPath: s.NSTATS_IFTOP_PATH,
      graceMs: s.NSTATS_CAPTURE_GRACE_MS,
    },
    schedule: s.NSTATS_SCHEDULE,
    shutdownTimeoutMs: s.NSTATS_SHUTDOWN_TIMEOUT_MS,
    ...(influx ? { influx } : {}),
    sinks,
    prometheus: {
      maxSeries: s.NSTATS_PROMETHEUS_MAX_SERIES,
      staleMs: s.NSTATS_PROMETHEUS_STALE_SECONDS * 1000,
    },
    retention: {
      rawSeconds: retentionSeconds(s.NSTATS_RAW_RETENTION),
      longSeconds: retentionSeconds(s.NSTATS_LONG_RETENTION),
      longRetentionPolicy: s.NSTATS_LONG_RETENTION_POLICY,
      ...(s.NSTATS_LONG_BUCKET !== undefined || s.NSTATS_INFLUX_BUCKET !== undefined
        ? { longBucket: s.NSTATS_LONG_BUCKET ?? `${s.NSTATS_INFLUX_BUCKET}_long` }
        : {}),
    },
    dns: {
      enabled: s.NSTATS_DNS,
      ...(s.NSTATS_DNS_SERVERS ? { servers: s.NSTATS_DNS_SERVERS } : {}),
      timeoutMs: s.NSTATS_DNS_TIMEOUT_MS,
      budgetMs: s.NSTATS_DNS_BUDGET_MS,
      concurrency: s.NSTATS_DNS_CONCURRENCY,
      cacheSize: s.NSTATS_DNS_CACHE_SIZE,
      ttlSeconds: s.NSTATS_DNS_TTL_SECONDS,
      negativeTtlSeconds: s.NSTATS_DNS_NEGATIVE_TTL_SECONDS,
    },
    names: {
      ...(s.NSTATS_NAMES_URL ? { url: s.NSTATS_NAMES_URL } : {}),
      inProcess: s.NSTATS_KUBERNETES,
      timeoutMs: s.NSTATS_NAMES_TIMEOUT_MS,
      ttlSeconds: s.NSTATS_NAMES_TTL_SECONDS,
      podNames: s.NSTATS_PEER_POD_NAMES,
    },
    kube: {
      graceMs: s.NSTATS_KUBE_GRACE_SECONDS * 1000,
      silenceMs: s.NSTATS_KUBE_WATCH_SILENCE_SECONDS * 1000,
      pageSize: s.NSTATS_KUBE_PAGE_SIZE,
      port: s.NSTATS_NAMES_PORT,
      host: s.NSTATS_NAMES_HOST,
    },
    identity: {
      host: s.NSTATS_HOSTNAME ?? (defaults.hostname ?? hostname)(),
      ...(s.POD_NAME ? { pod: s.POD_NAME } : {}),
      ...(s.POD_IP ? { address: s.POD_IP } : {}),
      ...(s.POD_NAMESPACE ? { namespace: s.POD_NAMESPACE } : {}),
      ...(s.NODE_NAME ? { node: s.NODE_NAME } : {}),
    },
    node: {
      procRoot: s.NSTATS_PROC_ROOT,
      scanMs: s.NSTATS_NODE_SCAN_SECONDS * 1000,
      nsenterPath: s.NSTATS_NSENTER_PATH,
      dockerConfig: s.NSTATS_DOCKER_CONFIG,
      containerdState: s.NSTATS_CONTAINERD_STATE,
      crioStorage: s.NSTATS_CRIO_STORAGE,
    },
    spool: {
      ...(s.NSTATS_SPOOL_DIR ? { dir: s.NSTATS_SPOOL_DIR } : {}),
      maxBytes:
        (s.NSTATS_SPOOL_MAX_MB ?? DEFAULT_SPOOL_MAX_MB[s.NSTATS_SPOOL_DIR ? 'disk' : 'memory']) * 1024 * 1024,
    },
    health: {
      port: s.NSTATS_HEALTH_PORT,
      host: s.NSTATS_HEALTH_HOST,
      sinkFailingMs: s.NSTATS_HEALTH_SINK_FAILING_SECONDS * 1000,
    },
    internalMetrics: s.NSTATS_INTERNAL_METRICS,
    logLevel: s.NSTATS_LOG_LEVEL,
  };
}

/** A retention the schema has accepted, in seconds. */
function retentionSeconds(value: string): number {
  const seconds = parseRetention(value);
  if (seconds === undefined) throw new Error(`config: retention ${JSON.stringify(value)} passed the schema`);
  return seconds;
}

/** Settings earlier versions read, with what replaced them: set, they are an error, not ignored. */
const RETIRED: Readonly<Record<string, string>> = {
  NSTATS_INFLUX_MAX_RETRIES:
    'no longer read: points stay in the spool and are retried until delivered (see NSTATS_SPOOL_DIR, NSTATS_SPOOL_MAX_MB); unset it',
  NSTATS_INFLUX_MAX_RETRY_TIME_MS:
    'no longer read: retries go on until delivered, NSTATS_INFLUX_RETRY_MAX_MS caps the wait between them; unset it',
  NSTATS_INFLUX_MAX_BUFFER_LINES: 'no longer read: the spool is capped by NSTATS_SPOOL_MAX_MB; unset it',
};

function retired(env: Environment): void {
  const problems = Object.entries(RETIRED)
    .filter(([name]) => env[name] !== undefined && env[name] !== '')
    .map(([name, expected]) => ({ variable: name, value: env[name], expected }));
  if (problems.length > 0) throw new ConfigError(problems);
}

/** A secret from its variable or from the file its `_FILE` variable names (not both). */
function secret(
  s: Settings,
  name: 'NSTATS_INFLUX_TOKEN' | 'NSTATS_INFLUX_PASSWORD',
  fileName: 'NSTATS_INFLUX_TOKEN_FILE' | 'NSTATS_INFLUX_PASSWORD_FILE',
  problems: ConfigProblem[],
): string | undefined {
  const file = s[fileName];
  if (file === undefined) return s[name];
  if (s[name] !== undefined) {
    problems.push({
      variable: fileName,
      value: file,
      expected: `set either ${name} or ${fileName}, not both`,
    });
    return undefined;
  }
  try {
    const value = readFileSync(file, 'utf8').trim();
    if (value === '') {
      problems.push({
        variable: fileName,
        value: file,
        expected: 'expected a file holding the secret; it is empty',
      });
      return undefined;
    }
    // The file's content must be what the variable itself would accept (never shown).
    const checked = settingsSchema.shape[name].safeParse(value);
    if (!checked.success) {
      problems.push({
        variable: fileName,
        value: file,
        expected: `the file's content: ${checked.error.issues[0]?.message ?? 'not a valid secret'}`,
      });
      return undefined;
    }
    return value;
  } catch (err) {
    problems.push({
      variable: fileName,
      value: file,
      expected: `expected a readable file (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    });
    return undefined;
  }
}

function buildInflux(
  s: Settings,
  picked: Map<SettingName, { variable: string; value: string | undefined }>,
  problems: ConfigProblem[],
): Config['influx'] {
  const url = s.NSTATS_INFLUX_URL;
  const v = (n: SettingName) => picked.get(n)?.variable ?? n;
  if (url === undefined) {
    for (const n of [
      'NSTATS_INFLUX_DATABASE',
      'NSTATS_INFLUX_BUCKET',
      'NSTATS_INFLUX_TOKEN',
      'NSTATS_INFLUX_TOKEN_FILE',
      'NSTATS_INFLUX_ORG',
    ] as const) {
      if (s[n] !== undefined) {
        problems.push({
          variable: v(n),
          value: shown(n, picked.get(n)?.value),
          expected: `is set but ${v('NSTATS_INFLUX_URL')} is not: set NSTATS_INFLUX_URL (or INFLUX=host:port) too, or unset it to print to stdout`,
        });
      }
    }
    return undefined;
  }
  const api = s.NSTATS_INFLUX_API ?? (s.NSTATS_INFLUX_DATABASE !== undefined ? 'v1' : 'v2');
  if (api === 'v2' && s.NSTATS_INFLUX_BUCKET === undefined) {
    problems.push({
      variable: 'NSTATS_INFLUX_BUCKET',
      value: undefined,
      expected:
        'expected a bucket for the v2 API (or set NSTATS_INFLUX_DATABASE / IDB for InfluxDB 1.x before 1.8)',
    });
  }
  if (api === 'v1' && s.NSTATS_INFLUX_DATABASE === undefined) {
    problems.push({
      variable: 'NSTATS_INFLUX_DATABASE',
      value: undefined,
      expected: 'expected a database for the v1 API (IDB in the seed)',
    });
  }
  const optional = {
    token: secret(s, 'NSTATS_INFLUX_TOKEN', 'NSTATS_INFLUX_TOKEN_FILE', problems),
    bucket: s.NSTATS_INFLUX_BUCKET,
    database: s.NSTATS_INFLUX_DATABASE,
    retentionPolicy: s.NSTATS_INFLUX_RETENTION_POLICY,
    username: s.NSTATS_INFLUX_USERNAME,
    password: secret(s, 'NSTATS_INFLUX_PASSWORD', 'NSTATS_INFLUX_PASSWORD_FILE', problems),
  };
  return {
    url,
    api,
    org: s.NSTATS_INFLUX_ORG ?? '',
    ...Object.fromEntries(Object.entries(optional).filter(([, value]) => value !== undefined)),
    timeoutMs: s.NSTATS_INFLUX_TIMEOUT_MS,
    batchSize: s.NSTATS_INFLUX_BATCH_SIZE,
    retryMaxMs: s.NSTATS_INFLUX_RETRY_MAX_MS,
  };
}
