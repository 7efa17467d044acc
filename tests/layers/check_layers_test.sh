#!/usr/bin/env bash
# check_layers_test.sh — ci/check-layers.sh passes on the tree, and can
# fail: a forbidden include, a directory no rule covers and a missing table
# are each refused (in a small tree made here, with the real rules table).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
check=$top/ci/check-layers.sh
fails=0
ok() { echo "ok: $1"; }
ko() { echo "FAIL: $1"; fails=$((fails + 1)); }

# 1. The tree follows its rules.
if out=$("$check" 2>&1); then ok "the tree follows docs/architecture.md"; else ko "the tree: $out"; fi

tmp=$(mktemp -d /tmp/sqclaim-layers.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/docs" "$tmp/core/util" "$tmp/sim/bench" "$tmp/adapters/redis"
cp "$top/docs/architecture.md" "$tmp/docs/"
printf 'CFLAGS := -Icore\n' >"$tmp/Makefile"
touch "$tmp/core/sqclaim.h" "$tmp/core/backend.h" "$tmp/core/util/squtil.h" "$tmp/adapters/redis/url.h"
printf '#include "sqclaim.h"\n#include "util/squtil.h"\n#include <stdio.h>\n#include "cjson/none.h"\n' \
  >"$tmp/sim/bench/good.c"

# 2. Allowed includes pass (a package's header is not checked).
if out=$("$check" --root "$tmp" sim/bench/good.c 2>&1); then ok "allowed includes pass"; else ko "allowed: $out"; fi

# 3. What issue 15 found in sqclaim-bench is refused, by file and line.
printf '#include "sqclaim.h"\n#include "../../adapters/redis/url.h"\n#include "backend.h"\n' \
  >"$tmp/sim/bench/bad.c"
out=$("$check" --root "$tmp" sim/bench/good.c sim/bench/bad.c 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q 'sim/bench/bad.c:2: #include "../../adapters/redis/url.h"' <<<"$out" &&
  grep -q 'sim/bench/bad.c:3: #include "backend.h" (core/backend.h)' <<<"$out" &&
  ! grep -q 'good.c' <<<"$out"; then
  ok "forbidden includes fail (exit 1, file:line)"
else
  ko "forbidden includes: exit $rc: $out"
fi

# 4. A C file in a directory no row covers fails.
mkdir -p "$tmp/elsewhere"
printf 'int x;\n' >"$tmp/elsewhere/x.c"
out=$("$check" --root "$tmp" elsewhere/x.c 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q 'elsewhere/x.c: no row' <<<"$out"; then ok "an uncovered directory fails"; else ko "uncovered: exit $rc: $out"; fi

# 5. Without the table the check cannot pass.
sed -i 's/^## Include rules/## Something else/' "$tmp/docs/architecture.md"
out=$("$check" --root "$tmp" sim/bench/good.c 2>&1)
rc=$?
if [ $rc -eq 2 ]; then ok "no table: exit 2"; else ko "no table: exit $rc: $out"; fi

[ $fails -eq 0 ] && echo "check_layers_test: all passed" || echo "check_layers_test: $fails failed"
exit $((fails > 0))
