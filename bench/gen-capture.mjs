// Synthetic iftop captures in the exact text layout of `iftop -nNb -t -L N` (see
// test/fixtures/iftop/many-flows.txt): one snapshot, N flows between the local 10.0.0.1 and
// distinct IPv4 peers 10.x.y.z, rates and byte counts printed the way iftop's readable_size()
// prints them (powers of 1024, three significant digits, `781Kb`, `1.05MB`, `0b`).
// Deterministic: the same N always gives the same text.
// Usage as a script: node bench/gen-capture.mjs N > capture.txt

const HEADING =
  '   # Host name (port/service if enabled)            last 2s   last 10s   last 40s cumulative';
const DIVIDER = '-'.repeat(92);
const END = '='.repeat(92);
const BIT_UNITS = ['b', 'Kb', 'Mb', 'Gb', 'Tb'];
const BYTE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

/** iftop's readable_size(): bits/s (or bytes) as iftop prints them, without the leading space. */
export function iftopQuantity(n, bytes = false) {
  const units = bytes ? BYTE_UNITS : BIT_UNITS;
  let i = 0;
  let size = 1;
  for (;;) {
    if (n < size * 1000 || i >= units.length - 1) return `${(n / size).toFixed(0)}${units[i]}`;
    i++;
    size *= 1024;
    if (n < size * 10) return `${(n / size).toFixed(2)}${units[i]}`;
    if (n < size * 100) return `${(n / size).toFixed(1)}${units[i]}`;
  }
}

/** mulberry32: a small seeded PRNG, so that the captures are the same on every run. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The i-th peer (0-based): 10.1.0.1, 10.1.0.2, ... all distinct, never 10.0.0.1. */
export function peerAddress(i) {
  return `10.${1 + Math.floor(i / 62500)}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`;
}

const cols = (values) => values.map((v) => v.padStart(11)).join('');

/** The text of one `iftop -nNb -t` snapshot with `flows` flows, as iftop writes it to stdout. */
export function syntheticCapture(flows, seed = 4) {
  const random = prng(seed + flows);
  const list = [];
  for (let i = 0; i < flows; i++) {
    // Sent: log-uniform from 50 bit/s to 2 Gbit/s. Received: a third echo, a third nothing,
    // a third an independent rate.
    const sent10 = 50 * Math.pow(4e7, random());
    const kind = i % 3;
    const received10 = kind === 0 ? sent10 : kind === 1 ? 0 : 50 * Math.pow(4e6, random());
    const jitter = () => 0.9 + 0.2 * random();
    const direction = (r10) => ({
      r2: r10 * jitter(),
      r10,
      r40: r10 * 0.92,
      // iftop -s 12: about 12 s of traffic counted.
      cum: (r10 * 0.92 * 12) / 8,
    });
    list.push({ peer: peerAddress(i), sent: direction(sent10), received: direction(received10) });
  }
  // iftop sorts by the 10 s column of sent + received, busiest first.
  list.sort((a, b) => b.sent.r10 + b.received.r10 - (a.sent.r10 + a.received.r10));

  const out = ['Listening on eth0', HEADING, DIVIDER];
  const row = (d) =>
    cols([d.r2, d.r10, d.r40].map((v) => iftopQuantity(v)).concat(iftopQuantity(d.cum, true)));
  list.forEach((f, index) => {
    out.push(`${String(index + 1).padStart(4)} ${'10.0.0.1'.padEnd(40)} =>${row(f.sent)}`);
    out.push(`     ${f.peer.padEnd(40)} <=${row(f.received)}`);
  });
  const sum = (pick) => list.reduce((acc, f) => acc + pick(f), 0);
  const totals = (pick) => [pick('r2'), pick('r10'), pick('r40')];
  const send = totals((k) => sum((f) => f.sent[k]));
  const receive = totals((k) => sum((f) => f.received[k]));
  const both = send.map((v, k) => v + receive[k]);
  const sentBytes = sum((f) => f.sent.cum);
  const receivedBytes = sum((f) => f.received.cum);
  const label = (text, values, bytes = false) =>
    `${text.padEnd(48)}${cols(values.map((v) => iftopQuantity(v, bytes)))}`;
  out.push(DIVIDER);
  out.push(label('Total send rate:', send));
  out.push(label('Total receive rate:', receive));
  out.push(label('Total send and receive rate:', both));
  out.push(DIVIDER);
  out.push(label('Peak rate (sent/received/total):', [send[1], receive[1], both[1]]));
  out.push(
    label('Cumulative (sent/received/total):', [sentBytes, receivedBytes, sentBytes + receivedBytes], true),
  );
  out.push(END);
  out.push('');
  return `${out.join('\n')}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2]);
  if (!Number.isInteger(n) || n < 0) throw new Error('usage: node bench/gen-capture.mjs FLOWS');
  process.stdout.write(syntheticCapture(n));
}
