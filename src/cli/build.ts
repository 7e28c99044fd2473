import { setLogger } from '@influxdata/influxdb-client';
import { CaptureError } from '../capture/errors.js';
import { defaultRouteInterface } from '../capture/default-interface.js';
import type { InterfaceCounters } from '../capture/interface-counters.js';
import type { Config } from '../config/config.js';
import { DnsResolver } from '../enrich/dns-resolver.js';
import { KubeResolver } from '../enrich/kube-resolver.js';
import { NamesResolver } from '../enrich/names-resolver.js';
import type { ClusterNames } from '../kube/cluster-names.js';
import { ResolverChain, type Resolver } from '../enrich/resolver.js';
import { dnsReverseLookup } from '../enrich/reverse-lookup.js';
import type { Logger } from '../log/logger.js';
import { ContinuousIftopSource } from '../source/iftop-continuous.js';
import { SampledIftopSource } from '../source/iftop-sampled.js';
import type { Source, SourceMode } from '../source/source.js';
import { InfluxSink } from '../sink/influx-sink.js';
import type { Sink } from '../sink/sink.js';
import { DiskSpool, MemorySpool } from '../sink/spool.js';
import { LineProtocolSink } from '../sink/stdout-sink.js';
import { FanoutSink } from '../sink/fanout-sink.js';
import { PrometheusSink } from '../sink/prometheus-sink.js';

/** The interface to capture on: the configured one, else the default route's. */
export async function resolveInterface(config: Config): Promise<string> {
  const configured = config.capture.interface;
  if (configured) return configured;
  const found = await defaultRouteInterface();
  if (!found) {
    throw new CaptureError(
      'no-such-interface',
      '(default route)',
      'read /proc/net/route',
      undefined,
      'no default route found',
    );
  }
  return found;
}

/** How a capture in another network namespace runs (the node agent's, see NodeSource). */
export interface NetnsCapture {
  /** The command iftop runs under: `nsenter --net=/proc/<pid>/ns/net --`. */
  readonly wrapper: () => readonly string[];
  /** The interface counters of that namespace. */
  readonly readCounters: () => Promise<InterfaceCounters>;
}

/**
 * The source from config: where observations come from. A new source is one file implementing
 * Source, and one more case here.
 */
export function buildSource(
  config: Config,
  iface: string,
  log: Logger,
  mode: SourceMode = config.capture.mode,
  netns?: NetnsCapture,
): Source {
  const { flowLimit, ports, foldPorts, iftopPath, graceMs, sampleSeconds } = config.capture;
  const common = { interface: iface, flowLimit, ports, foldPorts, iftopPath, graceMs, ...netns };
  switch (mode) {
    case 'sampled':
      return new SampledIftopSource({ ...common, sampleSeconds });
    case 'continuous':
      return new ContinuousIftopSource({ ...common, log });
  }
}

/** The DNS resolver from config; undefined when reverse DNS is off. */
export function buildDnsResolver(config: Config): DnsResolver | undefined {
  if (!config.dns.enabled) return undefined;
  const { servers, timeoutMs, concurrency, cacheSize, ttlSeconds, negativeTtlSeconds } = config.dns;
  return new DnsResolver(dnsReverseLookup({ timeoutMs, ...(servers ? { servers } : {}) }), {
    timeoutMs,
    concurrency,
    cacheSize,
    ttlSeconds,
    negativeTtlSeconds,
  });
}

/**
 * The resolvers from config, in the order they are asked; undefined when there are none. A new
 * resolver is one file implementing Resolver, and one more entry here.
 */
export async function buildResolvers(
  config: Config,
  log: Logger,
  dns = buildDnsResolver(config),
): Promise<ResolverChain | undefined> {
  const { url, inProcess, timeoutMs, ttlSeconds, podNames } = config.names;
  const resolvers: Resolver[] = [];
  if (url) {
    const names = log.child({ component: 'names' });
    const cacheSize = config.dns.cacheSize;
    resolvers.push(new NamesResolver({ url, timeoutMs, ttlSeconds, cacheSize, podNames, log: names }));
  }
  if (inProcess) resolvers.push(new KubeResolver(await startClusterNames(config, log), podNames));
  if (dns) resolvers.push(dns);
  return resolvers.length > 0 ? new ResolverChain(resolvers) : undefined;
}

/**
 * The cluster's pods, Services and nodes followed from this process (`nstats names`, or
 * NSTATS_KUBERNETES), started. Throws when there is no Kubernetes configuration to use. The
 * Kubernetes client is loaded here, on demand: a sidecar that does not watch never loads it.
 */
export async function startClusterNames(config: Config, log: Logger): Promise<ClusterNames> {
  const { ClusterNames, loadKubeConfig } = await import('../kube/cluster-names.js');
  const { graceMs, silenceMs, pageSize } = config.kube;
  const cluster = new ClusterNames(loadKubeConfig(), {
    graceMs,
    silenceMs,
    pageSize,
    // The server ends each watch after this long, a little before the silence bound by default;
    // it is then resumed from the last version seen.
    watchTimeoutSeconds: Math.max(1, Math.min(300, Math.floor((silenceMs * 0.9) / 1000))),
    retryMinMs: 1000,
    retryMaxMs: 30_000,
    log: log.child({ component: 'kube' }),
  });
  cluster.start();
  return cluster;
}

/** The sinks from config, as one, and the Prometheus sink's page for `/metrics` when there is one. */
export interface BuiltSinks {
  readonly sink: Sink;
  readonly prometheus?: PrometheusSink;
}

/**
 * The sinks NSTATS_SINKS names (default: InfluxDB when configured, else line protocol on stdout).
 * A new sink is one file implementing Sink, and one more case here.
 */
export function buildSinks(config: Config, log: Logger): BuiltSinks {
  let prometheus: PrometheusSink | undefined;
  // InfluxDB first: its delivery state is what /readyz reports.
  const kinds = [...config.sinks].sort((a, b) => Number(b === 'influxdb') - Number(a === 'influxdb'));
  const sinks = kinds.map((kind): Sink => {
    switch (kind) {
      case 'influxdb':
        return buildInfluxSink(config, log);
      case 'prometheus':
        return (prometheus = new PrometheusSink(config.prometheus));
      case 'stdout':
        return new LineProtocolSink(process.stdout);
    }
  });
  const [first, ...rest] = sinks;
  if (!first) throw new Error('no sink configured');
  return {
    sink: rest.length > 0 ? new FanoutSink([first, ...rest]) : first,
    ...(prometheus ? { prometheus } : {}),
  };
}

/** The InfluxDB sink, with its spool. */
function buildInfluxSink(config: Config, log: Logger): Sink {
  if (!config.influx) throw new Error('NSTATS_SINKS has influxdb but NSTATS_INFLUX_URL is not set');
  // The client logs to the console by default; write failures are reported by the delivery
  // queue (src/sink/delivery-queue.ts), so keep the client's own messages as JSON at debug level.
  const client = log.child({ component: 'influx-client' });
  setLogger({
    error: (message, error) => client.debug({ err: error }, `influx-client: ${message}`),
    warn: (message, error) => client.debug({ err: error }, `influx-client: ${message}`),
  });
  const spool = config.spool.dir
    ? new DiskSpool(config.spool.dir, config.spool.maxBytes, (name) =>
        log.warn(
          { file: name, spool: config.spool.dir },
          `sink: ${name} in the spool is not a batch, left alone`,
        ),
      )
    : new MemorySpool(config.spool.maxBytes);
  return new InfluxSink(config.influx, {
    spool,
    log: log.child({ component: 'sink' }),
    retryMaxMs: config.influx.retryMaxMs,
  });
}
