// core/thread_pool.h: a fixed set of threads that run one parallel loop at a time.
//
// Why our own pool and not OpenMP: the kernels call OpenBLAS, whose pthread build keeps its own
// threads; one pool we own lets a worker pin the exact thread count a job asked for and nest
// nothing. bench/thread_pool_bench.cc measures the dispatch cost against OpenMP.
//
// Thread-safety: parallel_for may be called from one thread at a time. A call made from inside
// a running loop body runs serially on the calling thread (no nesting, no deadlock).
// Cancellation (core/cancel.h): a loop given a stop token hands out no item once a stop is
// requested; items already running finish.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

namespace ringmaster {

class ThreadPool {
 public:
  // `num_threads` counts the calling thread: ThreadPool(1) starts no thread at all.
  // REQUIRES: num_threads >= 1.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs body(index, thread) for every index in [0, count) and returns when all are done.
  // Indices are handed out one at a time in increasing order, so uneven items balance
  // themselves; `thread` in [0, num_threads()) names the running thread, for per-thread scratch.
  // With `stop`: once a stop is requested no further index starts, so the loop returns within
  // one item per thread, and returns false; the caller must then drop what the loop wrote (it
  // usually returns check_cancelled's Status). Without a stop, or with none requested, true.
  bool parallel_for(int64_t count, const std::function<void(int64_t index, int thread)>& body,
                    const std::stop_token& stop = {});

 private:
  void worker_loop(int thread);
  void run_items(int thread);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  uint64_t generation_ = 0;  // bumped per loop; guarded by mutex_
  int busy_workers_ = 0;     // workers still inside the current loop; guarded by mutex_
  bool stopping_ = false;    // guarded by mutex_
  const std::function<void(int64_t, int)>* body_ = nullptr;
  const std::stop_token* stop_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<bool> running_{false};
};

}  // namespace ringmaster
