# Shared by the bench/gateway_*/run scripts: a scratch folder, free ports, a Mosquitto, an
# eqm-gateway, registry commands, a custodian's login, metrics, and the mqtt_flood publisher.
# Sourced, not run.
# Everything started through start_bg is stopped on exit.
bench_name=eqm-bench
# shellcheck source=../common/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
gateway_bin=${EQM_GATEWAY_BIN:-$build/gateway/eqm-gateway}
now_ts() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
[ -x "$gateway_bin" ] || die "no eqm-gateway at $gateway_bin (build it, or set EQM_BUILD_DIR / EQM_GATEWAY_BIN)"

# The publisher: built by CMake with the benchmarks, else compiled here once.
flood=$build/bench/gateway_common/mqtt_flood
if [ ! -x "$flood" ]; then
  flood=$work/mqtt_flood
  g++ -O2 -std=c++23 -o "$flood" "$bench_root/bench/gateway_common/mqtt_flood.cpp" \
    -lpaho-mqttpp3 -lpaho-mqtt3as || die "cannot compile mqtt_flood"
fi

# eqm-sim (firmware-shims): writes raw MQTT PUBLISH packets, several times faster than a Paho
# publisher, so the gateway, not the publisher, sets the pace in the ingest benchmark.
sim_bin=${EQM_SIM_BIN:-$build/firmware-shims/eqm-sim}

start_broker() {  # start_broker: sets mqtt_port, broker_pid
  mqtt_port=$(free_port)
  {
    [ "$(id -u)" = 0 ] && echo "user root"
    echo "listener $mqtt_port 127.0.0.1"
    echo "allow_anonymous true"
    echo "persistence false"
    # Same limits as deploy/mosquitto/city.conf; QoS 0 floods must not be dropped for the
    # subscribers being compared.
    echo "max_queued_messages 1000000"
    echo "max_queued_bytes 0"
    echo "max_packet_size 4195328"
    echo "set_tcp_nodelay true"
  } >"$work/mosquitto.conf"
  start_bg "$work/mosquitto.log" /usr/sbin/mosquitto -c "$work/mosquitto.conf"
  broker_pid=$bg_pid
  wait_for 10 "mosquitto" port_open "$mqtt_port"
}

start_gateway() {  # start_gateway NAME [FLAG...]: sets http_port, gateway_pid
  local name=$1; shift
  http_port=$(free_port)
  start_bg "$work/gateway-$name.log" "$gateway_bin" --city 450100 --local-mqtt "tcp://127.0.0.1:$mqtt_port" \
    --central-mqtt "tcp://127.0.0.1:$mqtt_port" --db "$work/gateway-$name.db" \
    --listen "127.0.0.1:$http_port" --log-level warn "$@"
  gateway_pid=$bg_pid
  wait_for 30 "eqm-gateway" gateway_up
}
# The custodian the benchmarks log in as. Its password hash is argon2id as the server sends it,
# made once with libsodium's crypto_pwhash_str("bench-password") at its minimum cost, so that a
# login costs the benchmark nothing; bench_custodian_interactive is the same password at the
# interactive cost the server uses (64 MiB, for gateway_rss's extra line).
bench_custodian_hash='$argon2id$v=19$m=8,t=1,p=1$1kdjjLnMRkTrWjaQD90ogg$/vfvxIsOEHkiGL1x+yNgNb9aVJ1Q5hVUJhzK62C+SPQ'
bench_custodian_interactive='$argon2id$v=19$m=65536,t=2,p=1$xaCIhfa6G7m1CTwSKmxLag$wRR5l/wgTyBqdZ5xbFJ903RUyRQWaQo0BkOrbzNZ0Xc'
# login_custodian [HASH]: registers a new custodian (bench-custodian-N) with HASH (default the
# cheap one) and logs in as them; sets token.
login_custodian() {
  local hash=${1:-$bench_custodian_hash} n=$((++bench_logins))
  local name=bench-custodian-$n
  printf '{"cmd_id":"bench-login-%d","ts":"%s","type":"registry_upsert","devices":[],"people":[{"id":"%s","name":"%s","role":"custodian","city":"450100","password_hash":"%s"}]}' \
    "$n" "$(now_ts)" "$name" "$name" "$hash" >"$work/login-$n.json"
  mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -q 1 -t eqm/v1/city/450100/srv/cmd -f "$work/login-$n.json"
  logged_in() {
    token=$(curl -fsS -H 'Content-Type: application/json' \
      -d "{\"name\":\"$name\",\"password\":\"bench-password\"}" \
      "http://127.0.0.1:$http_port/api/v1/auth/login" 2>/dev/null | sed -n 's/.*"token":"\([0-9a-f]*\)".*/\1/p')
    [ -n "$token" ]
  }
  wait_for 30 "$name's login" logged_in
}
bench_logins=0
gw_get() { curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$http_port$1"; }  # gw_get PATH
gateway_up() {
  local h
  h=$(curl -fsS "http://127.0.0.1:$http_port/healthz" 2>/dev/null) || return 1
  [[ "$h" == *'"local_mqtt":true'* && "$h" == *'"central_mqtt":true'* ]]
}
# metric NAME_WITH_LABELS: sum of the matching samples in /metrics.
metric() {
  curl -fsS "http://127.0.0.1:$http_port/metrics" |
    awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { printf "%d\n", s }'
}
# register_devices PREFIX COUNT CLASS [BADGE]: registry_upsert commands of at most 1,500
# devices each (the 256 KiB payload limit), and one person with BADGE. Device ids are
# PREFIX<n>, or printf(PREFIX, n) when PREFIX holds a % (e.g. 450100-load-%05d, eqm-sim's ids).
register_devices() {
  local prefix=$1 count=$2 cls=$3 badge=${4:-} from=0 chunk=1500 to people i cmd=0 id
  local fmt=$prefix tag=${prefix//[^A-Za-z0-9_-]/}
  [[ "$fmt" == *%* ]] || fmt="${prefix//%/%%}%d"
  while [ "$from" -lt "$count" ]; do
    to=$((from + chunk)); [ "$to" -gt "$count" ] && to=$count
    people='[]'
    [ -n "$badge" ] && people="[{\"id\":\"bench-officer\",\"name\":\"Bench Officer\",\"role\":\"officer\",\"city\":\"450100\",\"badge\":\"$badge\"}]"
    {
      printf '{"cmd_id":"bench-reg-%s-%d","ts":"%s","type":"registry_upsert","people":%s,"devices":[' "$tag" "$cmd" "$(now_ts)" "$people"
      for ((i = from; i < to; i++)); do
        [ "$i" -gt "$from" ] && printf ','
        printf -v id "$fmt" "$i"
        printf '{"id":"%s","class":"%s","model":"M1","city":"450100"}' "$id" "$cls"
      done
      printf ']}'
    } >"$work/registry-$cmd.json"
    mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -q 1 -t eqm/v1/city/450100/srv/cmd -f "$work/registry-$cmd.json"
    cmd=$((cmd + 1)); from=$to
  done
  registered_before=${registered_before:-0}
  registered() { [ "$(metric eqm_gateway_devices_registered)" -ge $((registered_before + count)) ]; }
  wait_for 120 "$count devices to be registered" registered
  registered_before=$((registered_before + count))
}
# wait_counter COMMAND TARGET: polls COMMAND (prints a number) until it reaches TARGET or stops
# moving for 3 s; prints "<value> <seconds since start_s until the last change>".
wait_counter() {
  local cmd=$1 target=$2 value=0 last_value=-1 last_change idle
  last_change=$(now_s)
  while :; do
    value=$(eval "$cmd" 2>/dev/null || echo 0)
    if [ "$value" != "$last_value" ]; then last_value=$value; last_change=$(now_s); fi
    [ "$value" -ge "$target" ] && break
    idle=$(awk -v a="$(now_s)" -v b="$last_change" 'BEGIN { print (a - b > 3) ? 1 : 0 }')
    [ "$idle" = 1 ] && break
    sleep 0.05
  done
  echo "$value $(awk -v a="$last_change" -v b="$start_s" 'BEGIN { printf "%.3f", a - b }')"
}
