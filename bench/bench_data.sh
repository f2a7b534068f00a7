#!/usr/bin/env bash
# Input-pipeline throughput: `alexnet bench-data` against torchvision's
# ImageFolder DataLoader — same folder of photo-like 500x375 JPEGs, same
# transforms (RandomResizedCrop 224, flip, ColorJitter 0.4, Normalize), same
# batch (64) and worker count — alternating, ROUNDS times each, in one run.
# Prints every measurement, the medians and the ratio.
#
# usage: bench/bench_data.sh [WORKERS=2] [ROUNDS=3]
#   env: ALEXNET (default build/alexnet), DATA (default data/bench-500x375),
#        PER_CLASS (images per class when DATA is made; default 60: 600 images),
#        PYTHON (default /usr/bin/python3: Debian's torch + torchvision)
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=${1:-2}
ROUNDS=${2:-3}
ALEXNET=${ALEXNET:-build/alexnet}
DATA=${DATA:-data/bench-500x375}
PYTHON=${PYTHON:-/usr/bin/python3}
PER_CLASS=${PER_CLASS:-60}

[ -x "$ALEXNET" ] || { echo "bench_data: $ALEXNET not found (build first, or set ALEXNET=...)" >&2; exit 2; }
if [ ! -d "$DATA" ]; then
  "$ALEXNET" prepare synthetic --out "$DATA" --num_classes 10 --per_class "$PER_CLASS" --size 500x375 --seed 1
fi

ours=(); theirs=()
for r in $(seq "$ROUNDS"); do
  o=$("$ALEXNET" bench-data --data_dir "$DATA" --workers "$WORKERS" --image_size 224 --per_batch_size 64 --json)
  t=$("$PYTHON" bench/bench_data_torch.py "$DATA" --workers "$WORKERS" --size 224 --batch 64)
  oi=$(echo "$o" | "$PYTHON" -c 'import json,sys; print(round(json.load(sys.stdin)["img_s"], 1))')
  ti=$(echo "$t" | "$PYTHON" -c 'import json,sys; print(round(json.load(sys.stdin)["img_s"], 1))')
  echo "round $r: alexnet bench-data $oi img/s   torchvision $ti img/s"
  ours+=("$oi"); theirs+=("$ti")
done
"$PYTHON" - "$WORKERS" "${#ours[@]}" "${ours[@]}" "${theirs[@]}" <<'PY'
import statistics, sys
w, n = int(sys.argv[1]), int(sys.argv[2])
ours, theirs = [float(x) for x in sys.argv[3:3 + n]], [float(x) for x in sys.argv[3 + n:]]
mo, mt = statistics.median(ours), statistics.median(theirs)
print(f"median over {n} rounds, {w} workers each: alexnet {mo:.1f} img/s, torchvision {mt:.1f} img/s, ratio {mo / mt:.2f}x")
PY
