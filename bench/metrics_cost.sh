#!/usr/bin/env bash
# What --metrics-listen costs bulk verification: one database, linkd
# restarted on it with and without the metrics port (scraped every second,
# 15 times Prometheus' default rate, so the scrape cost shows), the list
# verified once per start, ROUNDS rounds with the order alternated. Reports
# records/s and linkd's CPU seconds per run (from /proc/PID/stat); compare
# the medians, the machine is noisy.
#   bench/metrics_cost.sh BIN_DIR WORKDIR [ROUNDS]
# WORKDIR must hold register.csv and list.csv (linkctl gen).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1 work=$2 rounds=${3:-7}
source scripts/lib.sh
data=$work/metrics-cost-db
rm -rf "$data"
start_linkd "$data"
"$bin/linkctl" --server "$server" import --dataset register "$work/register.csv" > /dev/null
while "$bin/linkctl" --server "$server" stats | grep -q loading; do sleep 0.5; done
stop_linkd
records=$(($(wc -l < "$work/list.csv") - 1))

cpu_seconds() { # utime + stime of a process, in seconds
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

run() { # run MODE: one start, one verification; prints "MODE rec/s cpu_s"
  local mode=$1 scraper=""
  if [[ $mode == metrics ]]; then
    start_linkd "$data" --metrics-listen 127.0.0.1:0
    local mport
    mport=$(grep -o '"metrics_port":[0-9]*' "$data.log" | head -1 | cut -d: -f2)
    (while sleep 1; do curl -sf "http://127.0.0.1:$mport/metrics" > /dev/null || true; done) &
    scraper=$!
  else
    start_linkd "$data"
  fi
  local cpu0 t0 t1 cpu1
  cpu0=$(cpu_seconds "$pid")
  t0=$(date +%s.%N)
  "$bin/linkctl" --server "$server" verify --against register --input "$work/list.csv" \
    --output "$work/verified.$mode.csv" > /dev/null
  t1=$(date +%s.%N)
  cpu1=$(cpu_seconds "$pid")
  [[ -n $scraper ]] && kill "$scraper" 2> /dev/null && wait "$scraper" 2> /dev/null || true
  stop_linkd
  awk -v m="$mode" -v n="$records" -v a="$t0" -v b="$t1" -v c0="$cpu0" -v c1="$cpu1" \
    'BEGIN { printf "%s %.0f %.2f\n", m, n / (b - a), c1 - c0 }'
}

results=$(mktemp)
for r in $(seq 1 "$rounds"); do
  if ((r % 2)); then order="plain metrics"; else order="metrics plain"; fi
  for mode in $order; do run "$mode" | tee -a "$results"; done
done
cmp -s "$work/verified.plain.csv" "$work/verified.metrics.csv" && echo "outputs identical"
for mode in plain metrics; do
  grep "^$mode " "$results" | sort -k2 -n | awk -v m="$mode" '{ r[NR] = $2 } END {
    printf "%s median %d rec/s over %d runs\n", m, r[int((NR + 1) / 2)], NR }'
  grep "^$mode " "$results" | sort -k3 -n | awk -v m="$mode" '{ c[NR] = $3 } END {
    printf "%s median %.2f CPU s per run\n", m, c[int((NR + 1) / 2)] }'
done
