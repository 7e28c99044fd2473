import { describe, expect, it } from 'vitest';
import { continuousQuery, ident, rollupSelect, sameStatement } from '../../src/setup/influxql.js';
import { ROLLUPS } from '../../src/setup/rollup.js';

const [NSTAT, NSTAT_INTERFACE] = ROLLUPS as [(typeof ROLLUPS)[0], (typeof ROLLUPS)[0]];

// What InfluxDB 1.6.7 showed in SHOW CONTINUOUS QUERIES for the queries nstats setup created on
// database "cq" (copied from the server's answer).
const SHOWN = {
  nstat_1h:
    'CREATE CONTINUOUS QUERY nstat_1h ON cq RESAMPLE EVERY 1h FOR 2h BEGIN SELECT mean(sendRate) AS sendRate, max(sendRate) AS sendRateMax, mean(receiveRate) AS receiveRate, max(receiveRate) AS receiveRateMax, sum(sentBytes) AS sentBytes, sum(receivedBytes) AS receivedBytes, count(sendRate) AS samples INTO cq.long.nstat FROM cq.raw.nstat GROUP BY time(1h), * fill(none) END',
  nstat_interface_1h:
    'CREATE CONTINUOUS QUERY nstat_interface_1h ON cq RESAMPLE EVERY 1h FOR 2h BEGIN SELECT sum(sampleRxBytes) AS sampleRxBytes, sum(sampleTxBytes) AS sampleTxBytes, sum(sampleRxPackets) AS sampleRxPackets, sum(sampleTxPackets) AS sampleTxPackets, sum(sampleSeconds) AS sampleSeconds, max(rxBytes) AS rxBytes, max(txBytes) AS txBytes, max(rxPackets) AS rxPackets, max(txPackets) AS txPackets INTO cq.long.nstat_interface FROM cq.raw.nstat_interface GROUP BY time(1h), * fill(none) END',
};

describe('the InfluxQL of nstats setup', () => {
  it('quotes identifiers as InfluxDB does', () => {
    expect(ident('raw')).toBe('"raw"');
    expect(ident('my db')).toBe('"my db"');
    expect(ident('a\\b')).toBe('"a\\\\b"');
  });

  it('writes the continuous queries: the field mapping, GROUP BY time(1h), *, RESAMPLE EVERY 1h FOR 2h', () => {
    expect(continuousQuery(NSTAT, 'cq', 'raw', 'long')).toBe(
      'CREATE CONTINUOUS QUERY "nstat_1h" ON "cq" RESAMPLE EVERY 1h FOR 2h BEGIN SELECT mean("sendRate") AS "sendRate", max("sendRate") AS "sendRateMax", mean("receiveRate") AS "receiveRate", max("receiveRate") AS "receiveRateMax", sum("sentBytes") AS "sentBytes", sum("receivedBytes") AS "receivedBytes", count("sendRate") AS "samples" INTO "cq"."long"."nstat" FROM "cq"."raw"."nstat" GROUP BY time(1h), * fill(none) END',
    );
  });

  it("takes InfluxDB's own text of the same query as the same, and another as different", () => {
    expect(sameStatement(SHOWN.nstat_1h, continuousQuery(NSTAT, 'cq', 'raw', 'long'))).toBe(true);
    expect(
      sameStatement(SHOWN.nstat_interface_1h, continuousQuery(NSTAT_INTERFACE, 'cq', 'raw', 'long')),
    ).toBe(true);
    expect(sameStatement(SHOWN.nstat_1h, continuousQuery(NSTAT, 'cq', 'raw', 'Long'))).toBe(false);
    expect(sameStatement(SHOWN.nstat_1h, continuousQuery(NSTAT, 'cq', 'week', 'long'))).toBe(false);
    expect(
      sameStatement(SHOWN.nstat_1h.replace('FOR 2h', 'FOR 3h'), continuousQuery(NSTAT, 'cq', 'raw', 'long')),
    ).toBe(false);
  });

  it('backfills from several policies at once, over a time range', () => {
    expect(
      rollupSelect(
        NSTAT_INTERFACE,
        { database: 'd', from: ['raw', 'autogen'], into: 'long' },
        "time >= '2026-12-03T00:00:00.000Z' AND time <= now()",
      ),
    ).toBe(
      'SELECT sum("sampleRxBytes") AS "sampleRxBytes", sum("sampleTxBytes") AS "sampleTxBytes", sum("sampleRxPackets") AS "sampleRxPackets", sum("sampleTxPackets") AS "sampleTxPackets", sum("sampleSeconds") AS "sampleSeconds", max("rxBytes") AS "rxBytes", max("txBytes") AS "txBytes", max("rxPackets") AS "rxPackets", max("txPackets") AS "txPackets" INTO "d"."long"."nstat_interface" FROM "d"."raw"."nstat_interface", "d"."autogen"."nstat_interface" WHERE time >= \'2026-12-03T00:00:00.000Z\' AND time <= now() GROUP BY time(1h), * fill(none)',
    );
  });
});
