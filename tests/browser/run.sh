#!/usr/bin/env bash
# Runs the browser tests (run-tests.mjs) against a fresh `confab serve`.
#
#   CONFAB_BIN=target/debug/confab tests/browser/run.sh     (from the repository root)
#
# It builds nothing: build the server first (`cargo build -p confab`). It needs Node and a
# Chromium (Debian's /usr/bin/chromium, or $CHROMIUM); without a browser it prints a
# SKIPPED line and exits 0. The server gets a temporary data folder, a random admin token,
# port 0 and the bundled plugins, and is stopped when the tests end. BROWSER_ONLY=text runs
# only the tests whose name contains the text. A second origin (python3's http.server
# serving cross-origin/) is the one page origin the server allows for CORS; the same page
# reached as localhost is an origin it does not allow.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
chromium="${CHROMIUM:-/usr/bin/chromium}"
bin="${CONFAB_BIN:-target/debug/confab}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac

if [ ! -x "$chromium" ]; then
  echo "SKIPPED: no chromium at $chromium (apt-get install chromium, or set CHROMIUM)"
  exit 0
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIPPED: no node/npm to drive the browser"
  exit 0
fi
if [ ! -x "$bin" ]; then
  echo "no server binary at $bin: run 'cargo build -p confab' or set CONFAB_BIN" >&2
  exit 1
fi

cd "$here"
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --silent; else npm install --no-audit --no-fund --silent; fi

data="$(mktemp -d)"
token="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
out="$data/server.out"
server=""
pages=""
cleanup() {
  for pid in "$server" "$pages"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$data"
}
trap cleanup EXIT

# The second origin: a static page on a free port of its own.
page_origin=""
cors_origins="[]"
if command -v python3 >/dev/null; then
  python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$here/cross-origin" \
    >"$data/pages.out" 2>"$data/pages.err" &
  pages=$!
  for _ in $(seq 1 100); do
    port="$(grep -o 'port [0-9]*' "$data/pages.out" 2>/dev/null | head -n 1 | sed 's/port //' || true)"
    [ -n "$port" ] && break
    sleep 0.1
  done
  if [ -n "${port:-}" ]; then
    page_origin="http://127.0.0.1:$port"
    cors_origins="[\"$page_origin\"]"
  fi
fi

# The server reads every CONFAB_* variable as configuration and refuses unknown ones, so
# this script's own (CONFAB_BIN) are kept from it. Every test registers and signs in fresh
# users from this one address, so those two throttles get a larger burst.
env -u CONFAB_BIN \
CONFAB_SERVER__DATA_DIR="$data/data" \
CONFAB_SERVER__LISTEN=127.0.0.1:0 \
CONFAB_THROTTLE__REGISTER__ADDRESS__BURST=1000 \
CONFAB_THROTTLE__LOGIN__ADDRESS__BURST=1000 \
CONFAB_ADMIN__TOKEN="$token" \
CONFAB_PLUGINS__DEADLINE_MS=200 \
CONFAB_SERVER__CORS_ORIGINS="$cors_origins" \
  "$bin" serve >"$out" 2>"$data/server.err" &
server=$!

base=""
for _ in $(seq 1 300); do
  base="$(grep -o 'Confab is listening on http://[^ ]*' "$out" 2>/dev/null | sed 's/.* on //' || true)"
  [ -n "$base" ] && break
  if ! kill -0 "$server" 2>/dev/null; then
    echo "the server stopped before listening:" >&2
    cat "$data/server.err" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$base" ]; then
  echo "the server did not say where it listens within 30 s" >&2
  tail -n 20 "$data/server.err" >&2
  exit 1
fi
echo "server at $base"

# Screenshots go to docs/screenshots/ only when asked (UPDATE_SCREENSHOTS=1), so a test
# run leaves the working tree as it was.
shots="$data/screenshots"
if [ "${UPDATE_SCREENSHOTS:-}" = 1 ]; then shots="$root/docs/screenshots"; fi
mkdir -p "$shots"
status=0
CONFAB_BASE="$base" CONFAB_ADMIN_TOKEN="$token" CHROMIUM="$chromium" \
  CONFAB_PAGE_ORIGIN="$page_origin" \
  CONFAB_SCREENSHOTS="$shots" node run-tests.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- last server log lines ---"
  tail -n 30 "$data/server.err"
fi
exit "$status"
