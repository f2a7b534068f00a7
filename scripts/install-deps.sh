#!/usr/bin/env bash
# Installs the Debian 12 packages alexnet.c needs; does nothing when they are
# all present. Uses sudo when not root.
# usage: scripts/install-deps.sh [build|run|test]
#   build  compiler, CMake, libjpeg-turbo, libpng, cJSON, oneDNN, Open MPI
#   run    build + Debian's Fashion-MNIST (make run's dataset)
#   test   run + Python with PyTorch, torchvision, PIL, NumPy (tests only)
set -euo pipefail
mode=${1:-test}

build=(build-essential cmake pkg-config zlib1g-dev
       libjpeg62-turbo-dev libpng-dev libcjson-dev   # images and JSON (required)
       libdnnl-dev                                    # fast CPU backend (optional part)
       libopenmpi-dev openmpi-bin)                    # multi-process training (optional part)
run=(dataset-fashion-mnist)
test=(python3 python3-torch python3-torchvision python3-pil python3-numpy procps)

case "$mode" in
  build) pkgs=("${build[@]}") ;;
  run) pkgs=("${build[@]}" "${run[@]}") ;;
  test) pkgs=("${build[@]}" "${run[@]}" "${test[@]}") ;;
  *) echo "usage: $0 [build|run|test]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
