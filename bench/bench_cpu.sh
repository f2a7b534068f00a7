#!/usr/bin/env bash
# bench_cpu.sh — `alexnet bench` against torchvision's AlexNet on this CPU,
# alternating, in one invocation; see bench_cpu.py for the options.
#   bench/bench_cpu.sh --alexnet build/alexnet [--venv ~/torch-venv] [--rounds 3]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec /usr/bin/python3 "$here/bench_cpu.py" "$@"
