#!/usr/bin/env bash
# Browser end-to-end test of the web IDE against the real bin/server: starts
# the server on a free loopback port, waits for /healthz, drives Debian's
# Chromium with client/e2e/run.mjs, then stops the server, whatever happened.
# Screenshots land in client/test-results/; with E2E_UPDATE_DOCS=1 the light
# and dark ones are also copied to docs/ for the README.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

server="${E2E_SERVER:-$root/bin/server}"
rootfs="${SANDBOX_ROOTFS:-$root/build/rootfs}"
rootfs="$(cd "$rootfs" 2>/dev/null && pwd)" || { echo "test-e2e: sandbox rootfs ${SANDBOX_ROOTFS:-build/rootfs} missing: run make rootfs" >&2; exit 1; }
[[ -x "$server" ]] || { echo "test-e2e: $server missing: run make build" >&2; exit 1; }
[[ -x /usr/bin/chromium ]] || { echo "test-e2e: /usr/bin/chromium missing: run infra/setup/install-host-deps.sh" >&2; exit 1; }
[[ -d client/node_modules/playwright-core ]] || bash infra/setup/build-client.sh

port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
log="$(mktemp)"
SANDBOX_ROOTFS="$rootfs" PORT="$port" "$server" >"$log" 2>&1 &
pid=$!

cleanup() {
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT

base="http://127.0.0.1:$port/"
ready=""
for _ in $(seq 1 600); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "test-e2e: bin/server exited before it was healthy; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  if curl -fsS -o /dev/null --max-time 2 "${base}healthz" 2>/dev/null; then ready=1; break; fi
  sleep 0.1
done
if [[ -z "$ready" ]]; then
  echo "test-e2e: bin/server not healthy after 60 s; its log:" >&2
  tail -n 50 "$log" >&2
  exit 1
fi

rc=0
E2E_BASE_URL="$base" node client/e2e/run.mjs || rc=$?
if [[ "$rc" -ne 0 ]]; then
  echo "test-e2e: failed; last lines of the server log:" >&2
  tail -n 30 "$log" >&2
elif [[ "${E2E_UPDATE_DOCS:-}" == 1 ]]; then
  mkdir -p docs
  cp client/test-results/ide-light.png docs/ide-light.png
  cp client/test-results/ide-dark.png docs/ide-dark.png
  echo "test-e2e: updated docs/ide-light.png and docs/ide-dark.png"
fi
exit "$rc"
