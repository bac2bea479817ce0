// A fixed pool of threads with bounded queues, so scoring never runs on
// gRPC's threads and a flood of calls fails fast instead of queuing forever.
// Two lanes: interactive calls (unary Match, Verify, writes) are always
// taken before bulk work (stream batches), so a bulk client, however much
// it sends, delays a payment service's Verify by at most the tasks already
// running (one stream batch per worker).
#pragma once

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace linkage::service {

class WorkerPool {
 public:
  WorkerPool(int threads, size_t max_queued);
  ~WorkerPool();  // Stop().
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  enum class Lane { kInteractive, kBulk };

  // Queues a task; false if its lane's queue is full or the pool is stopping.
  bool Submit(std::function<void()> task, Lane lane = Lane::kInteractive);

  // Refuses new tasks, runs the queued ones, joins the threads. Idempotent.
  void Stop();

  size_t queued() const;

 private:
  void Run();

  const size_t max_queued_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);       // Interactive.
  std::deque<std::function<void()>> bulk_queue_ ABSL_GUARDED_BY(mu_);  // Bulk.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace linkage::service
