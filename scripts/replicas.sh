#!/usr/bin/env bash
# The replicated topology on one machine, for demos and tests (DESIGN §11):
# three nats-server processes forming a JetStream cluster on loopback, one
# linkd writer and two linkd readers following the log (stream replicated
# three times). Imports the demo register and beneficiary list (the ones
# scripts/demo.sh makes) through the writer, waits until both readers have
# applied every change, verifies the list against the readers (round-robin
# over both, skipping one that is not SERVING) and against the writer, and
# checks the answers are byte for byte the same. Stops everything on exit.
#
#   scripts/replicas.sh              # files in ./replicas (or $REPLICAS_DIR)
#   KEEP=1 scripts/replicas.sh       # leave the topology running; Ctrl-C stops it
#   LINKD_BIN_DIR=build/src scripts/replicas.sh   # use built binaries (no install, no build)
#
# Ports: NATS clients on $NATS_PORT..+2 (default 14222), routes on
# $NATS_PORT+2000..+2002; linkd picks free ports (printed).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${LINKD_BIN_DIR:-}
if [[ -z $bin ]]; then
  ./scripts/install-deps.sh
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
  cmake --build build -j"$(nproc)" --target linkd linkctl
  bin=build/src
fi

dir=${REPLICAS_DIR:-replicas}
nats_port=${NATS_PORT:-14222}
rm -rf "$dir"
mkdir -p "$dir"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null || true; done
}
trap cleanup EXIT

source scripts/lib.sh
nats_pids=()
echo "== three NATS JetStream servers"
start_nats "$dir" "$nats_port" 3
pids+=("${nats_pids[@]}")
urls=$nats_urls

# node NAME ROLE [options]: a linkd of the topology.
node() {
  local name=$1 role=$2
  shift 2
  start_node "$name" "$dir" --role "$role" --log "$urls" --log-replicas 3 "$@"
  local pid_var=${name}_pid server_var=${name}_server
  pids+=("${!pid_var}")
  echo "   $name ($role) on ${!server_var}"
}

echo "== a writer and two readers"
node writer writer
node reader1 reader
node reader2 reader
readers="ipv4:$reader1_server,$reader2_server"

echo "== generating the demo register and beneficiary list"
"$bin/linkctl" gen --size 50000 --province 19 --register "$dir/register.csv" \
  --list "$dir/beneficiaries.csv" --truth "$dir/truth.csv" --list-size 5000

echo "== importing through the writer"
"$bin/linkctl" --server "$writer_server" import --dataset register "$dir/register.csv"
"$bin/linkctl" --server "$writer_server" import --dataset beneficiaries-2026 "$dir/beneficiaries.csv"

applied() { "$bin/linkctl" --server "$1" stats | grep -o 'applied [0-9]*' | cut -d' ' -f2; }
want=$(applied "$writer_server")
echo "== waiting for both readers to apply the log up to change $want"
for r in "$reader1_server" "$reader2_server"; do
  for _ in $(seq 1 600); do
    [[ $(applied "$r") -ge $want ]] && break
    sleep 0.1
  done
  [[ $(applied "$r") -ge $want ]] || { echo "reader $r did not catch up" >&2; exit 1; }
  "$bin/linkctl" --server "$r" health --wait 60 > /dev/null
done

echo "== verifying the list against the readers (round-robin) and against the writer"
"$bin/linkctl" --server "$readers" verify --against register --input "$dir/beneficiaries.csv" \
  --output "$dir/verified-readers.csv"
"$bin/linkctl" --server "$writer_server" verify --against register \
  --input "$dir/beneficiaries.csv" --output "$dir/verified-writer.csv" > /dev/null
cmp "$dir/verified-readers.csv" "$dir/verified-writer.csv"
echo "the readers answered every row exactly as the writer: $dir/verified-readers.csv"
"$bin/linkctl" --server "$reader1_server" stats | grep replication
"$bin/linkctl" --server "$reader2_server" stats | grep replication

if [[ -n ${KEEP:-} ]]; then
  echo "== running: writer $writer_server, readers $readers, NATS $urls (Ctrl-C stops)"
  wait
fi
echo "== stopping"
for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2> /dev/null || true; done
wait 2> /dev/null || true
trap - EXIT
