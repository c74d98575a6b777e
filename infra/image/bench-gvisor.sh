#!/usr/bin/env bash
# make bench-gvisor (issue 14): cmd/benchcompare's table, fork / warm / cold x
# hello / pandas x 1 client / every slot busy, against the built image running
# under gVisor with run-gvisor.sh's Cloud Run gen1-like settings (a current
# runsc, default platform; Docker's default capabilities, no CAP_SYS_ADMIN;
# --network=host; --ignore-cgroups), and, first and in the same run, the host
# namespaces profile's fork path (bin/server run directly, as make bench-http
# does), so that "gVisor / host" is a ratio of figures taken minutes apart.
#
#   infra/image/bench-gvisor.sh [benchcompare flags]    (image: GVISOR_TAG,
#                                                         default python-api:test)
#
# Flags given here are added after the defaults below, so they win, e.g.
# `-d 15s` or `-executors fork,cold`. GVISOR_ENV="KEY=VALUE ..." adds server
# settings inside the container (MAX_CONCURRENCY, WARM_JAILS, ...).
#
# Per cell: 10 s measured after 2 s of warm-up (bench-http measures 15 s).
# Cold pandas under gVisor takes the better part of a second per execution,
# so it gets the fewest samples; 10 s keeps the whole run (4 servers x 4
# cells, plus start-ups and warm pools refilling) near 5 minutes, and
# -max-total bounds it at 12.
#
# Results: build/bench/bench-gvisor.json, the table on stdout, server logs
# in build/bench/bench-gvisor/, the bundle and runsc's state in
# build/image/gvisor-bench/ (apart from run-gvisor.sh's, so the two can run
# at once).
#
# benchcompare starts each gVisor server through this same script:
#
#   infra/image/bench-gvisor.sh launch     (SANDBOX_EXECUTOR and PORT set)
#
# which runs one container from the bundle in the foreground and, on SIGTERM,
# stops the server, deletes the container and unmounts runsc's state before
# it exits, so no two executors' containers ever run at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
# shellcheck source=infra/image/gvisor-bundle.sh
. infra/image/gvisor-bundle.sh

tag=${GVISOR_TAG:-python-api:test}
out=$repo/build/image/gvisor-bench
bundle=$out/bundle
state=$out/runsc-state
runsc_bin=$(bash infra/setup/runsc.sh)
runsc=("$runsc_bin" --root "$state" "${gvisor_runsc_flags[@]}")

# launch is benchcompare's -launch command: one container, in the foreground,
# its output (the server's log lines) on stdout.
launch() {
	: "${SANDBOX_EXECUTOR:?set by benchcompare}" "${PORT:?set by benchcompare}"
	local id=python-api-bench-$SANDBOX_EXECUTOR-$$ pid status=0
	# The bundle is shared: only its config changes, and benchcompare never
	# starts a server before the previous one's launcher has exited.
	gvisor_config "$bundle" "$runsc_bin" "$tag" "$PORT" "SANDBOX_EXECUTOR=$SANDBOX_EXECUTOR ${GVISOR_ENV:-}"
	# benchcompare's SIGTERM must reach the container through runsc kill, as
	# Cloud Run's would; the trap only ends the wait below.
	trap : TERM INT
	echo "bench-gvisor launch: runsc run $id (SANDBOX_EXECUTOR=$SANDBOX_EXECUTOR, 127.0.0.1:$PORT)" >&2
	"${runsc[@]}" run --bundle "$bundle" "$id" </dev/null &
	pid=$!
	wait "$pid" || status=$?
	trap - TERM INT
	set +e
	if kill -0 "$pid" 2>/dev/null; then
		# SIGTERM, and SIGKILL 10 s later, as Cloud Run stops an instance.
		"${runsc[@]}" kill "$id" TERM >/dev/null 2>&1
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		"${runsc[@]}" kill --all "$id" KILL >/dev/null 2>&1
		wait "$pid"
		status=0 # stopped as asked
	fi
	"${runsc[@]}" delete -force "$id" >/dev/null 2>&1
	gvisor_unmount_state "$state"
	echo "bench-gvisor launch: $id stopped and deleted" >&2
	exit "$status"
}

if [ "${1:-}" = launch ]; then
	launch
fi

t0=$SECONDS
log() { printf 'bench-gvisor [%3ds]: %s\n' $((SECONDS - t0)) "$*" >&2; }

podman image exists "$tag" || { log "image $tag not found: run infra/image/build-image.sh first"; exit 1; }
case $repo in *[[:space:]]*)
	log "the repository path has a space in it; benchcompare's -launch splits at spaces"
	exit 1
	;;
esac

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	set +e
	# A launcher killed outright (benchcompare killed, or its stop timed
	# out) leaves its container: none may outlive the run.
	local id
	if [ -d "$state" ]; then
		for id in $("${runsc[@]}" list -quiet 2>/dev/null); do
			log "removing leftover container $id"
			"${runsc[@]}" kill --all "$id" KILL >/dev/null 2>&1
			"${runsc[@]}" delete -force "$id" >/dev/null 2>&1
		done
	fi
	gvisor_unmount_state "$state"
}
trap cleanup EXIT

gvisor_unmount_state "$state"
rm -rf "$bundle" "$state"
mkdir -p "$bundle/rootfs" "$state"
log "exporting $tag into $bundle/rootfs"
gvisor_export "$tag" "$bundle/rootfs"

log "benchcompare: host fork, then gVisor fork, warm, cold"
go run ./cmd/benchcompare \
	-launch "bash $repo/infra/image/bench-gvisor.sh launch" -launch-name gvisor \
	-host fork -server bin/server -rootfs "${SANDBOX_ROOTFS:-build/rootfs}" \
	-out build/bench/bench-gvisor.json -logdir build/bench/bench-gvisor \
	-d 10s -warmup 2s -max-total 12m "$@"
