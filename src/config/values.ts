import { isIP } from 'node:net';
import cron from 'node-cron';
import { z } from 'zod';
import { parseRetention, RETENTION_EXPECTED } from '../setup/duration.js';

/**
 * The kinds of value a setting can hold: zod schemas from a string (as the environment gives it)
 * to the typed value, each refusing what nstats could not use with a message saying what is
 * expected. Surrounding whitespace is dropped first; an empty value never reaches these (the
 * loader refuses it).
 */

/** Control characters (newline, tab, NUL, DEL ...): never part of a one-line value. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Any one-line text. */
export const text = z
  .string()
  .trim()
  .min(1, { message: 'expected a non-empty value' })
  .refine((v) => !CONTROL.test(v), { message: 'expected one line of text, no control characters' });

/** An absolute path (of a directory or a file the node agent reads). */
export const absolutePath = text.refine((v) => v.startsWith('/'), { message: 'expected an absolute path' });

/** A word: no whitespace, quotes or commas (command names, paths of binaries, tokens). */
const word = (what: string) =>
  text.refine((v) => !/[\s"'`,]/.test(v), {
    message: `expected ${what}, without spaces, quotes or commas`,
  });

export const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'].includes(v), {
    message: 'expected true or false',
  })
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));

export const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, { message: `expected a whole number from ${min} to ${max}` })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { message: `expected a whole number from ${min} to ${max}` });

/** A TCP/UDP port in text, 1-65535; undefined when it is not one. */
function port(digits: string): number | undefined {
  const n = /^\d{1,5}$/.test(digits) ? Number(digits) : 0;
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** A DNS name or an IPv4 address (letters, digits, hyphens, dots), or an IPv6 address in brackets. */
const HOST = String.raw`(?<host>[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])`;
const FULL_URL = new RegExp(
  String.raw`^(?<scheme>https?)://${HOST}(?::(?<port>\d+))?(?<path>/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$`,
  'i',
);
const HOST_PORT = new RegExp(String.raw`^${HOST}:(?<port>\d+)$`);

function hostOk(host: string): boolean {
  return host.startsWith('[') ? isIP(host.slice(1, -1)) === 6 : true;
}

const URL_EXPECTED = 'expected http(s)://host[:port][/path], or host:port';

/**
 * InfluxDB's address: `http(s)://host[:port][/path]`, or `host:port` as the seed's INFLUX had it
 * (then http). Out: the URL without a trailing slash. Credentials, a query or the API path in
 * the URL are refused, with where they belong.
 */
export const influxUrl = text.transform((v, ctx) => {
  const problem = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(v))
    return problem(
      'expected no user or password in the URL: set NSTATS_INFLUX_TOKEN, or NSTATS_INFLUX_USERNAME and NSTATS_INFLUX_PASSWORD',
    );
  const full = FULL_URL.exec(v);
  const plain = full ? undefined : HOST_PORT.exec(v);
  const groups = full?.groups ?? plain?.groups;
  if (!groups?.host || !hostOk(groups.host)) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v) && !/^https?:\/\//i.test(v))
      return problem('expected an http:// or https:// URL');
    return problem(URL_EXPECTED);
  }
  if (groups.port !== undefined && port(groups.port) === undefined)
    return problem(`${URL_EXPECTED}; the port must be 1-65535`);
  const path = (groups.path ?? '').replace(/\/+$/, '');
  const api = /(\/api\/v2(?:\/write)?|\/write|\/query)$/i.exec(path);
  if (api)
    return problem(`expected the server's base URL, without ${api[1]}: nstats adds the write path itself`);
  const scheme = full ? groups.scheme!.toLowerCase() : 'http';
  const u = new URL(`${scheme}://${groups.host}${groups.port === undefined ? '' : `:${groups.port}`}`);
  return `${u.protocol}//${u.host}${path}`;
});

export const interfaceName = text.regex(/^[A-Za-z0-9_.:@-]{1,15}$/, {
  message: 'expected a network interface name (1-15 letters, digits, _ . : @ -)',
});

export const schedule = text.refine((v) => cron.validate(v), {
  message: 'expected a cron expression (5 fields, or 6 with seconds first), e.g. "* * * * *"',
});

/** One DNS server as Node's resolver takes it: IPv4[:port], IPv6, or [IPv6][:port]. */
function dnsServerOk(entry: string): boolean {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return isIP(bracketed[1]!) === 6 && (bracketed[2] === undefined || !!port(bracketed[2]));
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d+))?$/.exec(entry);
  if (v4) return isIP(v4[1]!) === 4 && (v4[2] === undefined || !!port(v4[2]));
  return isIP(entry) === 6;
}

/** Comma-separated DNS servers: each an IP address, with a port (1-65535) if not 53. */
export const dnsServers = text.transform((v, ctx) => {
  const entries = v.split(',').map((s) => s.trim());
  const bad = entries.filter((e) => !dnsServerOk(e));
  if (bad.length > 0) {
    ctx.addIssue({
      code: 'custom',
      message: `expected comma-separated IP addresses, each with an optional port 1-65535 (1.1.1.1, 10.0.0.10:5353, [fd00::53]:53); not ${bad.map((b) => JSON.stringify(b)).join(', ')}`,
    });
    return z.NEVER;
  }
  return entries;
});

/** The address the health endpoint binds: an IP address or a host name. */
export const bindHost = text.refine((v) => isIP(v) !== 0 || new RegExp(`^${HOST}$`).test(v), {
  message: 'expected an IP address or a host name to listen on, e.g. 0.0.0.0 or ::',
});

/** A Kubernetes object name (DNS-1123 subdomain): pods and nodes. */
export const kubernetesName = text.regex(
  /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
  {
    message: 'expected a Kubernetes name (lowercase letters, digits, - and ., at most 253)',
  },
);

/** A Kubernetes namespace (DNS-1123 label). */
export const kubernetesNamespace = text.regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, {
  message: 'expected a Kubernetes namespace (lowercase letters, digits and -, at most 63)',
});

/** A host name for the `hosts` tag: letters, digits, `-`, `_` and `.`. */
export const hostName = text.regex(/^[A-Za-z0-9_.-]{1,253}$/, {
  message: 'expected a host name (letters, digits, - _ and ., at most 253)',
});

/** The iftop binary: a command name or a path, taken as one word (no arguments). */
export const command = word('a command name or the path of a binary (no arguments)');

/**
 * An API token: sent in the Authorization header, so printable ASCII without spaces (for
 * InfluxDB 1.8+ through v2, `user:password`).
 */
export const token = text.refine((v) => /^[\x21-\x7e]+$/.test(v), {
  message: 'expected an API token: printable ASCII, no spaces',
});

/** A database or retention policy name (InfluxDB 1.x): no double quote. */
export const influxName = (what: string) =>
  text.refine((v) => !v.includes('"'), { message: `expected a ${what} name without a double quote` });

/**
 * A retention (`nstats setup`): `7d`, `36h`, `2w`, `1d12h` (whole s, m, h, d, w; at least 1h) or
 * `INF`. Kept as text, so the docs show the default as written; the loader reads the seconds
 * with parseRetention.
 */
export const retention = text.refine((v) => parseRetention(v) !== undefined, { message: RETENTION_EXPECTED });

/** A bucket name: InfluxDB 2 refuses a double quote and a leading `_`. */
export const bucketName = text.refine((v) => !v.includes('"') && !v.startsWith('_'), {
  message: 'expected a bucket name (no double quote, not starting with _)',
});

/** A user for basic auth: no colon (it separates the user from the password). */
export const userName = text.refine((v) => !v.includes(':'), {
  message: 'expected a user name without a colon',
});

/** Where points go: one or more of `influxdb`, `prometheus`, `stdout`, comma-separated, each once. */
export const SINK_KINDS = ['influxdb', 'prometheus', 'stdout'] as const;
export type SinkKind = (typeof SINK_KINDS)[number];
export const sinkList = text.transform((v, ctx) => {
  const entries = v.split(',').map((e) => e.trim().toLowerCase());
  const bad = entries.filter((e) => !(SINK_KINDS as readonly string[]).includes(e));
  const twice = entries.filter((e, i) => entries.indexOf(e) !== i);
  if (bad.length > 0 || twice.length > 0) {
    ctx.addIssue({
      code: 'custom',
      message: `expected comma-separated sinks, each once, of ${SINK_KINDS.join(', ')}; not ${[...bad, ...twice].map((b) => JSON.stringify(b)).join(', ')}`,
    });
    return z.NEVER;
  }
  return entries as SinkKind[];
});

/**
 * An http:// or https:// base URL of a service (the names service): scheme, host and port, an
 * optional path; no credentials, query or fragment. Given without a trailing slash.
 */
export const serviceUrl = text.transform((v, ctx) => {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: 'expected an http:// or https:// URL, e.g. http://nstats-names.monitoring:9478',
    });
    return z.NEVER;
  }
  const problem =
    u.protocol !== 'http:' && u.protocol !== 'https:'
      ? 'expected an http:// or https:// URL'
      : u.username || u.password
        ? 'expected no user or password in the URL'
        : u.search || u.hash
          ? 'expected no query or fragment in the URL'
          : undefined;
  if (problem) {
    ctx.addIssue({ code: 'custom', message: problem });
    return z.NEVER;
  }
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
});

/** An IPv4 or IPv6 address, as the downward API gives `status.podIP`. */
export const ipAddress = text.refine((v) => isIP(v) !== 0, { message: 'expected an IPv4 or IPv6 address' });
