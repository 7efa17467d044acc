#!/usr/bin/env bash
# Install the Debian packages sqclaim needs to build, test and simulate.
# Idempotent: does nothing (and needs no root) when everything is present.
# Set SQCLAIM_SKIP_DEPS=1 to skip entirely.
set -euo pipefail

[ "${SQCLAIM_SKIP_DEPS:-}" = 1 ] && exit 0

packages=(
  build-essential pkg-config
  libhiredis-dev      # redis backend (hiredis 0.14)
  libcurl4-openssl-dev # vercel backend
  libcjson-dev        # JSON (core, vercel, kvrest)
  libsqlite3-dev      # sqlite backend, the default (one file shared by the host's processes)
  check               # unit test framework
  libmicrohttpd-dev   # kvrest HTTP server
  redis-server redis-tools # real server for tests, redis-benchmark baseline
  openssl             # vercel tests: a TLS server proving certificates are verified
  valgrind            # sim-ci: sqsim under valgrind
  cppcheck            # make cppcheck (CI)
  clang-format        # make format-check (CI)
  binutils            # tests/abi: nm, readelf, strings
  liblua5.1-0-dev     # the scripted store (sim/det/): Lua 5.1, the version Redis embeds
  lua-cjson           # ... and the cjson library Redis provides (liblua5.1-cjson.so)
  python3 curl jq     # tests/serve: HTTP tests and docs/http.md's examples, run as written;
                      # tests/browser and tests/viz (stdlib-only scripts)
  chromium            # tests/browser: the serve dashboard and sqsim's timelines in headless Chromium
  clang libclang-rt-14-dev # make fuzz: clang 14 with libFuzzer and the sanitizer runtimes
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install-deps: missing packages (${missing[*]}) and not root; install them or run as root" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged redis-server as a service; the tests start
# their own servers on free ports and do not use it.
