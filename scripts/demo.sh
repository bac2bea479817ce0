#!/usr/bin/env bash
# The main job on an embedded default, from a fresh Debian 12 machine:
# installs the packages, builds linkd and linkctl, generates a demo register
# of 50,000 people (Thái Nguyên, with the former Bắc Kạn) and a beneficiary
# list of 5,000 written the way provincial lists are (lost diacritics,
# TCVN3/VNI names, year-only dates, pre-2025 addresses, relatives' IDs...),
# starts linkd on a free local port, imports both, verifies the list against
# the register, prints the summary and stops the server cleanly.
#
# Files land in ./demo (or $DEMO_DIR): register.csv, beneficiaries.csv,
# truth.csv (who each list row really is), verified.csv, data.log (linkd's log).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build -j"$(nproc)" --target linkd linkctl

demo=${DEMO_DIR:-demo}
bin=build/src
rm -rf "$demo"
mkdir -p "$demo"

echo "== generating the demo register and beneficiary list"
"$bin/linkctl" gen --size 50000 --province 19 --register "$demo/register.csv" \
  --list "$demo/beneficiaries.csv" --truth "$demo/truth.csv" --list-size 5000

echo "== starting linkd"
source scripts/lib.sh
start_linkd "$demo/data"

echo "== importing"
"$bin/linkctl" --server "$server" import --dataset register "$demo/register.csv"
"$bin/linkctl" --server "$server" import --dataset beneficiaries-2026 "$demo/beneficiaries.csv"

echo "== verifying the beneficiary list against the register"
"$bin/linkctl" --server "$server" verify --against register --input "$demo/beneficiaries.csv" \
  --output "$demo/verified.csv" --review beneficiaries-2026

echo "== people listed twice, and identity conflicts, for an officer"
"$bin/linkctl" --server "$server" dedupe --dataset beneficiaries-2026 --register register \
  --output "$demo/duplicates.csv"
"$bin/linkctl" --server "$server" conflicts --dataset beneficiaries-2026 --against register \
  --output "$demo/conflicts.csv"
"$bin/linkctl" --server "$server" review export --results "$demo/verified.csv" \
  --input "$demo/beneficiaries.csv" --output "$demo/review.csv"

echo "== stopping linkd"
stop_linkd
tail -1 "$demo/data.log"
echo "results: $demo/verified.csv (truth for checking: $demo/truth.csv)"
echo "for review: $demo/duplicates.csv, $demo/conflicts.csv, $demo/review.csv"
echo "or decide the REVIEW pairs in a browser (the review desk, docs/OPERATIONS.md §10):"
echo "  $bin/linkd --db $demo/data --metrics-listen 127.0.0.1:9464   # then open http://127.0.0.1:9464/review/"
