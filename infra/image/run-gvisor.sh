#!/usr/bin/env bash
# Runs the built image's filesystem under gVisor with Cloud Run gen1-like
# settings and tests the server in it:
#
#   infra/image/run-gvisor.sh [TAG]      (default python-api:test; build it first
#                                         with infra/image/build-image.sh)
#
# Settings (see infra/image/README.md for why each):
#   - a current runsc (infra/setup/runsc.sh builds it, pinned, from the Go
#     module proxy; default platform), OCI bundle made from `podman export`;
#   - process = the image's ENTRYPOINT and ENV, uid 0, with the default
#     container capability set (Docker's), which has no CAP_SYS_ADMIN;
#   - runsc --network=host: gVisor's sandbox uses the host's network stack, so
#     the test client here reaches the server on 127.0.0.1:$PORT. The app
#     inside still cannot create a network namespace (no CAP_SYS_ADMIN), and
#     a jailed script that escaped its seccomp policy could really reach the
#     loopback stand-ins below: a sharper test than an isolated netstack;
#   - no cgroups (--ignore-cgroups), as gVisor gives containers on Cloud Run.
#
# Then:
#   1. waits for GET /healthz to answer ok with profile "chroot" (chosen by
#      SANDBOX_MODE=auto; override with EXPECT_PROFILE);
#   2. go test -tags gvisor ./infra/image/: the network checks (a script
#      cannot open a socket to the server's port or to a metadata stand-in
#      listening on 127.0.0.1, while an un-jailed process in the same gVisor
#      sandbox can) and the HTTP contract basics;
#   3. the HTTP tests of function/, with SERVER_URL=http://127.0.0.1:$PORT
#      pointing them at this server (GVISOR_HTTP_TESTS, default ./function/e2e/);
#   4. the attack tests of sandboxcore, compiled here and run inside the same
#      gVisor container with `runsc exec` (GVISOR_ATTACK_RUN selects them;
#      default: every TestAttack in the chroot profile).
# Exits non-zero if any step fails; always stops the container.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
# shellcheck source=infra/image/gvisor-bundle.sh
. infra/image/gvisor-bundle.sh

tag=${1:-python-api:test}
out=$repo/build/image/gvisor
bundle=$out/bundle
state=$out/runsc-state
id=python-api-gvisor-$$
expect_profile=${EXPECT_PROFILE:-chroot}
http_tests=${GVISOR_HTTP_TESTS-./function/e2e/}  # set it empty to skip
attack_run=${GVISOR_ATTACK_RUN:-^(TestAttack.*|TestFilesInAndOut|TestPlotToOutputs)/chroot$}
# Extra KEY=VALUE pairs (space-separated) for the server and the attack
# tests, e.g. GVISOR_ENV="SANDBOX_EXECUTOR=warm". Nothing secret: they end up
# in config.json.
extra_env=${GVISOR_ENV:-}
runsc_bin=$(bash infra/setup/runsc.sh)
runsc=("$runsc_bin" --root "$state" "${gvisor_runsc_flags[@]}")
# GVISOR_DEBUG=1: gVisor's debug log and a strace of every syscall in the
# sandbox, in build/image/gvisor/runsc-debug/ (large; for diagnosing a hang).
if [ "${GVISOR_DEBUG:-0}" = 1 ]; then
	runsc+=(--debug --strace "--debug-log=$out/runsc-debug/")
fi

t0=$SECONDS
log() { printf 'run-gvisor [%3ds]: %s\n' $((SECONDS - t0)) "$*" >&2; }

port=${GVISOR_PORT:-$(gvisor_free_port)}

podman image exists "$tag" || { log "image $tag not found: run infra/image/build-image.sh first"; exit 1; }

server_pid=
unmount_state() { gvisor_unmount_state "$state"; }

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	set +e
	if [ -d "$state" ]; then
		"${runsc[@]}" kill "$id" KILL >/dev/null 2>&1
		"${runsc[@]}" delete -force "$id" >/dev/null 2>&1
	fi
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	unmount_state
}
trap cleanup EXIT

# --- bundle -------------------------------------------------------------------
unmount_state
rm -rf "$bundle" "$state" "$out/runsc-debug"
mkdir -p "$bundle/rootfs" "$state"
log "exporting $tag into $bundle/rootfs"
gvisor_export "$tag" "$bundle/rootfs"

# The attack tests are compiled here and put beside (not inside) the sandbox
# runtime tree, so they run in the same gVisor container as the server.
log "compiling sandboxcore tests"
mkdir -p "$bundle/rootfs/opt/python-api-tests"
CGO_ENABLED=0 go test -c -o "$bundle/rootfs/opt/python-api-tests/sandboxcore.test" ./sandboxcore

gvisor_config "$bundle" "$runsc_bin" "$tag" "$port" "$extra_env"
# The attack tests run with the same identity and capabilities as the server.
python3 - "$bundle" <<'EOF'
import json, sys
with open(sys.argv[1] + "/config.json") as f:
    p = json.load(f)["process"]
proc = {"args": ["/opt/python-api-tests/sandboxcore.test"], "env": p["env"] + ["HOME=/root", "TMPDIR=/tmp"],
        "cwd": "/opt/python-api-tests", "terminal": False, "user": p["user"],
        "capabilities": p["capabilities"], "rlimits": p["rlimits"]}
with open(sys.argv[1] + "/attack-process.json", "w") as f:
    json.dump(proc, f, indent=1)
EOF

# --- start ----------------------------------------------------------------------
log "starting $id: runsc --network=host --ignore-cgroups run (server on 127.0.0.1:$port, log: $out/server.log)"
"${runsc[@]}" run --bundle "$bundle" "$id" >"$out/server.log" 2>&1 &
server_pid=$!

url=http://127.0.0.1:$port
health=
start=$SECONDS
while [ $((SECONDS - start)) -lt 180 ]; do
	if ! kill -0 "$server_pid" 2>/dev/null; then
		log "the container exited before /healthz answered:"
		tail -n 40 "$out/server.log" >&2
		exit 1
	fi
	if health=$(curl -fsS --max-time 2 "$url/healthz" 2>/dev/null); then
		break
	fi
	health=
	sleep 1
done
if [ -z "$health" ]; then
	log "/healthz did not answer within 180 s:"
	tail -n 40 "$out/server.log" >&2
	exit 1
fi
log "/healthz after $((SECONDS - start)) s: $health"
echo "$health" >"$out/healthz.json"
profile=$(python3 -c 'import json,sys; h=json.load(sys.stdin); print(h.get("profile","") if h.get("ok") else "not-ok")' <<<"$health")
if [ "$profile" != "$expect_profile" ]; then
	log "profile is $profile, want $expect_profile"
	exit 1
fi

# --- tests ----------------------------------------------------------------------
status=0
export SERVER_URL=$url GVISOR_RUNSC_ROOT=$state GVISOR_CONTAINER_ID=$id GVISOR_RUNSC=$runsc_bin

log "1/3 go test -tags gvisor ./infra/image/ (network checks against the gVisor server)"
go test -count=1 -tags gvisor -v ./infra/image/ >"$out/image-tests.log" 2>&1 || status=1
grep -E '^\s*(--- |ok|FAIL|PASS)|_test.go' "$out/image-tests.log" >&2 || true

if [ -n "$http_tests" ]; then
	log "2/3 go test $http_tests with SERVER_URL=$url"
	# SANDBOX_ROOTFS: the e2e package insists on it; with SERVER_URL set it
	# tests the server at that URL instead of starting its own.
	read -ra pkgs <<<"$http_tests"
	before=$(grep -c '"message":"execution"' "$out/server.log" || true)
	SANDBOX_ROOTFS=${SANDBOX_ROOTFS:-$repo/build/rootfs} \
		go test -count=1 -v "${pkgs[@]}" >"$out/http-tests.log" 2>&1 || status=1
	grep -E '^(--- |ok|FAIL|PASS)' "$out/http-tests.log" | tail -n 60 >&2 || true
	# Tests that ignored SERVER_URL would pass against some other server:
	# the gVisor server's own log must show their executions.
	after=$(grep -c '"message":"execution"' "$out/server.log" || true)
	log "the gVisor server logged $((after - before)) executions during the HTTP tests"
	if [ "$after" -le "$before" ]; then
		log "the HTTP tests did not reach the gVisor server (do they honour SERVER_URL?)"
		status=1
	fi
fi

log "3/3 sandboxcore attack tests inside the gVisor container (-test.run '$attack_run')"
python3 - "$bundle/attack-process.json" "$attack_run" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
p["args"] = ["/opt/python-api-tests/sandboxcore.test", "-test.run", sys.argv[2], "-test.count=1", "-test.v", "-test.timeout=20m"]
json.dump(p, open(sys.argv[1], "w"))
EOF
if timeout "${GVISOR_ATTACK_TIMEOUT:-900}" "${runsc[@]}" exec --process "$bundle/attack-process.json" "$id" >"$out/attack-tests.log" 2>&1; then :; else status=1; fi
grep -E '^\s*(--- |ok|FAIL|PASS)' "$out/attack-tests.log" | tail -n 80 >&2 || true
if ! grep -q -- '--- PASS' "$out/attack-tests.log"; then
	log "no attack test passed (ran none?)"
	status=1
fi

if ! kill -0 "$server_pid" 2>/dev/null; then
	log "the server died during the tests"
	status=1
fi
if [ $status -eq 0 ]; then
	log "all gVisor checks passed (logs in $out)"
else
	log "FAILED (logs in $out)"
fi
exit $status
