#include "tests/unit/model/stack_harness.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "attention/backend.h"
#include "comm/local_comm.h"
#include "io/npy.h"
#include "model/model.h"

namespace ringmaster::model::harness {

Records make_records(const std::vector<int64_t>& lengths, const std::string& fasta_path) {
  std::mt19937 rng(17);
  Records r;
  std::ofstream fasta;
  if (!fasta_path.empty()) fasta.open(fasta_path);
  for (size_t i = 0; i < lengths.size(); ++i) {
    fasta << ">rec" << i << " test record\n";
    r.stream.push_back(kBos);
    for (int64_t j = 0; j < lengths[i]; ++j) {
      const auto id = static_cast<int32_t>(rng() % 5);
      r.stream.push_back(id);
      fasta << "ACGTN"[id];
      if (j % 60 == 59) fasta << "\n";
    }
    fasta << "\n";
    r.lengths.push_back(lengths[i] + 1);
  }
  return r;
}

std::vector<Status> forward_statuses(const std::string& dir, const Records& records,
                                     const comm::PartitionPlan& plan) {
  const comm::RecordLayout layout(records.lengths);
  auto comms = comm::LocalComm::make_local_group(plan.world(), std::chrono::milliseconds(30000));
  std::vector<Status> status(static_cast<size_t>(plan.world()));
  std::vector<std::thread> threads;
  for (int r = 0; r < plan.world(); ++r) {
    threads.emplace_back([&, r] {
      auto model = Model::load(dir);
      ASSERT_TRUE(model.ok()) << model.status().to_string();
      ThreadPool pool(1);
      const ShardContext ctx = make_shard_context(*comms[static_cast<size_t>(r)], plan, layout,
                                                  pool, attention::ContextParallel::kRing);
      std::vector<int32_t> ids;
      for (int64_t t : ctx.tokens) ids.push_back(records.stream[static_cast<size_t>(t)]);
      status[static_cast<size_t>(r)] = model->forward(ctx, ids).status();
    });
  }
  for (auto& t : threads) t.join();
  return status;
}

Outputs run_model(const std::string& dir, const Records& records, comm::PlanKind kind, int world,
                  int64_t align, DType compute, const std::vector<double>& rank_weights,
                  const attention::ContextParallelism& how, const BackendsFn& backends) {
  const comm::RecordLayout layout(records.lengths);
  const auto plan = comm::PartitionPlan::make_for_records(kind, layout, world, align, rank_weights);
  EXPECT_TRUE(plan.ok());
  auto comms = comm::LocalComm::make_local_group(world, std::chrono::milliseconds(30000));
  const int64_t total = layout.num_tokens(), inputs = total - layout.num_records();
  int64_t d = 0;
  Outputs out;
  std::vector<float> next_scores(static_cast<size_t>(total), NAN);
  std::mutex mutex;
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      auto model = Model::load(dir, compute);
      ASSERT_TRUE(model.ok()) << model.status().to_string();
      ThreadPool pool(1);
      ShardContext ctx = make_shard_context(
          *comms[static_cast<size_t>(r)], *plan, layout, pool, how,
          backends ? backends(pool)
                   : ShardBackends{attention::make_cpu_backend(pool, /*stop=*/{}, compute), nullptr,
                                   nullptr});
      std::vector<int32_t> ids, next;
      for (int64_t t : ctx.tokens) {
        ids.push_back(records.stream[static_cast<size_t>(t)]);
        const bool has_next = t + 1 < total && layout.record_of(t + 1) == layout.record_of(t);
        next.push_back(has_next ? records.stream[static_cast<size_t>(t + 1)] : -1);
      }
      auto hf = model->forward(ctx, ids);
      ASSERT_TRUE(hf.ok()) << hf.status().to_string();
      std::vector<float> scores(ids.size(), NAN);
      if (model->config().causal) model->score(*hf, next, scores.data(), pool);
      std::lock_guard lock(mutex);
      d = hf->dim(1);
      out.hf.resize(static_cast<size_t>(total * d), NAN);  // NaN: a row no rank wrote
      for (size_t i = 0; i < ctx.tokens.size(); ++i) {
        std::memcpy(out.hf.data() + ctx.tokens[i] * d, hf->data<float>() + int64_t(i) * d,
                    static_cast<size_t>(d) * sizeof(float));
        next_scores[static_cast<size_t>(ctx.tokens[i])] = scores[i];
      }
    });
  }
  for (auto& t : threads) t.join();
  // Input token j of record r sits at stream index start(r) + 1 + j; its score was computed
  // at the previous stream index.
  for (int rec = 0; rec < layout.num_records(); ++rec) {
    for (int64_t j = 1; j < layout.length(rec); ++j) {
      const int64_t s = layout.start(rec) + j;
      out.embeddings.insert(out.embeddings.end(), out.hf.begin() + s * d,
                            out.hf.begin() + (s + 1) * d);
      out.scores.push_back(next_scores[static_cast<size_t>(s - 1)]);
    }
  }
  EXPECT_EQ(static_cast<int64_t>(out.scores.size()), inputs);
  return out;
}

std::vector<double> run_reference(const std::string& model_dir, const std::string& fasta,
                                  const std::string& task, const std::string& out_dir) {
  const std::string command =
      "/usr/bin/python3 " RINGMASTER_SOURCE_DIR "/tests/reference/model_ref.py --model " +
      model_dir + " --input " + fasta + " --task " + task + " --out " + out_dir;
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  auto array = io::read_npy(out_dir + (task == "embed" ? "/embeddings.npy" : "/scores.npy"));
  EXPECT_TRUE(array.ok()) << array.status().to_string();
  if (!array.ok()) return {};
  return *array->to_f64();
}

}  // namespace ringmaster::model::harness
