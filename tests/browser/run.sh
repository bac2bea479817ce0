#!/usr/bin/env bash
# The review desk's browser test (ctest review_desk_browser_test): a real
# linkd on loopback with TLS and an access policy, a verification that
# queues its REVIEW rows, then Debian's headless Chromium driven by
# playwright-core (review_desk_test.mjs) deciding pairs as the officer
# "officer-lan". Afterwards, through the real linkctl: the decisions are in
# the audit log under the officer's name, a principal without the REVIEW
# role is refused by the page's API, and `calibrate --from-review` reads
# the decisions. Screenshots and metrics.json are kept in $ARTIFACTS.
#
#   LINKD_BIN_DIR=build/src BROWSER_DIR=/tmp/x [ARTIFACTS=dir] [HTTP_PORT=31480] tests/browser/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${LINKD_BIN_DIR:?LINKD_BIN_DIR names the directory of linkd and linkctl}
work=${BROWSER_DIR:?BROWSER_DIR names a scratch directory}
artifacts=${ARTIFACTS:-$work/artifacts}
http_port=${HTTP_PORT:-31480}
rm -rf "$work"
mkdir -p "$work" "$artifacts"

for tool in node npm /usr/bin/chromium openssl; do
  command -v "$tool" > /dev/null || { echo "needs $tool (scripts/install-deps.sh)" >&2; exit 1; }
done

# playwright-core from npm, pinned by package-lock.json, in the scratch
# directory (never a browser download: Debian's Chromium is the browser).
cp "$here/package.json" "$here/package-lock.json" "$here/review_desk_test.mjs" "$work/"
(cd "$work" && npm ci --no-audit --no-fund --loglevel=error > npm.log 2>&1) ||
  { cat "$work/npm.log" >&2; exit 1; }

# A CA and a server certificate for 127.0.0.1; three principals by token.
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
  -subj "/CN=linkd test CA" 2> /dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
  -subj "/CN=localhost" 2> /dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
  -days 2 -extfile san.ext 2> /dev/null
token() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
hash() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
job_token=$(token) officer_token=$(token) auditor_token=$(token) matcher_token=$(token)
binh_token=$(token)
printf '%s\n' "$job_token" > job.token
printf '%s\n' "$matcher_token" > matcher.token
printf '%s\n' "$auditor_token" > auditor.token
cat > auth.textproto <<EOF
# The verification job, the officer at the review desk, the auditor.
principals { name: "verify-job" token_sha256: "$(hash "$job_token")"
  roles: [MATCH, VERIFY, READ, WRITE, ADMIN] }
principals { name: "officer-lan" token_sha256: "$(hash "$officer_token")" roles: REVIEW }
principals { name: "auditor" token_sha256: "$(hash "$auditor_token")" roles: AUDIT }
principals { name: "matcher" token_sha256: "$(hash "$matcher_token")" roles: MATCH }
principals { name: "officer-binh" token_sha256: "$(hash "$binh_token")" roles: REVIEW }
EOF

"$bin/linkd" --db "$work/db" --listen 127.0.0.1:0 --grace 5 --tls-cert server.crt \
  --tls-key server.key --auth auth.textproto --metrics-listen "127.0.0.1:$http_port" \
  2> linkd.log &
pid=$!
trap 'kill -9 $pid 2> /dev/null || true' EXIT
port=""
for _ in $(seq 1 300); do
  port=$(grep -o '"port":[0-9]*' linkd.log | head -1 | cut -d: -f2 || true)
  [[ -n $port ]] && break
  kill -0 "$pid" 2> /dev/null || { cat linkd.log >&2; exit 1; }
  sleep 0.1
done
[[ -n $port ]] || { echo "linkd did not start" >&2; cat linkd.log >&2; exit 1; }
ctl() { "$bin/linkctl" --server "127.0.0.1:$port" --tls-ca ca.crt "$@"; }
ctl health --wait 60 > /dev/null

ctl gen --size 20000 --province 19 --register register.csv --list list.csv --truth truth.csv \
  --list-size 2000 > /dev/null
ctl --token-file job.token import --dataset register register.csv > /dev/null
ctl --token-file job.token verify --against register --input list.csv --output verified.csv \
  --review desk-test --review-sample 0.05 | tail -3

fail() { echo "FAIL $*" >&2; exit 1; }
# Queueing keeps register records for the officers: MATCH alone may not.
head -21 list.csv > small.csv
ctl --token-file matcher.token verify --against register --input small.csv --output small.out \
  --review desk-test > /dev/null 2>&1 || true
grep -q "READ role" small.out.errors.csv || fail "a MATCH-only principal queued on the desk"
echo "ok   a principal with MATCH but not READ cannot queue"

node review_desk_test.mjs "http://127.0.0.1:$http_port/review/" "$artifacts" "$officer_token"
# The decisions and the page's lookups, in the audit log under the officer.
decisions=$(ctl --token-file auditor.token audit list --method DecideReview --principal officer-lan |
  grep -c . || true)
[[ $decisions -eq 12 ]] || fail "12 DecideReview entries by officer-lan expected, saw $decisions"
lookups=$(ctl --token-file auditor.token audit list --method GetReviewItem --principal officer-lan |
  grep -c . || true)
[[ $lookups -ge 12 ]] || fail "GetReviewItem entries by officer-lan expected, saw $lookups"
undos=$(ctl --token-file auditor.token audit list --method UndoReview --principal officer-lan |
  grep -c . || true)
[[ $undos -eq 1 ]] || fail "one UndoReview entry expected, saw $undos"
echo "ok   audit: $decisions decisions, $undos undo, $lookups pair lookups under officer-lan"

# The page's API refuses a caller without credentials, and one without REVIEW.
api() {
  curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-Linkd-Desk: 1' \
    -H 'Content-Type: application/json' "$@" -d '{"dataset":"desk-test"}' \
    "http://127.0.0.1:$http_port/review/api/list"
}
[[ $(api) == 401 ]] || fail "no token: 401 expected"
[[ $(api -H "Authorization: Bearer $job_token") == 403 ]] || fail "no REVIEW role: 403 expected"
[[ $(api -H "Authorization: Bearer $officer_token") == 200 ]] || fail "officer: 200 expected"
# Without the desk's header (what a cross-site form would send): refused.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $officer_token" \
  -H 'Content-Type: application/json' -d '{"dataset":"desk-test","record_id":"x","verdict":"SAME"}' \
  "http://127.0.0.1:$http_port/review/api/decide")
[[ $code == 403 ]] || fail "a call without X-Linkd-Desk: 403 expected, saw $code"
echo "ok   the page's API: 401 without a token, 403 without REVIEW or the desk header"

# Two officers on one pair: an undo takes back only the caller's own
# decision in force, never one another officer has replaced.
desk() {  # desk TOKEN PATH BODY -> the JSON answer
  curl -s -X POST -H 'X-Linkd-Desk: 1' -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $1" -d "$3" "http://127.0.0.1:$http_port/review/api/$2"
}
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d' + sys.argv[1]))" "$1"; }
pair=$(desk "$officer_token" list '{"dataset":"desk-test"}' | field "['items'][0]['record_id']")
desk "$officer_token" decide "{\"dataset\":\"desk-test\",\"record_id\":\"$pair\",\"verdict\":\"SAME\"}" > /dev/null
desk "$binh_token" decide "{\"dataset\":\"desk-test\",\"record_id\":\"$pair\",\"verdict\":\"DIFFERENT\"}" > /dev/null
undone=$(desk "$officer_token" undo '{"dataset":"desk-test"}' | field "['undone']['record_id']")
[[ $undone != "$pair" ]] || fail "officer-lan undid a decision officer-binh had replaced"
verdict() { desk "$officer_token" item "{\"dataset\":\"desk-test\",\"record_id\":\"$pair\"}" | field "['verdict']"; }
[[ $(verdict) == DIFFERENT ]] || fail "officer-binh's decision should stand"
undone=$(desk "$binh_token" undo '{"dataset":"desk-test"}' | field "['undone']['record_id']")
[[ $undone == "$pair" && $(verdict) == SAME ]] || fail "officer-binh's undo should bring back SAME"
echo "ok   two officers: each undoes only their own decision in force"

# The decisions feed calibration (a dry run: 11 decisions are too few to install).
ctl --token-file job.token calibrate --from-review desk-test --min-labels 5 --dry-run |
  tee calibrate.out
grep -q "review desk desk-test: " calibrate.out || fail "calibrate --from-review read nothing"

kill -TERM "$pid"
wait "$pid"

# With --metrics-tls the same port speaks HTTPS: probes, and the desk for
# officers who are not on the node, with the decisions made above.
"$bin/linkd" --db "$work/db" --listen 127.0.0.1:0 --grace 5 --tls-cert server.crt \
  --tls-key server.key --auth auth.textproto --metrics-listen "127.0.0.1:$http_port" \
  --metrics-tls 2> linkd-tls.log &
pid=$!
for _ in $(seq 1 300); do
  curl -s --cacert ca.crt -o /dev/null "https://127.0.0.1:$http_port/readyz" && break
  kill -0 "$pid" 2> /dev/null || { cat linkd-tls.log >&2; exit 1; }
  sleep 0.1
done
code=$(curl -s --cacert ca.crt -o list.json -w '%{http_code}' -X POST -H 'X-Linkd-Desk: 1' \
  -H 'Content-Type: application/json' -H "Authorization: Bearer $officer_token" \
  -d '{"dataset":"desk-test","status":"decided"}' "https://127.0.0.1:$http_port/review/api/list")
[[ $code == 200 ]] || fail "HTTPS desk: 200 expected, saw $code"
grep -q '"decided_by":"officer-lan"' list.json || fail "HTTPS desk: the decisions were not kept"
curl -s -o /dev/null "http://127.0.0.1:$http_port/readyz" && fail "plain HTTP answered on a TLS port"
echo "ok   --metrics-tls: the desk over HTTPS, the decisions kept across the restart"
kill -TERM "$pid"
wait "$pid"
trap - EXIT
echo "review desk browser test passed; screenshots in $artifacts"
