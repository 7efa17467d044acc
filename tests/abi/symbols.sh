#!/usr/bin/env bash
# tests/abi/symbols.sh — libsqclaim.so exports exactly the functions that
# core/sqclaim.h declares (each marked SQCLAIM_API), nothing internal, and
# carries the soname of the Makefile's SOMAJOR.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD:-build}
so="$build/libsqclaim.so"
header=core/sqclaim.h
fail() { echo "abi-symbols: FAIL: $*" >&2; exit 1; }
[ -e "$so" ] || fail "$so not built (make lib)"
command -v nm >/dev/null || fail "nm not found (binutils)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A function declared without SQCLAIM_API would be hidden: refuse it.
if grep -nE '^[A-Za-z_][A-Za-z_0-9 *]*[ *]sqclaim_[a-z_0-9]+\(' "$header" |
  grep -vE ':(SQCLAIM_API|static|typedef|#)' >"$tmp/unmarked"; then
  fail "declared without SQCLAIM_API in $header: $(cat "$tmp/unmarked")"
fi
grep -E '^SQCLAIM_API ' "$header" |
  sed -E 's/^SQCLAIM_API [^(]*[ *]([A-Za-z_][A-Za-z_0-9]*)\(.*/\1/' | sort -u >"$tmp/declared"
nm -D --defined-only "$so" | awk '{print $NF}' | sort -u >"$tmp/exported"

declared=$(wc -l <"$tmp/declared")
[ "$declared" -gt 20 ] || fail "only $declared declarations parsed from $header"
if ! diff -u "$tmp/declared" "$tmp/exported" >"$tmp/diff"; then
  echo "--- declared in $header / +++ exported by $so:" >&2
  grep -E '^[-+][a-z]' "$tmp/diff" >&2 || true
  fail "the exported symbols differ from the header"
fi

somajor=$(sed -n 's/^SOMAJOR := //p' Makefile)
soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libsqclaim.so.$somajor" ] || fail "soname \"$soname\", want libsqclaim.so.$somajor"
version=$(sed -n 's/^#define SQCLAIM_VERSION[[:space:]]*"\(.*\)"/\1/p' "$header")
[ "${version%%.*}" = "$somajor" ] || fail "SQCLAIM_VERSION $version does not start with SOMAJOR $somajor"
echo "abi-symbols: OK: $declared functions declared = exported; soname $soname ($version)"
