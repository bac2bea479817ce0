#!/usr/bin/env bash
# Audit log cost of bulk verification: stored audit bytes per looked-up
# record, and the rate with the entries being written.
#   bench/audit_bytes.sh [REGISTER_SIZE] [LIST_SIZE]      (defaults 20000, 5000)
# Imports a generated register, then verifies a list against it; prints the
# audit log's entries and bytes before and after the verification (linkctl
# audit verify), so the difference is the verification's alone.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-build/src}
size=${1:-20000} list_size=${2:-5000}
source scripts/lib.sh
work=$(mktemp -d)  # Removed at the end (start_linkd owns the EXIT trap).
"$bin/linkctl" gen --size "$size" --register "$work/register.csv" --list "$work/list.csv" \
  --list-size "$list_size" > /dev/null
start_linkd "$work/data"
"$bin/linkctl" --server "$server" import --dataset register "$work/register.csv" > /dev/null
while "$bin/linkctl" --server "$server" stats | grep -q loading; do sleep 0.5; done
before=$("$bin/linkctl" --server "$server" audit verify | head -1)
"$bin/linkctl" --server "$server" verify --against register --input "$work/list.csv" \
  --output "$work/verified.csv" | tail -3
after=$("$bin/linkctl" --server "$server" audit verify | head -1)
stop_linkd
rm -rf "$work"
echo "before verify: $before"
echo "after verify:  $after"
read -r e0 b0 < <(echo "$before" | sed -E 's/entries ([0-9]+) \(([0-9]+) bytes\)/\1 \2/')
read -r e1 b1 < <(echo "$after" | sed -E 's/entries ([0-9]+) \(([0-9]+) bytes\)/\1 \2/')
echo "verify: $((e1 - e0)) entries, $((b1 - b0)) bytes for $list_size records:" \
  "$(((b1 - b0) / list_size)) bytes per looked-up record (+8-byte keys per entry)"
