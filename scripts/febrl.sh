#!/usr/bin/env bash
# Runs linkd on the FEBRL benchmark sets with the FEBRL linkage spec
# (data/models/febrl.textproto) and prints precision, recall and F1:
#   FEBRL4: link dataset4b to dataset4a (5,000 true pairs)
#   FEBRL3: deduplicate dataset3 (6,538 true pairs), matching it against itself
# Expects a built tree (scripts/test.sh or scripts/demo.sh builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/src
work=${FEBRL_DIR:-$(mktemp -d)}
mkdir -p "$work"
maps=(--map record_id=rec_id --map "full_name=given_name surname" --map birth_date=date_of_birth)

source scripts/lib.sh

echo "== FEBRL4: dataset4b against dataset4a"
start_linkd "$work/febrl4" --model data/models/febrl.textproto
"$bin/linkctl" --server "$server" import --dataset febrl4a data/febrl/dataset4a.csv --lenient-dates "${maps[@]}" \
  --errors "$work/4a.errors.csv"
"$bin/linkctl" --server "$server" verify --against febrl4a --input data/febrl/dataset4b.csv --lenient-dates "${maps[@]}" \
  --output "$work/febrl4.csv"
"$bin/linkctl" --server "$server" eval --results "$work/febrl4.csv" --truth data/febrl/dataset4_true_pairs.csv

echo "== FEBRL4 after unsupervised training (EM on the blocked pairs; no labels)"
"$bin/linkctl" --server "$server" import --dataset febrl4b data/febrl/dataset4b.csv --lenient-dates "${maps[@]}" \
  --errors "$work/4b.errors.csv" > /dev/null
"$bin/linkctl" --server "$server" train --dataset febrl4a --link febrl4b > "$work/train.txt"
head -1 "$work/train.txt"
"$bin/linkctl" --server "$server" verify --against febrl4a --input data/febrl/dataset4b.csv --lenient-dates "${maps[@]}" \
  --output "$work/febrl4-trained.csv" > /dev/null
"$bin/linkctl" --server "$server" eval --results "$work/febrl4-trained.csv" --truth data/febrl/dataset4_true_pairs.csv
stop_linkd

echo "== FEBRL3: dataset3 against itself"
start_linkd "$work/febrl3" --model data/models/febrl.textproto
"$bin/linkctl" --server "$server" import --dataset febrl3 data/febrl/dataset3.csv --lenient-dates "${maps[@]}" \
  --errors "$work/3.errors.csv"
"$bin/linkctl" --server "$server" verify --against febrl3 --input data/febrl/dataset3.csv --lenient-dates --exclude-self \
  "${maps[@]}" --output "$work/febrl3.csv"
"$bin/linkctl" --server "$server" eval --mode dedup --results "$work/febrl3.csv" --truth data/febrl/dataset3_true_pairs.csv
stop_linkd
echo "work files: $work"
