#!/usr/bin/env bash
# The README's bot example, built against the INSTALLED library with
# pkg-config, exactly as a user would: install into a temporary prefix,
# extract the example from README.md, compile, run, check what it did.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD:-build}
case "$build" in
  build) ;;
  *) echo "readme-example: skipped in $build (sanitized builds are covered by the plain run)"; exit 0 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "readme-example: FAIL: $*" >&2; exit 1; }

make --no-print-directory -s install PREFIX="$tmp/prefix" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; fail "make install"; }
for f in include/sqclaim.h lib/libsqclaim.a lib/libsqclaim.so lib/pkgconfig/sqclaim.pc; do
  [ -e "$tmp/prefix/$f" ] || fail "make install did not install $f"
done

awk '/<!-- example:bot.c -->/{grab=1; next} grab && /^```c/{on=1; next} on && /^```/{exit} on{print}' \
  README.md >"$tmp/bot.c"
[ -s "$tmp/bot.c" ] || fail "no example found in README.md"

export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
flags=$(pkg-config --cflags --libs sqclaim) || fail "pkg-config sqclaim"
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror "$tmp/bot.c" $flags -o "$tmp/bot" || fail "the example does not compile"

out=$(SQCLAIM_ADAPTER=memory LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/bot") || fail "the example exited non-zero"
echo "$out"
grep -qx 'claimed 251019-164rmb, fence 1' <<<"$out" || fail "no claim in: $out"
grep -qx 'write rows 51-55 with fence 1' <<<"$out" || fail "no reservation in: $out"
# It used the shared library from the prefix, not something else.
libs=$(LD_LIBRARY_PATH="$tmp/prefix/lib" ldd "$tmp/bot")
grep -q "$tmp/prefix/lib/libsqclaim.so" <<<"$libs" || fail "not linked against the installed libsqclaim.so: $libs"
echo "readme-example: OK (installed, built with pkg-config, claimed, reserved, finished, released)"
