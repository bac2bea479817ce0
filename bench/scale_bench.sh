#!/usr/bin/env bash
# One row of the growth table (docs/BENCHMARKS.md): a register of SIZE
# people (whole country) and a list of 100,000 (or SIZE/10 if smaller),
# measured end to end through linkctl and linkd on this machine:
#
#   import rate (linkctl import; and linkctl import --bulk into an empty
#   database when BULK=1), disk size, RSS serving, match view bytes per
#   person, time to SERVING and to the view being ready after a restart,
#   bulk verify rate, Match and Verify p50/p99 at 1,000 req/s, candidates
#   per query and the share of queries that hit the candidate cap.
#
#   bench/scale_bench.sh SIZE [WORKDIR]     (BULK=1: the bulk path; CHECK=1: check after)
#
# Prints "row:" lines at the end, one per figure. The load generator and
# linkctl share the two cores with linkd. A 10M run needs ~20 GB of disk.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:?size}
work=${2:-$(mktemp -d)}
bin=${LINKD_BIN_DIR:-build/src}
loadgen=build/bench/linkd_loadgen
list_size=$((size / 10 < 100000 ? size / 10 : 100000))
mkdir -p "$work"
rm -rf "$work/data" "$work/data.log"
source scripts/lib.sh
export LINKD_WAIT=900  # A first start on 10M builds the view from RocksDB for minutes.
declare -A row

now() { date +%s.%N; }
since() { echo "scale=1; ($(now) - $1) / 1" | bc; }
rss() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$pid/status"; }
metric() { curl -s "http://127.0.0.1:$metrics_port/metrics" | awk -v m="$1" '$1 == m {s += $2} END {print s + 0}'; }
start() {
  start_linkd "$work/data" --metrics-listen 127.0.0.1:0
  metrics_port=$(grep -o '"metrics_port":[0-9]*' "$work/data.log" | head -1 | cut -d: -f2)
}

if [[ ! -s $work/register.csv ]]; then
  echo "== generating $size people, a list of $list_size"
  "$bin/linkctl" gen --size "$size" --province "" --register "$work/register.csv" \
    --list "$work/list.csv" --truth "$work/truth.csv" --list-size "$list_size"
fi
rows=$(($(wc -l < "$work/register.csv") - 1))

if [[ ${BULK:-0} == 1 ]]; then
  echo "== bulk import into an empty database"
  t0=$(now)
  "$bin/linkctl" import --bulk --db "$work/data" --dataset register "$work/register.csv"
  row[bulk_import_rate]=$(echo "$rows / $(since "$t0")" | bc)
  t0=$(now)
  start  # The view is built from RocksDB (no saved file yet).
  row[serving_first_start_s]=$(since "$t0")
else
  start
  echo "== import"
  t0=$(now)
  "$bin/linkctl" --server "$server" import --dataset register "$work/register.csv"
  row[import_rate]=$(echo "$rows / $(since "$t0")" | bc)
fi
# A full check reads every entry (minutes at 1M): on request.
[[ ${CHECK:-0} == 1 ]] && "$bin/linkctl" --server "$server" check | tail -1
row[disk]=$(du -sh "$work/data" | cut -f1)

echo "== restart"
stop_linkd
t0=$(now)
start
row[serving_after_restart_s]=$(since "$t0")
while "$bin/linkctl" --server "$server" stats | grep -q loading; do sleep 0.2; done
row[view_ready_after_restart_s]=$(since "$t0")
"$bin/linkctl" --server "$server" stats | sed -n '/match views/,/^$/p'
row[view_bytes_per_person]=$("$bin/linkctl" --server "$server" stats | awk '/match views/ {getline; for (i = 1; i < NF; ++i) if ($(i + 1) == "B") print $i}')
row[rss_view_loaded_mib]=$(rss)

echo "== bulk verify of $list_size list records (twice: the second is the figure)"
for run in 1 2; do
  t0=$(now)
  "$bin/linkctl" --server "$server" verify --against register --input "$work/list.csv" \
    --output "$work/verified.csv"
  row[bulk_verify_rate]=$(echo "$list_size / $(since "$t0")" | bc)
done
q0=$(metric linkd_queries_total)
c0=$(metric linkd_query_candidates_sum)
k0=$(metric linkd_candidates_capped_total)

echo "== latency at 1,000 req/s"
for rpc in match verify; do
  out=$("$loadgen" --server "$server" --input "$work/list.csv" --rpc $rpc --mode open --rate 1000 \
    --duration 15 2>&1 || true)
  echo "$out"
  row[${rpc}_p50_ms]=$(echo "$out" | grep -o 'p50 [0-9.]*' | head -1 | cut -d' ' -f2)
  row[${rpc}_p99_ms]=$(echo "$out" | grep -o 'p99 [0-9.]*' | head -1 | cut -d' ' -f2)
  sleep 5
done
q1=$(metric linkd_queries_total)
c1=$(metric linkd_query_candidates_sum)
k1=$(metric linkd_candidates_capped_total)
row[candidates_per_query]=$(echo "scale=1; ($c1 - $c0) / ($q1 - $q0)" | bc)
row[cap_hit_percent]=$(echo "scale=3; 100 * ($k1 - $k0) / ($q1 - $q0)" | bc)
row[rss_serving_mib]=$(rss)
stop_linkd

echo "== size $size ($rows in the register)"
for k in $(printf '%s\n' "${!row[@]}" | sort); do echo "row: $k = ${row[$k]}"; done
