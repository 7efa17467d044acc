#!/usr/bin/env bash
# Everything CI runs for the race simulator (docs/simulator.md):
#
#   1. build (warnings are errors under CI=true) and the oracle's tests;
#   2. sqsim on every backend built in: memory; redis and vercel against a
#      private redis-server and kvrest (ci/with-servers.sh), vercel with
#      kvrest's fault injection on;
#   3. the negative controls, 5 runs each, each caught within 10 s, and the
#      end-to-end checks (tests/sim/runs_test.c);
#   4. the oracle's cost on 1 000 000 events;
#   5. sqsim under ThreadSanitizer (build-thread/) and ASan+UBSan;
#   6. sqsim under valgrind, when it is installed.
#
# Idempotent; non-zero on any failure.  Reports go to build/sim-reports/.
# Runs unattended (CI=true, no stdin, as root or not).
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
MAKE=(make --no-print-directory -j"$JOBS")
[ "${CI:-}" = true ] && MAKE+=(WERROR=1)
reports=build/sim-reports
failures=()

step() { printf '\n=== sim-ci: %s\n' "$*"; }
fail() { echo "sim-ci: FAILED: $*" >&2; failures+=("$*"); }
run() { # description, command...
  local what=$1
  shift
  step "$what"
  if ! "$@" </dev/null; then fail "$what"; fi
}

ci/install-deps.sh
step "build"
"${MAKE[@]}" all build/tests/sim-oracle build/tests/sim-runs
mkdir -p "$reports"

mapfile -t adapters < <(build/sqsim --list-adapters)
echo "backends built in: ${adapters[*]}"
has() { local a; for a in "${adapters[@]}"; do [ "$a" = "$1" ] && return 0; done; return 1; }

run "oracle tests (known-good and known-bad histories)" build/tests/sim-oracle

run "sqsim: memory" build/sqsim --adapter memory --report "$reports/memory.json"
if has redis; then
  run "sqsim: redis (private redis-server)" \
    ci/with-servers.sh build/sqsim --adapter redis --report "$reports/redis.json"
else
  echo "sim-ci: redis backend not built; skipped" >&2
fi
if has vercel; then
  if [ -x build/kvrest ]; then
    run "sqsim: vercel through kvrest, with faults" \
      ci/with-servers.sh build/sqsim --adapter vercel --kv-faults --duration 5s --pause-rate 0.2 \
      --report "$reports/vercel-faults.json"
  else
    fail "vercel is built but build/kvrest is not"
  fi
else
  echo "sim-ci: vercel backend not built; skipped" >&2
fi

run "negative controls (5 seeds each, < 10 s) and end-to-end runs" \
  env SQCLAIM_SQSIM="$PWD/build/sqsim" SQCLAIM_KVREST="$PWD/build/kvrest" build/tests/sim-runs

run "oracle cost, 1 000 000 events" build/sqsim --bench-oracle 1000000

# ThreadSanitizer.  Some kernels map memory where this TSan cannot work
# ("unexpected memory mapping"); then run it without ASLR (setarch -R).
tsan() {
  local out
  out=$(mktemp)
  if TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1" "$@" >"$out" 2>&1; then
    cat "$out"; rm -f "$out"; return 0
  fi
  if grep -q "unexpected memory mapping\|FATAL: ThreadSanitizer" "$out" && command -v setarch >/dev/null; then
    echo "sim-ci: TSan cannot map memory with ASLR here; retrying under setarch -R" >&2
    if TSAN_OPTIONS="halt_on_error=1 exitcode=66" setarch "$(uname -m)" -R "$@" >"$out" 2>&1; then
      cat "$out"; rm -f "$out"; return 0
    fi
  fi
  cat "$out"; rm -f "$out"; return 1
}
step "build with ThreadSanitizer (build-thread/)"
"${MAKE[@]}" SANITIZE=thread build-thread/sqsim
run "TSan: sqsim memory, default" tsan build-thread/sqsim --report "$reports/memory-tsan.json"
run "TSan: sqsim memory, keep-alives and pauses" \
  tsan build-thread/sqsim --keepalive-rate 0.4 --pause-rate 0.2 --crash-rate 0.1 --ttl 30ms \
  --duration 3s --min-takeovers 1
run "TSan: a negative control still caught" \
  bash -c 'rc=0; TSAN_OPTIONS="halt_on_error=1 exitcode=66" build-thread/sqsim --negative-control broken-check-then-set --quiet || rc=$?; [ "$rc" = 1 ]'
if has redis; then
  run "TSan: sqsim redis" ci/with-servers.sh bash -c "$(declare -f tsan); tsan build-thread/sqsim --adapter redis --keepalive-rate 0.2"
fi
if has vercel && [ -x build/kvrest ]; then
  run "TSan: sqsim vercel with faults" ci/with-servers.sh bash -c "$(declare -f tsan); tsan build-thread/sqsim --adapter vercel --kv-faults --keepalive-rate 0.3 --pause-rate 0.2 --duration 4s --min-takeovers 1"
fi

step "build with ASan + UBSan (build-address-undefined/)"
"${MAKE[@]}" SANITIZE=address,undefined build-address-undefined/sqsim \
  build-address-undefined/tests/sim-oracle build-address-undefined/tests/sim-runs
run "ASan+UBSan: oracle tests" build-address-undefined/tests/sim-oracle
run "ASan+UBSan: sqsim tests" env SQCLAIM_SQSIM="$PWD/build-address-undefined/sqsim" \
  SQCLAIM_KVREST="$PWD/build/kvrest" build-address-undefined/tests/sim-runs

if command -v valgrind >/dev/null; then
  run "valgrind: sqsim memory" valgrind -q --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect build/sqsim --duration 2s --quiet \
    --min-refusals 1 --min-takeovers 0 --min-stale-writes 0
  run "valgrind: a negative control" bash -c 'rc=0; valgrind -q --error-exitcode=99 --leak-check=full build/sqsim --negative-control broken-racy-cursor --quiet || rc=$?; [ "$rc" = 1 ]'
else
  echo "sim-ci: valgrind not installed; valgrind runs skipped" >&2
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
  echo "sim-ci: ${#failures[@]} step(s) failed:"
  printf '  - %s\n' "${failures[@]}"
  exit 1
fi
echo "sim-ci: all simulator checks passed (reports in $reports/)"
