#!/usr/bin/env bash
# Service benchmarks on a generated register of SIZE people (default 1M):
# import rate, database size and time, bulk verify rate, Match and Verify
# latency at fixed request rates (open loop) and the maximum closed-loop
# rate, and linkd's resident memory while serving. Everything runs on this
# machine over loopback; the load generator shares the cores with linkd.
#
#   bench/service_bench.sh [SIZE] [WORKDIR]
#
# Expects a built tree (build/src/linkd, build/src/linkctl, build/bench/linkd_loadgen).
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1000000}
work=${2:-$(mktemp -d)}
bin=${LINKD_BIN_DIR:-build/src}  # Another build's binaries, e.g. to compare two commits.
loadgen=build/bench/linkd_loadgen
mkdir -p "$work"
rm -rf "$work/data"

echo "== register of $size people (whole country), list of 100,000"
build/src/linkctl gen --size "$size" --province "" --register "$work/register.csv" \
  --list "$work/list.csv" --truth "$work/truth.csv" --list-size 100000

source scripts/lib.sh
start_linkd "$work/data"

rss() { awk '/VmRSS|VmHWM/ {printf "%s %.0f MiB  ", $1, $2/1024}' "/proc/$pid/status"; echo; }

echo "== import"
"$bin/linkctl" --server "$server" import --dataset register "$work/register.csv"
echo "database on disk: $(du -sh "$work/data" | cut -f1)"
echo -n "linkd memory after import: "; rss

echo "== restart: the match view loads in the background"
stop_linkd
start_linkd "$work/data"
t0=$(date +%s.%N)
while "$bin/linkctl" --server "$server" stats | grep -q loading; do sleep 0.2; done
echo "match view ready $(echo "$(date +%s.%N) - $t0" | bc) s after the server answered"
"$bin/linkctl" --server "$server" stats | sed -n '/match views/,/^$/p'
echo -n "linkd memory with the view: "; rss

echo "== bulk verify of 100,000 list records (twice: the second run is the figure)"
for run in 1 2; do
  /usr/bin/time -f "linkctl CPU %U s user + %S s system" "$bin/linkctl" --server "$server" verify --against register \
    --input "$work/list.csv" --output "$work/verified.csv"
done
"$bin/linkctl" --server "$server" eval --results "$work/verified.csv" --truth "$work/truth.csv" --input "$work/list.csv" \
  --against register > "$work/eval.txt"
grep -v "^    " "$work/eval.txt"

echo "== latency over loopback"
for rate in 500 1000 2000; do
  "$loadgen" --server "$server" --input "$work/list.csv" --rpc match --mode open --rate $rate --duration 15 || true
  sleep 10  # Let an overloaded server drain before the next run.
done
"$loadgen" --server "$server" --input "$work/list.csv" --rpc verify --mode open --rate 1000 --duration 15 || true
"$loadgen" --server "$server" --input "$work/list.csv" --rpc match --mode closed --concurrency 16 --duration 15 || true
echo -n "linkd memory while serving: "; rss

stop_linkd
echo "work files: $work"
