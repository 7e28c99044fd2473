#!/usr/bin/env bash
# Measures delivery through a long InfluxDB outage: a private InfluxDB 1.6 on 127.0.0.1 is stopped for
# OUTAGE minutes while `nstats run` samples every second (a stand-in iftop prints a real 40-flow
# capture: 40 points a second, 24 times the load of the default 1-minute schedule at 100 flows).
# Half-way through, nstats is stopped (SIGTERM) and started again on the same spool. Then InfluxDB
# comes back. Prints: points produced (from the daemons' own `cycle: done` events) and found in
# InfluxDB, points spooled at the peak and replayed, RSS of nstats before and during the outage,
# replay time, and shutdown times. Needs influxd (Debian's influxdb) and curl.
# Usage: scripts/measure-outage.sh [outage minutes=5] [fixture=many-flows] [spool cap MiB=64]
# With a small cap the spool fills: then produced = found + dropped (counted, logged).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-5}
fixture=test/fixtures/iftop/${2:-many-flows}.txt
cap=${3:-64}
node=$PWD/node_modules/.bin/node
npm run -s build
work=$(mktemp -d /tmp/nstats-outage-XXXXXX)
free_port() { "$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
http=$(free_port)
rpc=$(free_port)
health=$(free_port)
cleanup() {
  [ -n "${nst:-}" ] && kill "$nst" 2>/dev/null || true
  [ -n "${influxd:-}" ] && kill "$influxd" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cat >"$work/influxdb.conf" <<EOF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$work/meta"
  logging-enabled = false
[data]
  dir = "$work/data"
  wal-dir = "$work/wal"
  query-log-enabled = false
  index-version = "inmem"
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:$http"
  log-enabled = false
  max-body-size = 0
[logging]
  level = "warn"
EOF
url=http://127.0.0.1:$http
start_influx() {
  setpriv --pdeathsig SIGKILL influxd -config "$work/influxdb.conf" >>"$work/influxd.log" 2>&1 &
  influxd=$!
  until curl -fs -o /dev/null "$url/ping"; do sleep 0.2; done
}
stop_influx() { kill "$influxd"; wait "$influxd" 2>/dev/null || true; influxd=; }
start_influx
curl -fs -o /dev/null -XPOST "$url/query" --data-urlencode 'q=CREATE DATABASE nstats_outage'
printf '#!/bin/sh\ncat %s\n' "$PWD/$fixture" >"$work/iftop"
chmod +x "$work/iftop"
metric() { curl -fs "http://127.0.0.1:$health/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$nst/status"; }
start_nstats() {
  env -i PATH="$PATH" NSTATS_ENV_FILE=/dev/null NSTATS_INTERFACE=lo NSTATS_IFTOP_PATH="$work/iftop" \
    NSTATS_SCHEDULE='* * * * * *' NSTATS_DNS=false NSTATS_HOSTNAME=web-0 INFLUX="127.0.0.1:$http" \
    IDB=nstats_outage NSTATS_SPOOL_DIR="$work/spool" NSTATS_SPOOL_MAX_MB="$cap" NSTATS_HEALTH_PORT="$health" NSTATS_HEALTH_HOST=127.0.0.1 \
    MALLOC_MMAP_THRESHOLD_=32768 "$node" dist/nstats.mjs run 2>>"$work/nstats-$1.log" >/dev/null &
  nst=$!
  until metric 'nstats_cycles_total{result="ok"}' >/dev/null 2>&1 && [ -n "$(metric 'nstats_cycles_total{result="ok"}')" ]; do sleep 0.2; done
}
stop_nstats() { # sets stop_ms
  local t0
  t0=$(date +%s%N)
  kill -TERM "$nst"
  wait "$nst" || true
  stop_ms=$((($(date +%s%N) - t0) / 1000000))
  nst=
}
peak=0
t_start=$(date +%s)
next_trace=0
sample_for() { # seconds: sample RSS every 5 s, keep the peak; a trace line every minute
  local end=$(($(date +%s) + $1))
  while [ "$(date +%s)" -lt "$end" ]; do
    r=$(rss)
    [ "$r" -gt "$peak" ] && peak=$r
    if [ "$(date +%s)" -ge "$next_trace" ]; then
      echo "  t+$(($(date +%s) - t_start)) s: RSS ${r} KB, spool $(metric nstats_spool_points) points, $(metric nstats_spool_bytes) bytes"
      next_trace=$(($(date +%s) + 60))
    fi
    sleep 5
  done
}
start_nstats a
sample_for 30
before=$peak
peak=0
echo "steady state with InfluxDB up: RSS ${before} KB; outage of ${minutes} min begins $(date -u +%T)"
stop_influx
half=$((minutes * 30))
sample_for "$half"
spooled_a=$(metric nstats_spool_points)
stop_nstats
stop_a=$stop_ms
start_nstats b
sample_for "$((minutes * 60 - half))"
spooled_peak=$(metric nstats_spool_points)
spool_bytes=$(metric nstats_spool_bytes)
spool_files=$(find "$work/spool" -name '*.lp' | wc -l)
echo "outage ends $(date -u +%T): ${spooled_peak} points (${spool_bytes} bytes, ${spool_files} files) in the spool"
t0=$(date +%s%N)
start_influx
until [ "$(metric nstats_spool_points)" = 0 ]; do sleep 0.2; done
replay_ms=$((($(date +%s%N) - t0) / 1000000))
sleep 3
replayed=$(metric 'nstats_points_total{outcome="replayed"}')
stop_nstats
stop_b=$stop_ms
produced=$(cat "$work"/nstats-*.log | grep '"cycle: done' | "$node" -e '
let n = 0; for (const l of require("node:fs").readFileSync(0, "utf8").trim().split("\n")) n += JSON.parse(l).points; console.log(n);')
count() { # measurement field
  curl -fs -G "$url/query" --data-urlencode db=nstats_outage --data-urlencode "q=SELECT count($2) FROM $1" |
    "$node" -e 'const j = JSON.parse(require("node:fs").readFileSync(0, "utf8")); console.log(j.results[0].series?.[0].values[0][1] ?? 0)'
}
found=$(($(count nstat sendRate) + $(count nstat_interface txBytes)))
dropped=$(cat "$work"/nstats-*.log | { grep '"reason":"spool-full"' || true; } | "$node" -e '
let n = 0; for (const l of require("node:fs").readFileSync(0, "utf8").split("\n")) if (l) n += JSON.parse(l).points; console.log(n);')
echo "outage: ${minutes} min, nstats restarted after $((half / 60)).$((half % 60 * 10 / 60)) min (${spooled_a} points pending, stop took ${stop_a} ms)"
echo "points produced (nstat and nstat_interface) ${produced}, found in InfluxDB ${found}, replayed ${replayed}, dropped (spool full, cap ${cap} MiB) ${dropped}"
echo "RSS of nstats: ${before} KB with InfluxDB up, peak ${peak} KB during the outage (sampled every 5 s)"
echo "replay of the spool after InfluxDB came back: ${replay_ms} ms (including InfluxDB start-up)"
echo "stop with InfluxDB up: ${stop_b} ms"
[ "$produced" = "$((found + dropped))" ] || { echo "LOST: $((produced - found - dropped)) points not found and not counted as dropped" >&2; exit 1; }
