// Whole-dataset jobs of the engine (duplicates, conflicts): the records of a
// dataset in chunks, each chunk shared among threads. Internal to the engine.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "linkage/store.h"

namespace linkage::engine {

// Reads `dataset` in chunks of 4,096 records and runs `work(chunk, t, n)`
// on n = max(1, threads) threads per chunk; thread t takes records t, t+n,
// t+2n, ... Stops at the first error, or with Cancelled when *stop is true
// after a chunk. `done(records so far)` is called after each chunk.
using ChunkWork =
    std::function<absl::Status(const std::vector<v1::StoredRecord>& chunk, size_t t, size_t n)>;
absl::Status ForEachRecordInParallel(const index::Store& store, std::string_view dataset,
                                     int threads, const std::atomic<bool>* stop,
                                     const ChunkWork& work,
                                     const std::function<void(int64_t)>& done = {});

}  // namespace linkage::engine
