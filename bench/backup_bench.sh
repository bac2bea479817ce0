#!/usr/bin/env bash
# Backups of a whole register: a full backup, an incremental one after 1%
# of the records changed, verification and an offline restore, each timed,
# with sizes from linkctl and du.
#   bench/backup_bench.sh BIN_DIR WORKDIR
# WORKDIR must hold register.csv (linkctl gen); the database, backups and
# the restored copy go under WORKDIR too (about 3x the database's size).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1 work=$2
source scripts/lib.sh
data=$work/backup-bench-db backups=$work/backup-bench-backups restored=$work/backup-bench-restored
rm -rf "$data" "$backups" "$restored"

seconds() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

start_linkd "$data"
t=$(date +%s.%N)
"$bin/linkctl" --server "$server" import --dataset register "$work/register.csv" > /dev/null
while "$bin/linkctl" --server "$server" stats | grep -q loading; do sleep 0.5; done
echo "import: $(seconds "$t") s; database $(du -sh "$data" | cut -f1)"

t=$(date +%s.%N)
"$bin/linkctl" --server "$server" --timeout 3600 backup create --dest "$backups"
echo "full backup: $(seconds "$t") s wall; backup directory $(du -sh "$backups" | cut -f1)"

# 1% of the records changed: every 100th gets a new phone number.
python3 - "$work/register.csv" "$work/changed.csv" << 'PY'
import csv, sys
with open(sys.argv[1], newline="") as src, open(sys.argv[2], "w", newline="") as out:
    rows = csv.reader(src)
    w = csv.writer(out)
    header = next(rows)
    w.writerow(header)
    phone = header.index("phone")
    for i, row in enumerate(rows):
        if i % 100 == 0:
            row[phone] = "09%08d" % i
            w.writerow(row)
PY
changed=$(($(wc -l < "$work/changed.csv") - 1))
t=$(date +%s.%N)
"$bin/linkctl" --server "$server" import --dataset register "$work/changed.csv" > /dev/null
echo "changed $changed records: $(seconds "$t") s"

t=$(date +%s.%N)
"$bin/linkctl" --server "$server" --timeout 3600 backup create --dest "$backups"
echo "incremental backup: $(seconds "$t") s wall; backup directory $(du -sh "$backups" | cut -f1)"
"$bin/linkctl" backup list --dest "$backups"
stop_linkd

t=$(date +%s.%N)
"$bin/linkctl" backup verify --dest "$backups"
echo "verify (checksums of the newest): $(seconds "$t") s"

t=$(date +%s.%N)
"$bin/linkd" restore --from "$backups" --db "$restored" 2> "$restored.log"
echo "restore (copy, metadata and index check): $(seconds "$t") s; restored $(du -sh "$restored" | cut -f1)"
grep -o '"event":"restore_done"[^}]*' "$restored.log"
