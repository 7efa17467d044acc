#!/usr/bin/env bash
# Run a command with a private redis-server and kvrest (the local Vercel KV /
# Upstash REST server) on free 127.0.0.1 ports:
#
#   ci/with-servers.sh build/sqsim --adapter redis
#
# Both servers live in a temporary directory and are polled until they
# answer (never a fixed sleep).  The command sees
#   REDIS_URL           redis://127.0.0.1:PORT
#   KV_REST_API_URL     http://127.0.0.1:PORT   (only if kvrest is available)
#   KV_REST_API_TOKEN   a fresh random token
#   WITH_SERVERS_DIR    the temporary directory (the servers' logs)
# kvrest is $SQCLAIM_KVREST, else $BUILD/kvrest, else build/kvrest; without
# it only redis-server is started (and a note says so).  The redis port is
# $WITH_SERVERS_REDIS_PORT if set, else a random free one.
#
# The command's exit status is this script's.  On exit the servers are
# stopped and the directory removed, whatever happens: SIGINT or SIGTERM
# is passed on to the command at once (then the servers stop); and if this
# script is killed outright, the servers and the command get SIGTERM from
# the kernel (setpriv --pdeathsig, where util-linux has it).  A server
# that answers on the port but is not the one started here (another
# redis-server that won the port) is never used.
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

# Children get SIGTERM if this shell dies (even by SIGKILL).
orphan_guard=()
if command -v setpriv >/dev/null && setpriv --pdeathsig TERM true 2>/dev/null; then
  orphan_guard=(setpriv --pdeathsig TERM --)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/sqclaim-servers.XXXXXX") || exit 2
redis_pid=""
kvrest_pid=""
cmd_pid=""

stop_pid() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  stop_pid "$cmd_pid"
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

# Does the redis-server on this port answer, and is it process `pid`?
redis_is() { # port pid
  local line ok=1
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'INFO server\r\n' >&3
  while IFS= read -r -t 2 line <&3; do
    line=${line%$'\r'}
    case "$line" in
      process_id:*)
        [ "${line#process_id:}" = "$2" ] && ok=0
        break
        ;;
      -*) break ;; # an error reply (NOAUTH...): not ours
    esac
  done
  exec 3>&- 3<&-
  return "$ok"
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
    kill -0 "$pid" 2>/dev/null || return 1
    "$@" && return 0
    sleep 0.05
  done
  return 1
}

redis_port=""
attempts=5
[ -n "${WITH_SERVERS_REDIS_PORT:-}" ] && attempts=1
for _ in $(seq 1 $attempts); do
  port=${WITH_SERVERS_REDIS_PORT:-}
  [ -n "$port" ] || port=$(free_port) || { log "no free port found"; exit 2; }
  "${orphan_guard[@]}" "$redis_bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" --daemonize no </dev/null >"$dir/redis.out" 2>&1 &
  redis_pid=$!
  if wait_until "$redis_pid" redis_is "$port" "$redis_pid"; then
    redis_port=$port
    break
  fi
  stop_pid "$redis_pid"
  redis_pid=""
done
if [ -z "$redis_port" ]; then
  log "redis-server did not start (or another server holds its port); its log:"
  cat "$dir/redis.log" "$dir/redis.out" >&2 2>/dev/null
  exit 2
fi
export REDIS_URL="redis://127.0.0.1:$redis_port"

if [ -n "$kvrest_bin" ]; then
  token="sqsim-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  "${orphan_guard[@]}" "$kvrest_bin" --port 0 --port-file "$dir/kvrest.port" \
    --redis "127.0.0.1:$redis_port" --token "$token" --quiet </dev/null >"$dir/kvrest.log" 2>&1 &
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
export WITH_SERVERS_DIR="$dir"

# The command runs in the background so that a signal reaches this shell
# at once (bash runs traps only between foreground commands); it keeps
# this shell's standard input.
"${orphan_guard[@]}" "$@" <&0 &
cmd_pid=$!
trap 'kill -INT "$cmd_pid" 2>/dev/null' INT
trap 'kill -TERM "$cmd_pid" 2>/dev/null' TERM
rc=0
while :; do
  wait "$cmd_pid"
  rc=$?
  kill -0 "$cmd_pid" 2>/dev/null || break # else a trapped signal interrupted wait
done
cmd_pid=""
exit "$rc"
