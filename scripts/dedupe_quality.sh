#!/usr/bin/env bash
# Duplicate detection on generated data with planted duplicates, as in
# docs/QUALITY.md: a register of SIZE people (province PROVINCE), two lists
# of LIST records from it (list seeds 2 and 7) in which DUP of the people are
# listed twice, each copy with its own errors. The model is trained (EM, no
# labels) on the register and list A, as in production; then
#   1. duplicates within list A, at several link thresholds;
#   2. people on both lists (A against B);
#   3. both again with every record resolved against the register first.
# Expects a built tree.   scripts/dedupe_quality.sh [SIZE] [LIST] [DUP] [PROVINCE] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-200000}
list=${2:-20000}
dup=${3:-0.05}
province=${4-19}
work=${5:-$(mktemp -d)}
bin=build/src
mkdir -p "$work"
rm -rf "$work/data"
gen=("$bin/linkctl" gen --size "$size" --province "$province" --list-size "$list" --error "duplicate=$dup")
"${gen[@]}" --register "$work/register.csv" --list "$work/a.csv" --truth "$work/a-truth.csv" --list-seed 2
"${gen[@]}" --list "$work/b.csv" --truth "$work/b-truth.csv" --list-seed 7

source scripts/lib.sh
start_linkd "$work/data"
ctl=("$bin/linkctl" --server "$server")
"${ctl[@]}" import --dataset register "$work/register.csv" > /dev/null
"${ctl[@]}" import --dataset list-a "$work/a.csv" > /dev/null
"${ctl[@]}" import --dataset list-b "$work/b.csv" > /dev/null
"${ctl[@]}" train --dataset register --link list-a | head -1

echo "== duplicates within list A"
for t in 0.3 0.5 0.7 0.9 0.99; do
  "${ctl[@]}" dedupe --dataset list-a --threshold $t --output "$work/clusters-$t.csv" > "$work/dedupe-$t.txt"
  echo "threshold $t: $("${ctl[@]}" eval --mode dedup --results "$work/clusters-$t.csv" --truth "$work/a-truth.csv" |
    tail -2 | tr -s ' \n' ' ')"
done
echo "-- default threshold (the model's review probability):"
time "${ctl[@]}" dedupe --dataset list-a --output "$work/clusters.csv"
"${ctl[@]}" eval --mode dedup --results "$work/clusters.csv" --truth "$work/a-truth.csv"

echo "== people on both lists (A against B)"
"${ctl[@]}" dedupe --dataset list-a --against list-b --output "$work/cross.csv"
"${ctl[@]}" eval --mode dedup --results "$work/cross.csv" --truth "$work/a-truth.csv" \
  --other-truth "$work/b-truth.csv" --other-dataset list-b

echo "== the same, each record resolved against the register first (--register)"
"${ctl[@]}" dedupe --dataset list-a --register register --output "$work/clusters-reg.csv"
"${ctl[@]}" eval --mode dedup --results "$work/clusters-reg.csv" --truth "$work/a-truth.csv"
"${ctl[@]}" dedupe --dataset list-a --against list-b --register register --output "$work/cross-reg.csv"
"${ctl[@]}" eval --mode dedup --results "$work/cross-reg.csv" --truth "$work/a-truth.csv" \
  --other-truth "$work/b-truth.csv" --other-dataset list-b

stop_linkd
echo "work files: $work"
