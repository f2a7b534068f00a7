#!/usr/bin/env bash
# Input pipeline from a pack (alexnet prepare pack, default bound) against the
# folder of the same 500x375 JPEGs and against torchvision's ImageFolder
# DataLoader on that folder: same transforms (RandomResizedCrop 224, flip,
# ColorJitter 0.4, Normalize), batch 64, same worker count — the three
# alternating, ROUNDS times each, in one run. Prints every measurement, the
# medians and the ratios.
#
# usage: bench/bench_pack.sh [WORKERS=2] [ROUNDS=3]
#   env: ALEXNET (default build/alexnet), DATA (default data/bench-500x375),
#        PACK (default DATA.pack, made when missing with PACK_ARGS),
#        PER_CLASS (images per class when DATA is made; default 60),
#        PYTHON (default /usr/bin/python3: Debian's torch + torchvision)
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=${1:-2}
ROUNDS=${2:-3}
ALEXNET=${ALEXNET:-build/alexnet}
DATA=${DATA:-data/bench-500x375}
PACK=${PACK:-$DATA.pack}
PACK_ARGS=${PACK_ARGS:-}
PYTHON=${PYTHON:-/usr/bin/python3}
PER_CLASS=${PER_CLASS:-60}

[ -x "$ALEXNET" ] || { echo "bench_pack: $ALEXNET not found (build first, or set ALEXNET=...)" >&2; exit 2; }
if [ ! -d "$DATA" ]; then
  "$ALEXNET" prepare synthetic --out "$DATA" --num_classes 10 --per_class "$PER_CLASS" --size 500x375 --seed 1
fi
# shellcheck disable=SC2086
[ -f "$PACK" ] || "$ALEXNET" prepare pack --data_dir "$DATA" --out "$PACK" $PACK_ARGS

img_s() { "$PYTHON" -c 'import json,sys; print(round(json.load(sys.stdin)["img_s"], 1))'; }
pack=(); folder=(); torch=()
for r in $(seq "$ROUNDS"); do
  p=$("$ALEXNET" bench-data --data_dir "$PACK" --workers "$WORKERS" --image_size 224 --per_batch_size 64 --json | img_s)
  f=$("$ALEXNET" bench-data --data_dir "$DATA" --workers "$WORKERS" --image_size 224 --per_batch_size 64 --json | img_s)
  t=$("$PYTHON" bench/bench_data_torch.py "$DATA" --workers "$WORKERS" --size 224 --batch 64 | img_s)
  echo "round $r: pack $p img/s   folder $f img/s   torchvision $t img/s"
  pack+=("$p"); folder+=("$f"); torch+=("$t")
done
"$PYTHON" - "$WORKERS" "${#pack[@]}" "${pack[@]}" "${folder[@]}" "${torch[@]}" <<'PY'
import statistics, sys
w, n = int(sys.argv[1]), int(sys.argv[2])
v = [float(x) for x in sys.argv[3:]]
p, f, t = (statistics.median(v[i * n:(i + 1) * n]) for i in range(3))
print(f"median over {n} rounds, {w} workers each: pack {p:.1f} img/s, folder {f:.1f} img/s, torchvision {t:.1f} img/s")
print(f"ratios: pack/folder {p / f:.2f}x, pack/torchvision {p / t:.2f}x, folder/torchvision {f / t:.2f}x")
PY
