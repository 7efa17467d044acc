#!/usr/bin/env bash
# Run each test program given on the command line; print a summary line per
# program and fail if any failed.  Test programs start the servers they
# need themselves (tests/support/servers.c).
set -uo pipefail

# A hung test program must not hang CI: each gets at most
# $SQCLAIM_TEST_TIMEOUT seconds (default 1200), then SIGTERM, then SIGKILL.
limit=${SQCLAIM_TEST_TIMEOUT:-1200}

failed=()
for t in "$@"; do
  echo "=== $t"
  timeout --kill-after=30 "$limit" "$t"
  rc=$?
  if [ "$rc" -ne 0 ]; then
    [ "$rc" -eq 124 ] && echo "$t: killed after ${limit}s" >&2
    failed+=("$t")
  fi
done
echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all ${#@} test programs passed"
