#include "core/thread_pool.h"

#include "core/check.h"

namespace ringmaster {

ThreadPool::ThreadPool(int num_threads) {
  RM_CHECK(num_threads >= 1) << "ThreadPool needs at least one thread, got " << num_threads;
  workers_.reserve(static_cast<size_t>(num_threads - 1));
  for (int t = 1; t < num_threads; ++t) workers_.emplace_back([this, t] { worker_loop(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

bool ThreadPool::parallel_for(int64_t count,
                              const std::function<void(int64_t index, int thread)>& body,
                              const std::stop_token& stop) {
  if (count <= 0) return !stop.stop_requested();
  // A nested call, a single item or a one-thread pool: waking workers would only add latency.
  if (workers_.empty() || count == 1 || running_.exchange(true)) {
    for (int64_t i = 0; i < count && !stop.stop_requested(); ++i) body(i, 0);
    return !stop.stop_requested();
  }
  {
    std::lock_guard lock(mutex_);
    body_ = &body;
    stop_ = &stop;
    count_ = count;
    next_.store(0, std::memory_order_relaxed);
    busy_workers_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  wake_.notify_all();
  run_items(0);
  std::unique_lock lock(mutex_);
  done_.wait(lock, [this] { return busy_workers_ == 0; });
  body_ = nullptr;
  stop_ = nullptr;
  running_.store(false);
  return !stop.stop_requested();
}

void ThreadPool::run_items(int thread) {
  // One atomic load per item (none without a stop source): cancellation between tiles is free.
  for (int64_t i = next_.fetch_add(1); i < count_ && !stop_->stop_requested();
       i = next_.fetch_add(1)) {
    (*body_)(i, thread);
  }
}

void ThreadPool::worker_loop(int thread) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
    }
    run_items(thread);
    bool last;
    {
      std::lock_guard lock(mutex_);
      last = --busy_workers_ == 0;
    }
    if (last) done_.notify_one();
  }
}

}  // namespace ringmaster
