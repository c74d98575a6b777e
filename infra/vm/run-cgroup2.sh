#!/usr/bin/env bash
# Runs one command as root inside a small QEMU VM whose kernel has only
# cgroup v2 (memory and pids enabled at /sys/fs/cgroup), to test the
# server's cgroup-v2 code on a host whose kernel is on cgroup v1:
#
#   bash infra/vm/run-cgroup2.sh [--mem MB] [--cpus N] [--timeout S] -- COMMAND [ARGS...]
#
# The guest sees the host's whole root read-only over virtio-9p, with a
# tmpfs overlay on top (writes stay in the guest), runs COMMAND in the
# caller's working directory with a selection of the caller's environment,
# and this script exits with COMMAND's status. COMMAND's stdout comes out
# on stdout, its stderr on stderr. No network device: loopback only.
#
# Exit status: COMMAND's; 124 if the VM ran past --timeout; 125 if the VM
# stopped without reporting one (kernel panic, guest init failure).
# See infra/vm/README.md.
set -euo pipefail

# Debian bookworm's kernel, pinned; fetched with `apt-get download`, never
# installed on the host. Bump all three together.
kernel_pkg=linux-image-6.1.0-57-amd64
kernel_version=6.1.192-3
kver=6.1.0-57-amd64

cache=/var/cache/python-api/vm
here=$(cd "$(dirname "$0")" && pwd -P)

mem=4096
cpus=2
timeout=1200
usage() {
	echo "usage: $0 [--mem MB] [--cpus N] [--timeout SECONDS] -- COMMAND [ARGS...]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--mem) mem=${2:?}; shift 2 ;;
	--cpus) cpus=${2:?}; shift 2 ;;
	--timeout) timeout=${2:?}; shift 2 ;;
	--) shift; break ;;
	*) usage ;;
	esac
done
[ $# -gt 0 ] || usage
for n in "$mem" "$cpus" "$timeout"; do [[ $n =~ ^[1-9][0-9]*$ ]] || usage; done

log() { echo "run-cgroup2: $*" >&2; }

# The kernel command line is split on spaces.
case $here in *[[:space:]]*) log "cannot run from a path with spaces: $here"; exit 125 ;; esac

missing=()
for pkg in qemu-system-x86 busybox-static xz-utils; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$cache"
# Two runs starting at once must not build the same cache entry twice.
exec 9>"$cache/.lock"
flock 9
rm -rf "$cache"/.build.* # left by a run that failed half-way

kdir=$cache/${kernel_pkg}_$kernel_version
if [ ! -d "$kdir" ]; then
	log "fetching $kernel_pkg $kernel_version"
	rm -rf "$cache"/linux-image-* # an earlier pin's
	dl=$(mktemp -d "$cache/.build.XXXXXX")
	chown _apt "$dl" 2>/dev/null || true # else apt warns that it downloads unsandboxed
	if ! (cd "$dl" && apt-get download -qq "$kernel_pkg=$kernel_version" 2>/dev/null); then
		apt-get update -qq >/dev/null
		(cd "$dl" && apt-get download -qq "$kernel_pkg=$kernel_version") || {
			# The security archive keeps only the newest build.
			log "cannot download $kernel_pkg=$kernel_version; if Debian has moved on, pin the version"
			log "that \`apt-cache policy linux-image-amd64\` names at the top of $0"
			exit 125
		}
	fi
	dpkg-deb -x "$dl"/*.deb "$dl/root"
	# The package ships no modules.dep (its postinst makes one on install).
	busybox depmod -b "$dl/root" "$kver"
	# Booted as an ELF through its PVH entry point: TCG takes 2.5 s to run
	# the bzImage's own xz decompressor, the host 0.5 s.
	vmlinuz=$dl/root/boot/vmlinuz-$kver
	off=$(LC_ALL=C grep -m1 -abo $'\xfd7zXZ' "$vmlinuz" | LC_ALL=C sed -n '1s/:.*//p')
	[[ $off =~ ^[0-9]+$ ]] || { log "no xz payload in $vmlinuz"; exit 125; }
	tail -c "+$((off + 1))" "$vmlinuz" >"$dl/payload.xz"
	xz -dc --single-stream "$dl/payload.xz" >"$dl/root/boot/vmlinux-$kver"
	mv "$dl/root" "$kdir"
	rm -rf "$dl"
fi
moddir=$kdir/lib/modules/$kver

# What mounting the root takes; their dependencies are added from modules.dep.
root_modules=(virtio_pci 9pnet_virtio 9p overlay)
key=$({ cat "$here/initramfs-init.sh" /bin/busybox; echo "${root_modules[*]}"; } | sha256sum | cut -c1-12)
initrd=$cache/initramfs-$kver-$key.cpio.gz
if [ ! -f "$initrd" ]; then
	log "building $initrd"
	rm -f "$cache"/initramfs-*.cpio.gz # an earlier kernel's or init's
	stage=$(mktemp -d "$cache/.build.XXXXXX")
	mkdir -p "$stage"/{bin,dev,proc,sys}
	cp /bin/busybox "$stage/bin/"
	cp "$here/initramfs-init.sh" "$stage/init"
	chmod 755 "$stage/init"
	mknod "$stage/dev/console" c 5 1

	declare -A deps=() added=()
	while IFS=: read -r mod rest; do deps[$mod]=$rest; done <"$moddir/modules.dep"
	order=()
	add() {
		local d ds
		[ -z "${added[$1]:-}" ] || return 0
		added[$1]=1
		read -ra ds <<<"${deps[$1]}"
		for d in "${ds[@]}"; do add "$d"; done
		order+=("$1")
	}
	for name in "${root_modules[@]}"; do
		if grep -q "/$name\.ko\$" "$moddir/modules.builtin"; then continue; fi
		path=$(grep -m1 -o "^[^:]*/$name\.ko:" "$moddir/modules.dep" | tr -d :) ||
			{ log "module $name is neither built in nor in $moddir"; exit 125; }
		add "$path"
	done
	for path in "${order[@]}"; do
		mkdir -p "$stage/$(dirname "$path")"
		cp "$moddir/$path" "$stage/$path"
	done
	printf '%s\n' "${order[@]}" >"$stage/modules.load"

	(cd "$stage" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -9) >"$initrd.tmp"
	mv "$initrd.tmp" "$initrd"
	rm -rf "$stage"
fi
exec 9>&-

tmp=$(mktemp -d /tmp/cgroup2-vm.XXXXXX)
share=$tmp/share
mkdir "$share"
qemu_pid=
# shellcheck disable=SC2317 # run by the trap
cleanup() {
	if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Through files in the share, not the kernel command line: any bytes, any length.
for name in $(compgen -e); do
	case $name in
	PATH | HOME | TERM | LANG | LC_ALL | TZ | GO* | SANDBOX_* | TEST_*) printf '%s=%s\0' "$name" "${!name}" ;;
	esac
done >"$share/env"
printf '%s\0' "$@" >"$share/argv"
pwd -P >"$share/cwd"
echo "$moddir" >"$share/moddir"
# Bytes that a pipe sends before the guest's serial driver is up are lost,
# so only a terminal is passed on (interactive use); otherwise COMMAND
# reads /dev/null, and the caller's stdin is left alone.
stdin=/dev/null
if [ -t 0 ]; then
	stdin=/dev/stdin
	touch "$share/interactive"
fi

# The guest's ttyS1 carries COMMAND's stderr; through a pipe to our own
# stderr, so that a log file the caller redirected to is appended in order.
exec 8> >(exec cat >&2)
cat_pid=$!

# quiet loglevel=3: only COMMAND's output on the console. panic=-1 with
# -no-reboot: a panic ends qemu at once instead of hanging to the timeout.
# tsc=reliable: TCG's TSC is monotonic and in step across vCPUs, and the
# kernel's fallback (HPET) costs an emulated MMIO access per clock read.
# mitigations=off: nothing to protect in a throwaway VM, and it is slower.
# vminit: the second stage, read from the shared host root.
cmdline="console=ttyS0 quiet loglevel=3 panic=-1 tsc=reliable mitigations=off"
cmdline+=" systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all vminit=$here/guest-init.sh"
# shellcheck disable=SC2054 # the commas are qemu's
qemu=(
	qemu-system-x86_64 -nodefaults -no-reboot -display none
	-machine q35 -accel tcg,thread=multi -cpu max -smp "$cpus" -m "$mem"
	-kernel "$kdir/boot/vmlinux-$kver" -initrd "$initrd"
	-append "$cmdline"
	-device isa-debug-exit,iobase=0xf4,iosize=0x04
	-serial stdio -chardev file,id=stderr,path=/proc/self/fd/8 -serial chardev:stderr
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
	-virtfs "local,path=$share,mount_tag=vmshare,security_model=none"
)
# --foreground keeps qemu in our process group: it reads the terminal.
timeout --foreground -k 10 "$timeout" "${qemu[@]}" <"$stdin" &
qemu_pid=$!
qemu_rc=0
wait "$qemu_pid" || qemu_rc=$?
qemu_pid=
exec 8>&-
wait "$cat_pid" || true

if [ -f "$share/status" ]; then
	exit "$(cat "$share/status")"
fi
if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
	log "the VM ran past --timeout $timeout s and was stopped"
	exit 124
fi
log "the VM stopped without reporting the command's exit status (qemu exited $qemu_rc): a kernel panic or a failing guest init, see the console output above"
exit 125
