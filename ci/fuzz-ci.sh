#!/usr/bin/env bash
# Fuzz every target of tests/fuzz/ for FUZZ_SECONDS each (default 60) and
# fail on any crash, leaving the crash file's path in the output.
#
#   ci/fuzz-ci.sh [--no-build] [TARGET...]     (default: every target)
#
# Builds with `make fuzz` (clang, libFuzzer, ASan+UBSan) unless --no-build.
# Each target starts from a scratch copy of its seed corpus
# ($FUZZ_BUILD/corpus/<target>; the repository's corpus is not touched),
# with the JSON or RESP dictionary, -jobs=$FUZZ_JOBS (default 1), and prints
# libFuzzer's final stats (execs/s, coverage).  A summary line per target
# follows: executions, exec/s, cov, ft, and CRASH with the file if any.
# To keep a finding: copy the crash file into tests/fuzz/corpus/<target>/
# as regress-<what> (docs/fuzzing.md).
set -uo pipefail
cd "$(dirname "$0")/.."

build=1
if [ "${1:-}" = --no-build ]; then
  build=0
  shift
fi
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-1}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  read -r -a targets <<<"$(sed -n 's/^[[:space:]]*X(\([a-z_]*\)).*/\1/p' tests/fuzz/targets.h | tr '\n' ' ')"
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz-ci: no targets found in tests/fuzz/targets.h" >&2
  exit 1
fi

if [ "$build" = 1 ]; then
  make -j2 fuzz FUZZ_BUILD="$FUZZ_BUILD" || { echo "fuzz-ci: make fuzz failed" >&2; exit 1; }
fi

dict_for() {
  case "$1" in
    redis_reply) echo tests/fuzz/resp.dict ;;
    kvrest_request | vercel_reply | lease_json | proto_replies) echo tests/fuzz/json.dict ;;
    *) echo "" ;;
  esac
}

failed=()
summary=()
total=0
for t in "${targets[@]}"; do
  bin="$FUZZ_BUILD/fuzz/$t"
  if [ ! -x "$bin" ]; then
    echo "fuzz-ci: $bin is missing (run make fuzz)" >&2
    failed+=("$t")
    continue
  fi
  # Absolute paths: with -jobs libFuzzer runs from the crash directory.
  work="$PWD/$FUZZ_BUILD/corpus/$t"
  crashes="$PWD/$FUZZ_BUILD/crashes/$t"
  case "$FUZZ_BUILD" in /*) work="$FUZZ_BUILD/corpus/$t" crashes="$FUZZ_BUILD/crashes/$t" ;; esac
  rm -rf "$work" "$crashes"
  mkdir -p "$work" "$crashes"
  cp tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null
  log="$FUZZ_BUILD/fuzz-$t.log"
  dict=$(dict_for "$t")
  [ -n "$dict" ] && dict="$PWD/$dict"
  args=(-max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
        -artifact_prefix="$crashes/")
  [ "$FUZZ_JOBS" -gt 1 ] && args+=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
  [ -n "$dict" ] && args+=(-dict="$dict")
  echo "=== fuzz $t (${FUZZ_SECONDS}s)"
  if [ "$FUZZ_JOBS" -gt 1 ]; then
    # -jobs writes each worker's output to fuzz-<n>.log in the current
    # directory: run from the crash directory.
    (cd "$crashes" && "$OLDPWD/$bin" "${args[@]}" "$work") >"$log" 2>&1
  else
    "$bin" "${args[@]}" "$work" >"$log" 2>&1
  fi
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{s+=$1} END {print s+0}')
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | awk '{s+=$1} END {print s+0}')
  last=$(grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -1)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
  total=$((total + execs))
  crash=$(ls -1 "$crashes" 2>/dev/null | grep -E '^(crash|leak|timeout|oom)-' | head -1)
  if [ "$rc" -ne 0 ] || [ -n "$crash" ]; then
    grep -E 'ERROR|invariant|SUMMARY|^    #[0-9]' "$log" | head -30
    tail -5 "$log"
    echo "fuzz-ci: $t FAILED (exit $rc); crash file: ${crash:+$crashes/$crash}; log: $log"
    failed+=("$t")
    summary+=("$(printf '%-15s %10s execs %8s exec/s  cov %-5s ft %-6s CRASH %s' "$t" "$execs" "$speed" "$cov" "$ft" "${crash:+$crashes/$crash}")")
  else
    summary+=("$(printf '%-15s %10s execs %8s exec/s  cov %-5s ft %-6s ok' "$t" "$execs" "$speed" "$cov" "$ft")")
  fi
done

echo
echo "fuzz-ci summary (${FUZZ_SECONDS}s per target, jobs=$FUZZ_JOBS):"
printf '  %s\n' "${summary[@]}"
echo "  total executions: $total"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-ci: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz-ci: every target ran ${FUZZ_SECONDS}s without a crash"
