#include "worker_pool.h"

namespace linkage::service {

WorkerPool::WorkerPool(int threads, size_t max_queued) : max_queued_(max_queued) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

WorkerPool::~WorkerPool() { Stop(); }

bool WorkerPool::Submit(std::function<void()> task, Lane lane) {
  absl::MutexLock lock(&mu_);
  auto& queue = lane == Lane::kInteractive ? queue_ : bulk_queue_;
  if (stopping_ || queue.size() >= max_queued_) return false;
  queue.push_back(std::move(task));
  return true;
}

void WorkerPool::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

size_t WorkerPool::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size() + bulk_queue_.size();
}

void WorkerPool::Run() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WorkerPool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
            return p->stopping_ || !p->queue_.empty() || !p->bulk_queue_.empty();
          },
          this));
      auto& queue = !queue_.empty() ? queue_ : bulk_queue_;
      if (queue.empty()) return;  // Stopping and drained.
      task = std::move(queue.front());
      queue.pop_front();
    }
    task();
  }
}

}  // namespace linkage::service
