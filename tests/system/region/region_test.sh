#!/usr/bin/env bash
# system.region: a small region end to end, every part real.
#   the region's certificates from scripts/gen-region-pki; the central Mosquitto on TLS only (the
#   gateways and the server log in with their certificates); per city (450100, 450300) a
#   Mosquitto locked down with scripts/gen-broker-auth and an eqm-gateway; eqm-server on a fresh
#   database; eqm-server and the gateways serving HTTPS with their certificates; the fleet
#   imported with the eqm CLI over HTTPS; eqm-sim playing a working day at high speed, every
#   device with its own login. It checks that
#   1. the registry pushed by the server (devices from the CSV import, officers with badges)
#      reaches both gateways;
#   2. simulated dock check-outs arrive at the server: checked_out devices with holders, custody
#      history whose hash chain the server verified (verified: true, no ledger_broken alert);
#   3. a check-out and a check-in through the server reach the gateway and come back;
#   4. killing 450300's gateway shows 450300 offline in GET /api/v1/cities while 450100 stays
#      online; restarted, it comes back online and catches up: the dock returns made while it
#      was down reach the server, whose applied seq and checked-out set match the gateway's.
# Everything it started is stopped on exit, also on failure. Prints PASS or FAIL.
#
#   region_test.sh --source-dir DIR --gateway BIN --server BIN --cli BIN --sim BIN
# Needs mosquitto, mosquitto-clients (mosquitto_passwd), openssl, jq, sqlite3 and curl.
set -euo pipefail

src="" gateway_bin="" server_bin="" cli_bin="" sim_bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --source-dir) src=$2; shift 2 ;;
    --gateway) gateway_bin=$2; shift 2 ;;
    --server) server_bin=$2; shift 2 ;;
    --cli) cli_bin=$2; shift 2 ;;
    --sim) sim_bin=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "region_test: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
for v in src gateway_bin server_bin cli_bin sim_bin; do
  [ -n "${!v}" ] || { echo "region_test: missing --${v%_bin} (try --help)" >&2; exit 2; }
done
for tool in /usr/sbin/mosquitto mosquitto_passwd openssl jq sqlite3 curl; do
  command -v "$tool" >/dev/null || { echo "region_test: FAIL: $tool is missing" >&2; exit 1; }
done

readonly cities=(450100 450300)
readonly kept=450100 stopped=450300
readonly officers_per_city=4
# 07:25 -> 09:00 (morning check-outs) in 4.75 s, returns 16:00..18:30 at +25.75..+33.25 s.
readonly speed=1200
readonly seed=11

work=$(mktemp -d "${TMPDIR:-/tmp}/eqm-system-region.XXXXXX")
pids=()
declare -A pid_of=()
pass=0
cleanup() {
  local status=$? i
  trap - EXIT INT TERM
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
  # A hung process ignores SIGTERM: whatever is left after 10 s is killed.
  for _ in $(seq 20); do
    alive=0
    for i in "${pids[@]}"; do kill -0 "$i" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for i in "${pids[@]}"; do kill -0 "$i" 2>/dev/null && { echo "region_test: pid $i ignored SIGTERM" >&2; kill -KILL "$i" 2>/dev/null || true; }; done
  for i in "${pids[@]}"; do wait "$i" 2>/dev/null || true; done
  if [ "$pass" = 1 ]; then
    echo "PASS (system.region, ${SECONDS}s)"
    rm -rf "$work"
  else
    echo "FAIL (system.region): logs kept in $work" >&2
    for f in "$work"/logs/*.log; do
      [ -f "$f" ] || continue
      echo "--- last lines of $f" >&2
      tail -n 15 "$f" >&2
    done
    [ "$status" != 0 ] || status=1
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf '[%3ds] %s\n' "$SECONDS" "$*"; }
fail() { printf 'region_test: FAIL: %s\n' "$*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
taken=" "
free_port() {
  local p _
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 12000))  # below the kernel's ephemeral range (32768-)
    [[ "$taken" == *" $p "* ]] && continue
    port_open "$p" && continue
    taken+="$p "; echo "$p"; return 0
  done
  fail "no free port"
}
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${seconds}s waiting for $what"
    sleep 0.25
  done
}
mkdir -p "$work/logs"

# --- the fleet, from a dry run of the simulator -------------------------------------------------
cat >"$work/fleet.json" <<EOF
{"defaults": {"body_cameras": 4, "drones": 1, "analyzers": 1, "docks": 1, "officers": $officers_per_city}}
EOF
now_s=$(date +%s)
local_s=$((now_s + 8 * 3600))
start_local=$((local_s - local_s % 86400 + 7 * 3600 + 25 * 60))
[ "$start_local" -le "$local_s" ] || start_local=$((start_local - 86400))
sim_start=$(date -u -d "@$((start_local - 8 * 3600))" +%Y-%m-%dT%H:%M:%S.000Z)
sim_at() { echo $(( (($1 * 60 + $2) - (7 * 60 + 25)) * 60 / speed )); }

"$sim_bin" --dry-run --city "${cities[0]}" --city "${cities[1]}" --fleet "$work/fleet.json" --seed "$seed" \
  --days 0.01 --quiet --state-dir "$work/dry" --capture "$work/capture.jsonl" >/dev/null 2>"$work/logs/dry.log" ||
  fail "eqm-sim --dry-run failed"
jq -rs '
  (map(select(.topic | endswith("/telemetry"))) | map({key: (.topic | split("/")[3]), value: .payload})
    | reverse | from_entries) as $tel
  | map(select((.topic | endswith("/state")) and .payload.online == true)) | unique_by(.topic)
  | ["id,class,model,city,registration_id,analyte,calibration_due"]
    + map((.topic | split("/")[3]) as $id | $tel[$id] as $t
          | [$id, .payload.class, .payload.model, ($id | split("-")[0]), ($t.registration_id // ""),
             (if .payload.class == "analyzer" then ($t.readings[0].analyte // "") else "" end),
             ($t.calibration_due // "")] | join(","))
  | .[]' "$work/capture.jsonl" >"$work/devices.csv"
devices_per_city=$(awk -F, -v c="$kept" 'NR > 1 && $4 == c' "$work/devices.csv" | wc -l)
[ "$devices_per_city" -eq 7 ] || fail "expected 7 simulated devices per city, the dry run gave $devices_per_city"
log "fleet: $(($(wc -l <"$work/devices.csv") - 1)) devices"

# --- certificates and logins: gen-region-pki, gen-broker-auth -------------------------------------
"$src/scripts/gen-region-pki" "$work/pki" --cities "${cities[0]},${cities[1]}" >/dev/null
ca=$work/pki/ca.crt
"$src/scripts/gen-broker-auth" --central --server-id eqm-server \
  --gateway "${cities[0]}=gw-${cities[0]}" --gateway "${cities[1]}=gw-${cities[1]}" --out "$work/auth/central" >/dev/null
: >"$work/sim-credentials.csv"
for c in "${cities[@]}"; do
  awk -F, -v c="$c" 'NR > 1 && $4 == c { printf "{\"id\":\"%s\",\"class\":\"%s\"}\n", $1, $2 }' "$work/devices.csv" |
    jq -s . >"$work/registry-$c.json"
  "$src/scripts/gen-broker-auth" --gateway-id "gw-$c" --registry "$work/registry-$c.json" --out "$work/auth/$c" >/dev/null
  # eqm-sim logs every device in with its own password, as provisioning would.
  grep -v "^gw-$c," "$work/auth/$c/credentials.csv" >>"$work/sim-credentials.csv"
done
password_of() { grep "^$1," "$work/auth/$2/credentials.csv" | cut -d, -f2; }
for c in "${cities[@]}"; do password_of "gw-$c" "$c" >"$work/gw-$c-city.password"; done

# --- brokers ---------------------------------------------------------------------------------------
declare -A broker_port=() http_port=()
start_broker() {  # start_broker NAME CONF PORT
  local name=$1 conf=$2 port=$3
  {
    [ "$(id -u)" = 0 ] && echo "user root"
    sed -e "s#^listener 1883 127.0.0.1#listener $port 127.0.0.1#" \
        -e "s#^listener 8883\$#listener $port 127.0.0.1#" \
        -e "s#^\(cafile\|certfile\|keyfile\|crlfile\) /etc/eqm/tls/#\1 $work/pki/#" \
        -e "s#^password_file .*#password_file $work/auth/$name/passwd#" \
        -e "s#^acl_file .*#acl_file $work/auth/$name/acl#" \
        -e "s#^persistence_location .*#persistence_location $work/mq-$name/#" \
        -e "s#^log_dest .*#log_dest file $work/logs/mosquitto-$name.log#" \
        "$src/deploy/mosquitto/$conf.conf"
  } >"$work/mosquitto-$name.conf"
  mkdir -p "$work/mq-$name"
  /usr/sbin/mosquitto -c "$work/mosquitto-$name.conf" >>"$work/logs/mosquitto-$name.log" 2>&1 &
  pids+=($!)
}
central_port=$(free_port)
start_broker central central "$central_port"
for c in "${cities[@]}"; do broker_port[$c]=$(free_port); start_broker "$c" city "${broker_port[$c]}"; done
wait_for 10 "the central broker" port_open "$central_port"
for c in "${cities[@]}"; do wait_for 10 "broker $c" port_open "${broker_port[$c]}"; done
log "brokers up"

# --- users, server ---------------------------------------------------------------------------------
db=$work/region.db
add_user() {  # add_user NAME PASSWORD ROLE [flags]
  local name=$1 pw=$2 role=$3; shift 3
  printf '%s\n' "$pw" | "$server_bin" user add --db "$db" --name "$name" --role "$role" "$@" >/dev/null ||
    fail "eqm-server user add --name $name"
}
add_user admin admin-pw-1 admin
for c in "${cities[@]}"; do
  add_user "custodian-$c" "cust-pw-$c" custodian --city "$c"
  add_user "officer-$c" "off-pw-$c" officer --city "$c" --badge "B${c}900"
done
for c in "${cities[@]}"; do
  for i in $(seq 1 "$officers_per_city"); do
    add_user "$(printf '%s-of-%03d' "$c" "$i")" "of-pw-$c-$i" officer --city "$c" --badge "$(printf 'B%s%03d' "$c" "$i")"
  done
done
server_port=$(free_port)
server=https://127.0.0.1:$server_port
"$server_bin" --listen "127.0.0.1:$server_port" --db "$db" --mqtt "ssl://127.0.0.1:$central_port" \
  --mqtt-ca-file "$ca" --mqtt-cert-file "$work/pki/eqm-server.crt" --mqtt-key-file "$work/pki/eqm-server.key" \
  --tls-cert-file "$work/pki/eqm-server.crt" --tls-key-file "$work/pki/eqm-server.key" \
  >"$work/logs/eqm-server.log" 2>&1 &
pids+=($!)
wait_for 15 "eqm-server /healthz over HTTPS" curl -fs --cacert "$ca" -o /dev/null "$server/healthz"
log "eqm-server up with $((1 + 2 * ${#cities[@]} + 2 * officers_per_city)) users"

# --- gateways ----------------------------------------------------------------------------------------
start_gateway() {  # start_gateway CITY
  local c=$1
  # eqm-sim stamps its telemetry with the simulated clock, which runs $speed times faster than
  # the wall clock from this morning's 07:25: the gateways accept readings that far from theirs.
  "$gateway_bin" --city "$c" --gw-id "gw-$c" \
    --local-mqtt "tcp://127.0.0.1:${broker_port[$c]}" --local-mqtt-user "gw-$c" \
    --local-mqtt-password-file "$work/gw-$c-city.password" \
    --central-mqtt "ssl://127.0.0.1:$central_port" --central-mqtt-ca-file "$ca" \
    --central-mqtt-cert-file "$work/pki/gw-$c.crt" --central-mqtt-key-file "$work/pki/gw-$c.key" \
    --tls-cert-file "$work/pki/gw-$c.crt" --tls-key-file "$work/pki/gw-$c.key" \
    --db "$work/gateway-$c.db" --listen "127.0.0.1:${http_port[$c]}" \
    --telemetry-max-ahead 7d --telemetry-max-behind 7d >>"$work/logs/gateway-$c.log" 2>&1 &
  pid_of[$c]=$!
  pids+=($!)
}
# gw CITY PATH: the gateway's HTTPS API, logged in (once) as that city's custodian, whose
# password hash the server sent with the registry. /healthz and /metrics need no login.
declare -A gw_token=()
gw() {
  local c=$1 path=$2
  if [[ "$path" == /api/* && -z "${gw_token[$c]:-}" ]]; then
    gw_token[$c]=$(curl -fsS --cacert "$ca" -H 'Content-Type: application/json' \
      -d "{\"name\":\"custodian-$c\",\"password\":\"cust-pw-$c\"}" \
      "https://127.0.0.1:${http_port[$c]}/api/v1/auth/login" | jq -r .token) || return 1
  fi
  curl -fsS --cacert "$ca" ${gw_token[$c]:+-H "Authorization: Bearer ${gw_token[$c]}"} "https://127.0.0.1:${http_port[$c]}$path"
}
gw_metric() { gw "$1" /metrics | awk -v m="$2" 'index($0, m) == 1 { s += $NF } END { printf "%d\n", s }'; }
gateway_connected() {
  local h
  h=$(gw "$1" /healthz 2>/dev/null) || return 1
  [[ "$h" == *'"local_mqtt":true'* && "$h" == *'"central_mqtt":true'* ]]
}
for c in "${cities[@]}"; do http_port[$c]=$(free_port); start_gateway "$c"; done
for c in "${cities[@]}"; do wait_for 20 "gateway $c connected" gateway_connected "$c"; done

export XDG_CONFIG_HOME=$work/cli-admin EQM_SERVER=$server EQM_CA_FILE=$ca
printf 'admin-pw-1\n' | "$cli_bin" login --name admin >/dev/null || fail "eqm login --name admin"
token=$(jq -r .token "$XDG_CONFIG_HOME/eqm/token.json")
api() { curl -fsS --cacert "$ca" -H "Authorization: Bearer $token" "$server$1"; }
api_list() {  # api_list PATH: every item of a paged list ({items, next_cursor}) as one JSON array
  local path=$1 sep='?' cursor='' page items='[]'
  [[ $path == *\?* ]] && sep='&'
  while :; do
    page=$(api "$path${sep}limit=1000${cursor:+&cursor=$cursor}") || return 1
    items=$(jq -c --argjson acc "$items" '$acc + .items' <<<"$page") || return 1
    cursor=$(jq -r '.next_cursor // empty' <<<"$page")
    [ -n "$cursor" ] || break
  done
  printf '%s\n' "$items"
}
city_online() { [ "$(api_list /api/v1/cities | jq -r --arg c "$1" '.[] | select(.code == $c) | .online')" = "$2" ]; }
for c in "${cities[@]}"; do wait_for 15 "$c online at the server" city_online "$c" true; done
log "gateways up and online at the server"

# --- 1. the registry reaches the gateways --------------------------------------------------------------
"$cli_bin" devices import "$work/devices.csv" >"$work/logs/import.log" 2>&1 || fail "eqm devices import: $(cat "$work/logs/import.log")"
registry_at() {
  local c=$1 n p
  n=$(gw_metric "$c" eqm_gateway_devices_registered 2>/dev/null) || return 1
  p=$(sqlite3 -readonly "$work/gateway-$c.db" "SELECT count(*) FROM people WHERE badge LIKE 'B${c}%'" 2>/dev/null) || return 1
  [ "$n" -eq "$devices_per_city" ] && [ "$p" -ge "$officers_per_city" ]
}
for c in "${cities[@]}"; do wait_for 15 "the registry at gw-$c" registry_at "$c"; done
[ "$(sqlite3 -readonly "$work/gateway-$stopped.db" "SELECT count(*) FROM devices WHERE id = '$kept-bc-001'")" = 0 ] ||
  fail "gw-$stopped holds a device of $kept: the registry push is not city-scoped"
log "1. registry: $devices_per_city devices and the officers' badges at both gateways"

# --- 2. simulated dock check-outs reach the server -------------------------------------------------------
sim_brokers=()
for c in "${cities[@]}"; do sim_brokers+=(--broker "$c=tcp://127.0.0.1:${broker_port[$c]}"); done
"$sim_bin" "${sim_brokers[@]}" --fleet "$work/fleet.json" --seed "$seed" --speed "$speed" --start "$sim_start" \
  --days 1 --state-dir "$work/sim-state" --mqtt-credentials "$work/sim-credentials.csv" \
  >"$work/logs/eqm-sim.log" 2>&1 &
pids+=($!)
sim_t0=$SECONDS
checked_out_with_holders() {
  local c
  for c in "${cities[@]}"; do
    [ "$(api_list "/api/v1/devices?city=$c&status=checked_out" |
         jq '[.[] | select(.holder != null and (.holder | startswith($c)))] | length' --arg c "$c")" -gt 0 ] || return 1
  done
}
wait_for 30 "dock check-outs with holders at the server in both cities" checked_out_with_holders
first_out=$(api_list "/api/v1/devices?city=$kept&status=checked_out" | jq -r '.[0].id')
history=$(api_list "/api/v1/devices/$first_out/custody")
jq -e 'length > 0 and all(.verified) and any(.record.action == "checkout" and .record.source == "dock")' \
  <<<"$history" >/dev/null || fail "custody history of $first_out at the server: $history"
log "2. dock check-outs at the server: e.g. $first_out held by $(api "/api/v1/devices/$first_out" | jq -r .holder), history verified"

# --- 3. a check-out and a check-in through the server ----------------------------------------------------
# After the morning rush (10:15 simulated; drones leave until 10:00), so no simulated officer takes the same device.
while [ $((SECONDS - sim_t0)) -lt "$(sim_at 10 15)" ]; do sleep 0.2; done
# In the first city with a ready, available device (which one depends on the simulated day).
ready=()
for co in "${cities[@]}"; do
  mapfile -t ready < <(api_list "/api/v1/devices?city=$co&status=available" |
    jq -r '.[] | select(.class != "dock" and .online and .readiness.ready) | .id')
  [ ${#ready[@]} -gt 0 ] && break
done
[ ${#ready[@]} -gt 0 ] || fail "no ready, available device in any city for the server-side check-out"
export XDG_CONFIG_HOME=$work/cli-custodian
printf 'cust-pw-%s\n' "$co" | "$cli_bin" login --name "custodian-$co" >/dev/null || fail "eqm login --name custodian-$co"
picked=""
for id in "${ready[@]}"; do
  if "$cli_bin" checkout "$id" --badge "B${co}900" >"$work/logs/checkout.log" 2>&1; then picked=$id; break; fi
done
[ -n "$picked" ] || fail "every server-side check-out was refused: $(cat "$work/logs/checkout.log")"
[ "$(gw "$co" "/api/v1/devices/$picked" | jq -r '.status + " " + .holder')" = "checked_out officer-$co" ] ||
  fail "gw-$co does not show $picked checked out to officer-$co"
[ "$(api "/api/v1/devices/$picked" | jq -r '.status + " " + .holder')" = "checked_out officer-$co" ] ||
  fail "the server does not show $picked checked out to officer-$co"
"$cli_bin" checkin "$picked" >"$work/logs/checkin.log" 2>&1 || fail "eqm checkin $picked: $(cat "$work/logs/checkin.log")"
[ "$(gw "$co" "/api/v1/devices/$picked" | jq -r .status)" = available ] || fail "gw-$co: $picked not available after the check-in"
[ "$(api "/api/v1/devices/$picked" | jq -r .status)" = available ] || fail "server: $picked not available after the check-in"
jq -e '.[0].record.action == "checkin" and .[0].record.source == "server" and .[1].record.action == "checkout" and all(.verified)' \
  <(api_list "/api/v1/devices/$picked/custody") >/dev/null || fail "server custody of $picked: $(api_list "/api/v1/devices/$picked/custody")"
export XDG_CONFIG_HOME=$work/cli-admin
log "3. server-side check-out and check-in of $picked went through gw-$co and back"

# --- 4. one gateway down, the other up; restarted, it catches up -----------------------------------------
# Down before the returns start (16:00) and up again after they end (18:30).
while [ $((SECONDS - sim_t0)) -lt "$(sim_at 15 0)" ]; do sleep 0.2; done
seq_before=$(api_list /api/v1/cities | jq --arg c "$stopped" '.[] | select(.code == $c) | .applied_seq')
kill -KILL "${pid_of[$stopped]}"
wait "${pid_of[$stopped]}" 2>/dev/null || true
wait_for 15 "$stopped offline at the server" city_online "$stopped" false
city_online "$kept" true || fail "$kept went offline when $stopped's gateway stopped"
log "4. gw-$stopped killed: $stopped offline, $kept online"
while [ $((SECONDS - sim_t0)) -lt "$(sim_at 18 45)" ]; do sleep 0.2; done
city_online "$stopped" false || fail "$stopped is online while its gateway is down"
city_online "$kept" true || fail "$kept is not online"
start_gateway "$stopped"
wait_for 20 "gw-$stopped connected again" gateway_connected "$stopped"
wait_for 15 "$stopped online again" city_online "$stopped" true
# The docks resend what the gateway has not acknowledged (every 10 s), so the returns made
# while it was down reach it, and its outbox takes them to the server.
returns_at_gateway() {
  [ "$(sqlite3 -readonly "$work/gateway-$stopped.db" \
       "SELECT count(*) FROM ledger WHERE json_extract(record, '\$.action') = 'checkin'" 2>/dev/null || echo 0)" -gt 0 ]
}
wait_for 30 "the returns made while gw-$stopped was down to reach it" returns_at_gateway
caught_up() {
  local h applied gw_out server_out
  h=$(gw "$stopped" /healthz 2>/dev/null) || return 1
  applied=$(api_list /api/v1/cities | jq --arg c "$stopped" '.[] | select(.code == $c) | .applied_seq')
  [ "$(jq .outbox_depth <<<"$h")" = 0 ] && [ "$(jq .outbox_last_seq <<<"$h")" = "$applied" ] || return 1
  gw_out=$(gw "$stopped" "/api/v1/devices?status=checked_out&limit=5000" | jq -c '[.items[].id] | sort')
  server_out=$(api_list "/api/v1/devices?city=$stopped&status=checked_out" | jq -c '[.[].id] | sort')
  [ "$gw_out" = "$server_out" ]
}
wait_for 30 "gw-$stopped to catch up with the server" caught_up
seq_after=$(api_list /api/v1/cities | jq --arg c "$stopped" '.[] | select(.code == $c) | .applied_seq')
[ "$seq_after" -gt "$seq_before" ] || fail "applied_seq of $stopped did not move ($seq_before -> $seq_after)"
returns=$(sqlite3 -readonly "$work/gateway-$stopped.db" "SELECT count(*) FROM ledger WHERE json_extract(record, '\$.action') = 'checkin'")
returned=$(sqlite3 -readonly "$work/gateway-$stopped.db" \
  "SELECT device_id FROM ledger WHERE json_extract(record, '\$.action') = 'checkin' LIMIT 1")
api_list "/api/v1/devices/$returned/custody" | jq -e 'any(.record.action == "checkin") and all(.verified)' >/dev/null ||
  fail "the check-in of $returned made while gw-$stopped was down did not reach the server"
log "   restarted: $stopped online, $returns dock returns caught up (applied seq $seq_before -> $seq_after)"

broken=$(api_list "/api/v1/alerts?state=all" | jq '[.[] | select(.type == "ledger_broken")] | length')
[ "$broken" = 0 ] || fail "the server raised $broken ledger_broken alerts"
dead=$(curl -fsS --cacert "$ca" "$server/metrics" | awk '/^eqm_dead_letters_total/ { s += $NF } END { print s + 0 }')
[ "${dead%.*}" = 0 ] || fail "the server dead-lettered $dead envelopes"
log "   no ledger_broken alert, no dead letter"
pass=1
