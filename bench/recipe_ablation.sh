#!/usr/bin/env bash
# recipe_ablation.sh — the default run's recipe, one change at a time, over
# several seeds, at the same number of steps: each variant trains as
# `make run` does (scripts/run-fashion-mnist.sh) under the time budget's
# deterministic test clock (ALEXNET_BUDGET_CLOCK=STEP,END: the step and
# epoch-end seconds measured on the machine, quiet), so every variant gets
# the plan the real budget would give it, whatever else the machine does
# while the ablation runs. A variant that changes the speed (a larger image,
# a costlier augmentation) takes its own STEP. Prints one line per run and a
# mean and spread per variant; results go to OUT/results.tsv.
#
# usage: bench/recipe_ablation.sh --clock STEP,END --budget SECONDS [--seeds "1 2 3"] [--out DIR]
#          [--alexnet build/alexnet] [--data data/fashion-mnist] NAME='FLAGS' [NAME='FLAGS' ...]
#   e.g. bench/recipe_ablation.sh --clock 0.20,6 --budget 720 base='' erase='--random_erase 0.25'
#   NAME@STEP='FLAGS' gives a variant its own step time.
set -euo pipefail
BIN=build/alexnet
DATA=data/fashion-mnist
OUT=/tmp/recipe-ablation
SEEDS="1 2 3"
CLOCK=
BUDGET=
variants=()
while [ $# -gt 0 ]; do
  case $1 in
    --alexnet) BIN=$2; shift ;;
    --data) DATA=$2; shift ;;
    --out) OUT=$2; shift ;;
    --seeds) SEEDS=$2; shift ;;
    --clock) CLOCK=$2; shift ;;
    --budget) BUDGET=$2; shift ;;
    *=*) variants+=("$1") ;;
    *) echo "usage: $0 --clock STEP,END --budget SECONDS [--seeds \"1 2 3\"] NAME='FLAGS' ..." >&2; exit 2 ;;
  esac
  shift
done
[ -n "$CLOCK" ] && [ -n "$BUDGET" ] && [ ${#variants[@]} -gt 0 ] || { echo "$0: --clock, --budget and a variant" >&2; exit 2; }
mkdir -p "$OUT"
here=$(cd "$(dirname "$0")/.." && pwd)
for v in "${variants[@]}"; do
  name=${v%%=*} flags=${v#*=} clock=$CLOCK
  if [[ $name == *@* ]]; then clock="${name#*@},${CLOCK#*,}"; name=${name%%@*}; fi
  for seed in $SEEDS; do
    run=$OUT/$name-s$seed
    if [ ! -f "$run/eval.txt" ]; then
      rm -rf "$run"
      ALEXNET_BUDGET_CLOCK=$clock SEED=$seed BUDGET=${BUDGET}s EXTRA="$flags" \
        "$here/scripts/run-fashion-mnist.sh" "$BIN" "$DATA" "$run" > "$run.log" 2>&1 || { echo "$name seed $seed failed: $run.log"; continue; }
    fi
    top1=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['top1'])" "$run/eval.txt")
    steps=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['plan']['steps'])" "$run/config.json")
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$seed" "$top1" "$steps" "$flags" | tee -a "$OUT/results.tsv"
  done
done
/usr/bin/python3 - "$OUT/results.tsv" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    name, seed, top1, steps, flags = line.rstrip("\n").split("\t")
    runs[name][seed] = (float(top1), int(steps), flags)
print(f"\n{'variant':<16} {'seeds':>5} {'mean top-1':>11} {'spread':>15} {'steps':>7}  flags")
for name, r in runs.items():
    t = [v[0] for v in r.values()]
    print(f"{name:<16} {len(t):>5} {100 * statistics.mean(t):10.2f}% {100 * min(t):6.2f}-{100 * max(t):.2f}% "
          f"{list(r.values())[0][1]:>7}  {list(r.values())[0][2]}")
PY
