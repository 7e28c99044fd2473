import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig } from '../../src/config/load.js';
import {
  defaultShardSeconds,
  formatDuration,
  INFINITE,
  parseGoDuration,
  parseRetention,
  sameDuration,
} from '../../src/setup/duration.js';

describe('parseRetention (the settings)', () => {
  it('reads whole s, m, h, d, w parts, summed, and INF', () => {
    expect(parseRetention('7d')).toBe(7 * 86_400);
    expect(parseRetention('400d')).toBe(400 * 86_400);
    expect(parseRetention('36h')).toBe(36 * 3600);
    expect(parseRetention('2w')).toBe(14 * 86_400);
    expect(parseRetention('1d12h')).toBe(36 * 3600);
    expect(parseRetention('60m')).toBe(3600);
    expect(parseRetention('3600s')).toBe(3600);
    expect(parseRetention(' 7d ')).toBe(7 * 86_400);
    expect(parseRetention('INF')).toBe(INFINITE);
    expect(parseRetention('inf')).toBe(INFINITE);
  });

  it('refuses anything else, and less than 1h', () => {
    for (const v of [
      '7 days',
      '7',
      'd',
      '1.5d',
      '7D',
      '-1d',
      '7d,1d',
      '"7d"',
      '30m',
      '59m59s',
      '0d',
      '',
      'infinity',
      '7d 1h',
    ])
      expect(parseRetention(v), v).toBeUndefined();
    expect(parseRetention('300000000000s')).toBeUndefined();
  });

  it('is what the config schema checks: the error names variable, value and what is expected', () => {
    const message = (env: Record<string, string>) => {
      try {
        loadConfig(env, { hostname: () => 'h' });
      } catch (err) {
        return (err as ConfigError).message;
      }
      return '';
    };
    expect(message({ NSTATS_RAW_RETENTION: '7 days' })).toBe(
      'config: 1 invalid setting\n  NSTATS_RAW_RETENTION="7 days": expected a duration of whole s, m, h, d or w, at least 1h (e.g. 7d, 36h, 2w, 1d12h), or INF to keep for ever',
    );
    expect(message({ NSTATS_LONG_RETENTION: '30m' })).toMatch(
      /NSTATS_LONG_RETENTION="30m": expected a duration/,
    );
    const c = loadConfig(
      { NSTATS_RAW_RETENTION: '2w', NSTATS_LONG_RETENTION: 'INF' },
      { hostname: () => 'h' },
    );
    expect(c.retention).toEqual({ rawSeconds: 14 * 86_400, longSeconds: 0, longRetentionPolicy: 'long' });
    expect(loadConfig({}, { hostname: () => 'h' }).retention).toEqual({
      rawSeconds: 7 * 86_400,
      longSeconds: 400 * 86_400,
      longRetentionPolicy: 'long',
    });
    expect(
      loadConfig({ NSTATS_INFLUX_URL: 'http://x:8086', NSTATS_INFLUX_BUCKET: 'net' }, { hostname: () => 'h' })
        .retention.longBucket,
    ).toBe('net_long');
  });
});

describe('parseGoDuration (what InfluxDB 1.x shows)', () => {
  it('reads the durations of SHOW RETENTION POLICIES', () => {
    expect(parseGoDuration('168h0m0s')).toBe(7 * 86_400);
    expect(parseGoDuration('9600h0m0s')).toBe(400 * 86_400);
    expect(parseGoDuration('0s')).toBe(0);
    expect(parseGoDuration('1h0m0s')).toBe(3600);
    expect(parseGoDuration('1h30m0.5s')).toBe(5400.5);
    expect(parseGoDuration('1500ms')).toBe(1.5);
    expect(parseGoDuration('7d')).toBeUndefined();
    expect(parseGoDuration('')).toBeUndefined();
    expect(parseGoDuration('INF')).toBeUndefined();
  });
});

describe('comparing and writing durations', () => {
  it('compares the setting with what InfluxDB shows, whatever the notation', () => {
    const same = (setting: string, shown: string) =>
      sameDuration(parseRetention(setting)!, parseGoDuration(shown)!);
    expect(same('7d', '168h0m0s')).toBe(true);
    expect(same('1w', '168h0m0s')).toBe(true);
    expect(same('1d12h', '36h0m0s')).toBe(true);
    expect(same('INF', '0s')).toBe(true);
    expect(same('400d', '9600h0m0s')).toBe(true);
    expect(same('7d', '167h59m59s')).toBe(false);
    expect(same('INF', '168h0m0s')).toBe(false);
  });

  it('writes InfluxQL durations in their largest whole unit', () => {
    expect(formatDuration(7 * 86_400)).toBe('7d');
    expect(formatDuration(14 * 86_400)).toBe('14d');
    expect(formatDuration(36 * 3600)).toBe('36h');
    expect(formatDuration(90 * 60)).toBe('90m');
    expect(formatDuration(3601)).toBe('3601s');
    expect(formatDuration(0)).toBe('INF');
  });

  it("gives InfluxDB 1.x's default shard group durations", () => {
    expect(defaultShardSeconds(3600)).toBe(3600);
    expect(defaultShardSeconds(47 * 3600)).toBe(3600);
    expect(defaultShardSeconds(2 * 86_400)).toBe(86_400);
    expect(defaultShardSeconds(7 * 86_400)).toBe(86_400);
    expect(defaultShardSeconds(180 * 86_400)).toBe(7 * 86_400);
    expect(defaultShardSeconds(0)).toBe(7 * 86_400);
  });
});
