# shellcheck shell=bash
# What every bench/*/run script needs, whatever it starts: the build folder, a scratch folder
# removed on exit, background processes stopped on exit (whatever the exit path), free ports,
# waiting with a deadline, and small number helpers. Sourced (by gateway_common/lib.sh and
# server_common/lib.sh), not run. Before sourcing, a script may set bench_name (the scratch
# folder's prefix); after it, it may define bench_on_die (called by die before exiting, e.g.
# to show the tail of a log).
set -euo pipefail
bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${EQM_BUILD_DIR:-$bench_root/build}
case "$build" in /*) ;; *) build=$bench_root/$build ;; esac
work=$(mktemp -d "${TMPDIR:-/tmp}/${bench_name:-eqm-bench}.XXXXXX")
bg_pids=()
bench_cleanup() {
  local pid
  for pid in "${bg_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${bg_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${EQM_BENCH_KEEP:-0}" = 1 ]; then echo "bench: files kept in $work" >&2; else rm -rf "$work"; fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

note() { echo "bench: $*" >&2; }
die() {
  echo "bench: $*" >&2
  if declare -F bench_on_die >/dev/null; then bench_on_die || true; fi
  exit 1
}
now_s() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.${2:-0}f\", $1 }"; }  # calc EXPR [DECIMALS]
load_average() { cut -d' ' -f1-3 /proc/loadavg; }  # the machine's 1/5/15-minute load, for the report
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {  # a port on 127.0.0.1 nobody listens on now
  local p _
  for _ in $(seq 100); do p=$((20000 + RANDOM % 40000)); port_open "$p" || { echo "$p"; return 0; }; done
  die "no free port"
}
wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do [ "$SECONDS" -lt "$deadline" ] || die "timed out waiting for $what"; sleep 0.1; done
}
start_bg() {  # start_bg LOG COMMAND...: sets bg_pid
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  bg_pid=$!
  bg_pids+=("$bg_pid")
}
need_bin() {  # need_bin PATH WHAT
  [ -x "$1" ] || die "no $2 at $1 (build it, or set EQM_BUILD_DIR)"
}
