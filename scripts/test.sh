#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (packages), builds linkd with both cores
# and runs the whole test suite, then a short run of every fuzz target
# (scripts/fuzz.sh: a second, clang + sanitizer build in build-fuzz). The
# same command CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
# The same optimization as a RelWithDebInfo build (-O2), without the debug
# information: it is a third of each compile's time here and CI must fit in
# 30 minutes on 2 cores. Build RelWithDebInfo (CMake's default here) to
# profile or debug.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DLINKD_WERROR=ON
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)"
./scripts/fuzz.sh
