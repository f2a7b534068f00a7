#!/usr/bin/env bash
# bench/gpu.sh — the one run on a GPU machine (H100/H200): build the cuda
# backend there, run the GPU tests, then benchmark ours against PyTorch on the
# same card, side by side. Every stage continues after a failure of the one
# before where it can; everything is tee'd to $OUT/gpu_log.txt and the
# summary table comes last.
#
# usage (from the repository root):   OUT=/some/dir bash bench/gpu.sh
# needs: nvcc + CMake (+ ninja), the CUDA libraries (cuDNN, cuBLAS, NCCL:
# system or the pip nvidia-* packages of python3), python3 with torch and
# torchvision. cJSON (and, if the system lacks them, libjpeg/libpng/zlib
# headers) come from Debian packages unpacked under .debs/ (see the end of
# docs/GPU.md for how that folder is made).
#
# Budget: about 6-7 minutes on an H100 (build ~1.5, tests ~2, ours ~0.5,
# PyTorch ~2.5 with torch.compile). Stages are skipped when the time used
# passes ALEXNET_GPU_BUDGET_S (default 470 s) so the summary still prints.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/runs/gpu}
mkdir -p "$OUT"
LOG=$OUT/gpu_log.txt
export PYTHONUNBUFFERED=1
T0=$(date +%s)
ORIG_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}   # PyTorch brings its own cuDNN: it runs with this
BUDGET=${ALEXNET_GPU_BUDGET_S:-470}
BUILD=$ROOT/build-gpu
elapsed() { echo $(($(date +%s) - T0)); }
stage() { echo; echo "=== [$(elapsed)s] $*"; }
left() { echo $((BUDGET - $(elapsed))); }
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }

main() {
stage "environment"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,utilization.gpu --format=csv 2>&1 || true
command -v nvcc && nvcc --version | tail -2
cmake --version | head -1
command -v ninja >/dev/null && echo "ninja $(ninja --version)"
PY=$(command -v python3)
echo "python3: $PY"
"$PY" -c "import torch, torchvision; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), 'torchvision', torchvision.__version__)" 2>&1 || true
echo "cpus $(nproc)"; free -g | head -2
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)

# --- where the CUDA libraries are: the toolkit, the system, or pip's nvidia-* packages ---
SITES=$("$PY" -c "import site; print(' '.join(site.getsitepackages()))" 2>/dev/null)
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)")")}
# find_pair HEADER LIBGLOB PIPNAME: prints "includedir libpath" of the first root holding both
find_pair() {
    local h=$1 lib=$2 pip=$3 roots=("$CUDA_HOME" /usr/local/cuda /usr /usr/local)
    for s in $SITES; do roots+=("$s/nvidia/$pip"); done
    for r in "${roots[@]}"; do
        for inc in "$r/include" "$r/include/x86_64-linux-gnu"; do
            [ -f "$inc/$h" ] || continue
            for ld in "$r/lib64" "$r/lib" "$r/lib/x86_64-linux-gnu" "$r/targets/x86_64-linux/lib"; do
                local f
                f=$(ls "$ld"/$lib 2>/dev/null | head -1)
                [ -n "$f" ] && { echo "$inc $f"; return 0; }
            done
        done
    done
    return 1
}
CMAKE_ARGS=(-S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DALEXNET_WITH_CUDA=ON -DALEXNET_WITH_DNNL=OFF
            -DALEXNET_WITH_MPI=OFF -DALEXNET_CUDA_ARCHS=90 "-DALEXNET_PYTHON=$PY")
LIBDIRS=""
read -r CUDNN_INC CUDNN_LIB <<<"$(find_pair cudnn.h 'libcudnn.so*' cudnn)"
read -r NCCL_INC NCCL_LIB <<<"$(find_pair nccl.h 'libnccl.so*' nccl)"
read -r CUBLAS_INC CUBLAS_LIB <<<"$(find_pair cublas_v2.h 'libcublas.so*' cublas)"
echo "cuDNN:  ${CUDNN_INC:-not found} ${CUDNN_LIB:-}"
echo "NCCL:   ${NCCL_INC:-not found} ${NCCL_LIB:-}"
echo "cuBLAS: ${CUBLAS_INC:-not found} ${CUBLAS_LIB:-}"
[ -n "${CUDNN_LIB:-}" ] && { CMAKE_ARGS+=("-DCUDNN_INCLUDE_DIR=$CUDNN_INC" "-DCUDNN_LIBRARY=$CUDNN_LIB"); LIBDIRS="$LIBDIRS:$(dirname "$CUDNN_LIB")"; }
[ -n "${NCCL_LIB:-}" ] && { CMAKE_ARGS+=("-DNCCL_INCLUDE_DIR=$NCCL_INC" "-DNCCL_LIBRARY=$NCCL_LIB"); LIBDIRS="$LIBDIRS:$(dirname "$NCCL_LIB")"; }
[ -n "${CUBLAS_LIB:-}" ] && { CMAKE_ARGS+=("-DCUBLAS_INCLUDE_DIR=$CUBLAS_INC" "-DCUBLAS_LIBRARY=$CUBLAS_LIB"); LIBDIRS="$LIBDIRS:$(dirname "$CUBLAS_LIB")"; }

# --- cJSON (and libjpeg/libpng/zlib if the system lacks them) from .debs ---
PREFIX="$ROOT/.debs/root/usr"
LIBDIRS="$LIBDIRS:$ROOT/.debs/root/usr/lib/x86_64-linux-gnu"
if [ ! -f /usr/include/jpeglib.h ] || [ ! -f /usr/include/png.h ] || [ ! -f /usr/include/zlib.h ]; then
    echo "system lacks libjpeg/libpng/zlib headers: using .debs/extra"
    PREFIX="$PREFIX;$ROOT/.debs/extra/root/usr"
    export CFLAGS="${CFLAGS:-} -I$ROOT/.debs/extra/root/usr/include/x86_64-linux-gnu"
    LIBDIRS="$LIBDIRS:$ROOT/.debs/extra/root/usr/lib/x86_64-linux-gnu"
fi
[ -f "$ROOT/.debs/root/usr/include/cjson/cJSON.h" ] || echo "WARNING: .debs/root has no cJSON; configure fails unless the system has libcjson-dev"
CMAKE_ARGS+=("-DCMAKE_PREFIX_PATH=$PREFIX")
command -v ninja >/dev/null && CMAKE_ARGS+=(-G Ninja)
export LD_LIBRARY_PATH="${LIBDIRS#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

stage "configure"
BUILD_OK=0
if cmake "${CMAKE_ARGS[@]}" >"$OUT/build.txt" 2>&1; then
    grep "alexnet:" "$OUT/build.txt"
    stage "build (-j16)"
    if cmake --build "$BUILD" -j16 >>"$OUT/build.txt" 2>&1; then
        BUILD_OK=1
        echo "build ok"
    else
        echo "BUILD FAILED; the errors:"
        grep -B2 -A6 -i "error" "$OUT/build.txt" | head -80
        # keep whatever targets do build, so the rest can still run
        if command -v ninja >/dev/null; then KEEP=(-- -k 0); else KEEP=(-- -k); fi
        cmake --build "$BUILD" -j16 "${KEEP[@]}" >>"$OUT/build.txt" 2>&1 || true
    fi
else
    echo "CONFIGURE FAILED:"; tail -40 "$OUT/build.txt"
fi
[ -x "$BUILD/alexnet" ] && "$BUILD/alexnet" info 2>&1 | head -12
note "card: ${GPU_NAME:-unknown}   build: $([ $BUILD_OK = 1 ] && echo ok || echo FAILED)"

stage "tests: ctest -R 'cuda|golden'"
if [ -n "${GPU_SKIP_TESTS:-}" ]; then
    echo "skipped (GPU_SKIP_TESTS)"
elif [ -d "$BUILD/tests" ]; then
    (cd "$BUILD" && timeout 400 ctest -R 'cuda|golden' --output-on-failure --timeout 380) >"$OUT/ctest.txt" 2>&1
    CT=$?
    cat "$OUT/ctest.txt"
    note "ctest (cuda|golden): $(grep -E 'tests passed|tests failed' "$OUT/ctest.txt" | tail -1) (exit $CT)"
    grep -E "^\s+[0-9]+ - " "$OUT/ctest.txt" | sed 's/^/    /' | tee -a "$SUMMARY" >/dev/null
    if [ "$CT" != 0 ] && [ "$(left)" -gt 200 ] && [ -x "$BUILD/tests/test_backend_ops" ]; then
        stage "diagnosis: the cuda op test without CUDA graphs, verbose"
        (cd "$BUILD/tests" && ALEXNET_CUDA_GRAPH=0 ALEXNET_CUDA_VERBOSE=1 timeout 150 ./test_backend_ops cuda) 2>&1 | tail -60
    fi
fi

stage "benchmark: ours (bench/gpu_bench.c: pipelined steps, host batches uploaded every step)"
BENCH=$BUILD/tests/gpu_bench
if [ -x "$BENCH" ]; then
    for prec in bf16 fp32; do
        [ "$(left)" -lt 120 ] && { echo "skipping $prec: out of time"; continue; }
        ALEXNET_CUDA_VERBOSE=1 timeout 150 "$BENCH" --precision "$prec" --batch 256 --image_size 224 --classes 1000 \
            --steps 30 --profile 1 2>&1 | tee "$OUT/bench_$prec.txt"
    done
    if [ "$(left)" -gt 200 ]; then
        for pad in 3 8; do
            echo "--- bf16 with the first conv's input stored with $pad channels (default 4)"
            ALEXNET_CUDA_CPAD=$pad timeout 90 "$BENCH" --precision bf16 --steps 20 --profile 0 2>&1 | grep -E "train|infer|RESULT"
        done
    fi
    if [ -x "$BUILD/alexnet" ] && "$BUILD/alexnet" bench --help >/dev/null 2>&1 && [ "$(left)" -gt 180 ]; then
        echo "--- alexnet bench (src/cli/cmd_bench.c, fp32: each step closed by a read-back, so the upload does not overlap)"
        timeout 120 "$BUILD/alexnet" bench --backend cuda --image_size 224 --per_batch_size 256 --num_classes 1000 \
            --steps 20 --warmup 3 2>&1 | tail -40
    fi
else
    echo "gpu_bench was not built"
fi

stage "end to end: alexnet train from 500x375 JPEG files (the seed's augmentations, bf16, batch 256)"
if [ -x "$BUILD/alexnet" ] && [ "$(left)" -gt 150 ] && [ -z "${GPU_SKIP_E2E:-}" ]; then
    E2E=/tmp/alexnet-e2e
    rm -rf "$E2E"
    timeout 60 "$BUILD/alexnet" prepare synthetic --out "$E2E/data" --num_classes 10 --per_class 800 --size 500x375 | tail -1
    W=$(nproc)
    echo "--- input pipeline alone (bench-data, $W workers, u8 and float outputs)"
    timeout 40 "$BUILD/alexnet" bench-data --data_dir "$E2E/data" --workers "$W" --image_size 224 --per_batch_size 256 --batches 40 --json 2>&1 | tail -1
    echo "--- training (GPU + the loader together)"
    timeout 120 "$BUILD/alexnet" train --data_dir "$E2E/data" --device gpu --per_batch_size 256 --workers "$W" \
        --max_epoch 4 --warmup_epochs 0 --lr 0.01 --out "$E2E/run" --log_interval 5 2>&1 | grep -v "^epoch .* step" | tail -12
    "$PY" - "$E2E/run/metrics.jsonl" "$SUMMARY" <<'PYEOF' || true
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ep = [r for r in recs if r["type"] == "epoch"][1:]  # the first epoch includes cuDNN autotuning and graph capture
line = "end-to-end training from JPEG (8000 x 500x375, bf16, batch 256): " + (
    " ".join(f"{r['img_s']:.0f}" for r in ep) + " img/s per epoch after the first" if ep else "no epoch finished")
print(line)
open(sys.argv[2], "a").write(line + "\n")
PYEOF
else
    echo "skipped"
fi

stage "benchmark: PyTorch on the same card (bench/gpu_torch.py)"
TORCH_LEFT=$(left)
if [ "${GPU_TORCH_VARIANTS:-}" = none ]; then
    echo "skipped (GPU_TORCH_VARIANTS=none)"
elif [ "$TORCH_LEFT" -gt 60 ]; then
    VARIANTS=${GPU_TORCH_VARIANTS:-fp32,bf16_cl,compile_bf16_cl}
    [ "$TORCH_LEFT" -lt 150 ] && VARIANTS="fp32,bf16_cl"
    LD_LIBRARY_PATH="$ORIG_LD_LIBRARY_PATH" timeout "$TORCH_LEFT" "$PY" "$ROOT/bench/gpu_torch.py" --batch 256 --steps 30 --variants "$VARIANTS" 2>&1 |
        grep -v "^W[0-9]\|UserWarning" | tee "$OUT/bench_torch.txt"
else
    echo "skipped: out of time"
fi

stage "summary"
"$PY" - "$OUT" "$SUMMARY" <<'EOF' || true
import os, re, sys
out, summary = sys.argv[1], sys.argv[2]
def results(path):
    r = []
    if os.path.exists(path):
        for line in open(path):
            if line.startswith("RESULT "):
                r.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
    return r
ours = {d["precision"]: d for d in results(f"{out}/bench_bf16.txt") + results(f"{out}/bench_fp32.txt")}
torch = {d["name"]: d for d in results(f"{out}/bench_torch.txt")}
lines = ["", "throughput at batch 256, 224 px, 1000 classes (img/s; ours uploads a host batch every step, PyTorch's input stays on the GPU)",
         f"{'':34s} {'train':>9s} {'infer':>9s}"]
for p in ("bf16", "fp32"):
    if p in ours:
        d = ours[p]
        lines.append(f"{'ours ' + p:34s} {float(d['train_img_s']):9.0f} {float(d['infer_img_s']):9.0f}   "
                     f"(GPU layers {float(d['gpu_train_ms']):.2f} ms/step, wall {float(d['wall_train_ms']):.2f} ms/step)")
for n in ("fp32", "bf16_cl", "compile_bf16_cl"):
    if n in torch:
        lines.append(f"{'torch ' + n:34s} {float(torch[n]['train_img_s']):9.0f} {float(torch[n]['infer_img_s']):9.0f}")
lines.append("ratios (ours / torch):")
for a, b in (("bf16", "compile_bf16_cl"), ("bf16", "bf16_cl"), ("fp32", "fp32")):
    if a in ours and b in torch:
        tr = float(ours[a]["train_img_s"]) / float(torch[b]["train_img_s"])
        inf = float(ours[a]["infer_img_s"]) / float(torch[b]["infer_img_s"])
        lines.append(f"  ours {a:5s} vs torch {b:16s} train {tr:5.2f}x   infer {inf:5.2f}x")
with open(summary, "a") as f:
    f.write("\n".join(lines) + "\n")
EOF
echo
cat "$SUMMARY"
echo "total $(elapsed)s; logs in $OUT: $(ls "$OUT" | tr '\n' ' ')"
}

main 2>&1 | tee "$LOG"
