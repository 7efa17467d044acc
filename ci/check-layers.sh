#!/usr/bin/env bash
# check-layers.sh — the include rules: every #include "…" of a C file of the
# tree names a header its directory may include.  The rules are the table
# under "## Include rules" in docs/architecture.md (read from there, so the
# document and the check cannot disagree):
#
#   | directory | may include |
#   |---|---|
#   | `sim/bench/` | `core/sqclaim.h`, `core/util/squtil.h`, `sim/bench/*.h` |
#   | `tests/` | any header of the tree |
#
# A file takes the row of the longest directory that contains it; a file
# that no row covers fails too.  `dir/*.h` is every header directly in dir.
# A quoted include is resolved as the compiler does: the including file's
# directory first, then the -I directories named in Makefile and the
# module.mk files; one that is not in the tree (a package's header) and
# every <…> include are not checked.
#
#   ci/check-layers.sh [--root DIR] [FILE…]   (default: every tracked C file)
#
# Exit 0: every include allowed; 1: forbidden includes (listed); 2: the
# table could not be read.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = "--root" ]; then
  root=$(cd "$2" && pwd)
  shift 2
fi
cd "$root"
doc=docs/architecture.md

# ---- the table --------------------------------------------------------
[ -f "$doc" ] || { echo "check-layers: $doc is missing" >&2; exit 2; }
rows=$(awk '
  /^## / { on = ($0 ~ /^## Include rules[[:space:]]*$/); next }
  on && /^\|/ { print }
' "$doc" | sed -n '3,$p')
[ -n "$rows" ] || { echo "check-layers: no table under \"## Include rules\" in $doc" >&2; exit 2; }

declare -a dirs=() allows=()
while IFS= read -r row; do
  dir=$(printf '%s\n' "$row" | awk -F'|' '{print $2}' | tr -d ' `')
  allow=$(printf '%s\n' "$row" | awk -F'|' '{print $3}' | sed 's/^ *//; s/ *$//')
  case "$dir" in
    */) ;;
    *) echo "check-layers: $doc: a directory ends with '/': \"$dir\"" >&2; exit 2 ;;
  esac
  dirs+=("$dir")
  allows+=("$allow")
done <<<"$rows"

# ---- where quoted includes are looked for -------------------------------
mapfile -t idirs < <(grep -hoE '(^|[[:space:]])-I[a-z][A-Za-z0-9_/.-]*' Makefile \
  $(find . -name module.mk -not -path './build*' | sort) 2>/dev/null |
  sed 's/^[[:space:]]*-I//' | awk '!seen[$0]++')

# norm PATH: in $hdr, PATH without "." and "dir/.." parts (no processes).
norm() {
  local IFS=/ part out=()
  for part in $1; do
    case "$part" in
      '' | .) ;;
      ..) [ ${#out[@]} -gt 0 ] && unset 'out[${#out[@]}-1]' ;;
      *) out+=("$part") ;;
    esac
  done
  hdr="${out[*]}"
}

# resolve FILE NAME: the tree path of the header in $hdr, or "".
resolve() {
  local from=$1 name=$2 d dir
  dir=.
  [ "${from%/*}" != "$from" ] && dir=${from%/*}
  hdr=
  for d in "$dir" "${idirs[@]}"; do
    if [ -f "$d/$name" ]; then
      norm "$d/$name"
      return
    fi
  done
}

# rule FILE: in $r, the index of the row of the longest directory holding
# FILE, or -1.
rule() {
  local f=$1 len=0 i
  r=-1
  for i in "${!dirs[@]}"; do
    case "$f" in
      "${dirs[$i]}"*)
        if [ ${#dirs[$i]} -gt "$len" ]; then
          r=$i
          len=${#dirs[$i]}
        fi
        ;;
    esac
  done
}

# allowed HEADER ROW: yes if the header matches an entry of the row.
allowed() {
  local h=$1 list=${allows[$2]} item
  [ "$list" = "any header of the tree" ] && return 0
  list=${list//\`/}
  list=${list// /}
  IFS=',' read -ra items <<<"$list"
  for item in "${items[@]}"; do
    case "$item" in
      *'/*.h')
        [ "${h%/*}/" = "${item%\*.h}" ] && [ "${h%.h}" != "$h" ] && return 0
        ;;
      *) [ "$h" = "$item" ] && return 0 ;;
    esac
  done
  return 1
}

# ---- the check ----------------------------------------------------------
if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h' 2>/dev/null ||
    find . -name '*.[ch]' -not -path './build*' | sed 's|^\./||')
fi

bad=0
declare -A seen=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  seen[$f]=1
  rule "$f"
  if [ "$r" -lt 0 ]; then
    echo "$f: no row of the include rules ($doc) covers this directory"
    bad=1
  fi
done
# One grep over every file: "file:line:#include "name"".
while IFS= read -r hit; do
  f=${hit%%:*}
  rest=${hit#*:}
  line=${rest%%:*}
  name=${rest#*\"}
  name=${name%%\"*}
  rule "$f"
  [ "$r" -ge 0 ] || continue
  resolve "$f" "$name"
  h=$hdr
  [ -n "$h" ] || continue # not in the tree: a package's header
  [ "$h" = "$f" ] && continue
  if ! allowed "$h" "$r"; then
    echo "$f:$line: #include \"$name\" ($h) is not allowed in ${dirs[$r]} (may include: ${allows[$r]})"
    bad=1
  fi
done < <([ ${#seen[@]} -gt 0 ] && grep -nHE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' -- "${!seen[@]}" || true)
if [ "$bad" -ne 0 ]; then
  echo "check-layers: forbidden includes (rules: $doc, \"## Include rules\")" >&2
  exit 1
fi
echo "check-layers: ${#seen[@]} files follow the include rules of $doc"
