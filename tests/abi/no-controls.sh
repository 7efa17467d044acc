#!/usr/bin/env bash
# tests/abi/no-controls.sh — the product library carries no test doubles:
# no negative control (sim/controls/) is in libsqclaim.a or libsqclaim.so,
# by symbol or by string, while libsqcontrols.a (which sqsim links) has
# them all.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD:-build}
fail() { echo "abi-no-controls: FAIL: $*" >&2; exit 1; }
controls="$build/libsqcontrols.a"
for f in "$build/libsqclaim.a" "$build/libsqclaim.so" "$controls"; do
  [ -e "$f" ] || fail "$f not built (make all)"
done

# The controls' names, read from their source, so a new one is checked too.
mapfile -t names < <(grep -oE '"broken-[a-z-]+"' sim/controls/controls.c | tr -d '"' | sort -u)
[ "${#names[@]}" -ge 5 ] || fail "found ${#names[@]} control names in sim/controls/controls.c"
# (strings are read into variables first: grep -q would end a pipe early)
ctl_strings=$(strings -a "$controls")
for n in "${names[@]}"; do
  grep -qx -- "$n" <<<"$ctl_strings" || fail "$n is not in $controls: the check reads the wrong names"
done

for lib in "$build/libsqclaim.a" "$build/libsqclaim.so"; do
  lib_strings=$(strings -a "$lib")
  [ -n "$lib_strings" ] || fail "no strings read from $lib"
  for n in "${names[@]}"; do
    if grep -qF -- "$n" <<<"$lib_strings"; then fail "$lib contains the negative control \"$n\""; fi
  done
  if grep -qiE 'broken-|negative.control' <<<"$lib_strings"; then
    fail "$lib contains negative-control text: $(grep -iE 'broken-|negative.control' <<<"$lib_strings" | head -3)"
  fi
  lib_syms=$(nm -A "$lib" 2>/dev/null)
  if grep -qE ' [A-Za-z] (sqclaim_memory_controls|ctl_[a-z_]+|round_trip_gap)$' <<<"$lib_syms"; then
    fail "$lib defines a negative-control symbol"
  fi
done
echo "abi-no-controls: OK: none of ${#names[@]} controls (${names[*]}) in libsqclaim.a/.so"
