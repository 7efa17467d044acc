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

out=$(env -u SQCLAIM_ADAPTER SQCLAIM_BACKEND=memory LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/bot") || fail "the example exited non-zero"
echo "$out"
grep -qx 'claimed 251019-164rmb, fence 1' <<<"$out" || fail "no claim in: $out"
grep -qx 'write rows 51-55 with fence 1' <<<"$out" || fail "no reservation in: $out"
# It used the shared library from the prefix, not something else.
libs=$(LD_LIBRARY_PATH="$tmp/prefix/lib" ldd "$tmp/bot")
grep -q "$tmp/prefix/lib/libsqclaim.so" <<<"$libs" || fail "not linked against the installed libsqclaim.so: $libs"

# The version the header says is the one installed (a Makefile that could
# not read it installed "libsqclaim.so." and an empty Version:).
want=$(sed -n 's/^#define SQCLAIM_VERSION[[:space:]]*"\(.*\)"$/\1/p' core/sqclaim.h)
[ -n "$want" ] || fail "no SQCLAIM_VERSION in core/sqclaim.h"
got=$(pkg-config --modversion sqclaim) || fail "pkg-config --modversion sqclaim"
[ "$got" = "$want" ] || fail "sqclaim.pc says version '$got', the header '$want'"
[ -e "$tmp/prefix/lib/libsqclaim.so.$want" ] || fail "no libsqclaim.so.$want installed"
[ "$(readlink "$tmp/prefix/lib/libsqclaim.so.1")" = "libsqclaim.so.$want" ] ||
  fail "libsqclaim.so.1 does not point at libsqclaim.so.$want"

# The README's lines for a non-standard PREFIX, run as written, in a HOME
# of their own, with `make` run in the checkout (as the README says).
awk '/<!-- example:prefix -->/{grab=1; next} grab && /^```sh/{on=1; next} on && /^```/{exit} on{print}' \
  README.md >"$tmp/prefix.sh"
[ -s "$tmp/prefix.sh" ] || fail "no example:prefix block in README.md"
mkdir -p "$tmp/home" "$tmp/work"
cp "$tmp/bot.c" "$tmp/work/bot.c"
repo=$PWD
# No backend named: the default, sqlite, in the default file under this HOME.
out=$(cd "$tmp/work" && env -u PKG_CONFIG_PATH -u LD_LIBRARY_PATH -u SQCLAIM_ADAPTER -u SQCLAIM_BACKEND \
        -u SQCLAIM_DB -u XDG_STATE_HOME \
        HOME="$tmp/home" REPO="$repo" bash -euo pipefail -c \
        'make() { command make -C "$REPO" --no-print-directory -s "$@" >/dev/null; }; '"$(cat "$tmp/prefix.sh")" 2>&1) ||
  fail "the README's PREFIX lines failed:
$out"
echo "$out"
[ "$(grep -cEx 'claimed 251019-164rmb, fence [0-9]+' <<<"$out")" = 2 ] ||
  fail "./bot and ./bot-plain did not both claim: $out"
[ -f "$tmp/home/.local/state/sqclaim/claims.db" ] ||
  fail "the default backend did not keep its claims in ~/.local/state/sqclaim/claims.db"
readelf -d "$tmp/work/bot" | grep -Eq "(RPATH|RUNPATH).*\[$tmp/home/.local/lib\]" ||
  fail "bot has no rpath to $tmp/home/.local/lib"
# What the README says is needed is needed: without PKG_CONFIG_PATH
# pkg-config does not find sqclaim (unless one is installed system-wide),
# and without rpath or LD_LIBRARY_PATH the loader does not find the library.
if env -u PKG_CONFIG_PATH pkg-config --exists sqclaim; then
  echo "readme-example: note: an sqclaim.pc is installed system-wide; PKG_CONFIG_PATH not shown necessary"
fi
if err=$(cd "$tmp/work" && env -u LD_LIBRARY_PATH ./bot-plain 2>&1); then
  ldconfig -p | grep -q 'libsqclaim\.so\.0 ' ||
    fail "bot-plain ran without rpath or LD_LIBRARY_PATH: $err"
  echo "readme-example: note: a libsqclaim.so.1 is installed system-wide; the rpath not shown necessary"
else
  grep -q 'libsqclaim.so.1: cannot open shared object file' <<<"$err" ||
    fail "bot-plain failed otherwise: $err"
fi
"$tmp/home/.local/bin/sqclaim" --version | grep -q "^sqclaim $want " ||
  fail "the installed sqclaim does not run by itself"

echo "readme-example: OK (installed, built with pkg-config, claimed, reserved, finished, released;"
echo "  PREFIX=\$HOME/.local as the README says: PKG_CONFIG_PATH, rpath, LD_LIBRARY_PATH)"
