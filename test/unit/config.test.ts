import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { SETTINGS, settingDefault, settingsSchema, type SettingName } from '../../src/config/schema.js';
import { settingsTable } from '../../src/config/settings-table.js';

const host = () => 'test-host';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env, { hostname: host });
  } catch (err) {
    if (err instanceof ConfigError)
      return err.problems.map((p) => `${p.variable}=${p.value ?? ''}: ${p.expected}`);
    throw err;
  }
  return [];
}

describe('loadConfig', () => {
  it('has sane defaults: stdout sink, 10 s sample every minute, DNS on', () => {
    const c = loadConfig({}, { hostname: host });
    expect(c.influx).toBeUndefined();
    expect(c.capture).toEqual({
      mode: 'sampled',
      sampleSeconds: 10,
      flowLimit: 100,
      ports: false,
      foldPorts: true,
      iftopPath: 'iftop',
      graceMs: 1500,
    });
    expect(c.schedule).toBe('* * * * *');
    expect(c.dns).toMatchObject({ enabled: true, timeoutMs: 1000, budgetMs: 2000, concurrency: 8 });
    expect(c.identity).toEqual({ host: 'test-host' });
    expect(c.logLevel).toBe('info');
  });

  it("reads the seed's IFACE, INFLUX (host:port) and IDB as InfluxDB 1.x", () => {
    const c = loadConfig(
      { IFACE: 'eth1', INFLUX: 'influx.monitoring:8086', IDB: 'telegraf' },
      { hostname: host },
    );
    expect(c.capture.interface).toBe('eth1');
    expect(c.influx).toMatchObject({ url: 'http://influx.monitoring:8086', api: 'v1', database: 'telegraf' });
  });

  it('prefers the new names over the seed aliases', () => {
    const c = loadConfig({ IFACE: 'eth1', NSTATS_INTERFACE: 'eth2' }, { hostname: host });
    expect(c.capture.interface).toBe('eth2');
  });

  it('configures the v2 API with bucket, org and token', () => {
    const c = loadConfig(
      {
        NSTATS_INFLUX_URL: 'https://cloud.example:443',
        NSTATS_INFLUX_BUCKET: 'net',
        NSTATS_INFLUX_ORG: 'acme',
        NSTATS_INFLUX_TOKEN: 't0k',
      },
      { hostname: host },
    );
    expect(c.influx).toMatchObject({
      api: 'v2',
      bucket: 'net',
      org: 'acme',
      token: 't0k',
      retryMaxMs: 30000,
      timeoutMs: 10000,
    });
  });

  it('reads the downward-API variables and a seconds-field schedule', () => {
    const c = loadConfig(
      {
        POD_NAME: 'web-0',
        POD_NAMESPACE: 'shop',
        NODE_NAME: 'n1',
        NSTATS_SCHEDULE: '*/15 * * * * *',
        NSTATS_HOSTNAME: 'h',
      },
      { hostname: host },
    );
    expect(c.identity).toEqual({ host: 'h', pod: 'web-0', namespace: 'shop', node: 'n1' });
    expect(c.schedule).toBe('*/15 * * * * *');
  });

  it('refuses a variable set to nothing (or blanks), saying how to get the default', () => {
    expect(problems({ NSTATS_INTERFACE: '', NSTATS_SAMPLE_SECONDS: '  ', NSTATS_INFLUX_URL: '' })).toEqual([
      'NSTATS_INTERFACE=: is empty: set a value, or unset it for the default (the interface of the default route (eth0 in a pod))',
      'NSTATS_SAMPLE_SECONDS=  : is empty: set a value, or unset it for the default (10)',
      'NSTATS_INFLUX_URL=: is empty: set a value, or unset it for the default (none: points are printed to stdout)',
    ]);
    // An empty alias is refused too, not skipped for the next one.
    expect(problems({ INFLUX: '', IDB: 'telegraf' })[0]).toMatch(/^INFLUX=: is empty/);
  });

  it("takes InfluxDB's address as http(s)://host[:port][/path] or host:port, nothing else", () => {
    const url = (v: string) =>
      loadConfig({ NSTATS_INFLUX_URL: v, NSTATS_INFLUX_BUCKET: 'b' }, { hostname: host }).influx?.url;
    expect(url('http://influx:8086')).toBe('http://influx:8086');
    expect(url('HTTPS://Influx.Example/base/')).toBe('https://influx.example/base');
    expect(url('influx.monitoring.svc:8086')).toBe('http://influx.monitoring.svc:8086');
    expect(url('[fd00::1]:8086')).toBe('http://[fd00::1]:8086');
    expect(url('https://[::1]')).toBe('https://[::1]');
    const bad = (v: string) => problems({ NSTATS_INFLUX_URL: v, NSTATS_INFLUX_BUCKET: 'b' });
    expect(bad('ht!tp://x y')).toEqual([
      'NSTATS_INFLUX_URL=ht!tp://x y: expected http(s)://host[:port][/path], or host:port',
    ]);
    for (const v of [
      'influx',
      'http://',
      'http:///x',
      'http://x y',
      'http://x:8086?db=a',
      'http://x#a',
      'http://[zz]:1',
    ])
      expect(bad(v), v).toEqual([
        `NSTATS_INFLUX_URL=${v}: expected http(s)://host[:port][/path], or host:port`,
      ]);
    expect(bad('http://x:99999')[0]).toMatch(/the port must be 1-65535$/);
    expect(bad('x:0')[0]).toMatch(/the port must be 1-65535$/);
    expect(bad('ftp://x')).toEqual(['NSTATS_INFLUX_URL=ftp://x: expected an http:// or https:// URL']);
    expect(bad('http://u:p@x:8086')[0]).toMatch(/expected no user or password in the URL/);
    expect(bad('http://x:8086/api/v2/write')[0]).toMatch(
      /without \/api\/v2\/write: nstats adds the write path/,
    );
    expect(bad('http://x:8086/write')[0]).toMatch(/without \/write:/);
  });

  it('takes DNS servers as IP addresses with an optional port 1-65535', () => {
    const servers = (v: string) => loadConfig({ NSTATS_DNS_SERVERS: v }, { hostname: host }).dns.servers;
    expect(servers('10.0.0.10, 10.0.0.11:5353,[fd00::53]:53,fd00::54')).toEqual([
      '10.0.0.10',
      '10.0.0.11:5353',
      '[fd00::53]:53',
      'fd00::54',
    ]);
    for (const v of [
      '1.2.3.4:99999',
      '1.2.3.4:0',
      'dns.google',
      '1.2.3.4,,5.6.7.8',
      '1.2.3.4 5.6.7.8',
      '[::1]:65536',
      '256.1.1.1',
    ])
      expect(problems({ NSTATS_DNS_SERVERS: v })[0], v).toMatch(
        new RegExp(
          `^NSTATS_DNS_SERVERS=${v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: expected comma-separated IP addresses`,
        ),
      );
  });

  it('names the variable, the value and what is expected, for every bad setting at once', () => {
    expect(
      problems({
        NSTATS_SAMPLE_SECONDS: 'ten',
        NSTATS_SCHEDULE: 'every minute',
        NSTATS_PORTS: 'maybe',
        IFACE: 'eth0; rm -rf /',
        NSTATS_INFLUX_URL: 'ftp://x',
        NSTATS_LOG_LEVEL: 'loud',
      }),
    ).toEqual([
      'IFACE=eth0; rm -rf /: expected a network interface name (1-15 letters, digits, _ . : @ -)',
      'NSTATS_SAMPLE_SECONDS=ten: expected a whole number from 10 to 3600',
      'NSTATS_SCHEDULE=every minute: expected a cron expression (5 fields, or 6 with seconds first), e.g. "* * * * *"',
      'NSTATS_PORTS=maybe: expected true or false',
      'NSTATS_INFLUX_URL=ftp://x: expected an http:// or https:// URL',
      'NSTATS_LOG_LEVEL=loud: expected one of fatal, error, warn, info, debug, trace, silent',
    ]);
    expect(problems({ NSTATS_SAMPLE_SECONDS: '9' })).toEqual([
      'NSTATS_SAMPLE_SECONDS=9: expected a whole number from 10 to 3600',
    ]);
  });

  it('requires a bucket for v2 and a database for v1', () => {
    expect(problems({ NSTATS_INFLUX_URL: 'http://x:8086' })[0]).toMatch(
      /^NSTATS_INFLUX_BUCKET=: expected a bucket/,
    );
    expect(problems({ NSTATS_INFLUX_URL: 'http://x:8086', NSTATS_INFLUX_API: 'v1' })[0]).toMatch(
      /^NSTATS_INFLUX_DATABASE=: expected a database/,
    );
  });

  it('rejects database settings without a URL instead of silently printing to stdout', () => {
    expect(problems({ IDB: 'telegraf' })[0]).toMatch(/^IDB=telegraf: is set but NSTATS_INFLUX_URL is not/);
  });

  it('never shows a token or password in errors', () => {
    const msg = (() => {
      try {
        loadConfig({ NSTATS_INFLUX_TOKEN: 'super-secret-token' }, { hostname: host });
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    })();
    expect(msg).toContain('NSTATS_INFLUX_TOKEN="(hidden)"');
    expect(msg).not.toContain('super-secret-token');
  });

  it('documents every setting with a default and a description', () => {
    for (const [name, doc] of Object.entries(SETTINGS)) {
      expect(doc.env).toBe(name);
      expect(settingDefault(name as SettingName).length).toBeGreaterThan(0);
      expect(doc.description.length).toBeGreaterThan(0);
    }
  });
});

describe('documented defaults', () => {
  /** The settings table's Default cell, by setting. */
  const cells = new Map(
    settingsTable()
      .split('\n')
      .slice(2)
      .map((row) => {
        const [names = '', value = ''] = row.slice(2).split(' | ');
        return [names.slice(1, names.indexOf('`', 1)), value];
      }),
  );
  /** What the schema gives every setting left unset. */
  const unset = settingsSchema.parse({});

  it.each(Object.keys(SETTINGS) as SettingName[])(
    "%s: the table shows the schema's default, or, where it has none, words that restate no number",
    (name) => {
      const words = SETTINGS[name].default;
      const value = unset[name];
      if (value !== undefined) {
        expect(words).toBeUndefined();
        expect(cells.get(name)?.replaceAll('`', '')).toBe(String(value));
      } else {
        expect(words).toBeTruthy();
        expect(cells.get(name)).toBe(words);
        // Its figures come from the loader, checked below.
        if (name !== 'NSTATS_SPOOL_MAX_MB') expect(words).not.toMatch(/\b\d+\b/);
      }
    },
  );

  it('NSTATS_SPOOL_MAX_MB documents the caps the loader uses', () => {
    const mib = (env: Record<string, string>) =>
      loadConfig(env, { hostname: host }).spool.maxBytes / (1024 * 1024);
    expect(settingDefault('NSTATS_SPOOL_MAX_MB')).toBe(
      `${mib({ NSTATS_SPOOL_DIR: '/spool' })} with NSTATS_SPOOL_DIR, ${mib({})} in memory`,
    );
  });
});

describe('secrets from files (a mounted Secret)', () => {
  it('reads the token and the password from their _FILE variables, trimmed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nstats-secret-'));
    writeFileSync(join(dir, 'token'), '  tok-from-file\n');
    writeFileSync(join(dir, 'password'), 'pw-from-file\n');
    writeFileSync(join(dir, 'empty'), '\n');
    const base = { NSTATS_INFLUX_URL: 'http://x:8086', NSTATS_INFLUX_BUCKET: 'b' };
    expect(
      loadConfig({ ...base, NSTATS_INFLUX_TOKEN_FILE: join(dir, 'token') }, { hostname: host }).influx?.token,
    ).toBe('tok-from-file');
    const v1 = loadConfig(
      {
        INFLUX: 'x:8086',
        IDB: 'd',
        NSTATS_INFLUX_USERNAME: 'u',
        NSTATS_INFLUX_PASSWORD_FILE: join(dir, 'password'),
      },
      { hostname: host },
    );
    expect(v1.influx?.password).toBe('pw-from-file');
    expect(problems({ ...base, NSTATS_INFLUX_TOKEN_FILE: join(dir, 'missing') })).toEqual([
      `NSTATS_INFLUX_TOKEN_FILE=${join(dir, 'missing')}: expected a readable file (ENOENT)`,
    ]);
    expect(problems({ ...base, NSTATS_INFLUX_TOKEN_FILE: join(dir, 'empty') })).toEqual([
      `NSTATS_INFLUX_TOKEN_FILE=${join(dir, 'empty')}: expected a file holding the secret; it is empty`,
    ]);
    expect(
      problems({ ...base, NSTATS_INFLUX_TOKEN: 't', NSTATS_INFLUX_TOKEN_FILE: join(dir, 'token') }),
    ).toEqual([
      `NSTATS_INFLUX_TOKEN_FILE=${join(dir, 'token')}: set either NSTATS_INFLUX_TOKEN or NSTATS_INFLUX_TOKEN_FILE, not both`,
    ]);
  });

  it('sizes the spool: 64 MiB on disk, 8 in memory, or as set', () => {
    expect(loadConfig({}, { hostname: host }).spool).toEqual({ maxBytes: 8 * 1024 * 1024 });
    expect(loadConfig({ NSTATS_SPOOL_DIR: '/spool' }, { hostname: host }).spool).toEqual({
      dir: '/spool',
      maxBytes: 64 * 1024 * 1024,
    });
    expect(loadConfig({ NSTATS_SPOOL_MAX_MB: '2' }, { hostname: host }).spool.maxBytes).toBe(2 * 1024 * 1024);
    expect(problems({ NSTATS_SPOOL_MAX_MB: '0' })).toEqual([
      'NSTATS_SPOOL_MAX_MB=0: expected a whole number from 1 to 1048576',
    ]);
  });

  it('rejects settings it no longer reads, saying what replaced them', () => {
    expect(problems({ NSTATS_INFLUX_MAX_RETRIES: '3' })).toEqual([
      'NSTATS_INFLUX_MAX_RETRIES=3: no longer read: points stay in the spool and are retried until delivered (see NSTATS_SPOOL_DIR, NSTATS_SPOOL_MAX_MB); unset it',
    ]);
  });
});

describe('sinks (NSTATS_SINKS)', () => {
  const base = { NSTATS_INTERFACE: 'eth0' };
  it('defaults to influxdb when a URL is set, else stdout', () => {
    expect(loadConfig(base).sinks).toEqual(['stdout']);
    expect(loadConfig({ ...base, INFLUX: 'http://influx:8086', IDB: 'k8s' }).sinks).toEqual(['influxdb']);
  });

  it('takes several, in order, with the Prometheus bounds', () => {
    const c = loadConfig({
      ...base,
      NSTATS_SINKS: 'prometheus, stdout',
      NSTATS_HEALTH_PORT: '9477',
      NSTATS_PROMETHEUS_MAX_SERIES: '50',
      NSTATS_PROMETHEUS_STALE_SECONDS: '120',
    });
    expect(c.sinks).toEqual(['prometheus', 'stdout']);
    expect(c.prometheus).toEqual({ maxSeries: 50, staleMs: 120_000 });
  });

  it('refuses a sink that cannot work: influxdb without a URL, prometheus without the health port', () => {
    const err = (env: Record<string, string>) => {
      try {
        loadConfig({ ...base, ...env });
      } catch (e) {
        return e instanceof ConfigError ? e.message : String(e);
      }
      return undefined;
    };
    expect(err({ NSTATS_SINKS: 'influxdb' })).toMatch(/NSTATS_SINKS="influxdb".*needs NSTATS_INFLUX_URL/s);
    expect(err({ NSTATS_SINKS: 'prometheus' })).toMatch(/NSTATS_SINKS="prometheus".*set NSTATS_HEALTH_PORT/s);
  });
});
