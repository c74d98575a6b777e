#!/usr/bin/env bash
# Builds gVisor's runsc, pinned, from the Go module proxy (Debian's 2022
# runsc lacks what Cloud Run's current gVisor has, e.g. ambient
# capabilities) and prints its path. Cached outside the work tree, so a
# fresh clone does not rebuild it (about two minutes on 2 cores).
set -euo pipefail

version=v0.0.0-20260905035102-160fafc42237
cache=${PYTHON_API_CACHE:-/var/cache/python-api}/runsc-$version
if [[ ! -x $cache/runsc ]]; then
	mkdir -p "$cache"
	echo "building runsc $version (about two minutes)" >&2
	GOBIN=$cache CGO_ENABLED=0 go install "gvisor.dev/gvisor/runsc@$version" >&2
fi
echo "$cache/runsc"
