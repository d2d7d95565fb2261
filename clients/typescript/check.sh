#!/usr/bin/env bash
# Checks the TypeScript types against the contract files: installs the pinned tools
# (npm ci), regenerates the types into a temporary folder, fails if the committed
# ws-frames.d.ts or api.d.ts differ, and type-checks example.ts with `tsc --strict`.
# Without node and npm it prints a SKIPPED line and exits 0.
#
#   clients/typescript/check.sh        (from anywhere)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIPPED: no node/npm to check clients/typescript"
  exit 0
fi

cd "$here"
npm ci --no-audit --no-fund --silent

fresh="$(mktemp -d)"
trap 'rm -rf "$fresh"' EXIT
./generate.sh "$fresh"

stale=0
for file in ws-frames.d.ts api.d.ts; do
  if ! diff -u "$file" "$fresh/$file" >"$fresh/$file.diff"; then
    echo "clients/typescript/$file differs from what docs/schema/ generates:" >&2
    head -n 40 "$fresh/$file.diff" >&2
    stale=1
  fi
done
if [ "$stale" = 1 ]; then
  echo "Regenerate the types with clients/typescript/generate.sh and commit them." >&2
  exit 1
fi

node_modules/.bin/tsc --noEmit --strict --target es2022 --module esnext \
  --moduleResolution bundler example.ts
echo "clients/typescript: the types match docs/schema/ and example.ts type-checks"
