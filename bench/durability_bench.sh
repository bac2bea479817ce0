#!/usr/bin/env bash
# The cost of durable acknowledgements: import rates with the write-ahead
# log synced before each answer (the default) and without (process crashes
# only), for 1,000-record batches, single records one at a time, and single
# records from 8 concurrent callers (where group commit shares one sync).
# Both modes run in one session, alternating, so the ratio is what counts
# on this noisy 2-core machine.
#
#   bench/durability_bench.sh [SIZE] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-100000}
work=${2:-$(mktemp -d)}
bin=build/src
mkdir -p "$work"
source scripts/lib.sh
"$bin/linkctl" gen --size "$size" --province "" --register "$work/register.csv" > /dev/null
head -2001 "$work/register.csv" > "$work/small.csv"

rate() {  # rate LABEL FILE linkctl-import-options...
  local label=$1 file=$2
  shift 2
  local rows t0 t1
  rows=$(($(wc -l < "$file") - 1))
  t0=$(date +%s.%N)
  "$bin/linkctl" --server "$server" import --dataset register "$@" "$file" > /dev/null
  t1=$(date +%s.%N)
  printf '%-44s %8.0f records/s\n' "$label" "$(echo "$rows / ($t1 - $t0)" | bc -l)"
}

for mode in --sync-writes --no-sync-writes --sync-writes --no-sync-writes; do
  rm -rf "$work/data"
  start_linkd "$work/data" "$mode"
  echo "== linkd $mode"
  rate "  $size records, batches of 1000, 4 in flight" "$work/register.csv" --batch 1000 --in-flight 4
  rm -rf "$work/data2"
  stop_linkd
  rm -rf "$work/data"
  start_linkd "$work/data" "$mode"
  rate "  2000 single records, 1 in flight" "$work/small.csv" --batch 1 --in-flight 1
  "$bin/linkctl" --server "$server" import --dataset other --batch 1000 "$work/small.csv" > /dev/null
  sed 's/^P/Q/' "$work/small.csv" > "$work/small2.csv"
  rate "  2000 single records, 8 in flight" "$work/small2.csv" --batch 1 --in-flight 8
  stop_linkd
done
