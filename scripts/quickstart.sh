#!/usr/bin/env bash
# Quick start on a Debian/Ubuntu machine, as root: installs iftop and the npm packages, builds, and
# runs `nstats run` (or `nstats once` with the argument `once`). Without InfluxDB settings the
# daemon prints the line protocol it would write.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v iftop >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iftop iproute2 >/dev/null
fi
[ -d node_modules/node ] || npm ci --no-audit --no-fund
npm run -s build
# npm's node_modules/.bin holds the Node 24 binary of the `node` package; nstats runs on it.
export PATH="$PWD/node_modules/.bin:$PATH"
case "${1:-run}" in
  once) shift; exec dist/nstats.mjs once "$@" ;;
  run) shift || true; exec dist/nstats.mjs run "$@" ;;
  *) exec dist/nstats.mjs "$@" ;;
esac
