import yoctoSpinner from 'yocto-spinner';
import { iftopSeconds } from '../capture/iftop-args.js';
import type { Config } from '../config/config.js';
import { createLogger } from '../log/logger.js';
import { HealthServer } from '../health/health-server.js';
import { SelfMetrics } from '../health/self-metrics.js';
import { Daemon } from '../pipeline/daemon.js';
import { observe, type Observed } from '../pipeline/observe.js';
import { cronScheduler } from '../schedule/scheduler.js';
import { safeTagValue } from '../record/tag-value.js';
import { KubeResolver } from '../enrich/kube-resolver.js';
import { NamesServer } from '../names/names-server.js';
import {
  buildDnsResolver,
  buildResolvers,
  buildSinks,
  buildSource,
  resolveInterface,
  startClusterNames,
} from './build.js';
import { formatJson, formatLines, formatTable } from './format.js';
import { NodeSource } from '../node/node-source.js';
import { PodNamer } from '../node/pod-namer.js';
import { buildPodDirectory, buildRuntimeMetadata, formatNodeListing, listNode } from './node.js';
import { formatLine, SetupError } from '../setup/report.js';
import { runSetup } from '../setup/setup.js';

/**
 * `nstats once`: one sampled window, through the same path as `run` (source, resolvers,
 * records), printed.
 */
export async function onceCommand(config: Config, format: 'table' | 'json' | 'line'): Promise<number> {
  const iface = await resolveInterface(config);
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const resolvers = await buildResolvers(config, log);
  const seconds = iftopSeconds(config.capture.sampleSeconds);
  const spinner = process.stderr.isTTY
    ? yoctoSpinner({ stream: process.stderr, handleSignals: false })
    : undefined;
  let left = seconds;
  spinner?.start(`capturing on ${iface} for ${seconds} s`);
  const timer = spinner
    ? setInterval(() => {
        left = Math.max(0, left - 1);
        spinner.text =
          left > 0 ? `capturing on ${iface}: ${left} s left` : `capturing on ${iface}: waiting for iftop`;
      }, 1000)
    : undefined;
  const abort = new AbortController();
  // `on`, not `once`: while a listener is there, a signal ends the capture cleanly (SIGINT to
  // iftop) and the sample is still printed; without one, execa's exit hook re-raises the signal.
  const onSignal = () => abort.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let observed: Observed;
  try {
    observed = await observe(
      {
        source: buildSource(config, iface, log, 'sampled'),
        ...(resolvers ? { resolvers } : {}),
        resolveBudgetMs: config.dns.budgetMs,
        identity: config.identity,
      },
      abort.signal,
    );
  } finally {
    resolvers?.close();
    clearInterval(timer);
    spinner?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  for (const issue of observed.observation.issues) {
    log.warn(issue, `parse: line ${issue.line} skipped: ${issue.reason}`);
  }
  if (format === 'json') process.stdout.write(formatJson(observed));
  else if (format === 'table') process.stdout.write(formatTable(observed));
  else process.stdout.write(formatLines(observed.records));
  return 0;
}

/** `nstats run`: the daemon, until SIGTERM/SIGINT (or `maxCycles`). */
export async function runCommand(config: Config, maxCycles?: number): Promise<number> {
  return daemonCommand(config, 'sidecar', maxCycles);
}

/** `nstats node`: the node agent (every pod network namespace of the node), as `run` runs a sidecar. */
export async function nodeCommand(config: Config, maxCycles?: number): Promise<number> {
  return daemonCommand(config, 'node', maxCycles);
}

/** The pods the node agent would capture, named, with the node's own namespace and its hostNetwork pods. */
export async function nodeListCommand(config: Config, format: 'table' | 'json'): Promise<number> {
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const directory = await buildPodDirectory(config, log);
  try {
    const listing = await listNode(config, new PodNamer(buildRuntimeMetadata(config), directory));
    process.stdout.write(
      format === 'json' ? `${JSON.stringify(listing, null, 2)}\n` : formatNodeListing(listing),
    );
  } finally {
    directory?.close();
  }
  return 0;
}

async function daemonCommand(config: Config, kind: 'sidecar' | 'node', maxCycles?: number): Promise<number> {
  const log = createLogger(config.logLevel);
  const iface =
    kind === 'node' ? (config.capture.interface ?? 'each namespace') : await resolveInterface(config);
  const dns = buildDnsResolver(config);
  const resolvers = await buildResolvers(config, log, dns);
  const node =
    kind === 'node'
      ? new NodeSource({
          mode: config.capture.mode,
          procRoot: config.node.procRoot,
          nsenterPath: config.node.nsenterPath,
          scanMs: config.node.scanMs,
          ...(config.identity.node ? { nodeName: config.identity.node } : {}),
          hostName: config.identity.host,
          ...(config.capture.interface ? { hostInterface: config.capture.interface } : {}),
          namer: new PodNamer(
            buildRuntimeMetadata(config),
            await buildPodDirectory(
              config,
              log,
              resolvers?.resolvers.find((r) => r instanceof KubeResolver),
            ),
          ),
          log: log.child({ component: 'node' }),
          makeSource: (i, netns) => buildSource(config, i, log, config.capture.mode, netns),
        })
      : undefined;
  const { sink, prometheus } = buildSinks(config, log);
  // Recovers the spool first: points an earlier run left are replayed before new ones.
  await sink.open();
  const metrics = new SelfMetrics(
    {
      sink: () => sink.stats,
      ...(dns ? { dns: () => dns.stats } : {}),
      ...(resolvers ? { resolvers: () => resolvers.counts } : {}),
    },
    Date.now,
    config.health.sinkFailingMs,
  );
  const selfTags = Object.fromEntries(
    Object.entries({ hosts: config.identity.host, ...config.identity, interface: iface })
      .filter(([k, v]) => k !== 'host' && k !== 'address' && typeof v === 'string' && v !== '')
      .map(([k, v]) => [k, safeTagValue(String(v), 'unknown')]),
  );
  const pages = [
    ...(node ? [node] : []),
    ...(prometheus ? [prometheus] : []),
    ...(resolvers?.resolvers.filter((r) => r instanceof KubeResolver) ?? []),
  ];
  const health = new HealthServer(metrics, pages);
  if (config.health.port > 0) {
    await health.start(config.health).catch((err: NodeJS.ErrnoException) => {
      throw new Error(
        `health: cannot listen on ${config.health.host}:${config.health.port} (${err.code ?? err.message}): set NSTATS_HEALTH_PORT to a free port, or 0 for none`,
      );
    });
    log.info(
      { port: config.health.port, host: config.health.host },
      'health: serving /livez, /readyz, /metrics',
    );
  }
  const daemon = new Daemon(
    {
      source: node ?? buildSource(config, iface, log),
      ...(resolvers ? { resolvers } : {}),
      resolveBudgetMs: config.dns.budgetMs,
      ...(dns ? { dnsStats: () => ({ ...dns.stats }) } : {}),
      sink,
      log,
      observer: metrics,
      ...(config.internalMetrics ? { selfPoint: (time: Date) => metrics.toRecord(selfTags, time) } : {}),
      makeScheduler: (job) => cronScheduler(config.schedule, job, log),
    },
    { ...config, capture: { ...config.capture, interface: iface } },
    maxCycles,
  );
  const onSignal = (signal: NodeJS.Signals) => {
    // The stop is bounded: a sink stuck on a dead server must not outlive the pod's grace period.
    // Delivery gets until 1 s before the bound; what it has not sent by then stays in the spool.
    const deadline = Date.now() + config.shutdownTimeoutMs - 1000;
    setTimeout(() => {
      log.error(
        { timeoutMs: config.shutdownTimeoutMs },
        `daemon: not stopped after ${config.shutdownTimeoutMs} ms, exiting`,
      );
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    void daemon.stop(signal, deadline);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await daemon.run();
  } finally {
    // Ends lookups in flight and the in-process watch, which would keep the process alive.
    resolvers?.close();
    await health.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return 0;
}

/**
 * `nstats names`: the cluster's names service, until SIGTERM/SIGINT. It starts serving at once;
 * `/readyz` and look-ups answer 503 until pods, Services and nodes have been listed (an API server
 * that is down at start is retried, see ListWatch).
 */
export async function namesCommand(config: Config): Promise<number> {
  const log = createLogger(config.logLevel);
  const cluster = await startClusterNames(config, log);
  const server = new NamesServer(cluster);
  const { port, host } = config.kube;
  try {
    await server.start(port, host);
  } catch (err) {
    cluster.stop();
    throw new Error(
      `names: cannot listen on ${host}:${port} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): set NSTATS_NAMES_PORT to a free port`,
      { cause: err },
    );
  }
  log.info({ port, host }, `names: serving look-ups on ${host}:${port}`);
  void cluster.listedOnce().then(() => {
    const c = cluster.index.counts;
    log.info(c, `names: ready: ${c.pods} pods, ${c.services} services, ${c.nodes} nodes`);
  });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  log.info({ signal }, `names: ${signal}, stopping`);
  cluster.stop();
  await server.stop();
  return 0;
}

/**
 * `nstats setup`: retention and the 1 h roll-up on InfluxDB. One line per object on stdout as it
 * is done; a failure on stderr (`nstats: setup: <object>: ...`) with exit code 1, after the lines
 * of what was done before it. Statements are logged (JSON, stderr) at debug level.
 */
export async function setupCommand(config: Config): Promise<number> {
  const log = createLogger(config.logLevel).child({ component: 'setup' });
  try {
    await runSetup(config, (line) => process.stdout.write(`${formatLine(line)}\n`), log);
    return 0;
  } catch (err) {
    if (!(err instanceof SetupError)) throw err;
    process.stderr.write(`nstats: ${err.message}\n`);
    return 1;
  }
}
