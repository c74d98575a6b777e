# shellcheck shell=bash
# Sourced, not run: the OCI bundle that runs the image under gVisor with
# Cloud Run gen1-like settings, shared by run-gvisor.sh (the tests) and
# bench-gvisor.sh (the benchmark) so both measure the same container. The
# settings and why each: infra/image/README.md and run-gvisor.sh's header.
# Callers run from the repository root with `set -euo pipefail`.

# The runsc flags of the gen1-like settings: gVisor's sandbox uses the host's
# network stack (the client here reaches the server on 127.0.0.1), and no
# cgroups, as gVisor gives containers on Cloud Run. Default platform.
# shellcheck disable=SC2034 # used by the scripts that source this file
gvisor_runsc_flags=(--network=host --ignore-cgroups)

gvisor_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# gvisor_unmount_state STATE releases what runsc leaves mounted in its state
# directory (a current runsc binds a "null-netns" there), so that it can be
# removed. Nothing mounted is the usual case, not a failure: grep's status
# must not reach pipefail and set -e.
gvisor_unmount_state() {
	local state=$1 m
	if [ -d "$state" ]; then
		{ findmnt -rn -o TARGET | grep -F "$state/" || true; } | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
	fi
}

# gvisor_export TAG ROOTFS unpacks the image's filesystem into ROOTFS (an
# empty directory).
gvisor_export() {
	local tag=$1 rootfs=$2 ctr
	ctr=$(podman create --quiet "$tag")
	podman export "$ctr" | tar -C "$rootfs" --numeric-owner -xpf -
	podman rm --force "$ctr" >/dev/null
}

# gvisor_config BUNDLE RUNSC TAG PORT "KEY=VALUE ..." writes BUNDLE/config.json
# from `runsc spec`: the image's ENTRYPOINT and ENV, PORT, the extra pairs
# (space-separated, nothing secret: they end up in the file), uid 0, Docker's
# default capability set (no CAP_SYS_ADMIN), a writable root, no network
# namespace of its own (for runsc --network=host). Rewriting an existing
# bundle's config is fine while no container runs from it.
gvisor_config() {
	local bundle=$1 runsc_bin=$2 tag=$3 port=$4 extra_env=$5 env_json entry_json
	rm -f "$bundle/config.json"
	(cd "$bundle" && "$runsc_bin" spec)
	env_json=$(podman image inspect --format '{{json .Config.Env}}' "$tag")
	entry_json=$(podman image inspect --format '{{json .Config.Entrypoint}}' "$tag")
	python3 - "$bundle" "$port" "$env_json" "$entry_json" "$extra_env" <<'EOF'
import json, sys
bundle, port, env, entry = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
extra = sys.argv[5].split()
# Docker's default capability set: what a container gets without --privileged.
caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
        "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
assert "CAP_SYS_ADMIN" not in caps
capset = {"bounding": caps, "effective": caps, "permitted": caps, "inheritable": [], "ambient": []}
overridden = {"PORT"} | {e.split("=", 1)[0] for e in extra}
env = [e for e in env if e.split("=", 1)[0] not in overridden]
env += ["PORT=" + port, "K_SERVICE=python-api", "K_REVISION=gvisor-test"] + extra
with open(bundle + "/config.json") as f:
    cfg = json.load(f)
cfg["process"].update(args=entry, env=env, cwd="/", terminal=False,
                      user={"uid": 0, "gid": 0}, capabilities=capset,
                      rlimits=[{"type": "RLIMIT_NOFILE", "hard": 65536, "soft": 65536}])
cfg["root"]["readonly"] = False  # Cloud Run's root filesystem is writable (in memory)
cfg["hostname"] = "localhost"
# --network=host: no network namespace of its own.
cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "network"]
with open(bundle + "/config.json", "w") as f:
    json.dump(cfg, f, indent=1)
EOF
}
