#!/usr/bin/env bash
# The Kubernetes manifests render and lint clean, and the rendered writer
# keeps what deploy/k8s promises: one replica, probes on the plaintext
# metrics port, a locked-down securityContext, no floating image tag, the
# backup CronJob beside the writer. No API server here: render and lint
# only (what a live cluster would reject beyond that is not checked).
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

python3 - "$out/example.yaml" << 'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
problems = []
def check(cond, what):
    if not cond:
        problems.append(what)

for kind in ["Namespace", "StatefulSet", "Service", "CronJob", "PodDisruptionBudget",
             "NetworkPolicy", "ConfigMap", "PersistentVolumeClaim"]:
    check(kind in by_kind, f"no {kind} rendered")
for d in docs:
    if d["kind"] != "Namespace":
        check(d["metadata"].get("namespace") == "linkd-example", f"{d['kind']} {d['metadata']['name']} outside the overlay's namespace")

sts = by_kind["StatefulSet"][0]
check(sts["spec"]["replicas"] == 1, "the writer must have exactly one replica (RocksDB's lock)")
pod = sts["spec"]["template"]["spec"]
c = pod["containers"][0]
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
check(ports.get("metrics") == 9090 and ports.get("grpc") == 50051, f"ports {ports}")
check("--metrics-listen=0.0.0.0:9090" in c["args"], "probes need --metrics-listen on 9090")
for probe, path in [("startupProbe", "/readyz"), ("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]:
    p = c.get(probe, {}).get("httpGet", {})
    check(p.get("port") == "metrics" and p.get("path") == path, f"{probe} is not {path} on the metrics port")
startup = c["startupProbe"]
check(startup["periodSeconds"] * startup["failureThreshold"] >= 120, "startup probe allows under 2 minutes")
check(pod["terminationGracePeriodSeconds"] > 20, "grace must exceed shutdown_grace_seconds (20)")
psc, csc = pod["securityContext"], c["securityContext"]
check(psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 10001, "pod must run as uid 10001")
check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "no RuntimeDefault seccomp")
check(csc.get("readOnlyRootFilesystem") is True, "root filesystem not read-only")
check(csc.get("allowPrivilegeEscalation") is False, "privilege escalation allowed")
check(csc.get("capabilities", {}).get("drop") == ["ALL"], "capabilities not all dropped")
check(c["resources"]["requests"]["memory"] == "4Gi", "the overlay's resources patch did not apply")
mounts = {m["mountPath"] for m in c["volumeMounts"]}
for m in ["/data", "/backup", "/etc/linkd/tls", "/etc/linkd/policy", "/tmp"]:
    check(m in mounts, f"writer does not mount {m}")
cms = {d["metadata"]["name"] for d in by_kind["ConfigMap"]}
for v in pod["volumes"]:
    if "configMap" in v:
        check(v["configMap"]["name"] in cms, f"volume {v['name']} names a ConfigMap not rendered")

images = [x["image"] for d in docs for x in
          (d.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []) +
           d.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers", []))]
check(len(images) == 2, f"images {images}")
for i in images:
    check(":" in i and not i.endswith(":latest"), f"image {i} has no fixed tag")

job = by_kind["CronJob"][0]["spec"]["jobTemplate"]["spec"]["template"]
jc = job["spec"]["containers"][0]
check("backup create --dest /backup" in jc["args"][0] and "purge" in jc["args"][0], "CronJob does not create and purge")
check(job["metadata"]["labels"].get("linkd-client") == "true", "CronJob pods are not admitted by the NetworkPolicy")
check(jc["securityContext"].get("readOnlyRootFilesystem") is True, "CronJob root filesystem not read-only")

np = by_kind["NetworkPolicy"][0]["spec"]
check(np["policyTypes"] == ["Ingress"] and len(np["ingress"]) == 2, "NetworkPolicy shape")
check(np["ingress"][0]["from"][0]["podSelector"]["matchLabels"] == {"linkd-client": "true"}, "API port not limited to linkd-client pods")

if problems:
    print("render_test: " + "\n  ".join(["problems:"] + problems))
    sys.exit(1)
print(f"render_test: {len(docs)} objects rendered, checks passed")
PY

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
fi
