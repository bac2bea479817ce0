// A fixed pool of threads with a bounded queue, so scoring never runs on
// gRPC's threads and a flood of calls fails fast instead of queuing forever.
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

  // Queues a task; false if the queue is full or the pool is stopping.
  bool Submit(std::function<void()> task);

  // Refuses new tasks, runs the queued ones, joins the threads. Idempotent.
  void Stop();

  size_t queued() const;

 private:
  void Run();

  const size_t max_queued_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace linkage::service
