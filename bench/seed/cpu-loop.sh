#!/usr/bin/env bash
# Runs a command REPS times, its stdout to /dev/null, then prints bash's `times`: its second line is
# the user and system CPU time of all its children (getrusage(RUSAGE_CHILDREN)).
# Everything a child costs is counted: bash's fork, exec, interpreter start-up, the work, exit.
#   cpu-loop.sh REPS pipeline AWK AWK_SCRIPT CAPTURE PYTHON FORMAT_PY   (the seed: awk | python3)
#   cpu-loop.sh REPS awk AWK AWK_SCRIPT CAPTURE                        (awk alone)
set -eu
reps=$1
mode=$2
shift 2
case "$mode" in
pipeline)
  for ((i = 0; i < reps; i++)); do "$1" -f "$2" "$3" | "$4" "$5" >/dev/null; done
  ;;
awk)
  for ((i = 0; i < reps; i++)); do "$1" -f "$2" "$3" >/dev/null; done
  ;;
*)
  echo "cpu-loop.sh: unknown mode $mode" >&2
  exit 2
  ;;
esac
# Two lines "XmY.YYYs XmY.YYYs" (user, system): the shell's own, then its children's. `times`
# must run in this shell itself (in a pipe or $(...) it would report a subshell's children).
times
