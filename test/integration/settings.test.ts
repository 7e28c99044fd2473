import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig, loadDotenvFile } from '../../src/config/load.js';
import { SETTINGS, type SettingName } from '../../src/config/schema.js';
import { logEvents, nstats } from '../helpers/nstats.js';

// Every setting of the schema, each with a value it takes and a few it must refuse: empty,
// garbage, out of range, the wrong type, spaces, commas, quotes, a newline, as far as each can be
// wrong. Each refused value must stop `nstats run` and `nstats once` with exit code 2 and an
// error naming the variable and the value (a JSON log event for `run`), and make `nstats check`
// print a FAIL config line naming them, also with exit code 2. Secrets are named as "(hidden)".
// The value each setting takes is checked too, in the same surroundings, so a refusal is the
// value's and not the surroundings'.

const dir = mkdtempSync(join(tmpdir(), 'nstats-settings-'));
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bad values of a whole number setting from `min` to `max`. */
const ints = (min: number, max: number): string[] => [
  '',
  'ten',
  min > 0 ? String(min - 1) : '-1',
  String(max + 1),
  '1 0',
  `"${min}",1`,
  '1\n0',
];
const bools = ['', 'maybe', 'true,false', '"yes please"', 'true\nfalse'];

const v2 = { NSTATS_INFLUX_URL: 'http://127.0.0.1:9', NSTATS_INFLUX_BUCKET: 'b' };
const v1 = { NSTATS_INFLUX_URL: 'http://127.0.0.1:9', NSTATS_INFLUX_DATABASE: 'd' };

interface Case {
  readonly good: string;
  readonly bad: readonly string[];
  /** Other settings the value needs (an InfluxDB for its options). */
  readonly with?: Readonly<Record<string, string>>;
}

const CASES: Readonly<Record<SettingName, Case>> = {
  NSTATS_INTERFACE: {
    good: 'eth0',
    bad: ['', 'eth 0', 'eth0,eth1', '"eth0"', 'averyveryverylongname', 'a\nb'],
  },
  NSTATS_MODE: { good: 'continuous', bad: ['', 'always', 'sampled,continuous', '"sampled"', '1'] },
  NSTATS_SAMPLE_SECONDS: { good: '30', bad: ints(10, 3600) },
  NSTATS_SCHEDULE: {
    good: '*/15 * * * * *',
    bad: [
      '',
      'every minute',
      '* * * *',
      '61 * * * *',
      '* * * * * * *',
      '"* * * * *"',
      '* * * * *\n* * * * *',
    ],
  },
  NSTATS_FLOW_LIMIT: { good: '500', bad: ints(1, 10000) },
  NSTATS_PORTS: { good: 'yes', bad: bools },
  NSTATS_FOLD_PORTS: { good: 'off', bad: bools },
  NSTATS_IFTOP_PATH: { good: '/usr/sbin/iftop', bad: ['', 'iftop -n', 'iftop,x', '"iftop"', 'a\nb'] },
  NSTATS_CAPTURE_GRACE_MS: { good: '2000', bad: ints(100, 30000) },
  NSTATS_SHUTDOWN_TIMEOUT_MS: { good: '25000', bad: ints(1000, 600000) },
  NSTATS_INFLUX_URL: {
    good: 'https://influx.example:8443/base',
    with: { NSTATS_INFLUX_BUCKET: 'b' },
    bad: [
      '',
      'ht!tp://x y',
      'ftp://x',
      'influx',
      'http://x:99999',
      'http://x,y:8086',
      '"http://x"',
      'http://u:p@x',
      'http://x:8086/api/v2',
      'http://x:8086?db=a',
      'http://x\n:8086',
    ],
  },
  NSTATS_INFLUX_API: { good: 'v2', with: v2, bad: ['', 'v3', '2', 'v1,v2', '"v2"'] },
  NSTATS_INFLUX_TOKEN: { good: 'abc-DEF_123==', with: v2, bad: ['', 'a b', 'tök', 'a\tb', 'a\nb'] },
  NSTATS_INFLUX_TOKEN_FILE: {
    good: file('token', 'abc\n'),
    with: v2,
    bad: ['', '/nonexistent/token', dir, file('empty', '\n'), file('spaced', 'a b\n'), 'a\nb'],
  },
  NSTATS_INFLUX_ORG: { good: 'Acme, Inc. "east"', with: v2, bad: ['', 'a\tb', 'a\nb'] },
  NSTATS_INFLUX_BUCKET: {
    good: 'net/autogen',
    with: { NSTATS_INFLUX_URL: 'http://127.0.0.1:9' },
    bad: ['', '_monitoring', 'a"b', 'a\nb'],
  },
  NSTATS_INFLUX_DATABASE: {
    good: 'telegraf',
    with: { NSTATS_INFLUX_URL: 'http://127.0.0.1:9' },
    bad: ['', 'a"b', 'a\tb', 'a\nb'],
  },
  NSTATS_INFLUX_RETENTION_POLICY: { good: 'one_week', with: v1, bad: ['', 'a"b', 'a\nb'] },
  NSTATS_INFLUX_USERNAME: { good: 'nstats', with: v1, bad: ['', 'a:b', 'a\tb', 'a\nb'] },
  NSTATS_INFLUX_PASSWORD: { good: 'pass word', with: v1, bad: ['', 'a\tb', 'a\nb'] },
  NSTATS_INFLUX_PASSWORD_FILE: {
    good: file('password', 'pw\n'),
    with: v1,
    bad: ['', '/nonexistent/pw', dir, file('empty-pw', ''), file('two-lines', 'a\nb\n'), 'a\nb'],
  },
  NSTATS_INFLUX_TIMEOUT_MS: { good: '5000', with: v2, bad: ints(100, 600000) },
  NSTATS_INFLUX_BATCH_SIZE: { good: '5000', with: v2, bad: ints(1, 100000) },
  NSTATS_INFLUX_RETRY_MAX_MS: { good: '60000', with: v2, bad: ints(1000, 3600000) },
  NSTATS_RAW_RETENTION: {
    good: '1d12h',
    bad: ['', '7 days', '7', '30m', '1.5d', '7D', '7d,1d', '"7d"', '7d\n1d'],
  },
  NSTATS_LONG_RETENTION: { good: 'INF', bad: ['', '400', 'forever', '-1d', '400d 1h', 'a\nb'] },
  NSTATS_LONG_RETENTION_POLICY: { good: 'one_year', bad: ['', 'a"b', 'a\nb'] },
  NSTATS_LONG_BUCKET: { good: 'nstats_1h', with: v2, bad: ['', '_long', 'a"b', 'a\nb'] },
  NSTATS_SPOOL_DIR: { good: '/var/spool/nstats a,b', bad: ['', 'a\tb', 'a\nb'] },
  NSTATS_SPOOL_MAX_MB: { good: '128', bad: ints(1, 1048576) },
  NSTATS_DNS: { good: 'false', bad: bools },
  NSTATS_DNS_SERVERS: {
    good: '10.0.0.10, 10.0.0.11:5353, [fd00::53]:53',
    bad: [
      '',
      '1.2.3.4:99999',
      '1.2.3.4:0',
      'dns.google',
      '1.2.3.4 5.6.7.8',
      '1.2.3.4,,5.6.7.8',
      '"1.2.3.4"',
      'a\nb',
    ],
  },
  NSTATS_DNS_TIMEOUT_MS: { good: '500', bad: ints(10, 60000) },
  NSTATS_DNS_BUDGET_MS: { good: '500', bad: ints(10, 60000) },
  NSTATS_DNS_CONCURRENCY: { good: '16', bad: ints(1, 256) },
  NSTATS_DNS_CACHE_SIZE: { good: '100', bad: ints(1, 1000000) },
  NSTATS_DNS_TTL_SECONDS: { good: '0', bad: ints(0, 86400) },
  NSTATS_DNS_NEGATIVE_TTL_SECONDS: { good: '0', bad: ints(0, 86400) },
  NSTATS_NAMES_URL: {
    good: 'http://nstats-names.monitoring:9478/',
    bad: ['', 'nstats-names:9478', 'ftp://x', 'http://u:p@x', 'http://x/?a=1', 'http://a b', 'http://x\ny'],
  },
  NSTATS_NAMES_TIMEOUT_MS: { good: '500', bad: ints(10, 60000) },
  NSTATS_NAMES_TTL_SECONDS: { good: '0', bad: ints(0, 86400) },
  NSTATS_KUBERNETES: { good: 'false', bad: bools },
  NSTATS_PEER_POD_NAMES: { good: 'true', bad: bools },
  NSTATS_NAMES_PORT: { good: '9478', bad: ints(1, 65535) },
  NSTATS_NAMES_HOST: { good: '::', bad: ['', 'a b', '0.0.0.0,::', '"::"', 'a\nb'] },
  NSTATS_KUBE_GRACE_SECONDS: { good: '0', bad: ints(0, 86400) },
  NSTATS_KUBE_WATCH_SILENCE_SECONDS: { good: '30', bad: ints(1, 86400) },
  NSTATS_KUBE_PAGE_SIZE: { good: '100', bad: ints(1, 10000) },
  NSTATS_HEALTH_PORT: { good: '9477', bad: ints(0, 65535) },
  NSTATS_SINKS: {
    good: 'prometheus,stdout',
    // influxdb: without NSTATS_INFLUX_URL.
    bad: ['', 'influx', 'stdout,stdout', 'stdout,,prometheus', '"stdout"', 'influxdb', 'a\nb'],
    with: { NSTATS_HEALTH_PORT: '9477' },
  },
  NSTATS_PROMETHEUS_MAX_SERIES: { good: '10', bad: ints(1, 1000000) },
  NSTATS_PROMETHEUS_STALE_SECONDS: { good: '60', bad: ints(1, 604800) },
  NSTATS_HEALTH_HOST: { good: '::', bad: ['', 'a b', '0.0.0.0,::', '"::"', 'a\nb'] },
  NSTATS_HEALTH_SINK_FAILING_SECONDS: { good: '0', bad: ints(0, 86400) },
  NSTATS_INTERNAL_METRICS: { good: 'true', bad: bools },
  NSTATS_PROC_ROOT: { good: '/host/proc', bad: ['', 'proc', '"/proc"', '/proc\n/x'] },
  NSTATS_NODE_SCAN_SECONDS: { good: '10', bad: ints(1, 3600) },
  NSTATS_NSENTER_PATH: { good: '/usr/bin/nsenter', bad: ['', 'nsenter --net', 'a,b', '"nsenter"', 'a\nb'] },
  NSTATS_DOCKER_CONFIG: { good: '/etc/docker/daemon.json', bad: ['', 'daemon.json', '/a\nb'] },
  NSTATS_CONTAINERD_STATE: { good: '/run/containerd', bad: ['', 'run/containerd', '/a\nb'] },
  NSTATS_CRIO_STORAGE: { good: '/run/containers/storage', bad: ['', './storage', '/a\nb'] },
  NSTATS_HOSTNAME: { good: 'web-0.shop', bad: ['', 'web 0', 'a,b', '"web"', 'a=b', 'a\nb'] },
  POD_NAME: { good: 'web-7d4b9c-x2x4z', bad: ['', 'Web_0', 'web 0', 'a,b', '"web"', 'a\nb'] },
  POD_IP: {
    good: 'fd00::17',
    bad: ['', '10.0.0', '10.0.0.1,10.0.0.2', '"10.0.0.1"', 'web-0', '10.0.0.1\n2'],
  },
  POD_NAMESPACE: { good: 'shop', bad: ['', 'Shop', 'a.b', 'a'.repeat(64), 'a b', 'a\nb'] },
  NODE_NAME: { good: 'ip-10-0-0-1.ec2.internal', bad: ['', 'node 1', 'a,b', '"n"', 'a\nb'] },
  NSTATS_LOG_LEVEL: { good: 'debug', bad: ['', 'loud', 'info,debug', '"info"', '30'] },
  NSTATS_ENV_FILE: {
    good: file('settings.env', 'NSTATS_DNS=false\n'),
    bad: ['', '/nonexistent/.env', dir, 'a\nb'],
  },
};

/** What every CLI run gets: no capture can start, whatever a bug lets through. */
const BASE = { NSTATS_IFTOP_PATH: '/nonexistent/iftop', NSTATS_INTERFACE: 'lo', NSTATS_DNS: 'false' };

const names = Object.keys(SETTINGS) as SettingName[];

function envOf(name: SettingName, value: string): Record<string, string> {
  const { NSTATS_IFTOP_PATH, NSTATS_INTERFACE, ...rest } = BASE;
  return {
    ...(name === 'NSTATS_IFTOP_PATH' ? {} : { NSTATS_IFTOP_PATH }),
    ...(name === 'NSTATS_INTERFACE' ? {} : { NSTATS_INTERFACE }),
    ...rest,
    ...CASES[name].with,
    [name]: value,
  };
}

/** `VAR="value"` as errors show it (JSON string), the value hidden for secrets. */
function mention(name: SettingName, value: string): string {
  const shown = SETTINGS[name].secret ? '(hidden)' : name === 'NSTATS_ENV_FILE' ? value.trim() : value;
  return `${name}=${JSON.stringify(shown)}`;
}

/** loadConfig as the CLI calls it (the env file first); the ConfigError's message, or undefined. */
function configError(env: Record<string, string>): string | undefined {
  const e: NodeJS.ProcessEnv = { NSTATS_ENV_FILE: '/dev/null', ...env };
  try {
    loadDotenvFile(e);
    loadConfig(e, { hostname: () => 'test-host' });
    return undefined;
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
}

describe('settings: every bad value is refused by run, once and check', () => {
  it('has a case for every setting of the schema', () => {
    expect(Object.keys(CASES).sort()).toEqual([...names].sort());
  });

  it('takes the good value of each setting, and refuses each bad one naming it (in process)', () => {
    for (const name of names) {
      expect(configError(envOf(name, CASES[name].good)), `${name}=${CASES[name].good}`).toBeUndefined();
      for (const bad of CASES[name].bad) {
        const message = configError(envOf(name, bad));
        expect(message, `${name}=${JSON.stringify(bad)} was accepted`).toBeDefined();
        expect(message).toContain(mention(name, bad));
      }
    }
  });

  it('exits 2 from run and once, and check prints FAIL config, for each bad value', async () => {
    const limit = pLimit(4);
    const cases = names.flatMap((name) => CASES[name].bad.map((bad) => ({ name, bad })));
    const failures: string[] = [];
    const t0 = performance.now();
    await Promise.all(
      cases.map(({ name, bad }) =>
        limit(async () => {
          const env = envOf(name, bad);
          const what = mention(name, bad);
          const [run, once, check] = await Promise.all([
            nstats(['run'], env, { timeout: 15_000 }),
            nstats(['once', '-f', 'json'], env, { timeout: 15_000 }),
            nstats(['check'], env, { timeout: 15_000 }),
          ]);
          const runEvent = logEvents(String(run.stderr)).find((e) => e.level === 'fatal');
          const problems = [
            run.exitCode === 2 ? '' : `run exited ${run.exitCode}`,
            typeof runEvent?.msg === 'string' && runEvent.msg.includes(what)
              ? ''
              : `run logged no fatal event naming ${what}: ${String(run.stderr)}`,
            logEvents(String(run.stderr)).every((e) => !('raw' in e))
              ? ''
              : `run wrote non-JSON to stderr: ${String(run.stderr)}`,
            once.exitCode === 2 ? '' : `once exited ${once.exitCode}`,
            String(once.stderr).includes(what) ? '' : `once did not name ${what}: ${String(once.stderr)}`,
            check.exitCode === 2 ? '' : `check exited ${check.exitCode}`,
            /^FAIL config: /m.test(String(check.stdout)) && String(check.stdout).includes(what)
              ? ''
              : `check printed no FAIL config line naming ${what}: ${String(check.stdout)}`,
            SETTINGS[name].secret &&
            bad.length >= 3 &&
            `${run.stderr}${once.stderr}${check.stdout}`.includes(bad)
              ? 'a secret was shown'
              : '',
          ].filter(Boolean);
          if (problems.length > 0) failures.push(`${name}=${JSON.stringify(bad)}: ${problems.join('; ')}`);
        }),
      ),
    );
    console.log(
      `settings: ${cases.length} bad values of ${names.length} settings, each through run, once and check, in ${Math.round((performance.now() - t0) / 1000)} s`,
    );
    expect(failures).toEqual([]);
  }, 600_000);
});
