import { setLogger } from '@influxdata/influxdb-client';
import { CaptureError } from '../capture/errors.js';
import { defaultRouteInterface } from '../capture/default-interface.js';
import { IftopCapture } from '../capture/iftop-capture.js';
import type { Config } from '../config/config.js';
import { PeerNamer } from '../enrich/peer-namer.js';
import { dnsReverseLookup } from '../enrich/resolver.js';
import type { Logger } from '../log/logger.js';
import { InfluxSink } from '../sink/influx-sink.js';
import type { Sink } from '../sink/sink.js';
import { DiskSpool, MemorySpool } from '../sink/spool.js';
import { LineProtocolSink } from '../sink/stdout-sink.js';

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

/** The capture stage from config. */
export function buildCapture(config: Config): IftopCapture {
  return new IftopCapture({ iftopPath: config.capture.iftopPath, graceMs: config.capture.graceMs });
}

/** The naming stage from config; undefined when reverse DNS is off. */
export function buildNamer(config: Config): PeerNamer | undefined {
  if (!config.dns.enabled) return undefined;
  const { servers, timeoutMs, concurrency, cacheSize, ttlSeconds, negativeTtlSeconds } = config.dns;
  return new PeerNamer(dnsReverseLookup({ timeoutMs, ...(servers ? { servers } : {}) }), {
    timeoutMs,
    concurrency,
    cacheSize,
    ttlSeconds,
    negativeTtlSeconds,
  });
}

/** The sink from config: InfluxDB when configured, else line protocol on stdout. */
export function buildSink(config: Config, log: Logger): Sink {
  if (!config.influx) return new LineProtocolSink(process.stdout);
  // The client logs to the console by default; its events are reported by the sink's own
  // callbacks below, so keep its messages as JSON at debug level.
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
