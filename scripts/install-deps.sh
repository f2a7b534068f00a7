#!/usr/bin/env bash
# Installs the Debian 12 packages alexnet.c needs to build, test and run.
# Skips apt entirely when everything is already present; uses sudo when not root.
# Usage: scripts/install-deps.sh [--run]   (--run adds the Fashion-MNIST dataset)
set -euo pipefail

pkgs=(build-essential cmake pkg-config
      libjpeg62-turbo-dev libpng-dev libcjson-dev   # images and JSON (required)
      libdnnl-dev                                    # fast CPU backend (optional part)
      libopenmpi-dev openmpi-bin                     # multi-process training (optional part)
      python3-torch python3-torchvision python3-pil python3-numpy  # tests only
      dataset-fashion-mnist)                         # make run's dataset

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
