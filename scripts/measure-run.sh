#!/usr/bin/env bash
# Measures `nstats run` on a real veth pair (as root): cycle time and CPU per cycle (from the daemon's
# own `cycle: done` events), total CPU of nstats and its iftop children, and RSS while idle between
# cycles. Traffic: UDP flows from the root side to 8 addresses of a namespace this script creates
# (198.18.250.0/24) and removes on exit. Usage: scripts/measure-run.sh [cycles=4] [flows=8]
set -euo pipefail
cd "$(dirname "$0")/.."
cycles=${1:-4}
flows=${2:-8}
id=$$
ns=nstm$id
a=nstma$id
b=nstmb$id
node=node_modules/.bin/node
npm run -s build
cleanup() {
  [ -n "${gen:-}" ] && kill "$gen" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  ip link del "$a" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns"
ip link add "$a" type veth peer name "$b" netns "$ns"
ip addr add 198.18.250.1/24 dev "$a"
ip link set "$a" up
ip -n "$ns" link set "$b" up
for i in $(seq 1 "$flows"); do ip -n "$ns" addr add "198.18.250.$((i + 1))/24" dev "$b"; done
# Paced UDP to each peer address (the kernel answers with ICMP port unreachable: two directions).
$node -e '
const dgram = require("node:dgram"); const s = dgram.createSocket("udp4"); const buf = Buffer.alloc(972);
const n = Number(process.argv[1]);
setInterval(() => { for (let i = 0; i < n; i++) s.send(buf, 9000 + i, `198.18.250.${i + 2}`); }, 10);
' "$flows" &
gen=$!
export PATH="$PWD/node_modules/.bin:$PATH"
log=$(mktemp)
start=$(date +%s.%N)
/usr/bin/time -f '%U %S %M' -o "$log.time" env -i PATH="$PATH" NSTATS_ENV_FILE=/dev/null NSTATS_INTERFACE="$a" \
  NSTATS_DNS=false NSTATS_SCHEDULE='*/15 * * * * *' MALLOC_MMAP_THRESHOLD_=32768 "$node" dist/nstats.mjs run --max-cycles "$cycles" >"$log.out" 2>"$log" &
runner=$!
sleep 1
pid=$(pgrep -n -f "dist/nstats.mjs run --max-cycles $cycles")
peak_idle=0
while kill -0 "$runner" 2>/dev/null; do
  if ! pgrep -P "$pid" -x iftop >/dev/null 2>&1; then
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak_idle" ] && peak_idle=$rss
  fi
  sleep 0.5
done
wait "$runner" || true
end=$(date +%s.%N)
echo "cycles (from the daemon's cycle: done events):"
grep '"cycle: done' "$log" | $node -e '
const lines = require("node:fs").readFileSync(0, "utf8").trim().split("\n").map(JSON.parse);
for (const l of lines) console.log(`  durationMs=${l.durationMs} cpuMs(nstats)=${l.cpuMs} parseMs=${l.parseMs} flows=${l.flows} points=${l.points}`);
const later = lines.slice(1); const avg = (k) => (later.reduce((a, l) => a + l[k], 0) / later.length).toFixed(1);
if (later.length) console.log(`  after the first: mean durationMs=${avg("durationMs")} cpuMs=${avg("cpuMs")}`);'
read -r user sys maxrss <"$log.time"
echo "whole run: $(echo "$end - $start" | bc) s wall, user ${user} s + sys ${sys} s CPU (nstats and its iftop children), max RSS ${maxrss} KB"
echo "RSS of nstats run between cycles (no iftop running): peak ${peak_idle} KB"
echo "points printed: $(wc -l <"$log.out")"
rm -f "$log" "$log.out" "$log.time"
