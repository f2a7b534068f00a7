#!/usr/bin/env bash
# Runs a command inside a Debian root filesystem (one kept by
# `scripts/check-fresh-machine.sh RELEASE --keep`, or any mmdebstrap root) the
# way the fresh-machine check does: as root, in a chroot with no network
# (unshare --net, loopback up for Open MPI), private mounts of /proc, /dev,
# /sys and a fresh /dev/shm, a clean environment, in /alexnet.
#
# usage: scripts/in-root.sh ROOT [--bind DIR] COMMAND...
#   --bind DIR   mount DIR (e.g. this checkout) over ROOT/alexnet for the
#                command, instead of the copy the check left there; build in
#                its own directories then (make BUILD=build13 ASAN=build13-asan)
#                so the host's build/ stays the host's
# e.g. scripts/in-root.sh /tmp/alexnet-fresh-trixie.XXXXXX "build/alexnet bench --steps 3"
# Needs root.
set -euo pipefail

usage() { echo "usage: $0 ROOT [--bind DIR] COMMAND..." >&2; exit 2; }
[ $# -ge 2 ] || usage
root=$1; shift
bind=""
if [ "$1" = "--bind" ]; then
  [ $# -ge 3 ] || usage
  bind=$(cd "$2" && pwd); shift 2
fi
[ -x "$root/bin/bash" ] || { echo "in-root: $root is not a root filesystem (no bin/bash)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "in-root: needs root (chroot); run it with sudo" >&2; exit 2; }

exec unshare --mount --net --fork bash -c '
  set -e
  root=$1 bind=$2 cmd=$3
  mount --make-rprivate /
  mount --bind "$root" "$root"   # a mount point, as / is on a machine (ip netns needs it)
  mkdir -p "$root/alexnet"
  [ -z "$bind" ] || mount --bind "$bind" "$root/alexnet"
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mount --rbind /sys "$root/sys"
  mount -t tmpfs tmpfs "$root/dev/shm"
  ip link set lo up   # Open MPI: its launcher reaches the ranks over loopback TCP
  exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -c "cd /alexnet && $cmd"
' in-root "$root" "$bind" "$*"
