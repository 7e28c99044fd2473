#!/usr/bin/env node
// Paced UDP sender and UDP sink for the integration tests (run with process.execPath, possibly
// under `ip netns exec`). Plain JS so it needs no build step.
//
//   node udp-sender.mjs send --to ADDR --port P --packets N --payload BYTES --interval-us US
//                            [--bind ADDR] [--source-port P]
//     Sends N datagrams of BYTES payload, datagram k at start + k*US microseconds.
//     Prints one JSON line {"packets":N,"payloadBytes":...,"elapsedMs":...} and exits 0,
//     or prints the error to stderr and exits 1.
//
//   node udp-sender.mjs sink --bind ADDR --port P
//     Binds ADDR:P, prints "ready" once bound, counts what arrives; on SIGTERM/SIGINT (or stdin
//     closing) prints {"packets":N,"payloadBytes":...} and exits 0.
//
// Network rule: the caller (traffic.ts) only passes loopback or test-net addresses.
import dgram from 'node:dgram';
import net from 'node:net';

function parseArgs(argv) {
  const [mode, ...rest] = argv;
  const opts = {};
  for (let i = 0; i < rest.length; i += 2) {
    const key = rest[i];
    if (!key?.startsWith('--') || rest[i + 1] === undefined) throw new Error(`bad argument ${key}`);
    opts[key.slice(2)] = rest[i + 1];
  }
  return { mode, opts };
}

function socketFor(addr) {
  const family = net.isIP(addr);
  if (family === 0) throw new Error(`not an IP address: ${addr}`);
  return dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function send(o) {
  const to = o.to;
  const port = Number(o.port);
  const packets = Number(o.packets);
  const payload = Number(o.payload);
  const intervalUs = Number(o['interval-us']);
  if (
    !Number.isInteger(port) ||
    !Number.isInteger(packets) ||
    !Number.isInteger(payload) ||
    !(intervalUs >= 0)
  ) {
    throw new Error('send needs --to --port --packets --payload --interval-us');
  }
  const sock = socketFor(to);
  sock.on('error', (e) => {
    console.error(`socket error: ${e.message}`);
    process.exit(1);
  });
  if (o.bind || o['source-port']) {
    await new Promise((resolve) =>
      sock.bind({ address: o.bind, port: Number(o['source-port'] ?? 0), exclusive: true }, resolve),
    );
  }
  const buf = Buffer.alloc(payload, 0x6e); // 'n'
  const start = process.hrtime.bigint();
  let sent = 0;
  let acked = 0;
  let failed;
  let resolveDone;
  const done = new Promise((resolve) => (resolveDone = resolve));
  if (packets === 0) resolveDone();
  while (sent < packets) {
    const elapsedUs = Number(process.hrtime.bigint() - start) / 1000;
    const due = Math.min(packets, Math.floor(elapsedUs / intervalUs) + 1);
    while (sent < due) {
      sent++;
      sock.send(buf, port, to, (err) => {
        if (err && !failed) failed = err;
        acked++;
        if (acked === packets) resolveDone();
      });
    }
    if (sent < packets) {
      const nextUs = sent * intervalUs;
      const waitMs = (nextUs - Number(process.hrtime.bigint() - start) / 1000) / 1000;
      await sleep(Math.max(0, Math.min(waitMs, 50)));
    }
  }
  await done;
  const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  sock.close();
  if (failed) throw failed;
  process.stdout.write(`${JSON.stringify({ packets: sent, payloadBytes: sent * payload, elapsedMs })}\n`);
}

async function sink(o) {
  const port = Number(o.port);
  const sock = socketFor(o.bind);
  let packets = 0;
  let payloadBytes = 0;
  sock.on('message', (m) => {
    packets++;
    payloadBytes += m.length;
  });
  await new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ address: o.bind, port, exclusive: true }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  const finish = () => {
    process.stdout.write(`${JSON.stringify({ packets, payloadBytes })}\n`, () => process.exit(0));
  };
  process.on('SIGTERM', finish);
  process.on('SIGINT', finish);
  process.stdin.on('end', finish);
  process.stdin.resume();
  process.stdout.write('ready\n');
}

try {
  const { mode, opts } = parseArgs(process.argv.slice(2));
  if (mode === 'send') await send(opts);
  else if (mode === 'sink') await sink(opts);
  else throw new Error(`unknown mode ${mode}`);
} catch (e) {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
}
