#!/usr/bin/env bash
# bench_cpu_bf16.sh — `alexnet bench` in bf16 and fp32 against torchvision's
# AlexNet under CPU autocast bf16, alternating, in one invocation; see
# bench_cpu_bf16.py for the options.
#   bench/bench_cpu_bf16.sh --alexnet build/alexnet [--venv ~/torch-venv] [--rounds 2]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec /usr/bin/python3 "$here/bench_cpu_bf16.py" "$@"
