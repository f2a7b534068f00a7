#!/usr/bin/env bash
# bench_budget.sh — does `train --time_budget` end on time? Trains the
# default Fashion-MNIST recipe (make run's) with budgets of 2, 5 and 15
# minutes, alone and with a competing process taking one core from half-way
# on, and prints, per run, the budget, the seconds the run took from its
# first step to its exit (the process's wall time less the start-up it
# reports, "started in X s": the budget does not count the start-up), their
# ratio, the planned steps and epochs, the re-plans and the top-1.
#
# usage: bench/bench_budget.sh [--alexnet build/alexnet] [--data data/fashion-mnist] [--budgets "2m 5m 15m"]
#        [--out /tmp/bench-budget]
set -euo pipefail
BIN=build/alexnet
DATA=data/fashion-mnist
BUDGETS="2m 5m 15m"
OUT=/tmp/bench-budget
while [ $# -gt 0 ]; do
  case $1 in
    --alexnet) BIN=$2; shift ;;
    --data) DATA=$2; shift ;;
    --budgets) BUDGETS=$2; shift ;;
    --out) OUT=$2; shift ;;
    *) echo "usage: $0 [--alexnet BIN] [--data DIR] [--budgets \"2m 5m\"] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
[ -d "$DATA/train" ] || "$BIN" prepare fashion-mnist --out "$DATA"
mkdir -p "$OUT"
seconds() { local m=${1%m}; [ "$m" != "$1" ] && echo $((m * 60)) || echo "${1%s}"; }

printf '%-7s %-9s %9s %9s %7s %7s %8s %8s\n' budget load seconds used/bdgt steps epochs replans top1
for b in $BUDGETS; do
  for load in none half; do
    run=$OUT/run-$b-$load
    rm -rf "$run"
    burner=
    if [ "$load" = half ]; then # one core busy from half the budget on, until the run ends
      ( sleep $(( $(seconds "$b") / 2 )); exec timeout $(( $(seconds "$b") )) sh -c 'while :; do :; done' ) &
      burner=$!
    fi
    t0=$(date +%s.%N)
    "$BIN" train --data_dir "$DATA/train" --val_dir "$DATA/val" --out "$run" --time_budget "$b" \
      --image_size 96 --per_batch_size 128 --lr 0.02 --warmup_epochs 0.2 --eta_min 0.002 --min_crop_scale 0.7 \
      --color_jitter 0 --val_resize_size 104 --log_interval 50 > "$run.log" 2>&1 || { echo "failed: see $run.log"; exit 1; }
    t1=$(date +%s.%N)
    [ -n "$burner" ] && { kill "$burner" 2>/dev/null || true; pkill -f 'while :; do :; done' 2>/dev/null || true; }
    /usr/bin/python3 - "$run" "$b" "$load" "$(seconds "$b")" "$t0" "$t1" <<'PY'
import json, re, sys
run, b, load, budget = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
wall = float(sys.argv[6]) - float(sys.argv[5])
startup = float(re.search(r"started in ([0-9.]+) s", open(run + ".log").read()).group(1))
took = wall - startup
recs = [json.loads(l) for l in open(run + "/metrics.jsonl")]
last = [r for r in recs if r["type"] == "epoch"][-1]
plan = json.load(open(run + "/config.json"))["plan"]
print(f"{b:<7} {load:<9} {took:9.1f} {took / budget:9.3f} {plan['steps']:7d} {plan['epochs']:7.2f} "
      f"{plan['replans']:8d} {100 * last['top1']:7.2f}%")
PY
  done
done
