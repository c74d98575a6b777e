#!/bin/bash
# Second stage of the cgroup-v2 VM (see run-cgroup2.sh): PID 1 on the
# overlay of the host's root. Sets up what a systemd host with the unified
# hierarchy would give a service, runs the command that the host left in
# the share, writes its exit status back there and powers off.
#
# No `set -e`: PID 1 exiting is a kernel panic, so every path has to reach
# the power-off below. A status that never arrives is what tells the host
# something went wrong.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
# /tmp stays the host's, under the overlay like everything else (writes stay
# in the guest): a checkout under /tmp, as CI may make, must be visible.
mount -t tmpfs -o mode=755 tmpfs /run
# The options systemd uses on a unified-hierarchy host.
mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
echo '+memory +pids' >/sys/fs/cgroup/cgroup.subtree_control

share=/run/vm
mkdir -p "$share"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmshare "$share"

hostname cgroup2-vm
# The kernel's default hard limit on open files is 4096; systemd gives its
# services 1024:524288, which the server would see on a real v2 host.
ulimit -Hn 524288
ip link set lo up

# The guest kernel's modules (from the cache on the host) where the host's
# own would be, so `busybox modprobe` finds them.
kver=$(uname -r)
if [ -d "$(cat "$share/moddir")" ]; then
	mkdir -p "/lib/modules/$kver"
	mount --bind -o ro "$(cat "$share/moddir")" "/lib/modules/$kver"
fi

# The serial lines pass bytes through: no \r added before each \n.
stty -F /dev/ttyS0 -onlcr 2>/dev/null
stty -F /dev/ttyS1 -onlcr -echo 2>/dev/null

mapfile -d '' -t vars <"$share/env"
mapfile -d '' -t argv <"$share/argv"
cd "$(cat "$share/cwd")" || echo "vm: cannot cd to $(cat "$share/cwd"), staying in /" >&2
stdin=/dev/null
[ -e "$share/interactive" ] && stdin=/dev/console
# The outer 2>/dev/null silences bash's own "Killed" line for a COMMAND
# ended by a signal, which would land in COMMAND's stdout.
{ env -i "${vars[@]}" "${argv[@]}" <"$stdin" 2>/dev/ttyS1; } 2>/dev/null
echo "$?" >"$share/status.tmp" && mv "$share/status.tmp" "$share/status"

sync
umount "$share"
# Out through qemu's isa-debug-exit port: instant, and silent, where a real
# power-off makes the kernel print "reboot: Power down" at a level that
# `quiet` cannot hide. The ACPI power-off is the fallback.
printf '\001' | dd of=/dev/port bs=1 seek=$((0xf4)) count=1 status=none
echo o >/proc/sysrq-trigger
while :; do sleep 60; done
