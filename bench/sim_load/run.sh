#!/usr/bin/env bash
# bench/sim_load: eqm-sim load vs mosquitto_pub -l, same broker, same run, same message count
# and payload size (QoS 0). Each sender is timed from start to exit; a mosquitto_sub counts the
# deliveries of each so a sender that "finishes" by dropping messages is caught.
#
#   bench/sim_load/run.sh [EQM_SIM] [COUNT]
#     EQM_SIM  path of the eqm-sim binary (default: build/firmware-shims/eqm-sim)
#     COUNT    messages per sender (default 200000)
# Prints msgs/s of each and the ratio eqm-sim / mosquitto_pub (goal >= 1.0).
set -euo pipefail

eqm_sim=${1:-build/firmware-shims/eqm-sim}
count=${2:-200000}
mosquitto=${MOSQUITTO:-/usr/sbin/mosquitto}
[ -x "$eqm_sim" ] || { echo "sim_load: eqm-sim not found at $eqm_sim (build the eqm-sim target)" >&2; exit 2; }
[ -x "$mosquitto" ] || { echo "sim_load: mosquitto not found at $mosquitto" >&2; exit 2; }

work=$(mktemp -d /tmp/eqm-bench-sim-load-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
cat > "$work/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
CONF
"$mosquitto" -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
  sleep 0.05
done

now() { date +%s.%N; }

# Payloads of the same size as eqm-sim's (it prints one as its load payload for seq = count/2).
sample=$(printf '{"ts":"2026-03-02T01:00:00.000Z","seq":%d,"battery_pct":%.1f,"storage_free_mb":%.1f,"temp_c":%.1f,"docked":false}' \
  $((count / 2)) 20.0 30000.0 25.0)
head -n "$count" < <(yes "$sample") > "$work/lines.txt"

run_sender() {  # name, topic filter, command...
  local name=$1 filter=$2; shift 2
  timeout 600 mosquitto_sub -h 127.0.0.1 -p "$port" -t "$filter" -q 0 -C "$count" -W 600 > "$work/$name.sub" &
  local sub=$!
  sleep 0.3
  local t0 t1
  t0=$(now)
  if ! "$@" > "$work/$name.out" 2> "$work/$name.err"; then
    echo "sim_load: $name failed:" >&2
    cat "$work/$name.err" >&2
    exit 1
  fi
  t1=$(now)
  # Give the subscriber a moment to drain, then count what it got.
  for _ in $(seq 100); do
    kill -0 "$sub" 2>/dev/null || break
    sleep 0.05
  done
  kill "$sub" 2>/dev/null || true
  wait "$sub" 2>/dev/null || true
  local got
  got=$(wc -l < "$work/$name.sub")
  python3 - "$name" "$t0" "$t1" "$count" "$got" <<'PY'
import sys
name, t0, t1, count, got = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(f"{name}\t{count / (t1 - t0):.0f}\t{t1 - t0:.3f}\t{got}")
PY
}

# mosquitto_pub -l sends one message per stdin line.
pub=$(run_sender mosquitto_pub 'bench/pub/#' \
  bash -c "mosquitto_pub -h 127.0.0.1 -p $port -t bench/pub/450100-load-00000/telemetry -q 0 -l < $work/lines.txt")
sim=$(run_sender eqm-sim 'eqm/v1/dev/+/telemetry' \
  "$eqm_sim" load --broker "450100=tcp://127.0.0.1:$port" --devices 100 --count "$count" --state-dir "$work/state")

printf 'sender\tmsgs_per_s\tseconds\tdelivered_to_subscriber\n%s\n%s\n' "$pub" "$sim"
pub_rate=$(cut -f2 <<<"$pub")
sim_rate=$(cut -f2 <<<"$sim")
python3 -c "r=$sim_rate/$pub_rate; print(f'ratio eqm-sim / mosquitto_pub -l = {r:.2f} (goal >= 1.0)')"
