#!/usr/bin/env bash
# Run each test program given on the command line; print a summary line per
# program and fail if any failed.  Test programs start the servers they
# need themselves (tests/support/servers.c).
set -uo pipefail

failed=()
for t in "$@"; do
  echo "=== $t"
  if ! "$t"; then
    failed+=("$t")
  fi
done
echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all ${#@} test programs passed"
