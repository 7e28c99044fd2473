import type { SinkKind } from './values.js';

/** The one typed configuration object, built once at start-up by `loadConfig`. */
export interface CaptureConfig {
  /** sampled: one iftop per tick; continuous: one iftop all the time, periods between ticks. */
  readonly mode: 'sampled' | 'continuous';
  /** Undefined: the interface of the default route, found at start-up. */
  readonly interface?: string;
  readonly sampleSeconds: number;
  readonly flowLimit: number;
  readonly ports: boolean;
  /** With ports: fold clients' ephemeral ports (see foldEphemeralPorts). */
  readonly foldPorts: boolean;
  readonly iftopPath: string;
  readonly graceMs: number;
}

/** The Prometheus sink's bounds. */
export interface PrometheusConfig {
  readonly maxSeries: number;
  readonly staleMs: number;
}

export interface InfluxConfig {
  readonly url: string;
  readonly api: 'v1' | 'v2';
  readonly token?: string;
  readonly org: string;
  /** v2 bucket; for v1 the database (and retention policy) instead. */
  readonly bucket?: string;
  readonly database?: string;
  readonly retentionPolicy?: string;
  readonly username?: string;
  readonly password?: string;
  readonly timeoutMs: number;
  readonly batchSize: number;
  /** Longest wait between retries of a failed write. */
  readonly retryMaxMs: number;
}

/** What `nstats setup` makes: how long raw points and their 1 h roll-up are kept, and where. */
export interface RetentionConfig {
  /** Retention of the raw points in seconds; 0: for ever. */
  readonly rawSeconds: number;
  /** Retention of the 1 h roll-up in seconds; 0: for ever. */
  readonly longSeconds: number;
  /** v1: the retention policy of the roll-up. */
  readonly longRetentionPolicy: string;
  /** v2: the bucket of the roll-up; undefined without NSTATS_INFLUX_BUCKET. */
  readonly longBucket?: string;
}

export interface DnsConfig {
  readonly enabled: boolean;
  /** Undefined: the system's resolvers. */
  readonly servers?: readonly string[];
  readonly timeoutMs: number;
  readonly budgetMs: number;
  readonly concurrency: number;
  readonly cacheSize: number;
  readonly ttlSeconds: number;
  readonly negativeTtlSeconds: number;
}

/** Naming peers by Kubernetes: through the names service, or a watch in this process. */
export interface KubeNamesConfig {
  /** The names service's base URL; undefined: not asked. */
  readonly url?: string;
  /** Watch the API in this process (NSTATS_KUBERNETES). */
  readonly inProcess: boolean;
  readonly timeoutMs: number;
  /** How long a sidecar keeps an answer. */
  readonly ttlSeconds: number;
  /** Tag peers' pod names too. */
  readonly podNames: boolean;
}

/** The Kubernetes watch (`nstats names`, or NSTATS_KUBERNETES) and the names service's listener. */
export interface KubeWatchConfig {
  readonly graceMs: number;
  readonly silenceMs: number;
  readonly pageSize: number;
  readonly port: number;
  readonly host: string;
}

/** Who this sidecar is: the `hosts` tag and the Kubernetes tags. */
export interface IdentityConfig {
  readonly host: string;
  readonly pod?: string;
  /** The pod's own IP (POD_IP): its workload is looked up by it. */
  readonly address?: string;
  /** The pod's workload, when a resolver named the pod's own address (the `workload` tag). */
  readonly workload?: string;
  readonly namespace?: string;
  readonly node?: string;
}

/** `nstats node`: where it reads the host's processes and the runtimes' metadata. */
export interface NodeConfig {
  readonly procRoot: string;
  readonly scanMs: number;
  readonly nsenterPath: string;
  readonly dockerConfig: string;
  readonly containerdState: string;
  readonly crioStorage: string;
}

export interface Config {
  readonly capture: CaptureConfig;
  readonly schedule: string;
  /** How long `nstats run` may take to stop after SIGTERM/SIGINT before it exits anyway. */
  readonly shutdownTimeoutMs: number;
  /** Undefined: no database, `nstats run` prints line protocol to stdout. */
  readonly influx?: InfluxConfig;
  /** Where points go, in this order (NSTATS_SINKS). */
  readonly sinks: readonly SinkKind[];
  readonly prometheus: PrometheusConfig;
  /** `nstats setup`'s retention policies or buckets. */
  readonly retention: RetentionConfig;
  readonly dns: DnsConfig;
  readonly names: KubeNamesConfig;
  readonly kube: KubeWatchConfig;
  readonly identity: IdentityConfig;
  readonly node: NodeConfig;
  /** Where points wait for InfluxDB: a directory, or memory when `dir` is unset. */
  readonly spool: { readonly dir?: string; readonly maxBytes: number };
  /** The health endpoint of `nstats run`; port 0: off. */
  readonly health: {
    readonly port: number;
    readonly host: string;
    /** `/readyz` fails once writes have failed this long. */
    readonly sinkFailingMs: number;
  };
  /** Write the self-metrics as an `nstats_internal` point after each cycle. */
  readonly internalMetrics: boolean;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}
