# shellcheck shell=bash
# Shared by the bench/server_*/run scripts: a scratch folder, free ports, Mosquitto brokers, an
# eqm-server with users, login, CSV import, and (for check-out) an eqm-gateway. Sourced, not run.
# Everything started through start_bg is stopped on exit, whatever the exit path.
bench_name=eqm-server-bench
# shellcheck source=../common/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
server_bin=${EQM_SERVER_BIN:-$build/server/eqm-server}
# shellcheck disable=SC2034  # used by the scripts that source this file
gateway_bin=${EQM_GATEWAY_BIN:-$build/gateway/eqm-gateway}
bench_on_die() { [ -f "$work/server.log" ] && tail -n 20 "$work/server.log" >&2; }
need_bin "$server_bin" eqm-server

start_broker() {  # start_broker NAME: prints nothing, sets <NAME>_port
  local port
  port=$(free_port)
  {
    [ "$(id -u)" = 0 ] && echo "user root"
    echo "listener $port 127.0.0.1"
    echo "allow_anonymous true"
    echo "persistence false"
    echo "max_queued_messages 100000"
    echo "max_packet_size 4195328"
    echo "set_tcp_nodelay true"
  } >"$work/mosquitto-$1.conf"
  start_bg "$work/mosquitto-$1.log" /usr/sbin/mosquitto -c "$work/mosquitto-$1.conf"
  wait_for 10 "mosquitto $1" port_open "$port"
  printf -v "$1_port" '%s' "$port"
}

bench_password=bench-password-1
add_user() {  # add_user NAME ROLE [CITY] [BADGE]
  local args=(user add --db "$work/region.db" --name "$1" --role "$2")
  [ -n "${3:-}" ] && args+=(--city "$3")
  [ -n "${4:-}" ] && args+=(--badge "$4")
  echo "$bench_password" | "$server_bin" "${args[@]}" >/dev/null
}

start_server() {  # start_server CENTRAL_BROKER_PORT [MORE FLAGS...]: sets server_port
  local central=$1; shift
  server_port=$(free_port)
  start_bg "$work/server.log" "$server_bin" --listen "127.0.0.1:$server_port" \
    --mqtt "tcp://127.0.0.1:$central" --db "$work/region.db" --mqtt-client-id "eqm-server-bench-$$" "$@"
  wait_for 30 "eqm-server" server_up
}
server_up() {
  curl -fsS "http://127.0.0.1:$server_port/healthz" 2>/dev/null | grep -q '"mqtt_connected":true'
}
api() {  # api METHOD PATH [CURL ARGS...]: the server's REST API with the bench token
  local m=$1 p=$2; shift 2
  curl -fsS -X "$m" -H "Authorization: Bearer $token" "$@" "http://127.0.0.1:$server_port$p"
}
login() {  # login NAME: sets token
  token=$(curl -fsS -X POST -H 'Content-Type: application/json' \
    -d "{\"name\":\"$1\",\"password\":\"$bench_password\"}" \
    "http://127.0.0.1:$server_port/api/v1/auth/login" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])') || die "login of $1 failed"
}
import_cameras() {  # import_cameras PREFIX COUNT CITY: through POST /api/v1/devices/import
  local prefix=$1 count=$2 city=$3 i
  {
    echo "id,class,model,city"
    for ((i = 0; i < count; i++)); do echo "$prefix$i,body_camera,DSJ-A9,$city"; done
  } >"$work/import-$prefix.csv"
  api POST /api/v1/devices/import -H 'Content-Type: text/csv' \
    --data-binary "@$work/import-$prefix.csv" >/dev/null || die "import of $count devices failed"
}

# The constant-rate load client and the publisher: built by CMake with the benchmarks, else
# compiled here once.
bench_tool() {  # bench_tool NAME SOURCE LIBS...: prints the binary's path
  local name=$1 src=$2; shift 2
  local bin
  bin=$(find "$build/bench" -name "$name" -type f -perm -u+x 2>/dev/null | head -n 1)
  if [ -z "$bin" ]; then
    bin=$work/$name
    g++ -O2 -std=c++23 -o "$bin" "$src" "$@" >&2 || die "cannot compile $name"
  fi
  echo "$bin"
}
