#!/usr/bin/env bash
# Starts InfluxDB 1.6 and VictoriaMetrics on 127.0.0.1 (random free ports, data in a temp dir)
# for the integration tests, and exports
#   NSTATS_TEST_INFLUX1_URL   e.g. http://127.0.0.1:41234
#   NSTATS_TEST_VM_URL        e.g. http://127.0.0.1:41235
#   NSTATS_TEST_SERVERS_DIR   data, logs (influxd.log, victoria-metrics.log) and pid files
# The tests' global setup (test/global-setup.ts) uses these servers instead of starting its own.
#
# Two ways to use it (from the repository root, after `npm ci`):
#   . .ci/start-servers.sh                  # sourced by a script (.ci/run): the servers die with
#                                           # that shell; nstats_stop_servers stops them sooner
#   eval "$(bash .ci/start-servers.sh)"     # interactive: the servers keep running until
#                                           # nstats_stop_servers (or kill $(cat "$NSTATS_TEST_SERVERS_DIR"/*.pid))
# Needs: influxd (Debian influxdb), victoria-metrics, setpriv (util-linux), node.

_nst_node() {
  if [ -x node_modules/.bin/node ]; then node_modules/.bin/node "$@"; else node "$@"; fi
}

_nst_free_port() {
  _nst_node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# _nst_wait URL EXPECTED_STATUS PIDFILE NAME
_nst_wait() {
  _nst_node -e "
    const [url, want, pidfile, name] = process.argv.slice(1);
    const pid = Number(require('fs').readFileSync(pidfile, 'utf8'));
    const deadline = Date.now() + 60000;
    (async () => {
      for (;;) {
        try { process.kill(pid, 0); } catch { console.error(name + ' exited at start'); process.exit(1); }
        try { if ((await fetch(url)).status === Number(want)) process.exit(0); } catch {}
        if (Date.now() > deadline) { console.error(name + ' not ready after 60 s'); process.exit(1); }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();" "$@"
}

nstats_stop_servers() {
  local dir="${NSTATS_TEST_SERVERS_DIR:-}" f
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  for f in "$dir"/*.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
  done
  sleep 1
  for f in "$dir"/*.pid; do
    [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
    rm -f "$f"
  done
  return 0
}

# nstats_start_servers tie|detach
nstats_start_servers() {
  local mode="$1" dir http rpc vm prefix=()
  local b
  for b in /usr/bin/influxd /usr/bin/victoria-metrics; do
    if [ ! -x "$b" ]; then
      echo "start-servers: $b missing (apt-get install -y influxdb victoria-metrics)" >&2
      return 1
    fi
  done
  dir="$(mktemp -d /tmp/nstats-servers.XXXXXX)" || return 1
  http="$(_nst_free_port)" && rpc="$(_nst_free_port)" && vm="$(_nst_free_port)" || return 1
  while [ "$rpc" = "$http" ]; do rpc="$(_nst_free_port)"; done
  while [ "$vm" = "$http" ] || [ "$vm" = "$rpc" ]; do vm="$(_nst_free_port)"; done

  cat >"$dir/influxdb.conf" <<EOF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$dir/influx/meta"
  logging-enabled = false
[data]
  dir = "$dir/influx/data"
  wal-dir = "$dir/influx/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false
  index-version = "inmem"
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$http"
  auth-enabled = false
  log-enabled = false
  max-body-size = 0
[ifql]
  enabled = false
[logging]
  level = "warn"
EOF

  # tie: the servers get SIGKILL when the shell that started them exits.
  if [ "$mode" = tie ]; then prefix=(setpriv --pdeathsig SIGKILL); fi
  if [ "$mode" = tie ]; then
    "${prefix[@]}" /usr/bin/influxd -config "$dir/influxdb.conf" </dev/null >"$dir/influxd.log" 2>&1 &
    echo $! >"$dir/influxd.pid"
    "${prefix[@]}" /usr/bin/victoria-metrics -httpListenAddr="127.0.0.1:$vm" -storageDataPath="$dir/vm" \
      -retentionPeriod=100y -loggerLevel=WARN </dev/null >"$dir/victoria-metrics.log" 2>&1 &
    echo $! >"$dir/victoria-metrics.pid"
  else
    setsid /usr/bin/influxd -config "$dir/influxdb.conf" </dev/null >"$dir/influxd.log" 2>&1 &
    echo $! >"$dir/influxd.pid"
    setsid /usr/bin/victoria-metrics -httpListenAddr="127.0.0.1:$vm" -storageDataPath="$dir/vm" \
      -retentionPeriod=100y -loggerLevel=WARN </dev/null >"$dir/victoria-metrics.log" 2>&1 &
    echo $! >"$dir/victoria-metrics.pid"
  fi

  export NSTATS_TEST_SERVERS_DIR="$dir"
  export NSTATS_TEST_INFLUX1_URL="http://127.0.0.1:$http"
  export NSTATS_TEST_VM_URL="http://127.0.0.1:$vm"

  if ! _nst_wait "$NSTATS_TEST_INFLUX1_URL/ping" 204 "$dir/influxd.pid" influxd >&2 ||
    ! _nst_wait "$NSTATS_TEST_VM_URL/health" 200 "$dir/victoria-metrics.pid" victoria-metrics >&2; then
    echo "--- influxd.log ---" >&2
    tail -n 30 "$dir/influxd.log" >&2
    echo "--- victoria-metrics.log ---" >&2
    tail -n 30 "$dir/victoria-metrics.log" >&2
    nstats_stop_servers
    unset NSTATS_TEST_INFLUX1_URL NSTATS_TEST_VM_URL
    return 1
  fi
  echo "start-servers: InfluxDB $NSTATS_TEST_INFLUX1_URL, VictoriaMetrics $NSTATS_TEST_VM_URL (dir $dir)" >&2
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  # sourced
  nstats_start_servers tie
else
  nstats_start_servers detach || exit 1
  # Output for eval: the env vars and the stop function.
  printf 'export NSTATS_TEST_SERVERS_DIR=%q NSTATS_TEST_INFLUX1_URL=%q NSTATS_TEST_VM_URL=%q\n' \
    "$NSTATS_TEST_SERVERS_DIR" "$NSTATS_TEST_INFLUX1_URL" "$NSTATS_TEST_VM_URL"
  declare -f nstats_stop_servers
fi
