#!/usr/bin/env bash
# Builds the web IDE into client/dist, which client/embed.go embeds in
# bin/server. Idempotent and quiet: `npm ci` runs only when node_modules is
# missing or package-lock.json changed since the last install; `npm run build`
# (tsc + vite) only when a source changed or dist/ is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root/client"

command -v node >/dev/null || { echo "build-client: node not found (Node.js >= 20.19 needed)" >&2; exit 1; }

# Runs a command with its output kept aside, shown only if it fails.
quiet() {
  local log
  log="$(mktemp)"
  if ! "$@" >"$log" 2>&1; then
    echo "build-client: '$*' failed:" >&2
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

# Stamps live inside node_modules so a fresh clone (or `rm -rf node_modules`)
# starts clean, and nothing extra lands in dist/ (all of it is served).
stamps=node_modules/.python-api-stamps
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ ! -d node_modules || "$(cat "$stamps/lock" 2>/dev/null)" != "$lock_sum" ]]; then
  quiet npm ci --no-audit --no-fund --loglevel=error
  mkdir -p "$stamps"
  echo "$lock_sum" >"$stamps/lock"
fi

src_sum="$(
  find index.html package.json package-lock.json tsconfig.json vite.config.ts src public -type f -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
)"
if [[ ! -f dist/index.html || "$(cat "$stamps/build" 2>/dev/null)" != "$src_sum" ]]; then
  quiet npm run build
  echo "$src_sum" >"$stamps/build"
fi
