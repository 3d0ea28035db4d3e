#!/usr/bin/env bash
# Tunnel plug-in for the shared tunnel bench (bench/run.sh in the shared harness; see its
# README, "Tunnel plug-in interface"):
#   sallyport.sh up   STATE_DIR BACKEND_HOST:PORT LISTEN_PORT
#   sallyport.sh down STATE_DIR
#
# up starts, all on 127.0.0.1:
#   "edge + connector" = `sallyport dev --connect tcp://BACKEND --port LISTEN_PORT+1`: the edge
#                        in workerd (Miniflare API) and a connector dialling out to it, one
#                        Node process (workerd is its child);
#   "client"           = `sallyport client --url ws://127.0.0.1:LISTEN_PORT+1/dev
#                        --listen 127.0.0.1:LISTEN_PORT`: the local TCP forwarder that turns
#                        each connection into a Sallyport session (pre-opened ones first).
# It returns once the connector has registered with the edge and the forwarder listens, then
# waits SALLYPORT_SETTLE seconds (default 2.5) so the pre-opened sessions are open and past
# the client's pairing grace (see docs/performance.md), and prints 127.0.0.1:LISTEN_PORT.
# Env: SALLYPORT_PREPARED (connector binds kept at the edge, default 32),
#      SALLYPORT_PREOPEN (forwarder's pre-opened sessions, default 16),
#      SALLYPORT_TIMEOUT (edge socks.timeout, default "2 seconds"),
#      SALLYPORT_LOG_LEVEL (client log level, default info), SALLYPORT_SETTLE (seconds).
# Node: the project's own node_modules/.bin/node (Node 22), found from this script's path.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
node=$root/node_modules/.bin/node
cli=$root/bin/sallyport.mjs
usage() { echo "usage: $0 up STATE_DIR BACKEND_HOST:PORT LISTEN_PORT | down STATE_DIR" >&2; exit 2; }

listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# kill_pids PID... : TERM each pid and its descendants, KILL what is left after 3 s.
descendants() { local k; for k in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$k"; descendants "$k"; done; }
kill_pids() {
  local all=() p d i alive
  for p in "$@"; do
    [[ $p =~ ^[0-9]+$ ]] && kill -0 "$p" 2>/dev/null || continue
    all+=("$p"); for d in $(descendants "$p"); do all+=("$d"); done
  done
  (( ${#all[@]} )) || return 0
  kill -TERM "${all[@]}" 2>/dev/null || true
  for i in $(seq 1 60); do
    alive=0; for p in "${all[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    (( alive )) || return 0
    sleep 0.05
  done
  kill -KILL "${all[@]}" 2>/dev/null || true
}
stop_all() {  # the client (listed last) first, then edge + connector
  local state=$1
  [[ -f $state/pids ]] || return 0
  # shellcheck disable=SC2046
  kill_pids $(tac "$state/pids")
}

# wait_for FILE REGEX TIMEOUT_S PID -> 0 once a line of FILE matches; 1 on timeout or if PID died.
wait_for() {
  local file=$1 re=$2 n=$(( $3 * 20 )) pid=$4 i=0
  while (( i < n )); do
    grep -qE "$re" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "sallyport.sh: pid $pid exited before '$re'" >&2; return 1; }
    sleep 0.05; i=$(( i + 1 ))
  done
  echo "sallyport.sh: no '$re' in $file after $3 s" >&2
  return 1
}

case ${1:-} in
  up)
    [[ $# -eq 4 ]] || usage
    state=$(cd "$2" && pwd) backend=$3 port=$4
    edge=$(( port + 1 ))
    [[ -x $node ]] || { echo "sallyport.sh: $node missing (npm ci in $root)" >&2; exit 1; }
    for p in "$port" "$edge"; do
      listening "$p" && { echo "sallyport.sh: port $p already in use" >&2; exit 1; }
    done
    : >>"$state/pids"
    "$node" "$cli" dev --connect "tcp://$backend" --port "$edge" --prepared "${SALLYPORT_PREPARED:-32}" \
      --timeout "${SALLYPORT_TIMEOUT:-2 seconds}" </dev/null >"$state/dev.log" 2>&1 &
    dev=$!; echo "$dev" >>"$state/pids"
    if ! wait_for "$state/dev.log" '"registered with the edge"|registered with the edge' 45 "$dev"; then
      tail -5 "$state/dev.log" >&2; stop_all "$state"; exit 1
    fi
    "$node" "$cli" client --url "ws://127.0.0.1:$edge/dev" --listen "127.0.0.1:$port" \
      --preopen "${SALLYPORT_PREOPEN:-16}" --log-level "${SALLYPORT_LOG_LEVEL:-info}" </dev/null >"$state/client.log" 2>&1 &
    client=$!; echo "$client" >>"$state/pids"
    if ! wait_for "$state/client.log" '^listening on ' 20 "$client"; then
      tail -5 "$state/client.log" >&2; stop_all "$state"; exit 1
    fi
    sleep "${SALLYPORT_SETTLE:-2.5}"
    kill -0 "$dev" 2>/dev/null && kill -0 "$client" 2>/dev/null || { echo "sallyport.sh: a process exited while settling" >&2; stop_all "$state"; exit 1; }
    echo "127.0.0.1:$port" ;;
  down)
    [[ $# -eq 2 ]] || usage
    stop_all "$2"
    rm -f "$2/pids" ;;
  *) usage ;;
esac
