#!/usr/bin/env bash
# The fresh-machine check: does a bare Debian machine holding only what
# scripts/install-deps.sh asks for build and run alexnet.c with the README's
# commands? A development machine keeps whatever was ever installed on it by
# hand, so a green test run there proves nothing about a new user's machine.
#
#   1. mmdebstrap --variant=minbase RELEASE: a minimal root filesystem plus
#      exactly `install-deps.sh --list --release RELEASE test` (the one list).
#   2. The repository's files (tracked and untracked-but-not-ignored) copied in.
#   3. Inside it, as root, in a chroot with no network (unshare --net) and
#      private mounts (scripts/in-root.sh): `make build` (the install step finds nothing missing),
#      a short real job (prepare synthetic, a one-epoch train, eval --json,
#      predict --json, prepare fashion-mnist --limit 100: make run's dataset),
#      then the README's `make test` on the quick subset
#      labelled "fresh" (one test per dependency of the suite), optimised and
#      under ASan+UBSan.
#
# usage: scripts/check-fresh-machine.sh [RELEASE...] [--drop PKG] [--keep]
#   RELEASE     bookworm (default) and/or trixie
#   --drop PKG  take PKG out of the list (in the root and in the copy of
#               install-deps.sh inside it): the check must then fail. This is
#               how the check itself is tested.
#   --keep      keep the root filesystem (printed) for a look afterwards
# Needs root (mmdebstrap's root mode, chroot) and the Debian registry.
set -euo pipefail
cd "$(dirname "$0")/.."

releases=()
drop=()
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    bookworm|trixie) releases+=("$1") ;;
    --drop) drop+=("${2:?--drop needs a package name}"); shift ;;
    --keep) keep=1 ;;
    *) echo "usage: $0 [bookworm|trixie ...] [--drop PKG] [--keep]" >&2; exit 2 ;;
  esac
  shift
done
[ ${#releases[@]} -gt 0 ] || releases=(bookworm)

if [ "$(id -u)" -ne 0 ]; then
  echo "check-fresh-machine: needs root (mmdebstrap root mode and chroot); run it with sudo" >&2
  exit 2
fi
scripts/install-deps.sh check

say() { printf '\n== fresh %s [%s] %s\n' "$release" "$(date +%H:%M:%S)" "$*"; }

# The job run inside the root, as a new user would type it.
read -r -d '' inside <<'EOF' || true
set -euo pipefail
export HOME=/root LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cd /alexnet
echo "-- make build"
make build JOBS=2
echo "-- prepare synthetic, a one-epoch train, eval --json, predict --json"
build/alexnet prepare synthetic --out /tmp/syn --num_classes 3 --per_class 12 --size 96x80
build/alexnet prepare synthetic --out /tmp/syn-val --num_classes 3 --per_class 4 --size 96x80 --seed 7
build/alexnet train --data_dir /tmp/syn --val_dir /tmp/syn-val --out /tmp/run --image_size 64 \
  --per_batch_size 8 --max_epoch 1 --warmup_epochs 0 --lr 0.01 --workers 2
test -s /tmp/run/last.safetensors
build/alexnet eval --data_dir /tmp/syn-val --pretrained /tmp/run/last.safetensors --json > /tmp/eval.json
cat /tmp/eval.json
python3 -c 'import json,sys; d=json.load(open("/tmp/eval.json")); assert d["images"] == 12, d'
first=$(find /tmp/syn-val -name '*.jpg' | sort | head -n 1)
build/alexnet predict --pretrained /tmp/run/last.safetensors --json "$first" > /tmp/predict.json
cat /tmp/predict.json
python3 -c 'import json; [json.loads(l) for l in open("/tmp/predict.json") if l.strip()]'
echo "-- prepare fashion-mnist --limit 100 (make run's dataset package)"
build/alexnet prepare fashion-mnist --out /tmp/fmnist --limit 100
test "$(find /tmp/fmnist -name '*.jpg' | wc -l)" -eq 200
echo "-- make test CTEST_ARGS='-L fresh'"
make test JOBS=2 CTEST_ARGS="-L fresh"
EOF

# One release's check: its root, the job inside, its cleanup. Run in a
# subshell of its own; exits with the job's status.
check_release() {
  release=$1
  mapfile -t pkgs < <(scripts/install-deps.sh --list --release "$release" test)
  for d in "${drop[@]}"; do
    kept=()
    for p in "${pkgs[@]}"; do [ "$p" = "$d" ] || kept+=("$p"); done
    [ ${#kept[@]} -lt ${#pkgs[@]} ] || { echo "check-fresh-machine: --drop $d: not in the $release list" >&2; exit 2; }
    pkgs=("${kept[@]}")
  done
  root=$(mktemp -d "/tmp/alexnet-fresh-$release.XXXXXX")
  cleanup() {
    if [ $keep -eq 0 ] && [ -n "${root:-}" ] && [ -d "$root" ]; then
      # The mounts lived in a private namespace that is gone; refuse to delete
      # through anything still mounted all the same.
      if findmnt -rn -o TARGET | grep -q "^$root"; then
        echo "check-fresh-machine: something is still mounted under $root; not deleting it" >&2
      else
        rm -rf "$root"
      fi
    fi
  }
  trap cleanup EXIT
  say "bare root: minbase + ${#pkgs[@]} packages from install-deps.sh (${drop[*]:+without ${drop[*]}})"
  echo "${pkgs[*]}"
  start=$(date +%s)
  mmdebstrap --quiet --variant=minbase --include="$(IFS=,; echo "${pkgs[*]}")" "$release" "$root"
  say "root ready in $(( $(date +%s) - start )) s ($(du -sh "$root" | cut -f1)); copying the repository"
  mkdir "$root/alexnet"
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"
  done | tar --null -T - -cf - | tar -xf - -C "$root/alexnet"
  # With --drop, the copy's list loses the package too, so the root is what a
  # list without it would give a user: the install step inside finds nothing
  # missing, and what breaks is the build, the job or a test.
  for d in "${drop[@]}"; do
    sed -i -E "s/([( ])${d//./\\.}([ )])/\\1\\2/" "$root/alexnet/scripts/install-deps.sh"
    if (cd "$root/alexnet" && scripts/install-deps.sh --list --release "$release" test | grep -qx -- "$d"); then
      echo "check-fresh-machine: could not take $d out of the copy's install-deps.sh" >&2; exit 2
    fi
  done
  say "building and running inside (chroot, no network)"
  set +e
  scripts/in-root.sh "$root" "$inside"
  rc=$?
  set -e
  if [ $rc -eq 0 ]; then
    say "PASSED in $(( $(date +%s) - start )) s"
  else
    say "FAILED (exit $rc) after $(( $(date +%s) - start )) s"
  fi
  [ $keep -eq 0 ] || echo "root kept: $root"
  cleanup
  trap - EXIT
  return $rc
}

status=0
if [ ${#releases[@]} -eq 1 ]; then
  set +e # (a `||` would turn off set -e inside the function too)
  ( set -e; check_release "${releases[0]}" )
  [ $? -eq 0 ] || status=1
  set -e
else
  # Side by side, each into a log printed whole when it ends (in the order
  # given): a root is mostly fetching and unpacking packages, so one
  # release's root builds while the other compiles and tests.
  pids=() logs=()
  trap 'kill "${pids[@]}" 2>/dev/null' INT TERM
  for release in "${releases[@]}"; do
    logs+=("$(mktemp "/tmp/alexnet-fresh-$release-log.XXXXXX")")
    ( check_release "$release" ) > "${logs[-1]}" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || status=1
    cat "${logs[$i]}"
    rm -f "${logs[$i]}"
  done
fi
exit $status
