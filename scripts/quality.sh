#!/usr/bin/env bash
# Quality on generated Vietnamese data with known truth, as in docs/QUALITY.md:
# a register of SIZE people, a training list (list seed 2) and a held-out
# list (list seed 3) drawn from the same population with independent errors.
#   1. the default model on the held-out list;
#   2. `linkctl train` (EM, no labels) on the training list, held-out again;
#   3. `linkctl calibrate` on the training list's results, held-out again.
# Each evaluation also asks linkd for every candidate of each held-out row:
# blocking recall, and in WORKDIR/eval-LABEL.txt recall of MATCH and of
# retrieval by applied error and by pair of errors.
# Expects a built tree.    scripts/quality.sh [SIZE] [PROVINCE] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-100000}
province=${2:-}
work=${3:-$(mktemp -d)}
bin=${LINKD_BIN_DIR:-build/src}  # Another build's binaries, e.g. to compare two commits.
mkdir -p "$work"
rm -rf "$work/data"
gen=("$bin/linkctl" gen --size "$size" --province "$province" --list-size 10000)
"${gen[@]}" --register "$work/register.csv" --list "$work/train.csv" --truth "$work/train-truth.csv" --list-seed 2
"${gen[@]}" --list "$work/held.csv" --truth "$work/held-truth.csv" --list-seed 3

source scripts/lib.sh
start_linkd "$work/data"
ctl=("$bin/linkctl" --server "$server")
"${ctl[@]}" import --dataset register "$work/register.csv"
"${ctl[@]}" import --dataset list-train "$work/train.csv" --lenient-dates

evaluate() {  # $1 = label
  "${ctl[@]}" verify --against register --input "$work/held.csv" --output "$work/held-$1.csv" > /dev/null
  echo "== $1: held-out list"
  "${ctl[@]}" eval --results "$work/held-$1.csv" --truth "$work/held-truth.csv" --svg "$work/held-$1.svg" \
    --input "$work/held.csv" \
    > "$work/eval-$1.txt"
  grep -v "^    " "$work/eval-$1.txt"
}
evaluate untrained
"${ctl[@]}" train --dataset register --link list-train > "$work/train.txt"
head -1 "$work/train.txt"
evaluate trained
"${ctl[@]}" verify --against register --input "$work/train.csv" --output "$work/train-trained.csv" > /dev/null
"${ctl[@]}" calibrate --results "$work/train-trained.csv" --truth "$work/train-truth.csv"
evaluate calibrated
"${ctl[@]}" model show > "$work/model.txt"
stop_linkd
echo "work files: $work"
