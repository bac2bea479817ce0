#include "parallel.h"

#include <algorithm>
#include <thread>

#include "base/status_macros.h"

namespace linkage::engine {

absl::Status ForEachRecordInParallel(const index::Store& store, std::string_view dataset,
                                     int threads, const std::atomic<bool>* stop,
                                     const ChunkWork& work,
                                     const std::function<void(int64_t)>& done) {
  constexpr size_t kChunk = 4096;
  const size_t n = static_cast<size_t>(std::max(1, threads));
  std::vector<v1::StoredRecord> chunk;
  chunk.reserve(kChunk);
  int64_t records = 0;
  auto run = [&]() -> absl::Status {
    std::vector<absl::Status> status(n);
    std::vector<std::thread> pool;
    for (size_t t = 0; t < n; ++t) pool.emplace_back([&, t] { status[t] = work(chunk, t, n); });
    for (std::thread& th : pool) th.join();
    for (const absl::Status& s : status) {
      if (!s.ok()) return s;
    }
    records += static_cast<int64_t>(chunk.size());
    chunk.clear();
    if (done) done(records);
    if (stop != nullptr && stop->load()) return absl::CancelledError("stopped");
    return absl::OkStatus();
  };
  absl::Status failure;
  LINKD_RETURN_IF_ERROR(store.ForEachRecord(dataset, [&](const v1::StoredRecord& r) {
    chunk.push_back(r);
    if (chunk.size() < kChunk) return true;
    failure = run();
    return failure.ok();
  }));
  if (!failure.ok()) return failure;
  return chunk.empty() ? absl::OkStatus() : run();
}

}  // namespace linkage::engine
