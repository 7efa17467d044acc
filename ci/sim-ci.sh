#!/usr/bin/env bash
# Everything CI runs for the race simulator (docs/simulator.md):
#
#   1. build (warnings are errors under CI=true) and the oracle's tests;
#   2. sqsim on every backend built in: memory; sqlite (and its negative
#      controls, each caught); redis and vercel against a
#      private redis-server and kvrest (ci/with-servers.sh), vercel with
#      kvrest's fault injection on;
#   3. the negative controls, 5 runs each, each caught within 10 s, the
#      end-to-end checks and ci/with-servers.sh (tests/sim/runs_test.c);
#   4. the oracle's cost on 1 000 000 events;
#   4b. sqsim --det (deterministic mode, docs/simulator.md): 10 000 seeds
#      on the scripted store with every fault, 2 000 on memory, every
#      negative control over 200 seeds (each caught in >= 99 % of them,
#      each seed within 1 s), its end-to-end test (same seed = same
#      history, replay), its speed;
#   5. sqsim under ThreadSanitizer (build-thread/) and ASan+UBSan;
#   6. sqsim under valgrind, when it is installed.
#
# Idempotent; non-zero on any failure.  Reports go to build/sim-reports/
# (emptied first).  Runs unattended (CI=true, no stdin, as root or not).
# Every step is bounded ($SIM_STEP_TIMEOUT seconds, default 900): a hung
# step fails and is killed with everything it started, it does not hang
# CI.
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
MAKE=(make --no-print-directory -j"$JOBS")
[ "${CI:-}" = true ] && MAKE+=(WERROR=1)
STEP_TIMEOUT=${SIM_STEP_TIMEOUT:-900}
reports=build/sim-reports
failures=()

step() { printf '\n=== sim-ci: %s\n' "$*"; }
fail() { echo "sim-ci: FAILED: $*" >&2; failures+=("$*"); }
# A command bounded in time: SIGTERM to its whole process group after
# STEP_TIMEOUT (sqsim then stops cleanly and still writes its report),
# SIGKILL 15 s later.  Exit 124 on a timeout.
bounded() { timeout -k 15 "$STEP_TIMEOUT" "$@"; }
# A shell function of this script (which bounds what it runs), or a
# command, bounded.
invoke() { if declare -F "$1" >/dev/null; then "$@"; else bounded "$@"; fi; }
run() { # description, command...
  local what=$1 rc=0
  shift
  step "$what"
  invoke "$@" </dev/null || rc=$?
  [ "$rc" = 0 ] || fail "$what (exit $rc)"
}
# A simulation that leaves its HTML timeline in $reports: kept (and its
# path printed) when the run fails, removed when it passes.
sim() { # name command... (sqsim's arguments last)
  local name=$1 rc=0
  shift
  bounded "$@" --timeline "$reports/$name.html" || rc=$?
  if [ "$rc" != 0 ] && [ -s "$reports/$name.html" ]; then
    echo "sim-ci: timeline of the failing run: $PWD/$reports/$name.html" >&2
  else
    rm -f "$reports/$name.html"
  fi
  return "$rc"
}
# Succeed if the command exits with the given status.
expect_exit() { # status command...
  local want=$1 rc=0
  shift
  invoke "$@" || rc=$?
  [ "$rc" = "$want" ] && return 0
  echo "sim-ci: exit $rc, expected $want" >&2
  return 1
}

ci/install-deps.sh
step "build"
"${MAKE[@]}" all build/tests/sim-oracle build/tests/sim-runs
det_built() { build/sqsim --det --list-controls >/dev/null 2>&1; }
if det_built; then "${MAKE[@]}" build/tests/sim-det; fi
rm -rf "$reports"
mkdir -p "$reports"

mapfile -t adapters < <(build/sqsim --list-adapters)
echo "backends built in: ${adapters[*]}"
has() { local a; for a in "${adapters[@]}"; do [ "$a" = "$1" ] && return 0; done; return 1; }
kvrest_ok() { has vercel && [ -x build/kvrest ]; }

run "oracle tests (known-good and known-bad histories)" build/tests/sim-oracle

run "sqsim: memory" sim memory build/sqsim --adapter memory --report "$reports/memory.json"
if has sqlite; then
  run "sqsim: sqlite (a fresh file in a temp dir)" \
    sim sqlite build/sqsim --adapter sqlite --report "$reports/sqlite.json"
  # The sqlite backend's negative controls (sim/controls/sqlite_controls.c):
  # each must be caught (exit 1).
  for control in broken-check-then-set broken-private-memory broken-release-no-owner \
    broken-renew-revives broken-racy-cursor; do
    run "sqsim: sqlite negative control $control is caught" \
      expect_exit 1 build/sqsim --adapter sqlite --negative-control "$control" --quiet
  done
else
  fail "the sqlite backend (the default) is not built"
fi
if has redis; then
  run "sqsim: redis (private redis-server)" \
    sim redis ci/with-servers.sh build/sqsim --adapter redis --report "$reports/redis.json"
else
  echo "sim-ci: redis backend not built; skipped" >&2
fi
if has vercel; then
  if kvrest_ok; then
    run "sqsim: vercel through kvrest, with faults" \
      sim vercel-faults ci/with-servers.sh build/sqsim --adapter vercel --kv-faults --duration 5s --pause-rate 0.2 \
      --report "$reports/vercel-faults.json"
  else
    fail "vercel is built but build/kvrest is not"
  fi
else
  echo "sim-ci: vercel backend not built; skipped" >&2
fi

run "negative controls (5 seeds each, < 10 s), end-to-end runs, with-servers" \
  env SQCLAIM_SQSIM="$PWD/build/sqsim" SQCLAIM_KVREST="$PWD/build/kvrest" \
  SQCLAIM_WITH_SERVERS="$PWD/ci/with-servers.sh" build/tests/sim-runs

run "oracle cost, 1 000 000 events" build/sqsim --bench-oracle 1000000

if build/sqsim --scenario seed-month --help >/dev/null 2>&1; then
  run "capacity planner: the seed's fleet for a month (virtual time, scripted store)" \
    build/sqsim --scenario seed-month --report "$reports/seed-month.json" \
    --plot "$reports/seed-month.svg"
else
  fail "sqsim --scenario needs the scripted store (sim/det), which was not built"
fi

if det_built; then
  run "sqsim --det: 10 000 seeds, scripted store, every fault" \
    build/sqsim --det --runs 10000 --seed 1 --quiet
  run "sqsim --det: 2 000 seeds, memory backend" \
    build/sqsim --det --backend memory --runs 2000 --seed 1 --quiet
  run "sqsim --det: every negative control, 200 seeds each (>= 99 %, < 1 s a seed)" \
    build/sqsim --det --all-controls --runs 200 --seed 1
  run "sqsim --det: end to end (same seed = same history, replay, controls)" \
    env SQCLAIM_SQSIM="$PWD/build/sqsim" build/tests/sim-det
  run "sqsim --det: speed at 600 s leases" build/sqsim --det --bench 5
elif [ "${CI:-}" = true ]; then
  fail "sqsim --det is not built (needs liblua5.1-0-dev and lua-cjson: ci/install-deps.sh)"
else
  echo "sim-ci: SKIP sqsim --det (the scripted store is not built)" >&2
fi

# ThreadSanitizer: the command's exit status.  Some kernels map memory
# where this TSan cannot work ("unexpected memory mapping"); then the
# command runs again without ASLR (setarch -R, inherited by whatever it
# starts, e.g. ci/with-servers.sh's sqsim).
tsan() { # command...
  local out rc=0
  out=$(mktemp)
  export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1"
  bounded "$@" >"$out" 2>&1 || rc=$?
  if [ "$rc" != 0 ] && grep -q "unexpected memory mapping\|FATAL: ThreadSanitizer" "$out" &&
    command -v setarch >/dev/null; then
    echo "sim-ci: TSan cannot map memory with ASLR here; retrying under setarch -R" >&2
    rc=0
    bounded setarch "$(uname -m)" -R "$@" >"$out" 2>&1 || rc=$?
  fi
  cat "$out"
  rm -f "$out"
  unset TSAN_OPTIONS
  return "$rc"
}
tsan_control() { expect_exit 1 tsan build-thread/sqsim --negative-control broken-check-then-set --quiet; }
step "build with ThreadSanitizer (build-thread/)"
"${MAKE[@]}" SANITIZE=thread build-thread/sqsim
run "TSan: sqsim memory, default" tsan build-thread/sqsim --report "$reports/memory-tsan.json"
run "TSan: sqsim memory, keep-alives and pauses" \
  tsan build-thread/sqsim --keepalive-rate 0.4 --pause-rate 0.2 --crash-rate 0.1 --ttl 30ms \
  --duration 3s --min-takeovers 1
run "TSan: a negative control still caught" tsan_control
if has redis; then
  run "TSan: sqsim redis" tsan ci/with-servers.sh build-thread/sqsim --adapter redis --keepalive-rate 0.2
fi
if kvrest_ok; then
  run "TSan: sqsim vercel with faults" tsan ci/with-servers.sh build-thread/sqsim --adapter vercel \
    --kv-faults --keepalive-rate 0.3 --pause-rate 0.3 --duration 5s --min-takeovers 1
fi

step "build with ASan + UBSan (build-address-undefined/)"
"${MAKE[@]}" SANITIZE=address,undefined build-address-undefined/sqsim \
  build-address-undefined/tests/sim-oracle build-address-undefined/tests/sim-runs
run "ASan+UBSan: oracle tests" build-address-undefined/tests/sim-oracle
if det_built; then
  run "ASan+UBSan: sqsim --det, 300 seeds and a control" bash -c \
    'build-address-undefined/sqsim --det --runs 300 --quiet &&
     build-address-undefined/sqsim --det --runs 20 --control lua-release-no-owner --expect-violation'
fi
run "ASan+UBSan: sqsim tests" env SQCLAIM_SQSIM="$PWD/build-address-undefined/sqsim" \
  SQCLAIM_KVREST="$PWD/build/kvrest" SQCLAIM_WITH_SERVERS="$PWD/ci/with-servers.sh" \
  build-address-undefined/tests/sim-runs

if command -v valgrind >/dev/null; then
  run "valgrind: sqsim memory" valgrind -q --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect build/sqsim --duration 2s --quiet \
    --min-refusals 1 --min-takeovers 0 --min-stale-writes 0
  run "valgrind: a negative control" expect_exit 1 valgrind -q --error-exitcode=99 \
    --leak-check=full build/sqsim --negative-control broken-racy-cursor --quiet
  if det_built; then
    run "valgrind: sqsim --det, 5 seeds and a control" valgrind -q --error-exitcode=99 \
      --leak-check=full --errors-for-leak-kinds=definite,indirect \
      build/sqsim --det --runs 5 --quiet
    run "valgrind: sqsim --det control" expect_exit 0 valgrind -q --error-exitcode=99 \
      --leak-check=full --errors-for-leak-kinds=definite,indirect \
      build/sqsim --det --runs 3 --control lua-release-no-owner --expect-violation
  fi
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
