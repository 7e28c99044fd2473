import { access } from 'node:fs/promises';
import { HttpError } from '@influxdata/influxdb-client';
import { execa } from 'execa';
import { classifyIftopFailure, CaptureError, tail } from '../capture/errors.js';
import { iftopArgs } from '../capture/iftop-args.js';
import type { Config } from '../config/config.js';
import { dnsReverseLookup } from '../enrich/reverse-lookup.js';
import { createLogger } from '../log/logger.js';
import { InfluxSink } from '../sink/influx-sink.js';
import { DiskSpool, MemorySpool } from '../sink/spool.js';
import { resolveInterface } from './build.js';
import { errorText } from '../util/error-text.js';

/** One line of `nstats check`. */
export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly fix?: string;
}

async function checkIftop(config: Config): Promise<CheckResult> {
  const r = await execa(config.capture.iftopPath, ['-h'], { reject: false, timeout: 5000 });
  if (r.code === 'ENOENT' || r.code === 'EACCES') {
    return {
      name: 'iftop',
      ok: false,
      detail: `${config.capture.iftopPath} not found`,
      fix: 'apt-get install iftop (or set NSTATS_IFTOP_PATH)',
    };
  }
  const version = /iftop, version (\S+)/.exec(`${String(r.stdout)}\n${String(r.stderr)}`)?.[1];
  return {
    name: 'iftop',
    ok: true,
    detail: `${config.capture.iftopPath}${version ? ` version ${version}` : ''}`,
  };
}

async function checkCapture(config: Config, iface: string): Promise<CheckResult> {
  try {
    await access(`/sys/class/net/${iface}`);
  } catch {
    const e = new CaptureError('no-such-interface', iface, '', undefined, '');
    return { name: 'capture', ok: false, detail: `no interface ${iface}`, fix: e.fix };
  }
  // Open the capture for a moment: iftop fails at once without permission, else runs until SIGINT.
  const args = iftopArgs({ interface: iface, seconds: 2 });
  const r = await execa(config.capture.iftopPath, args, {
    reject: false,
    stdin: 'ignore',
    timeout: 1500,
    killSignal: 'SIGINT',
    forceKillAfterDelay: 1000,
  });
  if (r.exitCode === 0 || r.timedOut)
    return { name: 'capture', ok: true, detail: `iftop can capture on ${iface}` };
  const stderr = String(r.stderr);
  const e = new CaptureError(
    classifyIftopFailure(stderr),
    iface,
    `iftop ${args.join(' ')}`,
    r.exitCode,
    tail(stderr),
  );
  return { name: 'capture', ok: false, detail: e.message, fix: e.fix };
}

async function checkDns(config: Config): Promise<CheckResult> {
  if (!config.dns.enabled) return { name: 'dns', ok: true, detail: 'reverse DNS is off (NSTATS_DNS=false)' };
  const servers = config.dns.servers;
  const lookup = dnsReverseLookup({ timeoutMs: config.dns.timeoutMs, ...(servers ? { servers } : {}) });
  // Ask the server about its own address (`host`, `host:port` or `[v6]:port` in the setting).
  const first = servers?.[0] ?? '127.0.0.1';
  const probe = /^\[(.+)\]:\d+$/.exec(first)?.[1] ?? /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(first)?.[1] ?? first;
  try {
    const names = await lookup(probe);
    return {
      name: 'dns',
      ok: true,
      detail: `${servers ? servers.join(',') : 'system resolver'} answered (PTR ${probe}: ${names[0] ?? 'no name'})`,
    };
  } catch (err) {
    return {
      name: 'dns',
      ok: false,
      detail: `reverse lookup of ${probe} failed: ${(err as Error).message}`,
      fix: 'check NSTATS_DNS_SERVERS (or /etc/resolv.conf), or set NSTATS_DNS=false to write IPs only',
    };
  }
}

function influxFix(err: unknown, config: NonNullable<Config['influx']>): string {
  if (err instanceof HttpError) {
    if (err.statusCode === 401 || err.statusCode === 403) {
      return config.api === 'v1'
        ? 'check NSTATS_INFLUX_USERNAME / NSTATS_INFLUX_PASSWORD'
        : 'check NSTATS_INFLUX_TOKEN';
    }
    if (err.statusCode === 404) {
      return config.api === 'v1'
        ? `create the database: CREATE DATABASE "${config.database}" (or fix NSTATS_INFLUX_DATABASE / IDB)`
        : 'create the bucket or fix NSTATS_INFLUX_BUCKET / NSTATS_INFLUX_ORG; for InfluxDB 1.x before 1.8 set NSTATS_INFLUX_API=v1';
    }
    return 'see the server message';
  }
  return 'check NSTATS_INFLUX_URL (or INFLUX=host:port) and that the server is up and reachable from this pod';
}

async function checkInflux(config: Config): Promise<CheckResult> {
  if (!config.influx) {
    return {
      name: 'influxdb',
      ok: true,
      detail: 'no InfluxDB configured: `nstats run` prints line protocol to stdout',
    };
  }
  const sink = new InfluxSink(config.influx, {
    spool: new MemorySpool(1),
    log: createLogger('silent'),
    retryMaxMs: config.influx.retryMaxMs,
  });
  const where = `${config.influx.url} (${config.influx.api}, ${config.influx.api === 'v1' ? `database ${config.influx.database}` : `bucket ${config.influx.bucket}`})`;
  try {
    await sink.probe();
    return { name: 'influxdb', ok: true, detail: `${where} accepts writes` };
  } catch (err) {
    const message =
      err instanceof HttpError
        ? `HTTP ${err.statusCode}: ${err.message}`
        : (err as Error).message || String(err);
    return {
      name: 'influxdb',
      ok: false,
      detail: `${where}: ${message}`,
      fix: influxFix(err, config.influx),
    };
  }
}

/** The names service (NSTATS_NAMES_URL) answers and is ready, or the in-process watch can list. */
async function checkNames(config: Config): Promise<CheckResult | undefined> {
  const { url, inProcess, timeoutMs } = config.names;
  if (url) {
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(timeoutMs) });
      const body = (await res.text()).trim();
      if (res.status === 200) return { name: 'names', ok: true, detail: `${url} is ready` };
      return {
        name: 'names',
        ok: false,
        detail: `${url}/readyz: HTTP ${res.status} ${body.slice(0, 200)}`,
        fix: "wait for its first list, or see the names service's log (kubectl logs deploy/nstats-names)",
      };
    } catch (err) {
      return {
        name: 'names',
        ok: false,
        detail: `${url}: ${errorText(err)}`,
        fix: 'check NSTATS_NAMES_URL and that k8s/names-service.yaml is applied; peers are named by DNS meanwhile',
      };
    }
  }
  if (!inProcess) return undefined;
  try {
    const { loadKubeConfig, probeCluster } = await import('../kube/cluster-names.js');
    return { name: 'kubernetes', ok: true, detail: await probeCluster(loadKubeConfig(), timeoutMs) };
  } catch (err) {
    return {
      name: 'kubernetes',
      ok: false,
      detail: (err as Error).message,
      fix: "give the ServiceAccount get/list/watch on pods, services and nodes (the names service's ClusterRole), or use NSTATS_NAMES_URL",
    };
  }
}

/** Runs every check (config already validated); one result per check. */
export async function runChecks(config: Config): Promise<CheckResult[]> {
  const results: CheckResult[] = [{ name: 'config', ok: true, detail: 'all settings valid' }];
  const iftop = await checkIftop(config);
  results.push(iftop);
  let iface: string | undefined;
  try {
    iface = await resolveInterface(config);
  } catch (err) {
    results.push({ name: 'capture', ok: false, detail: (err as Error).message, fix: 'set NSTATS_INTERFACE' });
  }
  if (iface && iftop.ok) results.push(await checkCapture(config, iface));
  else if (iface)
    results.push({ name: 'capture', ok: false, detail: 'skipped: iftop is missing', fix: iftop.fix ?? '' });
  const names = await checkNames(config);
  if (names) results.push(names);
  results.push(await checkDns(config));
  results.push(await checkInflux(config));
  results.push(await checkSpool(config));
  return results;
}

/** The spool directory exists (or can be made) and is writable; says what waits in it. */
async function checkSpool(config: Config): Promise<CheckResult> {
  const mb = Math.round(config.spool.maxBytes / 1024 / 1024);
  if (!config.spool.dir) {
    return {
      name: 'spool',
      ok: true,
      detail: `in memory, ${mb} MiB: points survive an InfluxDB outage but not a restart (set NSTATS_SPOOL_DIR to keep them)`,
    };
  }
  try {
    const found = await new DiskSpool(config.spool.dir, config.spool.maxBytes).open();
    return {
      name: 'spool',
      ok: true,
      detail: `${config.spool.dir} is writable, cap ${mb} MiB, ${found.points} points waiting`,
    };
  } catch (err) {
    return {
      name: 'spool',
      ok: false,
      detail: (err as Error).message.replace(/: set NSTATS_SPOOL_DIR.*/, ''),
      fix: 'set NSTATS_SPOOL_DIR to a writable directory (an emptyDir volume in Kubernetes), or unset it to buffer in memory',
    };
  }
}

/** `PASS name: detail` / `FAIL name: detail. Fix: ...`, one line each. */
export function formatCheck(r: CheckResult): string {
  const detail = r.detail.replace(/\s+/g, ' ').trim();
  return `${r.ok ? 'PASS' : 'FAIL'} ${r.name}: ${detail}${r.ok || !r.fix ? '' : `. Fix: ${r.fix}`}`;
}
