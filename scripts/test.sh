#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (packages), builds linkd with both cores
# and runs the whole test suite, then a short run of every fuzz target
# (scripts/fuzz.sh: a second, clang + sanitizer build in build-fuzz). The
# same command CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLINKD_WERROR=ON
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)"
./scripts/fuzz.sh
