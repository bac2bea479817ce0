#!/usr/bin/env bash
# What the replicated log costs and gives (issue 17, DESIGN §11), on one
# machine: three nats-server processes, a writer and readers all share its
# two cores, so read the figures as ratios within one run.
#   1. write latency (UpsertRecords, one record per call, open loop):
#      standalone against a writer on a 3-replica stream
#   2. reader lag while the writer takes a sustained write load
#   3. the stream leader killed during the write load: the pause
#   4. read throughput (Verify, closed loop) on one reader and two
#   5. a new reader bootstrapped from a backup and caught up
#
#   bench/replication_bench.sh [SIZE] [WORKDIR]      (SIZE default 100000)
#
# Expects a built tree (build/src/linkd, build/src/linkctl, build/bench/linkd_loadgen).
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-100000}
work=${2:-$(mktemp -d)}
bin=${LINKD_BIN_DIR:-build/src}
loadgen=${LOADGEN:-build/bench/linkd_loadgen}
rate=${WRITE_RATE:-200}
port=${NATS_PORT:-24222}
mkdir -p "$work"
rm -rf "$work"/{standalone,writer,reader1,reader2,reader3,nats,backups} "$work"/*.log
source scripts/lib.sh
pids=()
nats_pids=()
trap 'for p in "${pids[@]}" "${nats_pids[@]}"; do kill -9 "$p" 2> /dev/null || true; done' EXIT

if [[ ! -f $work/register.csv ]]; then
  echo "== register of $size people (whole country), list of 20,000"
  "$bin/linkctl" gen --size "$size" --province "" --register "$work/register.csv" \
    --list "$work/list.csv" --truth "$work/truth.csv" --list-size 20000
fi
applied() { "$bin/linkctl" --server "$1" stats | grep -o 'applied [0-9]*' | cut -d' ' -f2; }
# wait_applied SERVER SEQ: until SERVER has applied SEQ; prints the seconds taken.
wait_applied() {
  local t0 now
  t0=$(date +%s.%N)
  until [[ $(applied "$1") -ge $2 ]]; do sleep 0.1; done
  now=$(date +%s.%N)
  echo "$now - $t0" | bc
}
upserts() {  # upserts SERVER SECONDS: open-loop single-record upserts at $rate/s
  "$loadgen" --server "$1" --input "$work/list.csv" --dataset load --rpc upsert --mode open \
    --rate "$rate" --duration "$2" --warmup 1
}

echo "== 1. write latency, standalone"
start_node standalone "$work"
pids+=("$standalone_pid")
"$bin/linkctl" --server "$standalone_server" import --dataset register "$work/register.csv"
upserts "$standalone_server" 20 | tee "$work/upsert-standalone.txt"
kill -TERM "$standalone_pid"
wait "$standalone_pid" || true

echo "== 1. write latency, writer on a 3-replica stream"
start_nats "$work/nats" "$port" 3
start_node writer "$work" --role writer --log "$nats_urls" --log-replicas 3
pids+=("$writer_pid")
"$bin/linkctl" --server "$writer_server" import --dataset register "$work/register.csv"
for r in reader1 reader2; do
  start_node "$r" "$work" --role reader --log "$nats_urls"
  pids+=("$(eval echo "\$${r}_pid")")
done
want=$(applied "$writer_server")
echo "readers from empty: reader1 caught up with $want changes ($size records) in" \
  "$(wait_applied "$reader1_server" "$want") s more"
wait_applied "$reader2_server" "$want" > /dev/null

echo "== 2. reader lag under the write load ($rate upserts/s for 20 s)"
(
  for _ in $(seq 1 40); do
    "$bin/linkctl" --server "$reader1_server" stats | grep -o '[0-9]* behind ([0-9.]* s)' || true
    sleep 0.5
  done
) > "$work/lag.txt" &
lag_pid=$!
"$loadgen" --server "$writer_server" --input "$work/list.csv" --dataset load --rpc upsert \
  --mode open --rate "$rate" --duration 20 --warmup 1 --read-back "$reader1_server" |
  tee "$work/upsert-writer.txt"
wait "$lag_pid" || true
cut -d' ' -f1 "$work/lag.txt" | sort -n | awk '{v[NR]=$1} END {
  printf "reader1 lag, sampled every 0.5 s: median %d changes, max %d changes\n", v[int((NR+1)/2)], v[NR]}'
tr -d '(' < "$work/lag.txt" | awk '{if ($3+0 > m) m = $3+0} END {printf "  largest lag in seconds %.2f\n", m}'

echo "== 3. the stream's leader killed 5 s into a write load ($rate/s, 20 s)"
leader=$(curl -s "http://127.0.0.1:$((port + 1000))/jsz?streams=true" |
  python3 -c 'import json,sys
d=json.load(sys.stdin)
for a in d.get("account_details",[]):
  for s in a.get("stream_detail",[]):
    if s["name"]=="linkd": print(s.get("cluster",{}).get("leader",""))')
echo "stream leader: ${leader:-unknown}"
(
  sleep 6
  i=${leader#n}
  [[ -n $i && $i =~ ^[0-9]+$ ]] && kill -9 "${nats_pids[$((i - 1))]}"
) &
upserts "$writer_server" 20 | tee "$work/upsert-leader-killed.txt" || true
want=$(applied "$writer_server")
wait_applied "$reader1_server" "$want" > /dev/null
echo "after the kill: writer at change $want, reader1 caught up"

echo "== 4. read throughput (Verify, closed loop x16, 15 s)"
for target in "$writer_server" "$reader1_server" "ipv4:$reader1_server,$reader2_server"; do
  echo "-- $target"
  "$loadgen" --server "$target" --input "$work/list.csv" --rpc verify --mode closed \
    --concurrency 16 --duration 15 --warmup 2 || true
done

echo "== 5. a new reader bootstrapped from a backup"
"$bin/linkctl" --server "$writer_server" backup create --dest "$work/backups"
upserts "$writer_server" 10 > /dev/null || true
want=$(applied "$writer_server")
t0=$(date +%s.%N)
start_node reader3 "$work" --role reader --log "$nats_urls" --bootstrap "$work/backups"
pids+=("$reader3_pid")
wait_applied "$reader3_server" "$want" > /dev/null
"$bin/linkctl" --server "$reader3_server" health --wait 600 > /dev/null
echo "reader3: restored, caught up to change $want and SERVING $(echo "$(date +%s.%N) - $t0" | bc) s after start"
grep -o '"event":"bootstrapped"[^}]*' "$work/reader3.log" || true

for p in "${pids[@]}" "${nats_pids[@]}"; do kill -TERM "$p" 2> /dev/null || true; done
wait 2> /dev/null || true
trap - EXIT
