import type { Config } from '../config/config.js';
import { ConfigError } from '../config/errors.js';
import type { Logger } from '../log/logger.js';
import { InfluxqlClient } from './influxql-client.js';
import type { SetupReporter } from './report.js';
import { setupV1 } from './v1-setup.js';
import { setupV2 } from './v2-setup.js';

/** The raw retention policy's name when NSTATS_INFLUX_RETENTION_POLICY is unset. */
export const DEFAULT_RAW_POLICY = 'raw';

/**
 * Longest one request of the backfill may take: it reads a day of raw points (1.x) or the whole
 * raw bucket (2.x), far more than a write; NSTATS_INFLUX_TIMEOUT_MS when that is longer.
 */
export const BACKFILL_TIMEOUT_MS = 600_000;

/**
 * `nstats setup`: retention and the 1 h roll-up on the configured InfluxDB (1.x through the v1
 * API, 2.x through the v2 API), idempotent. Each object's line goes to `report` when it is done.
 * @throws ConfigError when the settings cannot describe a setup (no InfluxDB, the long policy or
 *   bucket is the raw one); SetupError when InfluxDB fails or refuses.
 */
export async function runSetup(config: Config, report: SetupReporter, log: Logger): Promise<void> {
  const influx = config.influx;
  if (!influx) {
    throw new ConfigError([
      {
        variable: 'NSTATS_INFLUX_URL',
        value: undefined,
        expected:
          'nstats setup needs InfluxDB: set NSTATS_INFLUX_URL and NSTATS_INFLUX_DATABASE (1.x) or NSTATS_INFLUX_BUCKET (2.x)',
      },
    ]);
  }
  const { rawSeconds, longSeconds, longRetentionPolicy, longBucket } = config.retention;
  const backfillTimeoutMs = Math.max(BACKFILL_TIMEOUT_MS, influx.timeoutMs);
  if (influx.api === 'v1') {
    const rawPolicy = influx.retentionPolicy ?? DEFAULT_RAW_POLICY;
    if (rawPolicy === longRetentionPolicy) {
      throw new ConfigError([
        {
          variable: 'NSTATS_LONG_RETENTION_POLICY',
          value: longRetentionPolicy,
          expected: `expected another policy than the raw one (${influx.retentionPolicy === undefined ? `"${DEFAULT_RAW_POLICY}" when NSTATS_INFLUX_RETENTION_POLICY is unset` : 'NSTATS_INFLUX_RETENTION_POLICY'})`,
        },
      ]);
    }
    const client = new InfluxqlClient({
      url: influx.url,
      ...(influx.username !== undefined ? { username: influx.username } : {}),
      ...(influx.password !== undefined ? { password: influx.password } : {}),
      timeoutMs: influx.timeoutMs,
      log,
    });
    await setupV1(
      client,
      {
        database: influx.database ?? '',
        rawPolicy,
        rawIsDefault: influx.retentionPolicy === undefined,
        rawSeconds,
        longPolicy: longRetentionPolicy,
        longSeconds,
        backfillTimeoutMs,
        log,
      },
      report,
    );
    return;
  }
  const rawBucket = influx.bucket ?? '';
  const long = longBucket ?? `${rawBucket}_long`;
  if (long === rawBucket) {
    throw new ConfigError([
      {
        variable: 'NSTATS_LONG_BUCKET',
        value: long,
        expected: 'expected another bucket than NSTATS_INFLUX_BUCKET',
      },
    ]);
  }
  await setupV2(
    {
      url: influx.url,
      ...(influx.token !== undefined ? { token: influx.token } : {}),
      org: influx.org,
      rawBucket,
      rawSeconds,
      longBucket: long,
      longSeconds,
      timeoutMs: influx.timeoutMs,
      backfillTimeoutMs,
      log,
    },
    report,
  );
}
