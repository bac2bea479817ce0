#!/usr/bin/env bash
# Installs everything linkd needs to build, test and benchmark, from Debian 12
# packages only. Idempotent and non-interactive: safe to run on every CI start.
#   install-deps.sh               build, tests, benchmarks, fuzzing
#   install-deps.sh --build-only  only what building linkd and linkctl needs
#                                 (the container image's build stage)
set -euo pipefail

# Building the binaries (-DLINKD_BUILD_TESTS=OFF -DLINKD_BUILD_BENCH=OFF).
build_packages=(
  build-essential cmake ninja-build pkg-config
  protobuf-compiler libprotobuf-dev
  libgrpc++-dev protobuf-compiler-grpc
  libabsl-dev
  librocksdb-dev
  libutf8proc-dev
  libcli11-dev
  libcsv-dev
  libjemalloc-dev
  libssl-dev
  libxxhash-dev  # the match view's key hashes, stable across restarts (its saved file)
  prometheus-cpp-dev libcpp-httplib-dev  # /metrics: registry and text format; the HTTP listener
  libnats-dev  # --role writer/reader: the JetStream client (the replicated change log)
)
# The tests, benchmarks, fuzzing and scripts on top.
dev_packages=(
  git
  libgtest-dev libgmock-dev googletest
  libbenchmark-dev
  openssl  # certificates made at test time
  prometheus  # promtool check metrics, in metrics_test
  clang libclang-rt-14-dev llvm  # scripts/fuzz.sh: clang++, libFuzzer + sanitizers, llvm-symbolizer
  python3
  nats-server  # replication tests: real JetStream servers on loopback
  yamllint python3-yaml  # tests/k8s/render_test.sh: lint and check the rendered manifests
  chromium chromium-driver curl  # tests/browser: the review desk in headless Chromium
)

case "${1:-}" in
  "") packages=("${build_packages[@]}" "${dev_packages[@]}") ;;
  --build-only) packages=("${build_packages[@]}") ;;
  *)
    echo "usage: $0 [--build-only]" >&2
    exit 2
    ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# The browser test's driver (playwright-core) comes from npm with the
# machine's Node.js; where the machine has none, Debian's.
if [[ ${1:-} != --build-only ]] && ! command -v npm > /dev/null; then missing+=(nodejs npm); fi

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

