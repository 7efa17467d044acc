#!/usr/bin/env bash
# Run a command with a private redis-server and kvrest (the local Vercel KV /
# Upstash REST server) on free 127.0.0.1 ports:
#
#   ci/with-servers.sh build/sqsim --adapter redis
#
# Both servers live in a temporary directory, are polled until they answer
# (never a fixed sleep), and are stopped on exit, whatever happens, by a
# trap.  The command sees
#   REDIS_URL           redis://127.0.0.1:PORT
#   KV_REST_API_URL     http://127.0.0.1:PORT   (only if kvrest is available)
#   KV_REST_API_TOKEN   a fresh random token
# kvrest is $SQCLAIM_KVREST, else $BUILD/kvrest, else build/kvrest; without
# it only redis-server is started (and a note says so).  The command's exit
# status is this script's.
set -uo pipefail

if [ $# -eq 0 ]; then
  echo "usage: ci/with-servers.sh COMMAND [ARGS...]" >&2
  exit 2
fi

log() { echo "with-servers: $*" >&2; }

redis_bin=$(command -v redis-server || true)
if [ -z "$redis_bin" ]; then
  log "redis-server not found (install redis-server, or run ci/install-deps.sh)"
  exit 2
fi
kvrest_bin=${SQCLAIM_KVREST:-${BUILD:-build}/kvrest}
[ -x "$kvrest_bin" ] || kvrest_bin=""

dir=$(mktemp -d "${TMPDIR:-/tmp}/sqclaim-servers.XXXXXX")
redis_pid=""
kvrest_pid=""

stop_pid() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  stop_pid "$kvrest_pid"
  stop_pid "$redis_pid"
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A port nothing listens on right now (the server may still lose a race
# for it; then we try another).
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

redis_answers() { # port
  local reply=""
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  IFS= read -r -t 2 reply <&3 || true
  exec 3>&- 3<&-
  [ "${reply%$'\r'}" = "+PONG" ]
}

kvrest_answers() { # port token
  local reply=""
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'GET /_kvrest/stats HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n' "$2" >&3
  IFS= read -r -t 2 reply <&3 || true
  exec 3>&- 3<&-
  case "$reply" in "HTTP/1."?" 200"*) return 0 ;; esac
  return 1
}

# Wait up to 10 s for `check` to succeed while `pid` lives.
wait_until() { # pid check...
  local pid=$1
  shift
  for _ in $(seq 1 200); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

redis_port=""
for attempt in 1 2 3 4 5; do
  port=$(free_port) || { log "no free port found"; exit 2; }
  "$redis_bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" --daemonize no &
  redis_pid=$!
  if wait_until "$redis_pid" redis_answers "$port"; then
    redis_port=$port
    break
  fi
  stop_pid "$redis_pid"
  redis_pid=""
done
if [ -z "$redis_port" ]; then
  log "redis-server did not start; its log:"
  cat "$dir/redis.log" >&2 2>/dev/null
  exit 2
fi
export REDIS_URL="redis://127.0.0.1:$redis_port"

if [ -n "$kvrest_bin" ]; then
  token="sqsim-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  "$kvrest_bin" --port 0 --port-file "$dir/kvrest.port" --redis "127.0.0.1:$redis_port" \
    --token "$token" --quiet >"$dir/kvrest.log" 2>&1 &
  kvrest_pid=$!
  kv_port=""
  for _ in $(seq 1 200); do
    if [ -s "$dir/kvrest.port" ]; then
      kv_port=$(tr -d ' \n' <"$dir/kvrest.port")
      [ -n "$kv_port" ] && break
    fi
    kill -0 "$kvrest_pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$kv_port" ] || ! wait_until "$kvrest_pid" kvrest_answers "$kv_port" "$token"; then
    log "kvrest did not start; its log:"
    cat "$dir/kvrest.log" >&2 2>/dev/null
    exit 2
  fi
  export KV_REST_API_URL="http://127.0.0.1:$kv_port"
  export KV_REST_API_TOKEN="$token"
else
  log "no kvrest binary (build it with make, or set SQCLAIM_KVREST): only redis-server is up"
fi

"$@"
