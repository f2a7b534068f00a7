#!/usr/bin/env bash
# Data-parallel scaling on one machine: the same global batch trained as
#   1 rank  x all threads   and   2 ranks x half the threads each,
# in one invocation, alternating; prints img/s of each, their ratio, and the
# all-reduce time per step with how much of it overlapped backward.
#
# usage: bench/bench_mpi.sh [BUILD_DIR] [STEPS] [IMAGE_SIZE] [GLOBAL_BATCH]
# Needs Open MPI (mpirun). As root, set OMPI_ALLOW_RUN_AS_ROOT=1 and
# OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 (the script does, for this machine's CI user).
set -euo pipefail
BUILD=${1:-build}
STEPS=${2:-12}
SIZE=${3:-64}
GB=${4:-64}
BIN=$BUILD/alexnet
NC=$(nproc)
HALF=$(( NC / 2 > 0 ? NC / 2 : 1 ))
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$BIN" prepare synthetic --out "$work/data" --num_classes 10 --per_class $(( GB * (STEPS + 4) / 10 + 1 )) --size 96x96 >/dev/null

img_s() { # mean img/s of the step records after the first 2 (warm-up)
  /usr/bin/python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if '\"type\":\"step\"' in l][2:]; print('%.1f' % (sum(x['img_s'] for x in r)/len(r)))" "$1"
}
common=(train --data_dir "$work/data" --image_size "$SIZE" --max_epoch 1 --max_steps "$STEPS" --log_interval 1 --workers 1 --seed 1)
for round in 1 2; do
  rm -rf "$work/r1" "$work/r2"
  "$BIN" "${common[@]}" --per_batch_size "$GB" --threads "$NC" --out "$work/r1" >/dev/null
  a=$(img_s "$work/r1/metrics.jsonl")
  comm=$(mpirun -np 2 "$BIN" "${common[@]}" --per_batch_size $(( GB / 2 )) --threads "$HALF" --out "$work/r2" | grep "^all-reduce" || true)
  b=$(img_s "$work/r2/metrics.jsonl")
  echo "round $round: 1 rank x $NC threads: $a img/s | 2 ranks x $HALF threads: $b img/s | ratio $(/usr/bin/python3 -c "print('%.2f' % ($b/$a))")"
  echo "         $comm"
done
echo "($SIZE px, global batch $GB, $STEPS steps, 10 classes, default backend)"
