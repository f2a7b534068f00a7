#!/usr/bin/env bash
# bench_scale.sh — see bench_scale.py (alexnet against torchvision on ImageNet-shaped trees of 10k-1.3M files).
exec /usr/bin/python3 "$(dirname "$0")/bench_scale.py" "$@"
