#!/usr/bin/env bash
# Builds the linkd container image (deploy/container/Containerfile) on a
# fresh Debian 12 machine with no Docker engine and no reachable public
# registry, then checks what the image holds. `podman run` does not work on
# these machines (the OCI runtime refuses their cgroup setup), so the check
# exports the image's filesystem and runs its entrypoint in a chroot, as its
# user, in a network namespace of its own (the image listens on 0.0.0.0 with
# fixed ports; a namespace keeps them off the machine's).
#
#   scripts/container-build.sh     as root (apt-get, debootstrap, chroot, mount)
#
# Environment (defaults): IMAGE (localhost/linkd:dev), BASE_IMAGE
# (localhost/debian:bookworm, made here by debootstrap unless it exists),
# ROOTFS_CACHE (/var/tmp/linkd-rootfs), JOBS (2: compile jobs, at nice 19).
# It compiles linkd in the build stage: 20-40 minutes on 2 cores, which is
# why CI does not run it. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

image=${IMAGE:-localhost/linkd:dev}
base_image=${BASE_IMAGE:-localhost/debian:bookworm}
rootfs=${ROOTFS_CACHE:-/var/tmp/linkd-rootfs}
jobs=${JOBS:-2}

log() { echo "container-build: $*"; }
fail() {
  echo "container-build: FAIL: $*" >&2
  exit 1
}

[[ $(id -u) -eq 0 ]] || fail "run as root (apt-get, debootstrap, chroot and mount need it)"

# --- Tools -----------------------------------------------------------------
# openssl and ip are for the check (certificates, network namespace).
declare -A tool_package=([podman]=podman [buildah]=buildah [debootstrap]=debootstrap
  [openssl]=openssl [ip]=iproute2)
missing=()
for tool in "${!tool_package[@]}"; do
  command -v "$tool" > /dev/null || missing+=("${tool_package[$tool]}")
done
if ((${#missing[@]} > 0)); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Without this, every RUN step fails: podman's default ulimits cannot be set
# on these machines (setrlimit is refused). An existing file is the
# operator's and is left alone.
if [[ ! -e /etc/containers/containers.conf ]]; then
  log "writing /etc/containers/containers.conf (default_ulimits = [])"
  mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = []\n' > /etc/containers/containers.conf
fi

# --- Base image --------------------------------------------------------------
# A Debian 12 minbase from Debian's own packages stands in for
# debian:bookworm-slim, which no registry here serves. The rootfs is cached:
# debootstrap takes minutes, and a rebuilt image of the same packages gains
# nothing. It is made under a temporary name and renamed when complete, so an
# interrupted run never leaves a half-made cache behind.
if podman image exists "$base_image"; then
  log "base image $base_image exists"
else
  if [[ ! -d $rootfs ]]; then
    log "debootstrap --variant=minbase bookworm into $rootfs"
    rm -rf "$rootfs.partial"
    debootstrap --variant=minbase bookworm "$rootfs.partial" http://deb.debian.org/debian
    # The same suites as the official image (updates and security fixes),
    # not debootstrap's single "bookworm main" line.
    rm -f "$rootfs.partial/etc/apt/sources.list"
    cat > "$rootfs.partial/etc/apt/sources.list.d/debian.sources" << 'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -rf "$rootfs.partial"/var/lib/apt/lists/* "$rootfs.partial"/var/cache/apt/archives/*.deb
    mv "$rootfs.partial" "$rootfs"
  fi
  log "podman import $rootfs as $base_image"
  tar -C "$rootfs" -c . | podman import - "$base_image" > /dev/null
fi

# --- Build -------------------------------------------------------------------
# nice 19 and few jobs: the build shares its cores with other work.
# --format docker keeps the HEALTHCHECK (the OCI format has no field for it).
log "building $image (nice 19, $jobs jobs; this takes a while)"
build_started=$SECONDS
timeout 3h nice -n 19 podman build --isolation=chroot --format docker \
  --build-arg BASE="$base_image" --build-arg JOBS="$jobs" \
  -t "$image" -f deploy/container/Containerfile .
build_seconds=$((SECONDS - build_started))
log "built $image in $((build_seconds / 60)) min $((build_seconds % 60)) s"

# --- Check -------------------------------------------------------------------
work=$(mktemp -d /var/tmp/linkd-image-check.XXXXXX)
img=$work/img
ns=linkd-check-$$
cid=""
pid=""
mounts=()
cleanup() {
  local rc=$? clean=1
  if [[ -n $pid ]] && kill -0 "$pid" 2> /dev/null; then
    kill -9 "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
  fi
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount "${mounts[i]}" || clean=0
  done
  ip netns delete "$ns" 2> /dev/null || true
  if [[ -n $cid ]]; then podman rm "$cid" > /dev/null 2>&1 || true; fi
  # Never remove a tree something may still be mounted in (the bind of
  # /dev): --one-file-system as a second guard.
  if ((clean)); then
    rm -rf --one-file-system "$work"
  else
    echo "container-build: left $work (a mount did not come off)" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT

cid=$(podman create "$image")
mkdir "$img"
podman export "$cid" | tar -C "$img" -x
podman rm "$cid" > /dev/null
cid=""
exported_size=$(du -sh "$img" | cut -f1)

# What a runtime would take from the image: entrypoint, command, user,
# working directory, environment and the health check.
inspect() { podman image inspect --format "$1" "$image"; }
readarray -t entrypoint < <(inspect '{{range .Config.Entrypoint}}{{println .}}{{end}}')
readarray -t cmd < <(inspect '{{range .Config.Cmd}}{{println .}}{{end}}')
readarray -t image_env < <(inspect '{{range .Config.Env}}{{println .}}{{end}}')
readarray -t health < <(inspect '{{range .HealthCheck.Test}}{{println .}}{{end}}')
# The template prints a newline after each item and one at the end: drop
# the empty lines, or env would take "" for a command.
without_empty() {
  local -n list=$1
  local kept=() item
  for item in "${list[@]}"; do [[ -n $item ]] && kept+=("$item"); done
  list=("${kept[@]}")
}
without_empty entrypoint
without_empty cmd
without_empty image_env
without_empty health
user=$(inspect '{{.Config.User}}')
workdir=$(inspect '{{.Config.WorkingDir}}')
[[ ${#entrypoint[@]} -gt 0 && ${#cmd[@]} -gt 0 ]] || fail "image has no entrypoint or command"
[[ ${health[0]:-} == CMD ]] || fail "image has no exec-form HEALTHCHECK (got '${health[*]}')"
health=("${health[@]:1}")
[[ $user =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]] || fail "image user '$user' is not a numeric non-root uid:gid"
uid=${user%:*}
log "image: user $user, entrypoint ${entrypoint[*]}, command ${cmd[*]}"

# Runs a command inside the image's filesystem and network namespace, as the
# image's user, with its environment only.
in_image() {
  ip netns exec "$ns" chroot --userspec="$user" "$img" \
    /usr/bin/env -i -C "${workdir:-/}" "${image_env[@]}" "$@"
}

chroot "$img" "${entrypoint[@]}" --help > /dev/null || fail "linkd --help in the image"
log "linkd --help: ok"
if chroot "$img" ldd /usr/local/bin/linkd /usr/local/bin/linkctl | grep 'not found'; then
  fail "a shared library is missing from the image"
fi

# A runtime gives the container /proc and /dev, and a volume on /data.
data=$work/data
install -d -o "$uid" -g "$uid" -m 0750 "$data"
mount -t proc proc "$img/proc"
mounts+=("$img/proc")
mount --bind /dev "$img/dev"
mounts+=("$img/dev")
mount --bind "$data" "$img/data"
mounts+=("$img/data")
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up

# Secure by default: without the certificates and the policy it must refuse
# to start, not fall back to plaintext on 0.0.0.0.
if in_image "${entrypoint[@]}" "${cmd[@]}" 2> "$work/refused.log" < /dev/null; then
  fail "the default command started without TLS material"
fi
grep -q start_failed "$work/refused.log" || { cat "$work/refused.log" >&2; fail "no start_failed"; }
log "default command without /etc/linkd/tls: refused ($(grep -o '"message":"[^"]*"' "$work/refused.log" | head -1))"

# The files the default command expects, as an operator would mount them:
# a CA, a server certificate for localhost, a policy with one ops token.
tls=$img/etc/linkd/tls
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=linkd-check-ca -keyout "$work/ca.key" -out "$tls/ca.crt" 2> /dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
  -keyout "$tls/tls.key" -out "$work/tls.csr" 2> /dev/null
openssl x509 -req -in "$work/tls.csr" -CA "$tls/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
  -days 1 -out "$tls/tls.crt" \
  -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n') 2> /dev/null
token=$(openssl rand -hex 16)
printf '%s\n' "$token" > "$img/etc/linkd/ops.token"
cat > "$img/etc/linkd/auth.textproto" << EOF
principals {
  name: "ops"
  token_sha256: "$(printf %s "$token" | sha256sum | cut -d' ' -f1)"
  roles: ADMIN
}
EOF
chown "$user" "$tls/tls.key" "$img/etc/linkd/ops.token"
chmod 0600 "$tls/tls.key" "$img/etc/linkd/ops.token"

# exec: the background subshell becomes linkd itself (ip, chroot and env
# exec in turn), so $pid is linkd's and the SIGTERM below reaches it.
(exec ip netns exec "$ns" chroot --userspec="$user" "$img" \
  /usr/bin/env -i -C "${workdir:-/}" "${image_env[@]}" "${entrypoint[@]}" "${cmd[@]}") \
  2> "$work/linkd.log" < /dev/null &
pid=$!
ready=0
deadline=$((SECONDS + 60))
while ((SECONDS < deadline)); do
  kill -0 "$pid" 2> /dev/null || { cat "$work/linkd.log" >&2; fail "linkd exited at start"; }
  if answer=$(in_image "${health[@]}" 2> /dev/null); then
    ready=1
    break
  fi
  sleep 0.5
done
((ready)) || { cat "$work/linkd.log" >&2; fail "the HEALTHCHECK did not pass within 60 s"; }
log "HEALTHCHECK ${health[*]}: $answer"
# By address: the exported filesystem has no /etc/hosts (a runtime adds one);
# the certificate names 127.0.0.1 too.
linkctl=(/usr/local/bin/linkctl --server 127.0.0.1:50051 --tls-ca /etc/linkd/tls/ca.crt)
grpc_health=$(in_image "${linkctl[@]}" health) || fail "linkctl health over TLS"
log "linkctl health over TLS: $grpc_health"
in_image "${linkctl[@]}" --token-file /etc/linkd/ops.token stats > /dev/null ||
  fail "linkctl stats with the policy's token"
log "linkctl stats with the policy's token: ok"

kill -TERM "$pid"
deadline=$((SECONDS + 60))
while ((SECONDS < deadline)) && kill -0 "$pid" 2> /dev/null; do sleep 0.5; done
if kill -0 "$pid" 2> /dev/null; then
  cat "$work/linkd.log" >&2
  fail "linkd still running 60 s after SIGTERM"
fi
rc=0
wait "$pid" || rc=$?
pid=""
((rc == 0)) || { cat "$work/linkd.log" >&2; fail "linkd exited $rc after SIGTERM"; }
grep -q '"event":"stop"' "$work/linkd.log" || fail "no stop event in linkd's log"
log "SIGTERM: linkd stopped cleanly (exit 0)"

size=$(inspect '{{.Size}}')
log "image $image: $(numfmt --to=iec --suffix=B "$size") ($size bytes, podman image inspect)," \
  "exported filesystem $exported_size (du -sh)"
log "PASS"
