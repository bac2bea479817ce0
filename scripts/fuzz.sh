#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) in build-fuzz and runs
# each for SECONDS_PER_TARGET (default 6: about a minute for all ten) from its
# seed corpus, with its dictionary if it has one. Exits non-zero if any
# target finds a crash, leak, timeout or runs out of memory; the input is
# left in build-fuzz/artifacts/. Part of scripts/test.sh (CI).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#   FUZZ_TARGETS="dates csv" scripts/fuzz.sh 60     # some targets only
#   FUZZ_BUILD_DIR=/tmp/bf scripts/fuzz.sh           # another build tree
#
# New inputs a run finds are kept in a scratch directory and thrown away;
# the seed corpora (tests/fuzz/corpus/) change only through
# tests/fuzz/make_corpus.py.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-6}
build=${FUZZ_BUILD_DIR:-build-fuzz}
targets=(${FUZZ_TARGETS:-csv person_csv person_json dates national_id names legacy address model_text request})

launcher=()
if command -v ccache > /dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
# -O1 with line tables only: what sanitizer reports need (file:line in each
# frame), and less compile time than -O2 -g (CI's 30-minute budget).
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only -DNDEBUG" \
  -DLINKD_BUILD_FUZZ=ON -DLINKD_BUILD_TESTS=OFF -DLINKD_BUILD_BENCH=OFF "${launcher[@]}" > /dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/%/_fuzz}"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/linkd-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
artifacts=$build/artifacts
mkdir -p "$artifacts"
if command -v llvm-symbolizer > /dev/null; then
  export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer)}
fi
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

# libFuzzer stops in the first whole second past -max_total_time (it runs
# N+1 s for N), so N-1 gives each target about the time asked for.
limit=$((seconds > 1 ? seconds - 1 : 1))

failed=()
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t/corpus"
  args=(-max_total_time="$limit" -timeout=1 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$artifacts/$t-")
  if [[ -f tests/fuzz/$t.dict ]]; then args+=(-dict="tests/fuzz/$t.dict"); fi
  # TMPDIR: request_fuzz's store; removed with the scratch directory even
  # when the target dies.
  if TMPDIR=$scratch "$build/tests/fuzz/${t}_fuzz" "${args[@]}" "$scratch/$t/corpus" \
    "tests/fuzz/corpus/$t" > "$scratch/$t.log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$scratch/$t.log" | grep -o '[0-9]*$' || true)
    echo "fuzz: $t ok, ${runs:-?} executions in ${seconds}s"
  else
    echo "fuzz: $t FAILED; last lines of its log:" >&2
    grep -v '^#[0-9]' "$scratch/$t.log" | tail -40 >&2
    failed+=("$t")
  fi
done

if ((${#failed[@]} > 0)); then
  echo "fuzz: failed: ${failed[*]} (inputs in $artifacts/)" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ok"
