#!/usr/bin/env bash
# Stops a command that would run out of disk before it starts, with a message
# saying how much it needs and where, instead of a dozen failures deep in the
# test suite ("No space left on device" from whichever test wrote next).
#
# usage: scripts/check-disk.sh GIB DIR WHAT
#   GIB   free space DIR must have, in GiB
#   DIR   where the command writes (created if missing)
#   WHAT  what needs it, for the message
# ALEXNET_SKIP_DISK_CHECK=1 skips the check.
set -euo pipefail
need=${1:?usage: $0 GIB DIR WHAT}
dir=${2:?usage: $0 GIB DIR WHAT}
what=${3:-this command}
[ "${ALEXNET_SKIP_DISK_CHECK:-0}" = 1 ] && exit 0
mkdir -p "$dir"
free_kib=$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')
free_gib=$(( free_kib / 1048576 ))
if [ "$free_gib" -lt "$need" ]; then
  echo "error: $what needs about $need GiB free in $dir; it has $free_gib GiB." >&2
  echo "Free some space there, or point TMPDIR at a disk with room (TMPDIR=/big/tmp make test);" >&2
  echo "ALEXNET_SKIP_DISK_CHECK=1 runs it anyway." >&2
  exit 1
fi
