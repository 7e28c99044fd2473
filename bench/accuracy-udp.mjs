// Traffic for bench/accuracy.mjs, which starts it (plain ESM, no build step).
//
//   node accuracy-udp.mjs send PLAN_JSON
//     PLAN_JSON: {"flows":[{"to":ADDR,"port":P,"bind":ADDR,"payload":BYTES,
//                           "segments":[{"from":EPOCH_MS,"to":EPOCH_MS,"bps":BITS_PER_S}]}]}
//     In each segment, sends datagrams of BYTES payload to ADDR:P, evenly spaced so the IP-level
//     rate (payload + 28 bytes of IPv4 and UDP headers) is BITS_PER_S. Ends after the last segment,
//     or at SIGTERM/SIGINT. Then prints one JSON line: per flow, the datagrams the kernel accepted,
//     by the wall-clock second (epoch s) in which each was handed to it, and the failed sends.
//
//   node accuracy-udp.mjs sink --bind ADDR --port P
//     Binds ADDR:P (so the peer never answers with ICMP port unreachable), prints "ready", counts
//     what arrives; on SIGTERM/SIGINT or the end of stdin prints {"packets":N,"bytes":N}.
//
// Network rule: accuracy.mjs passes only addresses of its own namespaces, checked there with
// `ip route get` before this starts.
import dgram from 'node:dgram';

const IPV4_UDP_OVERHEAD = 28;
const [mode, ...args] = process.argv.slice(2);

function send(plan) {
  const flows = plan.flows.map((f) => ({
    ...f,
    buf: Buffer.alloc(f.payload, 0x6e),
    sock: dgram.createSocket('udp4'),
    perSecond: new Map(),
    failed: 0,
    pending: 0,
    // Index of the segment being sent and datagrams sent in it.
    seg: 0,
    sentInSeg: 0,
  }));
  for (const f of flows) {
    f.sock.on('error', (e) => {
      console.error(`socket error: ${e.message}`);
      process.exit(1);
    });
    f.sock.bind({ address: f.bind, port: 0 });
  }
  let stopping = false;
  const finish = () => {
    if (stopping) return;
    stopping = true;
    const wait = () => {
      if (flows.some((f) => f.pending > 0)) return setTimeout(wait, 5);
      for (const f of flows) f.sock.close();
      const out = flows.map((f) => ({
        to: f.to,
        port: f.port,
        payload: f.payload,
        ipBytesPerPacket: f.payload + IPV4_UDP_OVERHEAD,
        perSecond: Object.fromEntries(f.perSecond),
        failed: f.failed,
      }));
      process.stdout.write(`${JSON.stringify({ flows: out })}\n`, () => process.exit(0));
    };
    wait();
  };
  process.on('SIGTERM', finish);
  process.on('SIGINT', finish);

  const tick = () => {
    if (stopping) return;
    const now = Date.now();
    let next = Infinity;
    for (const f of flows) {
      while (f.seg < f.segments.length) {
        const s = f.segments[f.seg];
        const intervalMs = ((f.payload + IPV4_UDP_OVERHEAD) * 8 * 1000) / s.bps;
        const total = Math.max(0, Math.ceil((s.to - s.from) / intervalMs));
        const due = now < s.from ? 0 : Math.min(total, Math.floor((now - s.from) / intervalMs) + 1);
        while (f.sentInSeg < due) {
          f.sentInSeg++;
          f.pending++;
          const second = Math.floor(Date.now() / 1000);
          f.sock.send(f.buf, f.port, f.to, (err) => {
            f.pending--;
            if (err) f.failed++;
            else f.perSecond.set(second, (f.perSecond.get(second) ?? 0) + 1);
          });
        }
        if (f.sentInSeg < total) {
          next = Math.min(next, s.from + f.sentInSeg * intervalMs);
          break;
        }
        f.seg++;
        f.sentInSeg = 0;
      }
    }
    if (next === Infinity) return finish();
    setTimeout(tick, Math.max(0, Math.min(next - Date.now(), 50)));
  };
  tick();
}

function sink(opts) {
  const sock = dgram.createSocket('udp4');
  let packets = 0;
  let bytes = 0;
  sock.on('message', (m) => {
    packets++;
    bytes += m.length;
  });
  sock.on('error', (e) => {
    console.error(`sink: ${e.message}`);
    process.exit(1);
  });
  sock.bind({ address: opts.bind, port: Number(opts.port), exclusive: true }, () =>
    process.stdout.write('ready\n'),
  );
  const finish = () => process.stdout.write(`${JSON.stringify({ packets, bytes })}\n`, () => process.exit(0));
  process.on('SIGTERM', finish);
  process.on('SIGINT', finish);
  process.stdin.on('end', finish);
  process.stdin.resume();
}

if (mode === 'send') send(JSON.parse(args[0]));
else if (mode === 'sink')
  sink({ bind: args[args.indexOf('--bind') + 1], port: args[args.indexOf('--port') + 1] });
else {
  console.error('usage: accuracy-udp.mjs send PLAN_JSON | sink --bind ADDR --port P');
  process.exit(2);
}
