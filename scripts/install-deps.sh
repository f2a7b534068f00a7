#!/usr/bin/env bash
# Installs the Debian packages alexnet.c needs, for Debian 12 (bookworm) and
# Debian 13 (trixie); does nothing when they are all present. Uses sudo when
# not root. This file is the one list of what the project needs from the
# system: the fresh-machine check (scripts/check-fresh-machine.sh) builds its
# bare root filesystem from `--list`, so a package missing here fails CI.
#
# usage: scripts/install-deps.sh [--list] [--release CODENAME] [MODE]
#   MODE   build  compiler, CMake, libjpeg-turbo, libpng, cJSON, oneDNN, Open MPI,
#                 protobuf-c + ONNX's schema (export)
#          run    build + Debian's Fashion-MNIST (make run's dataset)
#          test   run + Python with PyTorch, torchvision, PIL, NumPy, ONNX's checker,
#                 venv (onnxruntime comes from PyPI into a virtualenv), and iproute2,
#                 Slurm and munge for the network-namespace cluster (tests only)
#          fuzz   test + clang with libFuzzer and OpenMP (make fuzz)
#          check  mmdebstrap (the fresh-machine check of .ci/run)
#   --list             print the packages of MODE, one a line, install nothing
#   --release NAME     the Debian release to list for (default: this machine's)
set -euo pipefail

list_only=0
release=""
mode=test
while [ $# -gt 0 ]; do
  case "$1" in
    --list) list_only=1 ;;
    --release) release=${2:?--release needs a codename (bookworm or trixie)}; shift ;;
    build|run|test|fuzz|check) mode=$1 ;;
    *) echo "usage: $0 [--list] [--release bookworm|trixie] [build|run|test|fuzz|check]" >&2; exit 2 ;;
  esac
  shift
done

if [ -z "$release" ]; then
  release=$( (. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || true)
fi

# --- the lists. Every name exists in both releases under the same name
# (trixie checked 2026-12-01: `mmdebstrap --variant=minbase --include=<the
# test list> trixie ROOT`, and `apt-cache policy` there for fuzz and check),
# so one list serves both; a name that ever differs goes into the case on
# $release below. What differs is what the names bring:
#   package               Debian 12 bookworm     Debian 13 trixie
#   gcc, cmake            12.2, 3.25             14.2, 3.31
#   libdnnl-dev           2.6.3 (libdnnl2)       3.7.2 (libdnnl3.6): the 3.x C API,
#                                                handled in src/backend/dnnl/dnnl_compat.c
#   libopenmpi-dev        4.1.4                  5.0.7
#   libjpeg62-turbo-dev   2.1.5                  2.1.5
#   libpng-dev, libcjson-dev  1.6.39, 1.7.15     1.6.48, 1.7.18
#   python3               3.11                   3.13
#   python3-torch, -torchvision  1.13.1, 0.14.1  2.6.0, 0.21.0
#   python3-numpy, -pil   1.24, 9.4              2.2, 11.1
#   clang (fuzz)          14                     19
#   libprotobuf-c-dev, protobuf-c-compiler  1.4.1  1.5.1 (trixie names checked 2026-12-01
#                                                with apt-cache policy against trixie's index)
#   libonnx-dev, python3-onnx  1.12.0            1.17.0 (onnx/onnx.proto in both)
build=(make build-essential cmake pkg-config zlib1g-dev
       libjpeg62-turbo-dev libpng-dev libcjson-dev   # images and JSON (required)
       libdnnl-dev                                    # fast CPU backend (optional part)
       libopenmpi-dev openmpi-bin                     # multi-process training (optional part)
       libprotobuf-c-dev protobuf-c-compiler libonnx-dev)  # ONNX export (optional part)
run=(dataset-fashion-mnist)
test=(python3 python3-torch python3-torchvision python3-pil python3-numpy procps strace  # strace: mpi_scan
      python3-onnx python3-venv                      # onnx.checker; a virtualenv for onnxruntime
      iproute2 slurmd slurmctld slurm-client munge)  # the two-node cluster tests (tests/dist/cluster_test.py): ~25 MB
fuzz=(clang libclang-rt-dev libomp-dev)                # libFuzzer, ASan/UBSan runtimes, OpenMP for clang
check=(mmdebstrap iproute2 util-linux)
case "$release" in
  bookworm|trixie) ;;
  *)
    echo "install-deps: this is not Debian 12 (bookworm) or 13 (trixie) but '${release:-unknown}';" \
         "trying Debian 13's package names" >&2
    release=trixie ;;
esac

case "$mode" in
  build) pkgs=("${build[@]}") ;;
  run) pkgs=("${build[@]}" "${run[@]}") ;;
  test) pkgs=("${build[@]}" "${run[@]}" "${test[@]}") ;;
  fuzz) pkgs=("${build[@]}" "${run[@]}" "${test[@]}" "${fuzz[@]}") ;;
  check) pkgs=("${check[@]}") ;;
esac

if [ $list_only -eq 1 ]; then
  printf '%s\n' "${pkgs[@]}"
  exit 0
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi
apt=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o Dpkg::Use-Pty=0)
echo "install-deps ($mode, Debian $release): ${#missing[@]} package(s) missing: ${missing[*]}"
echo "install-deps: apt-get update ..."
"${apt[@]}" update -qq
# What apt will fetch, with dependencies, so nobody stares at a silent screen.
bytes=$("${apt[@]}" install --print-uris -qq --no-install-recommends "${missing[@]}" 2>/dev/null \
        | awk '{s += $3} END {print s + 0}')
mb=$(( bytes / 1000000 ))
echo "install-deps: downloading ${mb} MB and installing; typically $(( mb / 300 + 1 ))-$(( mb / 100 + 2 )) minutes" \
     "(the test set brings PyTorch, about 1 GB once unpacked) ..."
start=$(date +%s)
"${apt[@]}" install -y -q --no-install-recommends "${missing[@]}" \
  | grep --line-buffered -E '^(Need to get|After this operation|Setting up (python3-torch|libdnnl|libopenmpi|cmake|gcc-|clang))' || true
still=()
for p in "${missing[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || still+=("$p")
done
if [ ${#still[@]} -ne 0 ]; then
  echo "install-deps: apt-get did not install: ${still[*]} (see the messages above)" >&2
  exit 1
fi
echo "install-deps: done in $(( $(date +%s) - start )) s"
