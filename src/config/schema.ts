import { z } from 'zod';
import {
  bindHost,
  bool,
  absolutePath,
  bucketName,
  command,
  dnsServers,
  hostName,
  influxName,
  influxUrl,
  int,
  interfaceName,
  ipAddress,
  kubernetesName,
  kubernetesNamespace,
  retention,
  schedule,
  serviceUrl,
  sinkList,
  text,
  token,
  userName,
} from './values.js';

/**
 * Every setting nstats reads, with its environment variable, default and meaning. This table is
 * the single source: the loader reads it, `--help` and the README list it.
 */
export interface SettingDoc {
  readonly env: string;
  /** Older names still read (the seed's `IFACE`, `INFLUX`, `IDB`). */
  readonly aliases?: readonly string[];
  /**
   * What applies when the setting is unset, in words, for a setting the schema gives no default
   * (optional, computed, or depending on another setting). Where the schema has a default, the
   * docs show that one (settingDefault) and this is absent.
   */
  readonly default?: string;
  readonly description: string;
  /** Never printed: shown as `(hidden)` in errors and logs. */
  readonly secret?: boolean;
}

/** NSTATS_SPOOL_MAX_MB when it is unset: it depends on whether NSTATS_SPOOL_DIR is set. */
export const DEFAULT_SPOOL_MAX_MB = { disk: 64, memory: 8 } as const;

/** The raw schema: one key per setting, all strings in, typed values out. */
export const settingsSchema = z.object({
  NSTATS_INTERFACE: interfaceName.optional(),
  NSTATS_MODE: z
    .enum(['sampled', 'continuous'], { message: 'expected sampled or continuous' })
    .default('sampled'),
  NSTATS_SAMPLE_SECONDS: int(10, 3600).default(10),
  NSTATS_SCHEDULE: schedule.default('* * * * *'),
  NSTATS_FLOW_LIMIT: int(1, 10000).default(100),
  NSTATS_PORTS: bool.default(false),
  NSTATS_FOLD_PORTS: bool.default(true),
  NSTATS_IFTOP_PATH: command.default('iftop'),
  NSTATS_CAPTURE_GRACE_MS: int(100, 30000).default(1500),
  NSTATS_SHUTDOWN_TIMEOUT_MS: int(1000, 600000).default(20000),

  NSTATS_SINKS: sinkList.optional(),
  NSTATS_PROMETHEUS_MAX_SERIES: int(1, 1000000).default(1000),
  NSTATS_PROMETHEUS_STALE_SECONDS: int(1, 604800).default(600),

  NSTATS_INFLUX_URL: influxUrl.optional(),
  NSTATS_INFLUX_API: z.enum(['v2', 'v1'], { message: 'expected v2 or v1' }).optional(),
  NSTATS_INFLUX_TOKEN: token.optional(),
  NSTATS_INFLUX_TOKEN_FILE: text.optional(),
  NSTATS_INFLUX_ORG: text.optional(),
  NSTATS_INFLUX_BUCKET: bucketName.optional(),
  NSTATS_INFLUX_DATABASE: influxName('database').optional(),
  NSTATS_INFLUX_RETENTION_POLICY: influxName('retention policy').optional(),
  NSTATS_INFLUX_USERNAME: userName.optional(),
  NSTATS_INFLUX_PASSWORD: text.optional(),
  NSTATS_INFLUX_PASSWORD_FILE: text.optional(),
  NSTATS_INFLUX_TIMEOUT_MS: int(100, 600000).default(10000),
  NSTATS_INFLUX_BATCH_SIZE: int(1, 100000).default(1000),
  NSTATS_INFLUX_RETRY_MAX_MS: int(1000, 3600000).default(30000),
  NSTATS_RAW_RETENTION: retention.default('7d'),
  NSTATS_LONG_RETENTION: retention.default('400d'),
  NSTATS_LONG_RETENTION_POLICY: influxName('retention policy').default('long'),
  NSTATS_LONG_BUCKET: bucketName.optional(),

  NSTATS_SPOOL_DIR: text.optional(),
  NSTATS_SPOOL_MAX_MB: int(1, 1048576).optional(),

  NSTATS_DNS: bool.default(true),
  NSTATS_DNS_SERVERS: dnsServers.optional(),
  NSTATS_DNS_TIMEOUT_MS: int(10, 60000).default(1000),
  NSTATS_DNS_BUDGET_MS: int(10, 60000).default(2000),
  NSTATS_DNS_CONCURRENCY: int(1, 256).default(8),
  NSTATS_DNS_CACHE_SIZE: int(1, 1000000).default(4096),
  NSTATS_DNS_TTL_SECONDS: int(0, 86400).default(300),
  NSTATS_DNS_NEGATIVE_TTL_SECONDS: int(0, 86400).default(60),

  NSTATS_NAMES_URL: serviceUrl.optional(),
  NSTATS_NAMES_TIMEOUT_MS: int(10, 60000).default(1000),
  NSTATS_NAMES_TTL_SECONDS: int(0, 86400).default(30),
  NSTATS_KUBERNETES: bool.default(false),
  NSTATS_PEER_POD_NAMES: bool.default(false),
  NSTATS_NAMES_PORT: int(1, 65535).default(9478),
  NSTATS_NAMES_HOST: bindHost.default('0.0.0.0'),
  NSTATS_KUBE_GRACE_SECONDS: int(0, 86400).default(60),
  NSTATS_KUBE_WATCH_SILENCE_SECONDS: int(1, 86400).default(120),
  NSTATS_KUBE_PAGE_SIZE: int(1, 10000).default(500),

  NSTATS_HEALTH_PORT: int(0, 65535).default(0),
  NSTATS_HEALTH_HOST: bindHost.default('0.0.0.0'),
  NSTATS_HEALTH_SINK_FAILING_SECONDS: int(0, 86400).default(300),
  NSTATS_INTERNAL_METRICS: bool.default(false),

  NSTATS_PROC_ROOT: absolutePath.default('/proc'),
  NSTATS_NODE_SCAN_SECONDS: int(1, 3600).default(5),
  NSTATS_NSENTER_PATH: command.default('nsenter'),
  NSTATS_DOCKER_CONFIG: absolutePath.default('/etc/docker/daemon.json'),
  NSTATS_CONTAINERD_STATE: absolutePath.default('/run/containerd'),
  NSTATS_CRIO_STORAGE: absolutePath.default('/run/containers/storage'),

  NSTATS_HOSTNAME: hostName.optional(),
  POD_NAME: kubernetesName.optional(),
  POD_IP: ipAddress.optional(),
  POD_NAMESPACE: kubernetesNamespace.optional(),
  NODE_NAME: kubernetesName.optional(),
  NSTATS_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      message: 'expected one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  NSTATS_ENV_FILE: text.optional(),
});

export type Settings = z.output<typeof settingsSchema>;
export type SettingName = keyof z.input<typeof settingsSchema>;

/** A setting's doc: its default in words exactly when the schema has none. */
type DocOf<K extends SettingName> = SettingDoc &
  ((typeof settingsSchema.shape)[K] extends z.ZodDefault
    ? { readonly default?: never }
    : { readonly default: string });

/** Documentation of every setting, in the order of the README's table. */
export const SETTINGS: { readonly [K in SettingName]: DocOf<K> } = {
  NSTATS_INTERFACE: {
    env: 'NSTATS_INTERFACE',
    aliases: ['IFACE'],
    default: 'the interface of the default route (eth0 in a pod)',
    description: 'Interface iftop captures on.',
  },
  NSTATS_MODE: {
    env: 'NSTATS_MODE',
    description:
      "`sampled`: the seed's way, one iftop of NSTATS_SAMPLE_SECONDS per tick, rates of that window. `continuous`: one iftop runs all the time and each tick writes the exact bytes of every flow since the last tick (see [Continuous mode](#continuous-mode)).",
  },
  NSTATS_SAMPLE_SECONDS: {
    env: 'NSTATS_SAMPLE_SECONDS',
    description:
      'Length of each sample, 10-3600 s. iftop runs this plus 2 s, rounded up to its 2 s slots: its first slot is partial and must fall out of the 10 s column that `sendRate`/`receiveRate` come from.',
  },
  NSTATS_SCHEDULE: {
    env: 'NSTATS_SCHEDULE',
    description:
      'When `nstats run` samples: a cron expression, a leading seconds field allowed. Runs never overlap.',
  },
  NSTATS_FLOW_LIMIT: {
    env: 'NSTATS_FLOW_LIMIT',
    description: 'Most flows per sample (iftop `-L`); busiest first.',
  },
  NSTATS_PORTS: {
    env: 'NSTATS_PORTS',
    description: 'Split flows by port (iftop `-P`) and tag points with `senderPort`/`receiverPort`.',
  },
  NSTATS_FOLD_PORTS: {
    env: 'NSTATS_FOLD_PORTS',
    description:
      "With NSTATS_PORTS: a client's ephemeral port (32768 and up; the higher one when both are) becomes `ephemeral` and that peer's connections to one server port are added into one point, so 10,000 short connections make one series, not 10,000. `false`: every connection is its own series.",
  },
  NSTATS_IFTOP_PATH: {
    env: 'NSTATS_IFTOP_PATH',
    description: 'The iftop binary: a command on PATH or a path (one word, no arguments).',
  },
  NSTATS_CAPTURE_GRACE_MS: {
    env: 'NSTATS_CAPTURE_GRACE_MS',
    description: 'After the deadline iftop gets SIGINT; this long later, SIGKILL.',
  },
  NSTATS_SHUTDOWN_TIMEOUT_MS: {
    env: 'NSTATS_SHUTDOWN_TIMEOUT_MS',
    description:
      "On SIGTERM/SIGINT `nstats run` stops its schedule, ends a running capture, spools its points and sends what it can until 1 s before this bound (the rest stays in the spool); past the bound it exits anyway (code 1). Below Kubernetes' 30 s grace period.",
  },
  NSTATS_SINKS: {
    env: 'NSTATS_SINKS',
    default: '`influxdb` when NSTATS_INFLUX_URL is set, else `stdout`',
    description:
      "Where points go, one or more of `influxdb`, `prometheus`, `stdout`, comma-separated. `prometheus` exposes the flows as counters on the health port's `/metrics` (needs NSTATS_HEALTH_PORT); `influxdb` needs NSTATS_INFLUX_URL.",
  },
  NSTATS_PROMETHEUS_MAX_SERIES: {
    env: 'NSTATS_PROMETHEUS_MAX_SERIES',
    description:
      'Most flow series (peer pairs) the Prometheus sink keeps; the traffic of flows beyond it is added into one `(overflow)` series and counted in `nstats_prometheus_overflow_records_total`.',
  },
  NSTATS_PROMETHEUS_STALE_SECONDS: {
    env: 'NSTATS_PROMETHEUS_STALE_SECONDS',
    description: 'A flow series no cycle has added to for this long is dropped from `/metrics`.',
  },
  NSTATS_INFLUX_URL: {
    env: 'NSTATS_INFLUX_URL',
    aliases: ['INFLUX'],
    default: 'none: points are printed to stdout',
    description:
      "InfluxDB's base URL, `http(s)://host[:port][/path]`, or `host:port` as the seed had it (then http). nstats adds `/api/v2/write` or `/write` itself.",
  },
  NSTATS_INFLUX_API: {
    env: 'NSTATS_INFLUX_API',
    default: 'v1 when a database is set, else v2',
    description:
      '`v2` writes to `/api/v2/write` (InfluxDB 2.x, 3.x, Cloud, 1.8+, VictoriaMetrics); `v1` to `/write?db=` (InfluxDB 1.x before 1.8).',
  },
  NSTATS_INFLUX_TOKEN: {
    env: 'NSTATS_INFLUX_TOKEN',
    default: 'none',
    description: 'API token (v2). For 1.8+ through v2: `user:password`.',
    secret: true,
  },
  NSTATS_INFLUX_TOKEN_FILE: {
    env: 'NSTATS_INFLUX_TOKEN_FILE',
    default: 'none',
    description:
      'A file holding the token (a mounted Secret); read once at start-up, surrounding whitespace dropped.',
  },
  NSTATS_INFLUX_ORG: { env: 'NSTATS_INFLUX_ORG', default: 'empty', description: 'Organization (v2).' },
  NSTATS_INFLUX_BUCKET: {
    env: 'NSTATS_INFLUX_BUCKET',
    default: 'required for v2',
    description: 'Bucket (v2). For 1.8+: `database/retention-policy`.',
  },
  NSTATS_INFLUX_DATABASE: {
    env: 'NSTATS_INFLUX_DATABASE',
    aliases: ['IDB'],
    default: 'required for v1',
    description: 'Database (v1).',
  },
  NSTATS_INFLUX_RETENTION_POLICY: {
    env: 'NSTATS_INFLUX_RETENTION_POLICY',
    default: "the database's default",
    description:
      'Retention policy (v1) points are written to. `nstats setup` makes it the raw policy; unset, setup creates `raw` and makes it the default.',
  },
  NSTATS_INFLUX_USERNAME: {
    env: 'NSTATS_INFLUX_USERNAME',
    default: 'none',
    description: 'User (v1, basic auth).',
  },
  NSTATS_INFLUX_PASSWORD: {
    env: 'NSTATS_INFLUX_PASSWORD',
    default: 'none',
    description: 'Password (v1, basic auth).',
    secret: true,
  },
  NSTATS_INFLUX_PASSWORD_FILE: {
    env: 'NSTATS_INFLUX_PASSWORD_FILE',
    default: 'none',
    description: 'A file holding the password (a mounted Secret), read like the token file.',
  },
  NSTATS_INFLUX_TIMEOUT_MS: {
    env: 'NSTATS_INFLUX_TIMEOUT_MS',
    description:
      "Timeout of one write request; also of each request of `nstats setup` but the backfill's (which may take 10 minutes, or this if longer).",
  },
  NSTATS_INFLUX_BATCH_SIZE: {
    env: 'NSTATS_INFLUX_BATCH_SIZE',
    description: 'Most lines per write request (a cycle with more flows is sent in several).',
  },
  NSTATS_INFLUX_RETRY_MAX_MS: {
    env: 'NSTATS_INFLUX_RETRY_MAX_MS',
    description:
      "Longest wait between write retries: they start at 1 s and double (or follow the server's Retry-After). While writes are refused (401, 403, 404), an empty test write at this pace tells when they are accepted again.",
  },
  NSTATS_RAW_RETENTION: {
    env: 'NSTATS_RAW_RETENTION',
    description:
      '`nstats setup`: how long raw points are kept, by the raw retention policy (v1) or NSTATS_INFLUX_BUCKET (v2). Whole s, m, h, d or w, at least 1h (`36h`, `2w`, `1d12h`), or `INF` for ever. See [docs/retention.md](docs/retention.md).',
  },
  NSTATS_LONG_RETENTION: {
    env: 'NSTATS_LONG_RETENTION',
    description:
      '`nstats setup`: how long the 1 h roll-up is kept, by NSTATS_LONG_RETENTION_POLICY (v1) or NSTATS_LONG_BUCKET (v2); same format.',
  },
  NSTATS_LONG_RETENTION_POLICY: {
    env: 'NSTATS_LONG_RETENTION_POLICY',
    description:
      '`nstats setup` (v1): the retention policy of the 1 h roll-up: same measurements and tags as the raw points, fields in [docs/retention.md](docs/retention.md).',
  },
  NSTATS_LONG_BUCKET: {
    env: 'NSTATS_LONG_BUCKET',
    default: 'NSTATS_INFLUX_BUCKET with `_long` appended',
    description: '`nstats setup` (v2): the bucket of the 1 h roll-up.',
  },
  NSTATS_SPOOL_DIR: {
    env: 'NSTATS_SPOOL_DIR',
    default: 'unset: a buffer in memory',
    description:
      'Directory of the spool: every point is stored here until InfluxDB acknowledges it, and replayed oldest first after an outage or a restart. In Kubernetes, an `emptyDir` volume. Unset, points wait in memory and a restart loses them.',
  },
  NSTATS_SPOOL_MAX_MB: {
    env: 'NSTATS_SPOOL_MAX_MB',
    default: `${DEFAULT_SPOOL_MAX_MB.disk} with NSTATS_SPOOL_DIR, ${DEFAULT_SPOOL_MAX_MB.memory} in memory`,
    description:
      'Cap of the spool in MiB (a point takes 200-300 bytes: 1 MiB holds about 4,000). When full, the oldest points are dropped and counted (`nstats_points_total{outcome="dropped",reason="spool-full"}`).',
  },
  NSTATS_DNS: { env: 'NSTATS_DNS', description: 'Name peers by reverse DNS.' },
  NSTATS_DNS_SERVERS: {
    env: 'NSTATS_DNS_SERVERS',
    default: "the system's (/etc/resolv.conf)",
    description:
      'Comma-separated DNS servers for reverse lookups: IP addresses, each with an optional port (`10.0.0.10:5353`, `[fd00::53]:53`).',
  },
  NSTATS_DNS_TIMEOUT_MS: {
    env: 'NSTATS_DNS_TIMEOUT_MS',
    description: 'Timeout of one lookup.',
  },
  NSTATS_DNS_BUDGET_MS: {
    env: 'NSTATS_DNS_BUDGET_MS',
    description: 'Most time naming may add to a cycle; peers not named by then keep their IP.',
  },
  NSTATS_DNS_CONCURRENCY: {
    env: 'NSTATS_DNS_CONCURRENCY',
    description: 'Lookups in flight at once.',
  },
  NSTATS_DNS_CACHE_SIZE: {
    env: 'NSTATS_DNS_CACHE_SIZE',
    description: 'Addresses kept in the cache.',
  },
  NSTATS_DNS_TTL_SECONDS: {
    env: 'NSTATS_DNS_TTL_SECONDS',
    description: 'How long a name is kept.',
  },
  NSTATS_DNS_NEGATIVE_TTL_SECONDS: {
    env: 'NSTATS_DNS_NEGATIVE_TTL_SECONDS',
    description: 'How long "no name" (or a failed lookup) is kept.',
  },
  NSTATS_NAMES_URL: {
    env: 'NSTATS_NAMES_URL',
    default: 'none: peers are not named by Kubernetes',
    description:
      "The cluster's names service (`nstats names`, [k8s/names-service.yaml](k8s/names-service.yaml)), e.g. `http://nstats-names.monitoring:9478`: peers are named by workload, Service or node, with `senderNamespace`, `senderWorkload`, `senderKind` tags (and `receiver...`). Asked before reverse DNS; while it is unreachable, DNS and the IP name peers.",
  },
  NSTATS_NAMES_TIMEOUT_MS: {
    env: 'NSTATS_NAMES_TIMEOUT_MS',
    description: "Timeout of one request to the names service (within the cycle's NSTATS_DNS_BUDGET_MS).",
  },
  NSTATS_NAMES_TTL_SECONDS: {
    env: 'NSTATS_NAMES_TTL_SECONDS',
    description: 'How long an answer of the names service (or of the in-process watch) is kept by a sidecar.',
  },
  NSTATS_KUBERNETES: {
    env: 'NSTATS_KUBERNETES',
    description:
      'Run the Kubernetes watch in this process instead of asking a names service (needs list/watch on pods, services and nodes: for small clusters or the node agent).',
  },
  NSTATS_PEER_POD_NAMES: {
    env: 'NSTATS_PEER_POD_NAMES',
    description:
      "Also tag each peer's pod name (`senderPod`, `receiverPod`): one series per peer pod instead of per workload (see [Point schema](#point-schema)).",
  },
  NSTATS_NAMES_PORT: {
    env: 'NSTATS_NAMES_PORT',
    description: 'Port `nstats names` serves look-ups, `/livez`, `/readyz` and `/metrics` on.',
  },
  NSTATS_NAMES_HOST: {
    env: 'NSTATS_NAMES_HOST',
    description: 'Address `nstats names` binds.',
  },
  NSTATS_KUBE_GRACE_SECONDS: {
    env: 'NSTATS_KUBE_GRACE_SECONDS',
    description:
      'How long a pod that is gone (deleted, Succeeded or Failed) stays named, so that its late flows are named; a pod that takes the address over is named at once.',
  },
  NSTATS_KUBE_WATCH_SILENCE_SECONDS: {
    env: 'NSTATS_KUBE_WATCH_SILENCE_SECONDS',
    description:
      'A watch of the Kubernetes API that brings nothing (not even a bookmark) for this long is started again.',
  },
  NSTATS_KUBE_PAGE_SIZE: {
    env: 'NSTATS_KUBE_PAGE_SIZE',
    description: 'Objects per page when listing pods, Services and nodes.',
  },
  NSTATS_HEALTH_PORT: {
    env: 'NSTATS_HEALTH_PORT',
    description:
      '`nstats run` serves `/livez`, `/readyz` (503 after a failed cycle) and `/metrics` (Prometheus text) on this port (0: off).',
  },
  NSTATS_HEALTH_HOST: {
    env: 'NSTATS_HEALTH_HOST',
    description: 'Address the health endpoint binds (the kubelet probes the pod IP).',
  },
  NSTATS_HEALTH_SINK_FAILING_SECONDS: {
    env: 'NSTATS_HEALTH_SINK_FAILING_SECONDS',
    description:
      '`/readyz` answers 503 once writes to InfluxDB have failed for this long (0: at the first failure).',
  },
  NSTATS_INTERNAL_METRICS: {
    env: 'NSTATS_INTERNAL_METRICS',
    description:
      "Also write nstats' own counters (the `/metrics` ones) as an `nstats_internal` point after each cycle.",
  },
  NSTATS_PROC_ROOT: {
    env: 'NSTATS_PROC_ROOT',
    description:
      "`nstats node`: where the host's /proc is (the container's own with `hostPID: true`). Every network namespace is found through `<root>/*/ns/net`, each process's pod and container through `<root>/<pid>/cgroup`.",
  },
  NSTATS_NODE_SCAN_SECONDS: {
    env: 'NSTATS_NODE_SCAN_SECONDS',
    description:
      '`nstats node`: how often /proc is scanned for pods that came or went, besides every tick: a new pod is captured from the next scan, a gone one has its capture ended (its last period is still written).',
  },
  NSTATS_NSENTER_PATH: {
    env: 'NSTATS_NSENTER_PATH',
    description: "`nstats node`: the `nsenter` (util-linux) that runs iftop in each pod's network namespace.",
  },
  NSTATS_DOCKER_CONFIG: {
    env: 'NSTATS_DOCKER_CONFIG',
    description:
      "`nstats node`: Docker's daemon.json; its `data-root` (default /var/lib/docker) holds `containers/<id>/config.v2.json`, whose labels name a container's pod when the Kubernetes API cannot.",
  },
  NSTATS_CONTAINERD_STATE: {
    env: 'NSTATS_CONTAINERD_STATE',
    description:
      "`nstats node`: containerd's state directory; `io.containerd.runtime.v2.task/k8s.io/<id>/config.json` (the OCI bundle) names a container's pod by its annotations.",
  },
  NSTATS_CRIO_STORAGE: {
    env: 'NSTATS_CRIO_STORAGE',
    description:
      "`nstats node`: CRI-O's storage run root; `overlay-containers/<id>/userdata/config.json` names a container's pod by its annotations.",
  },
  NSTATS_HOSTNAME: {
    env: 'NSTATS_HOSTNAME',
    aliases: ['HOSTNAME'],
    default: "the machine's host name (the pod name in Kubernetes)",
    description: 'Value of the `hosts` tag.',
  },
  POD_NAME: { env: 'POD_NAME', default: 'unset', description: 'Downward API: adds the `pod` tag.' },
  POD_IP: {
    env: 'POD_IP',
    default: 'unset',
    description:
      "Downward API (`status.podIP`): with a names service (or NSTATS_KUBERNETES), the pod's own workload is looked up and tagged `workload`.",
  },
  POD_NAMESPACE: {
    env: 'POD_NAMESPACE',
    default: 'unset',
    description: 'Downward API: adds the `namespace` tag.',
  },
  NODE_NAME: { env: 'NODE_NAME', default: 'unset', description: 'Downward API: adds the `node` tag.' },
  NSTATS_LOG_LEVEL: {
    env: 'NSTATS_LOG_LEVEL',
    description: 'fatal, error, warn, info, debug, trace or silent. Logs are JSON on stderr.',
  },
  NSTATS_ENV_FILE: {
    env: 'NSTATS_ENV_FILE',
    default: '`.env` in the working directory, if there is one',
    description:
      'A file of settings (dotenv format) read at start-up; variables already set win. A file named here must exist and be readable.',
  },
};

/**
 * A setting's default as the docs show it: the schema's own value where it has one, else the
 * doc's words. A value other than a plain word or number is shown as code (`* * * * *` would be
 * read as markdown).
 */
export function settingDefault(name: SettingName): string {
  const field = settingsSchema.shape[name];
  if (!(field instanceof z.ZodDefault)) return SETTINGS[name].default ?? '';
  const value = String(field.def.defaultValue);
  return /^[\w.-]+$/.test(value) ? value : `\`${value}\``;
}
