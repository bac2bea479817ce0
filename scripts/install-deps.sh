#!/usr/bin/env bash
# Installs everything linkd needs to build, test and benchmark, from Debian 12
# packages only. Idempotent and non-interactive: safe to run on every CI start.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  protobuf-compiler libprotobuf-dev
  libgrpc++-dev protobuf-compiler-grpc
  libabsl-dev
  librocksdb-dev
  libgtest-dev libgmock-dev googletest
  libbenchmark-dev
  libutf8proc-dev
  libcli11-dev
  libcsv-dev
  libjemalloc-dev
  libssl-dev openssl
  prometheus-cpp-dev libcpp-httplib-dev  # /metrics: registry and text format; the HTTP listener
  prometheus  # promtool check metrics, in metrics_test
  clang libclang-rt-14-dev llvm  # scripts/fuzz.sh: clang++, libFuzzer + sanitizers, llvm-symbolizer
  python3
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

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
