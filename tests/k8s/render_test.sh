#!/usr/bin/env bash
# The Kubernetes manifests render and lint clean, and the render keeps what
# deploy/k8s promises: one writer on the replicated log (--role=writer, the
# three NATS pods in --log, --log-replicas=3), readers each with its own
# volume, bootstrapped from the backup volume, ready on /readyz, behind a
# headless Service; three NATS JetStream servers each with its own volume,
# a budget keeping two; probes on the plaintext ports, locked-down
# securityContexts, no floating image tag, the backup CronJob beside the
# writer, NetworkPolicies admitting only what the README says. No API
# server here: render and lint only (what a live cluster would reject
# beyond that is not checked). With nats-server installed, the rendered
# nats-server.conf is parsed by it.
#   tests/k8s/render_test.sh [LINKD]   LINKD: a linkd binary to parse linkd.conf
# Exits 77 (ctest's skip) when kubectl is not installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
linkd=${1:-}
if ! command -v kubectl > /dev/null; then
  echo "render_test: kubectl not installed: skipped"
  exit 77
fi
command -v yamllint > /dev/null || { echo "render_test: yamllint missing (scripts/install-deps.sh)"; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

kubectl kustomize deploy/k8s/overlays/example > "$out/example.yaml"
kubectl kustomize deploy/k8s/base > "$out/base.yaml"
yamllint -c deploy/k8s/.yamllint deploy/k8s "$out/example.yaml" "$out/base.yaml"

python3 - "$out/example.yaml" "$out" << 'PY'
import os, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
out = sys.argv[2]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
problems = []
def check(cond, what):
    if not cond:
        problems.append(what)
def named(kind, name):
    found = [d for d in by_kind.get(kind, []) if d["metadata"]["name"] == name]
    check(len(found) == 1, f"{len(found)} {kind} named {name} rendered")
    return found[0] if found else None
def selects(selector, labels):
    """Whether a label selector (matchLabels, matchExpressions) selects labels."""
    if all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        for e in selector.get("matchExpressions", []):
            op, key, values = e["operator"], e["key"], e.get("values", [])
            if op == "In" and labels.get(key) not in values: return False
            if op == "NotIn" and labels.get(key) in values: return False
            if op == "Exists" and key not in labels: return False
            if op == "DoesNotExist" and key in labels: return False
        return True
    return False
def flags(container):
    """--name=value arguments as a dict (a bare --name maps to True)."""
    result = {}
    for a in container.get("args", []):
        if a.startswith("--"):
            k, eq, v = a[2:].partition("=")
            result[k] = v if eq else True
    return result
def pod_labels(sts):
    return sts["spec"]["template"]["metadata"]["labels"]

for kind in ["Namespace", "StatefulSet", "Service", "CronJob", "PodDisruptionBudget",
             "NetworkPolicy", "ConfigMap", "PersistentVolumeClaim"]:
    check(kind in by_kind, f"no {kind} rendered")
for d in docs:
    if d["kind"] != "Namespace":
        check(d["metadata"].get("namespace") == "linkd-example", f"{d['kind']} {d['metadata']['name']} outside the overlay's namespace")
if problems:
    print("render_test: " + "\n  ".join(["problems:"] + problems))
    sys.exit(1)
cms = {d["metadata"]["name"]: d for d in by_kind["ConfigMap"]}
services = by_kind["Service"]

sts = named("StatefulSet", "linkd")
reader = named("StatefulSet", "linkd-reader")
nats = named("StatefulSet", "linkd-nats")
check(len(by_kind["StatefulSet"]) == 3, "StatefulSets other than linkd, linkd-reader, linkd-nats")
if problems:
    print("render_test: " + "\n  ".join(["problems:"] + problems))
    sys.exit(1)

# --- The writer, and what it shares with the readers.
check(sts["spec"]["replicas"] == 1, "the writer must have exactly one replica (RocksDB's lock, one writer on the log)")
for who, s in [("writer", sts), ("reader", reader)]:
    pod = s["spec"]["template"]["spec"]
    c = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    check(ports.get("metrics") == 9090 and ports.get("grpc") == 50051, f"{who} ports {ports}")
    check("--metrics-listen=0.0.0.0:9090" in c["args"], f"{who}: probes need --metrics-listen on 9090")
    check(pod["terminationGracePeriodSeconds"] > 20, f"{who}: grace must exceed shutdown_grace_seconds (20)")
    check(c["resources"]["requests"]["memory"] == "4Gi", f"{who}: the overlay's resources patch did not apply")
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    for m in ["/data", "/backup", "/etc/linkd/tls", "/etc/linkd/policy", "/etc/linkd/audit", "/tmp"]:
        check(m in mounts, f"{who} does not mount {m}")
    check(mounts.get("/data", {}).get("name") in {t["metadata"]["name"] for t in s["spec"].get("volumeClaimTemplates", [])},
          f"{who}: /data is not its own volume (a volumeClaimTemplate)")
    check(flags(c).get("db", "").startswith("/data/"), f"{who}: --db is not on its /data volume")
    backups = [v for v in pod["volumes"] if v["name"] == mounts.get("/backup", {}).get("name")]
    check(len(backups) == 1 and backups[0].get("persistentVolumeClaim", {}).get("claimName") == "linkd-backups",
          f"{who}: /backup is not the claim linkd-backups")
    check(s["spec"]["serviceName"] in {x["metadata"]["name"] for x in services if x["spec"].get("clusterIP") == "None"},
          f"{who}: serviceName is not a headless Service")
wpod = sts["spec"]["template"]["spec"]
wc = wpod["containers"][0]
for probe, path in [("startupProbe", "/readyz"), ("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]:
    p = wc.get(probe, {}).get("httpGet", {})
    check(p.get("port") == "metrics" and p.get("path") == path, f"writer: {probe} is not {path} on the metrics port")
startup = wc["startupProbe"]
check(startup["periodSeconds"] * startup["failureThreshold"] >= 120, "writer: startup probe allows under 2 minutes")

# The log: three servers, each a pod of the NATS StatefulSet by its stable
# name in the governing Service, on the client port.
wf, rf = flags(wc), flags(reader["spec"]["template"]["spec"]["containers"][0])
check(wf.get("role") == "writer", f"writer: --role is {wf.get('role')}")
nats_names = [f"nats://{nats['metadata']['name']}-{i}.{nats['spec']['serviceName']}:4222"
              for i in range(nats["spec"]["replicas"])]
log = str(wf.get("log", "")).split(",")
check(len(log) == 3 and len(set(log)) == 3, f"writer: --log names {len(log)} servers, not three")
check(sorted(log) == sorted(nats_names), f"writer: --log {log} is not the NATS pods {nats_names}")
check(wf.get("log-replicas") == "3", f"writer: --log-replicas is {wf.get('log-replicas')}, not 3")
check("bootstrap" not in wf, "writer: --bootstrap is for readers")

# --- The readers.
rpod = reader["spec"]["template"]["spec"]
rc = rpod["containers"][0]
rmounts = {m["mountPath"]: m for m in rc["volumeMounts"]}
check(reader["spec"]["replicas"] >= 2, "fewer than two readers")
check(rf.get("role") == "reader", f"reader: --role is {rf.get('role')}")
check(rf.get("log") == wf.get("log") and rf.get("log-stream") == wf.get("log-stream"),
      "reader: --log or --log-stream differs from the writer's")
check(rf.get("bootstrap") == "/backup", f"reader: --bootstrap is {rf.get('bootstrap')}, not the backup volume")
check(rmounts.get("/backup", {}).get("readOnly") is True, "reader: the backup volume is not mounted read-only")
check("log-replicas" not in rf, "reader: --log-replicas is for the writer")
check(reader["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "30Gi",
      "reader: the overlay's volume patch did not apply")
for probe, path in [("startupProbe", "/healthz"), ("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]:
    p = rc.get(probe, {}).get("httpGet", {})
    check(p.get("port") == "metrics" and p.get("path") == path, f"reader: {probe} is not {path} on the metrics port")
check(rc["startupProbe"]["periodSeconds"] * rc["startupProbe"]["failureThreshold"] >= 600,
      "reader: startup probe allows under 10 minutes for the bootstrap restore")
for s in [sts, reader, nats]:
    check(selects(s["spec"]["selector"], pod_labels(s)), f"{s['metadata']['name']}: selector does not select its pods")
check(not selects(sts["spec"]["selector"], pod_labels(reader)) and not selects(reader["spec"]["selector"], pod_labels(sts)),
      "the writer's and the readers' selectors overlap")

# The headless Service for readers, selecting readers only.
headless = [x for x in services if x["spec"].get("clusterIP") == "None"
            and selects({"matchLabels": x["spec"]["selector"]}, pod_labels(reader))]
check(len(headless) == 1, f"{len(headless)} headless Services select the readers")
if headless:
    h = headless[0]
    check(h["metadata"]["name"] == reader["spec"]["serviceName"] == "linkd-readers", "readers' headless Service is not linkd-readers")
    check(not h["spec"].get("publishNotReadyAddresses"), "linkd-readers publishes readers that are not ready")
    check(not selects({"matchLabels": h["spec"]["selector"]}, pod_labels(sts)), "linkd-readers selects the writer")
    check({p["port"] for p in h["spec"]["ports"]} >= {50051}, "linkd-readers has no port 50051")
for x in services:
    if x["metadata"]["name"] in ("linkd", "linkd-headless"):
        check(not selects({"matchLabels": x["spec"]["selector"]}, pod_labels(reader)), f"Service {x['metadata']['name']} selects readers")

# --- The NATS JetStream cluster.
npod = nats["spec"]["template"]["spec"]
nc = npod["containers"][0]
check(nats["spec"]["replicas"] == 3, f"NATS StatefulSet has {nats['spec']['replicas']} replicas, not 3")
check(nats["spec"].get("podManagementPolicy") == "Parallel", "NATS pods not started in parallel (none is ready alone)")
vcts = {t["metadata"]["name"]: t for t in nats["spec"].get("volumeClaimTemplates", [])}
nmounts = {m["mountPath"]: m for m in nc["volumeMounts"]}
check(nmounts.get("/data", {}).get("name") in vcts, "NATS: /data is not a volumeClaimTemplate")
nsvc = [x for x in services if x["metadata"]["name"] == nats["spec"]["serviceName"]]
check(len(nsvc) == 1 and nsvc[0]["spec"].get("clusterIP") == "None" and nsvc[0]["spec"].get("publishNotReadyAddresses") is True
      and selects({"matchLabels": nsvc[0]["spec"]["selector"]}, pod_labels(nats)),
      "NATS: the governing Service is not headless over every NATS pod, ready or not")
if nsvc:
    check({p["port"] for p in nsvc[0]["spec"]["ports"]} == {4222, 6222, 8222}, "NATS Service ports")
nports = {p["name"]: p["containerPort"] for p in nc["ports"]}
check(nports == {"client": 4222, "cluster": 6222, "monitor": 8222}, f"NATS ports {nports}")
for probe in ["startupProbe", "readinessProbe", "livenessProbe"]:
    p = nc.get(probe, {}).get("httpGet", {})
    check(p.get("port") == "monitor" and p.get("path", "").startswith("/healthz"), f"NATS: {probe} is not /healthz on the monitor port")
env = {e["name"]: e for e in nc.get("env", [])}
check(env.get("POD_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name",
      "NATS: POD_NAME is not the pod's name")
nconf_vol = [v for v in npod["volumes"] if v["name"] == nmounts.get("/etc/nats", {}).get("name")]
nconf = cms.get(nconf_vol[0]["configMap"]["name"], {}).get("data", {}).get("nats-server.conf", "") if nconf_vol else ""
check(any(a == "--config=/etc/nats/nats-server.conf" for a in nc["args"]) and nconf, "NATS: nats-server.conf not mounted at /etc/nats")
conf_lines = [l.split("#")[0].strip() for l in nconf.splitlines()]
for want in ["server_name: $POD_NAME", "listen: 0.0.0.0:4222", "http: 0.0.0.0:8222", "max_payload: 8MB",
             "store_dir: /data/jetstream", "listen: 0.0.0.0:6222"]:
    check(want in conf_lines, f"nats-server.conf lacks '{want}'")
for i in range(3):
    route = f"nats://{nats['metadata']['name']}-{i}.{nats['spec']['serviceName']}:6222"
    check(route in conf_lines, f"nats-server.conf has no route {route}")
if nconf:
    open(os.path.join(out, "nats-server.conf"), "w").write(nconf)
npdb = named("PodDisruptionBudget", "linkd-nats")
if npdb:
    check(npdb["spec"].get("minAvailable") == 2 and selects(npdb["spec"]["selector"], pod_labels(nats)),
          "NATS PDB does not keep 2 of the 3 servers")
rpdb = named("PodDisruptionBudget", "linkd-reader")
if rpdb:
    check(selects(rpdb["spec"]["selector"], pod_labels(reader)) and not selects(rpdb["spec"]["selector"], pod_labels(sts)),
          "readers' PDB does not select the readers alone")
wpdb = named("PodDisruptionBudget", "linkd")
if wpdb:
    check(selects(wpdb["spec"]["selector"], pod_labels(sts)) and not selects(wpdb["spec"]["selector"], pod_labels(reader)),
          "writer's PDB does not select the writer alone")

# --- Every pod: locked down, config it names rendered, no floating tag.
templates = [(d["metadata"]["name"], d["spec"]["template"]) for d in by_kind["StatefulSet"]]
templates += [(d["metadata"]["name"], d["spec"]["jobTemplate"]["spec"]["template"]) for d in by_kind["CronJob"]]
images = []
for name, t in templates:
    pod = t["spec"]
    psc = pod["securityContext"]
    check(psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 10001, f"{name}: pod must run as uid 10001")
    check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{name}: no RuntimeDefault seccomp")
    check(pod.get("automountServiceAccountToken") is False, f"{name}: service account token mounted")
    for c in pod["containers"]:
        csc = c["securityContext"]
        check(csc.get("readOnlyRootFilesystem") is True, f"{name}: root filesystem not read-only")
        check(csc.get("allowPrivilegeEscalation") is False, f"{name}: privilege escalation allowed")
        check(csc.get("capabilities", {}).get("drop") == ["ALL"], f"{name}: capabilities not all dropped")
        images.append(c["image"])
    for v in pod.get("volumes", []):
        if "configMap" in v:
            check(v["configMap"]["name"] in cms, f"{name}: volume {v['name']} names a ConfigMap not rendered")
check(len(images) == 4, f"images {images}")
for i in images:
    check((":" in i.rsplit("/", 1)[-1] or "@sha256:" in i) and not i.endswith(":latest"), f"image {i} has no fixed tag")
check(nc["image"].split("@")[0].endswith("nats:2.9.10-alpine") or "@sha256:" in nc["image"],
      f"NATS image {nc['image']} is not nats 2.9.10 (what the tests run against)")

job = by_kind["CronJob"][0]["spec"]["jobTemplate"]["spec"]["template"]
jc = job["spec"]["containers"][0]
check("backup create --dest /backup" in jc["args"][0] and "purge" in jc["args"][0], "CronJob does not create and purge")
check(job["metadata"]["labels"].get("linkd-client") == "true", "CronJob pods are not admitted by the NetworkPolicy")

# --- NetworkPolicies: linkd's API and metrics as before, for writer and
# readers; NATS's client port from linkd only, its routes from NATS only.
np = named("NetworkPolicy", "linkd")
if np:
    np = np["spec"]
    check(np["policyTypes"] == ["Ingress"] and len(np["ingress"]) == 2, "NetworkPolicy linkd shape")
    check(np["ingress"][0]["from"][0]["podSelector"]["matchLabels"] == {"linkd-client": "true"}, "API port not limited to linkd-client pods")
    check(selects(np["podSelector"], pod_labels(sts)) and selects(np["podSelector"], pod_labels(reader)),
          "NetworkPolicy linkd does not cover the writer and the readers")
    check(not selects(np["podSelector"], pod_labels(nats)), "NetworkPolicy linkd covers the NATS pods")
nnp = named("NetworkPolicy", "linkd-nats")
if nnp:
    nnp = nnp["spec"]
    check(nnp["policyTypes"] == ["Ingress"] and selects(nnp["podSelector"], pod_labels(nats)), "NetworkPolicy linkd-nats shape")
    rules = {}
    for r in nnp["ingress"]:
        check(len(r.get("ports", [])) == 1 and len(r.get("from", [])) == 1 and "podSelector" in r["from"][0]
              and "namespaceSelector" not in r["from"][0], "linkd-nats: a rule not one port from pods of this namespace")
        rules[r["ports"][0]["port"]] = r["from"][0]["podSelector"]
    check(set(rules) == {4222, 6222}, f"linkd-nats admits ports {sorted(rules)}, not 4222 and 6222")
    if 4222 in rules:
        check(selects(rules[4222], pod_labels(sts)) and selects(rules[4222], pod_labels(reader))
              and not selects(rules[4222], pod_labels(nats)), "linkd-nats: 4222 not from the writer and readers")
        check(not selects(rules[4222], job["metadata"]["labels"]), "linkd-nats: 4222 admits the backup job")
    if 6222 in rules:
        check(selects(rules[6222], pod_labels(nats)) and not selects(rules[6222], pod_labels(sts))
              and not selects(rules[6222], pod_labels(reader)), "linkd-nats: 6222 not from the NATS pods alone")
check(len(by_kind["NetworkPolicy"]) == 2, "NetworkPolicies other than linkd and linkd-nats")

# The linkd flags the StatefulSets use, for the check against `linkd --help`.
with open(os.path.join(out, "linkd-flags"), "w") as f:
    for k in sorted(set(wf) | set(rf)):
        f.write(f"--{k}\n")

if problems:
    print("render_test: " + "\n  ".join(["problems:"] + problems))
    sys.exit(1)
print(f"render_test: {len(docs)} objects rendered, checks passed")
PY

# The rendered nats-server.conf is one nats-server 2.9 accepts (parse only:
# the routes' names resolve only in the cluster).
if command -v nats-server > /dev/null; then
  if ! msg=$(POD_NAME=linkd-nats-0 nats-server -t -c "$out/nats-server.conf" 2>&1); then
    echo "$msg"
    echo "render_test: nats-server refused nats-server.conf"
    exit 1
  fi
  echo "render_test: nats-server accepts the rendered nats-server.conf"
else
  echo "render_test: nats-server not installed: nats-server.conf not parsed"
fi

# The config file in the ConfigMap is one linkd accepts: start it on
# loopback with the file, and stop it once it has started.
if [[ -n $linkd ]]; then
  db=$out/db
  "$linkd" --config deploy/k8s/base/linkd.conf --db "$db" --listen 127.0.0.1:0 2> "$out/linkd.log" &
  pid=$!
  for _ in $(seq 1 100); do
    grep -q '"event":"start"' "$out/linkd.log" && break
    kill -0 "$pid" 2> /dev/null || { cat "$out/linkd.log"; echo "render_test: linkd refused linkd.conf"; exit 1; }
    sleep 0.1
  done
  grep -q '"event":"start"' "$out/linkd.log" || { kill -9 "$pid"; echo "render_test: linkd did not start"; exit 1; }
  kill -TERM "$pid"
  wait "$pid"
  echo "render_test: linkd accepts deploy/k8s/base/linkd.conf"
  # Every flag the writer and the readers are given is one linkd has.
  help=$("$linkd" --help)
  while read -r flag; do
    grep -q -- "${flag}[ ,=]" <<< "$help" || { echo "render_test: linkd has no flag $flag"; exit 1; }
  done < "$out/linkd-flags"
  echo "render_test: linkd knows every flag of the writer and the readers"
fi
