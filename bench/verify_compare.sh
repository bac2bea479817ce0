#!/usr/bin/env bash
# Bulk verification throughput of two builds on the same files, each
# importing the register with its own default model, then verifying the
# list RUNS times (compare medians; the machine is noisy).
#   bench/verify_compare.sh BIN_DIR_A BIN_DIR_B WORKDIR [RUNS]
# WORKDIR must hold register.csv and list.csv (e.g. service_bench.sh's).
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1 b=$2 work=$3 runs=${4:-3}
source scripts/lib.sh
for bin in "$a" "$b"; do
  data=$(mktemp -d)/data
  start_linkd "$data"
  "$bin/linkctl" --server "$server" import --dataset register "$work/register.csv"
  while "$bin/linkctl" --server "$server" stats | grep -q loading; do sleep 0.5; done
  echo "== $bin"
  for _ in $(seq 1 "$runs"); do
    "$bin/linkctl" --server "$server" verify --against register --input "$work/list.csv" \
      --output "$data.verified.csv"
  done
  stop_linkd
done
