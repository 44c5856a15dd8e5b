// Test helper: run_check_job on every rank of a LocalComm group (ranks as threads), with the
// rows gathered by global token index into one [num_tokens, n_heads, head_dim] host tensor, for
// comparison with check_job_reference through ringmaster::testing::all_close
// (tests/testing/close.h), which fails on a row no rank wrote: those stay NaN.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "attention/backend.h"
#include "attention/check_job.h"
#include "comm/local_comm.h"

namespace ringmaster::attention::testing {

// Makes rank r's backend on rank r's thread (a backend is thread-compatible, not shared).
using BackendFactory = std::function<std::unique_ptr<AttentionBackend>(ThreadPool&)>;

// `copy` is LocalComm's byte mover (null: memcpy); `data_device` as run_check_job takes it;
// `rank_weights` empty (equal shards) or one per rank (comm/partition.h).
inline Tensor run_check_group(const CheckJobSpec& spec, comm::PlanKind plan_kind, int world,
                              const BackendFactory& make_backend,
                              Device data_device = Device::cpu(),
                              comm::LocalComm::CopyBytes copy = nullptr,
                              const std::vector<double>& rank_weights = {}) {
  const auto plan =
      comm::PartitionPlan::make(plan_kind, spec.num_tokens, world, /*align=*/1, rank_weights);
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  Tensor gathered = Tensor::empty({spec.num_tokens, spec.n_heads, spec.head_dim}, DType::kF32);
  std::fill_n(gathered.data<float>(), gathered.numel(), NAN);
  if (!plan.ok()) return gathered;
  auto comms = comm::LocalComm::make_local_group(world, std::chrono::milliseconds(60000), copy);
  const int64_t row = spec.n_heads * spec.head_dim;
  std::vector<Status> statuses(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      ThreadPool pool(1);
      const std::unique_ptr<AttentionBackend> backend = make_backend(pool);
      StatusOr<CheckJobResult> out =
          run_check_job(*comms[static_cast<size_t>(r)], *plan, spec, *backend, data_device);
      statuses[static_cast<size_t>(r)] = out.status();
      if (!out.ok()) return;
      for (size_t i = 0; i < out->tokens.size(); ++i) {
        std::memcpy(gathered.data<float>() + out->tokens[i] * row,
                    out->out.data<float>() + static_cast<int64_t>(i) * row,
                    static_cast<size_t>(row) * sizeof(float));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : statuses) EXPECT_TRUE(s.ok()) << s.to_string();
  return gathered;
}

}  // namespace ringmaster::attention::testing
