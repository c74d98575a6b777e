#!/bin/busybox sh
# shellcheck shell=dash
# First stage, /init of the initramfs that run-cgroup2.sh builds: load the
# modules the root needs, mount the host's / (read-only 9p) under a tmpfs
# overlay so the guest may write anywhere without touching the host, and
# hand over to the second stage (vminit= on the kernel command line), which
# is read from that shared root so it can change without a rebuild.
/bin/busybox --install -s /bin
export PATH=/bin

fail() {
	echo "vm init: $*" >&2
	# panic=-1 on the command line turns this into an immediate reboot, and
	# -no-reboot into qemu exiting: the host then reports a missing status.
	exit 1
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# Built with their dependencies first (see run-cgroup2.sh).
while read -r ko; do
	insmod "/$ko" || fail "insmod $ko failed"
done </modules.load

vminit=
read -r cmdline </proc/cmdline
for arg in $cmdline; do
	case $arg in vminit=*) vminit=${arg#vminit=} ;; esac
done
[ -n "$vminit" ] || fail "no vminit= on the kernel command line"

mkdir -p /lower /rw /newroot
# cache=loose: the host root does not change under a test run, and without
# caching every stat and open is a round trip through the emulated device.
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose hostroot /lower ||
	fail "cannot mount the host root over 9p"
mount -t tmpfs -o mode=755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot ||
	fail "cannot mount the overlay"
[ -f "/newroot$vminit" ] || fail "second stage $vminit not found in the host root"

umount /proc /sys /dev
exec switch_root /newroot /bin/bash "$vminit"
