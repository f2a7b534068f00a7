#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build (make fuzz) for SECONDS each,
# one after the other, on a working corpus in BUILD/fuzz-corpus/<target>
# seeded from fuzz/corpus and fuzz/regressions. Inputs that crash, leak, hang
# (-timeout) or blow the memory limit (-rss_limit_mb) are saved under
# BUILD/fuzz-artifacts/<target>/ and fail the run; the executions of each
# target are printed at the end.
#
# usage: scripts/run-fuzz.sh BUILD SECONDS [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: run-fuzz.sh BUILD SECONDS [TARGET...]}
seconds=${2:?usage: run-fuzz.sh BUILD SECONDS [TARGET...]}
shift 2
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(safetensors state image idx args pack)

declare -A max_len=([safetensors]=16384 [state]=16384 [image]=65536 [idx]=4096 [args]=1024 [pack]=20000)
declare -A dict=([safetensors]=fuzz/safetensors.dict [state]=fuzz/safetensors.dict [args]=fuzz/args.dict)
failed=()
summary=()
for t in "${targets[@]}"; do
  exe=$build/fuzz/fuzz_$t
  [ -x "$exe" ] || { echo "run-fuzz: $exe is missing (build with make fuzz)" >&2; exit 2; }
  corpus=$build/fuzz-corpus/$t
  artifacts=$build/fuzz-artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  for seeds in fuzz/corpus/$t fuzz/regressions/$t; do
    [ -d "$seeds" ] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
  done
  opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len="${max_len[$t]}"
        -artifact_prefix="$artifacts/" -print_final_stats=1)
  [ -n "${dict[$t]:-}" ] && opts+=(-dict="${dict[$t]}")
  [ "$t" = args ] && opts+=(-close_fd_mask=2)  # the commands' error lines
  log=$build/fuzz-$t.log
  echo "run-fuzz: $t for ${seconds} s (log: $log)"
  set +e
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} "$exe" "${opts[@]}" "$corpus" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  summary+=("$t: ${execs:-?} executions, exit $rc")
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    echo "run-fuzz: $t FAILED (exit $rc); the end of its log:" >&2
    grep -E "ERROR|SUMMARY|runtime error|Test unit written|timeout|out-of-memory" "$log" | head -20 >&2 || tail -20 "$log" >&2
  fi
done
printf 'run-fuzz: %s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
  echo "run-fuzz: findings in: ${failed[*]} (inputs under $build/fuzz-artifacts/; add each to fuzz/regressions/<target>/ with its fix)" >&2
  exit 1
fi
