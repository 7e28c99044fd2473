import { describe, expect, it } from 'vitest';
import { exposition } from '../../src/health/exposition.js';
import { float, int, type MetricRecord } from '../../src/record/record.js';
import { labelName, OVERFLOW, PrometheusSink } from '../../src/sink/prometheus-sink.js';

const SHARED = { hosts: 'web-0', interface: 'eth0', mode: 'continuous', pod: 'web-0' };

function flow(
  receiver: string,
  sent: number,
  received: number,
  extra: Record<string, string> = {},
): MetricRecord {
  return {
    measurement: 'nstat',
    tags: { ...SHARED, receiver, receiverIp: receiver, sender: '10.0.0.1', senderIp: '10.0.0.1', ...extra },
    fields: {
      sendRate: float(sent * 8),
      receiveRate: float(received * 8),
      sentBytes: int(sent),
      receivedBytes: int(received),
    },
    time: new Date(0),
  };
}

function sinkAt(clock: { t: number }, maxSeries = 100, staleMs = 60_000) {
  return new PrometheusSink({ maxSeries, staleMs }, () => clock.t);
}

const value = (text: string, metric: string, receiver: string) =>
  Number(
    new RegExp(`^${metric}\\{[^}]*receiver="${receiver.replace(/[()]/g, '\\$&')}"[^}]*\\} (\\S+)$`, 'm').exec(
      text,
    )?.[1],
  );

describe('PrometheusSink', () => {
  it("adds each cycle's bytes to a counter per peer pair, labelled with the tags in snake_case", async () => {
    const clock = { t: 0 };
    const sink = sinkAt(clock);
    await sink.write([flow('10.0.0.2', 100, 10, { receiverPort: '443' })]);
    await sink.write([flow('10.0.0.2', 50, 5, { receiverPort: '443' }), flow('10.0.0.3', 7, 0)]);
    const text = exposition(sink.families());
    expect(text).toContain('# TYPE nstats_flow_sent_bytes_total counter\n');
    expect(text).toContain(
      'nstats_flow_sent_bytes_total{hosts="web-0",interface="eth0",mode="continuous",pod="web-0",receiver="10.0.0.2",receiver_ip="10.0.0.2",sender="10.0.0.1",sender_ip="10.0.0.1",receiver_port="443"} 150\n',
    );
    expect(value(text, 'nstats_flow_received_bytes_total', '10.0.0.2')).toBe(15);
    expect(value(text, 'nstats_flow_sent_bytes_total', '10.0.0.3')).toBe(7);
    expect(sink.stats).toMatchObject({ pointsReceived: 3, pointsWritten: 3 });
    expect(labelName('senderIp')).toBe('sender_ip');
    expect(labelName('receiverNamespace')).toBe('receiver_namespace');
  });

  it('exposes the interface counters as they are (the kernel keeps them)', async () => {
    const sink = sinkAt({ t: 0 });
    await sink.write([
      {
        measurement: 'nstat_interface',
        tags: SHARED,
        fields: {
          rxBytes: int(1000),
          txBytes: int(2000),
          rxPackets: int(3),
          txPackets: int(4),
          sampleSeconds: float(2),
        },
        time: new Date(0),
      },
    ]);
    const text = exposition(sink.families());
    expect(text).toContain(
      'nstats_interface_transmit_bytes_total{hosts="web-0",interface="eth0",mode="continuous",pod="web-0"} 2000\n',
    );
    expect(text).toContain(
      'nstats_interface_receive_packets_total{hosts="web-0",interface="eth0",mode="continuous",pod="web-0"} 3\n',
    );
  });

  it('caps the flow series: the rest go into one (overflow) series, counted', async () => {
    const sink = sinkAt({ t: 0 }, 2);
    await sink.write([
      flow('10.0.0.2', 1, 0),
      flow('10.0.0.3', 2, 0),
      flow('10.0.0.4', 4, 0),
      flow('10.0.0.5', 8, 0),
    ]);
    await sink.write([flow('10.0.0.2', 16, 0), flow('10.0.0.6', 32, 0)]);
    const text = exposition(sink.families());
    expect(value(text, 'nstats_flow_sent_bytes_total', '10.0.0.2')).toBe(17);
    expect(value(text, 'nstats_flow_sent_bytes_total', OVERFLOW)).toBe(4 + 8 + 32);
    expect(text).toMatch(
      /^nstats_flow_sent_bytes_total\{hosts="web-0",interface="eth0",mode="continuous",pod="web-0",receiver="\(overflow\)",sender="\(overflow\)"\} 44$/m,
    );
    expect(text).toContain('nstats_prometheus_overflow_records_total 3\n');
    expect(text).toContain('nstats_prometheus_flow_series 3\n');
  });

  it('drops a series no cycle added to for the stale time, and counts it', async () => {
    const clock = { t: 0 };
    const sink = sinkAt(clock, 100, 10_000);
    await sink.write([flow('10.0.0.2', 1, 0), flow('10.0.0.3', 1, 0)]);
    clock.t = 6000;
    await sink.write([flow('10.0.0.3', 1, 0)]);
    clock.t = 10_000;
    const text = exposition(sink.families());
    expect(text).not.toContain('receiver="10.0.0.2"');
    expect(value(text, 'nstats_flow_sent_bytes_total', '10.0.0.3')).toBe(2);
    expect(text).toContain('nstats_prometheus_stale_series_dropped_total 1\n');
  });

  it('escapes hostile label values: a name cannot change the shape of a sample', async () => {
    const sink = sinkAt({ t: 0 });
    await sink.write([flow('a"b\\c\nd} 1', 5, 0)]);
    const text = exposition(sink.families());
    expect(text).toContain('receiver="a\\"b\\\\c\\nd} 1"');
    // One sample per family line: no line was split.
    expect(text.split('\n').filter((l) => l.startsWith('nstats_flow_sent_bytes_total'))).toHaveLength(1);
  });
});
