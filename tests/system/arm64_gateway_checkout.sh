#!/usr/bin/env bash
# A dock check-out through the aarch64 eqm-gateway, run under qemu-aarch64 user emulation
# against the host's x86-64 Mosquitto:
#   1. start mosquitto on a free 127.0.0.1 port (one broker serves as city and central broker);
#   2. start `qemu-aarch64 -L / PATH_TO_AARCH64_EQM_GATEWAY` for city 450100;
#   3. register a body camera, a dock and a custodian with a badge and a password hash (srv/cmd
#      registry_upsert), wait for its command_result, and log in as the custodian;
#   4. report the camera's battery (telemetry), then publish the dock's slot_remove with the
#      badge and wait for the ack on eqm/v1/ack/{dock_id}: it must say ok;
#   5. check through the gateway's HTTP API that the camera is checked out to the custodian.
# Everything it started is stopped on exit, also on failure. Prints PASS or FAIL.
#
#   tests/system/arm64_gateway_checkout.sh build-arm64/gateway/eqm-gateway
# Needs qemu-aarch64 (qemu-user), mosquitto, mosquitto-clients and curl.
# Run aarch64 programs with `-L /`, never `-L /usr/aarch64-linux-gnu` (docs/arm64.md).
set -euo pipefail

readonly city=450100
readonly device=cam-arm64-1
readonly dock=dock-arm64-1
readonly badge=B-ARM64-1
readonly person=p-arm64-1
# The custodian's password "arm64-password" as the server sends it: argon2id (libsodium's
# crypto_pwhash_str), here at its minimum cost so the emulated login is quick.
readonly password_hash='$argon2id$v=19$m=8,t=1,p=1$2XjfwnnSM620ecCIVz4/oA$um8czVZng28oVtVO+O5Ys14t8nTZ5E0+5IyNBiUFNys'
# qemu emulates every instruction: allow a slow start and slow answers.
readonly wait_s=${EQM_ARM64_WAIT_S:-90}

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") echo "arm64_gateway_checkout: give the path of the aarch64 eqm-gateway (try --help)" >&2; exit 2 ;;
esac
gateway_bin=$1
[ -x "$gateway_bin" ] || { echo "arm64_gateway_checkout: '$gateway_bin' is not an executable" >&2; exit 2; }
for tool in qemu-aarch64 mosquitto mosquitto_pub mosquitto_sub curl; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    { echo "arm64_gateway_checkout: $tool is missing" >&2; exit 2; }
done
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)

work=$(mktemp -d "${TMPDIR:-/tmp}/eqm-arm64-checkout.XXXXXX")
pids=()
result=FAIL
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$result" = PASS ]; then
    rm -rf "$work"
    echo "arm64_gateway_checkout: PASS (a dock check-out through the aarch64 eqm-gateway under qemu was acked ok)"
  else
    echo "arm64_gateway_checkout: FAIL; logs kept in $work" >&2
    for log in "$work"/gateway.log "$work"/mosquitto.log; do
      [ -f "$log" ] && { echo "--- last lines of $log" >&2; tail -n 25 "$log" >&2; }
    done
    exit 1
  fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

step() { echo "arm64_gateway_checkout: $*"; }
fail() { echo "arm64_gateway_checkout: $*" >&2; exit 1; }
now() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p _
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    port_open "$p" || { echo "$p"; return 0; }
  done
  return 1
}
# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${seconds}s waiting for $what"
    sleep 0.2
  done
}

mqtt_port=$(free_port)
http_port=$(free_port)
broker=tcp://127.0.0.1:$mqtt_port

step "mosquitto on 127.0.0.1:$mqtt_port"
{
  [ "$(id -u)" = 0 ] && echo "user root"
  echo "listener $mqtt_port 127.0.0.1"
  echo "allow_anonymous true"
  echo "persistence false"
  echo "log_dest stdout"
} >"$work/mosquitto.conf"
stdbuf -oL "$mosquitto_bin" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
wait_for 10 "mosquitto to listen" port_open "$mqtt_port"

step "$(file -b "$gateway_bin" | cut -d, -f1-2) under qemu-aarch64 -L /, city $city, HTTP on 127.0.0.1:$http_port"
qemu-aarch64 -L / "$gateway_bin" --city "$city" --local-mqtt "$broker" --central-mqtt "$broker" \
  --db "$work/gateway.db" --listen "127.0.0.1:$http_port" >"$work/gateway.log" 2>&1 &
pids+=($!)
healthz() { curl -fsS "http://127.0.0.1:$http_port/healthz" 2>/dev/null; }
both_brokers_up() {
  local h
  h=$(healthz) || return 1
  [[ "$h" == *'"local_mqtt":true'* && "$h" == *'"central_mqtt":true'* ]]
}
wait_for "$wait_s" "the gateway's /healthz to show both brokers connected" both_brokers_up

# Watch the gateway's events to the server, to see the registry command's result.
stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -q 1 -t "eqm/v1/city/$city/gw/events" \
  >"$work/gw_events.out" 2>&1 &
pids+=($!)
sleep 0.5

step "registry_upsert: $device, $dock and custodian $person with badge $badge"
mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -q 1 -t "eqm/v1/city/$city/srv/cmd" -m "$(cat <<EOF
{"cmd_id":"arm64-reg-1","ts":"$(now)","type":"registry_upsert",
 "devices":[{"id":"$device","class":"body_camera","model":"BC-200","city":"$city"},
            {"id":"$dock","class":"dock","model":"DK-8","city":"$city"}],
 "people":[{"id":"$person","name":"Li Wei","role":"custodian","city":"$city","badge":"$badge",
             "password_hash":"$password_hash"}]}
EOF
)"
registry_applied() { grep -q '"cmd_id":"arm64-reg-1"' "$work/gw_events.out"; }
wait_for "$wait_s" "the registry command's result in gw/events" registry_applied
grep -o '"cmd_id":"arm64-reg-1"[^}]*' "$work/gw_events.out" | head -n 1 | grep -q '"result":"ok"' ||
  fail "registry_upsert was not ok: $(grep -o '"cmd_id":"arm64-reg-1"[^}]*' "$work/gw_events.out" | head -n 1)"

step "login as custodian $person (Li Wei) at the gateway"
logged_in() {
  token=$(curl -fsS -H 'Content-Type: application/json' -d '{"name":"Li Wei","password":"arm64-password"}' \
    "http://127.0.0.1:$http_port/api/v1/auth/login" 2>/dev/null | sed -n 's/.*"token":"\([0-9a-f]*\)".*/\1/p')
  [ -n "$token" ]
}
wait_for "$wait_s" "a login token" logged_in
api() { curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$http_port$1"; }

step "telemetry: $device battery 95%"
mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -q 0 -t "eqm/v1/dev/$device/telemetry" \
  -m "{\"ts\":\"$(now)\",\"seq\":1,\"battery_pct\":95,\"storage_free_mb\":30000,\"temp_c\":31}"
battery_known() { api "/api/v1/devices/$device" 2>/dev/null | grep -q '"battery_pct":95'; }
wait_for "$wait_s" "the gateway to take in the telemetry" battery_known

step "dock $dock: slot_remove of $device with badge $badge (a check-out request)"
stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -q 1 -t "eqm/v1/ack/$dock" -C 1 -W "$wait_s" \
  >"$work/ack.out" 2>&1 &
ack_pid=$!
pids+=("$ack_pid")
sleep 0.5
mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -q 1 -t "eqm/v1/dock/$dock/event" \
  -m "{\"event_id\":\"arm64-out-1\",\"ts\":\"$(now)\",\"type\":\"slot_remove\",\"slot\":3,\"device_id\":\"$device\",\"badge\":\"$badge\"}"
wait "$ack_pid" || fail "no ack on eqm/v1/ack/$dock within ${wait_s}s"
ack=$(cat "$work/ack.out")
step "ack: $ack"
[[ "$ack" == *'"arm64-out-1":"ok"'* ]] || fail "the check-out was not acked ok: $ack"

device_json=$(api "/api/v1/devices/$device")
step "device via HTTP: $device_json"
[[ "$device_json" == *'"checked_out"'* && "$device_json" == *"\"$person\""* ]] ||
  fail "the gateway's API does not show $device checked out to $person"
result=PASS
