#!/usr/bin/env bash
# The main job behind `make run`: prepare Fashion-MNIST (Debian's
# dataset-fashion-mnist) as JPEG folders, train the default backbone with the
# seed's recipe scaled to a laptop CPU, evaluate on the test set, print results.
#
# usage: scripts/run-fashion-mnist.sh ALEXNET DATA_DIR RUN_DIR
# Re-running continues an unfinished run (e.g. after Ctrl-C) or, when the run
# is finished, evaluates it again. Set RUN_DIR elsewhere for a fresh run.
#
# The recipe, and what was changed from the seed's ImageNet run and why:
#   same:    SGD momentum 0.9, weight decay 1e-4 (weights only), label smoothing
#            0.1 (seed form), linear warmup then per-epoch cosine annealing to 0,
#            RandomResizedCrop + horizontal flip, dropout 0.35, Kaiming init.
#   changed: 64 px input instead of 224 (Fashion-MNIST is 28 px; 64 is about the
#            smallest size AlexNet's geometry takes, 12x cheaper per image);
#            EPOCHS epochs instead of 150 and warmup WARMUP epochs instead of 5
#            (the whole run has to fit in minutes); batch BATCH with lr LR (the
#            seed's 0.13 is for a global batch of 2048); RandomResizedCrop's
#            smallest area MIN_SCALE instead of 0.08 (a 28 px garment cropped to
#            8% leaves nothing to recognise); ColorJitter off (grayscale images:
#            saturation means nothing, and the short schedule has no epochs to
#            spare for brightness/contrast invariance).
set -euo pipefail
BIN=${1:?alexnet binary}
DATA=${2:?data dir}
RUN=${3:?run dir}
EPOCHS=${EPOCHS:-4}
WARMUP=${WARMUP:-0.3}
BATCH=${BATCH:-128}
LR=${LR:-0.04}
MIN_SCALE=${MIN_SCALE:-0.5}
SIZE=${SIZE:-64}

start=$(date +%s)
if [ ! -d "$DATA/train" ] || [ ! -d "$DATA/val" ]; then
  "$BIN" prepare fashion-mnist --out "$DATA"
fi

if [ -f "$RUN/train_state.safetensors" ]; then
  echo "== continuing the run in $RUN (delete it, or set RUN_DIR=..., for a fresh one)"
  "$BIN" train --resume "$RUN"
else
  "$BIN" train --data_dir "$DATA/train" --val_dir "$DATA/val" --out "$RUN" \
    --image_size "$SIZE" --per_batch_size "$BATCH" --lr "$LR" --warmup_epochs "$WARMUP" \
    --max_epoch "$EPOCHS" --T_max "$EPOCHS" --min_crop_scale "$MIN_SCALE" --color_jitter 0 \
    --lr_scheduler cosine_annealing --label_smooth 1 --weight_decay 0.0001 --log_interval 50
fi

echo
echo "== evaluating $RUN/last.safetensors on the Fashion-MNIST test set ($DATA/val)"
"$BIN" eval --data_dir "$DATA/val" --pretrained "$RUN/last.safetensors" --per_batch_size 250 --json | tee "$RUN/eval.txt"
end=$(date +%s)
echo
echo "make run: finished in $(( (end - start) / 60 ))m$(( (end - start) % 60 ))s (data preparation, training and evaluation)"
echo "  curves:  $RUN/curves.svg"
echo "  metrics: $RUN/metrics.jsonl"
echo "  model:   $RUN/last.safetensors (torchvision-compatible safetensors)"
