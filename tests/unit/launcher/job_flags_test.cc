// The one description of a job: flags -> JobSpec (launcher/job_flags.h), and the spec handed to
// a coordinator child unchanged (launcher/spec_handoff.h).
#include "launcher/job_flags.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "launcher/spec_handoff.h"

namespace ringmaster::launcher {
namespace {

// Parses `args` as `ringmaster run` would and builds the spec.
StatusOr<pb::JobSpec> spec_of(std::vector<std::string> args, bool required = true) {
  CLI::App app;
  JobFlags flags;
  add_job_flags(app, flags, required);
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return invalid_argument(std::string("parse: ") + e.what());
  }
  return job_spec_from_flags(flags);
}

TEST(JobSpecFromFlags, DefaultsAreTheProductionKnobs) {
  StatusOr<pb::JobSpec> job = spec_of({"--workers", "3", "--out", "o.npy"});
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  EXPECT_EQ(job->world(), 3);
  EXPECT_EQ(job->output_path(), "o.npy");
  EXPECT_TRUE(job->has_check());
  EXPECT_EQ(job->plan(), pb::PLAN_ZIGZAG);
  EXPECT_EQ(job->context_parallel(), pb::CONTEXT_PARALLEL_RING);
  EXPECT_EQ(job->heartbeat().interval_ms(), 1000u);
  EXPECT_EQ(job->heartbeat().dead_after_ms(), 5000u);
  EXPECT_EQ(job->join_timeout_ms(), 120000u);
  EXPECT_EQ(job->auth_timeout_ms(), 10000u);
  EXPECT_EQ(job->device(), pb::COMPUTE_DEVICE_CPU);
  EXPECT_EQ(job->compute_dtype(), pb::COMPUTE_DTYPE_F32);
  EXPECT_FALSE(job->job_id().empty());
}

TEST(JobSpecFromFlags, ComputeDtypeIsF32OrBf16) {
  StatusOr<pb::JobSpec> job =
      spec_of({"--workers", "2", "--out", "o.npy", "--compute-dtype", "bf16"});
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  EXPECT_EQ(job->compute_dtype(), pb::COMPUTE_DTYPE_BF16);
  const StatusOr<pb::JobSpec> bad =
      spec_of({"--workers", "2", "--out", "o.npy", "--compute-dtype", "f16"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--compute-dtype 'f16' is not f32 or bf16"),
            std::string::npos)
      << bad.status().to_string();
}

TEST(JobSpecFromFlags, ModelJobCarriesItsKnobs) {
  StatusOr<pb::JobSpec> job = spec_of({"--workers",
                                       "2",
                                       "--out",
                                       "dir",
                                       "--model",
                                       "m",
                                       "--input",
                                       "in.fa",
                                       "--task",
                                       "score",
                                       "--context-parallel",
                                       "ulysses",
                                       "--max-tokens",
                                       "1000",
                                       "--quiet",
                                       "--max-restarts",
                                       "2",
                                       "--spares",
                                       "1",
                                       "--plan",
                                       "contiguous"});
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  ASSERT_TRUE(job->has_model());
  EXPECT_EQ(job->model().model_dir(), "m");
  EXPECT_EQ(job->model().input_path(), "in.fa");
  EXPECT_EQ(job->model().task(), pb::TASK_SCORE);
  EXPECT_EQ(job->model().max_tokens(), 1000);
  EXPECT_EQ(job->context_parallel(), pb::CONTEXT_PARALLEL_ULYSSES);
  EXPECT_EQ(job->plan(), pb::PLAN_CONTIGUOUS);
  EXPECT_TRUE(job->quiet());
  EXPECT_EQ(job->max_restarts(), 2u);
  EXPECT_EQ(job->spares(), 1u);
}

TEST(JobSpecFromFlags, GenerateCarriesItsKnobs) {
  const std::vector<std::string> base = {"--workers", "2",       "--out", "dir",    "--model",
                                         "m",         "--input", "in.fa", "--task", "generate"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return spec_of(args);
  };
  StatusOr<pb::JobSpec> job = with({"--max-new-tokens", "64"});
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  EXPECT_EQ(job->model().task(), pb::TASK_GENERATE);
  EXPECT_EQ(job->model().max_new_tokens(), 64);
  // MODEL.md's defaults: greedy, no top-k cut, seed 0, <eos> allowed.
  EXPECT_EQ(job->model().temperature(), 0.0);
  EXPECT_EQ(job->model().top_k(), 0);
  EXPECT_EQ(job->model().seed(), 0u);
  EXPECT_FALSE(job->model().ignore_eos());
  job = with({"--max-new-tokens", "5", "--temperature", "0.8", "--top-k", "3", "--seed", "7",
              "--ignore-eos"});
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  EXPECT_EQ(job->model().temperature(), 0.8);
  EXPECT_EQ(job->model().top_k(), 3);
  EXPECT_EQ(job->model().seed(), 7u);
  EXPECT_TRUE(job->model().ignore_eos());
  // The attention check keeps its own seed default.
  job = spec_of({"--workers", "1", "--out", "o.npy"});
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  EXPECT_EQ(job->check().seed(), 1u);
}

TEST(JobSpecFromFlags, BadGenerateFlagsNameThemselves) {
  auto refused = [](std::vector<std::string> args, const std::string& words) {
    std::vector<std::string> all = {"--workers", "2", "--out", "o", "--model", "m", "--input", "i"};
    all.insert(all.end(), args.begin(), args.end());
    StatusOr<pb::JobSpec> job = spec_of(std::move(all));
    ASSERT_FALSE(job.ok()) << words;
    EXPECT_EQ(job.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(job.status().message().find(words), std::string::npos) << job.status().to_string();
  };
  refused({"--task", "generate"}, "--task generate needs --max-new-tokens");
  refused({"--task", "generate", "--max-new-tokens", "0"}, "needs --max-new-tokens");
  refused({"--task", "generate", "--max-new-tokens", "-2"}, "--max-new-tokens -2");
  refused({"--task", "generate", "--max-new-tokens", "4", "--temperature", "-1"}, "--temperature");
  refused({"--task", "generate", "--max-new-tokens", "4", "--top-k", "-3"}, "--top-k -3");
  refused({"--task", "generate", "--max-new-tokens", "4", "--pool", "mean"}, "--pool");
  refused({"--task", "embed", "--max-new-tokens", "4"}, "for --task generate only");
  refused({"--task", "score", "--temperature", "0.5"}, "for --task generate only");
  refused({"--task", "score", "--top-k", "2"}, "for --task generate only");
  refused({"--task", "score", "--ignore-eos"}, "for --task generate only");
  refused({"--seed", "3"}, "--seed is for the attention check and --task generate");
  refused({"--task", "sample"}, "is not embed, score, generate or variants");
  StatusOr<pb::JobSpec> check = spec_of({"--workers", "1", "--out", "o", "--max-new-tokens", "3"});
  EXPECT_FALSE(check.ok());
}

TEST(JobSpecFromFlags, VariantsCarriesItsKnobs) {
  const std::vector<std::string> base = {"--workers", "2",       "--out", "dir",    "--model",
                                         "m",         "--input", "in.fa", "--task", "variants"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return spec_of(args);
  };
  StatusOr<pb::JobSpec> job = with({"--variants", "calls.vcf.gz"});
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  EXPECT_EQ(job->model().task(), pb::TASK_VARIANTS);
  EXPECT_EQ(job->model().variants_path(), "calls.vcf.gz");
  EXPECT_EQ(job->model().downstream(), 1024);  // MODEL.md's default D
  EXPECT_EQ(job->model().context(), 0);        // unlimited
  EXPECT_FALSE(job->model().rc_average());
  job = with({"--variants", "c.bcf", "--downstream", "0", "--context", "4096", "--rc-average"});
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  EXPECT_EQ(job->model().downstream(), 0);
  EXPECT_EQ(job->model().context(), 4096);
  EXPECT_TRUE(job->model().rc_average());

  auto refused = [&](std::vector<std::string> extra, const std::string& words) {
    StatusOr<pb::JobSpec> bad = with(std::move(extra));
    ASSERT_FALSE(bad.ok()) << words;
    EXPECT_NE(bad.status().message().find(words), std::string::npos) << bad.status().to_string();
  };
  refused({}, "--task variants needs --variants");
  refused({"--variants", "c.vcf", "--context", "0"}, "--context 0");
  refused({"--variants", "c.vcf", "--downstream", "-1"}, "--downstream -1");
  StatusOr<pb::JobSpec> score = spec_of({"--workers", "1", "--out", "o", "--model", "m", "--input",
                                         "i", "--task", "score", "--rc-average"});
  ASSERT_FALSE(score.ok());
  EXPECT_NE(score.status().message().find("for --task variants only"), std::string::npos);
  EXPECT_FALSE(spec_of({"--workers", "1", "--out", "o", "--variants", "c.vcf"}).ok());
}

TEST(JobSpecFromFlags, BadFlagsNameThemselves) {
  auto refused = [](std::vector<std::string> args, const std::string& words) {
    StatusOr<pb::JobSpec> job = spec_of(std::move(args), /*required=*/false);
    ASSERT_FALSE(job.ok()) << words;
    EXPECT_NE(job.status().message().find(words), std::string::npos) << job.status().to_string();
  };
  refused({"--workers", "2", "--out", "o", "--mixer", "ulysses"},
          "--mixer is now --context-parallel (--context-parallel ulysses)");
  refused({"--workers", "2", "--out", "o", "--context-parallel", "tree"},
          "'tree' (ring, ulysses, hybrid)");
  refused({"--out", "o"}, "--workers is required");
  refused({"--workers", "2"}, "--out is required");
  refused({"--workers", "2", "--out", "o", "--device", "tpu"}, "--device 'tpu'");
  refused({"--workers", "2", "--out", "o", "--comm", "local"}, "--comm local runs a single worker");
  refused({"--workers", "2", "--out", "o", "--spares", "1"}, "needs --max-restarts");
  refused({"--workers", "2", "--out", "o", "--model", "m"}, "--model needs --input");
  refused({"--workers", "2", "--out", "o", "--model", "m", "--input", "i", "--max-tokens", "-4"},
          "max_tokens");
  refused({"--workers", "3", "--out", "o", "--context-parallel", "ulysses", "--heads", "4"},
          "ulysses needs n_heads (4)");
  refused({"--workers", "2", "--out", "o", "--heartbeat-ms", "900", "--dead-after-ms", "800"},
          "dead_after_ms");
  // The hybrid's degree: one line naming the flag and the values it must divide.
  const std::vector<std::string> hybrid = {"--out", "o", "--context-parallel", "hybrid"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), hybrid.begin(), hybrid.end());
    return extra;
  };
  refused(with({"--workers", "4"}), "--context-parallel hybrid needs --ulysses-degree U");
  refused(with({"--workers", "4", "--ulysses-degree", "3"}),
          "--ulysses-degree 3 does not divide --workers 4");
  refused(with({"--workers", "4", "--ulysses-degree", "4", "--heads", "6", "--kv-heads", "2"}),
          "--ulysses-degree 4 does not divide --heads 6");
  refused({"--workers", "4", "--out", "o", "--ulysses-degree", "2"},
          "--ulysses-degree 2 is for --context-parallel hybrid");
}

// --rank-weights: one relative speed per worker, comma-separated, carried to the spec; the count
// and each value are checked, naming the flag.
TEST(JobSpecFromFlags, RankWeightsAreOnePerWorker) {
  StatusOr<pb::JobSpec> job =
      spec_of({"--workers", "4", "--out", "o.npy", "--rank-weights", "1,2,3.5,0.25"});
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  ASSERT_EQ(job->rank_weights_size(), 4);
  EXPECT_EQ(job->rank_weights(2), 3.5);
  EXPECT_EQ(job->rank_weights(3), 0.25);
  EXPECT_EQ(spec_of({"--workers", "2", "--out", "o.npy"})->rank_weights_size(), 0);
  auto refused_with = [](const std::string& weights, const std::string& needle) {
    const StatusOr<pb::JobSpec> bad =
        spec_of({"--workers", "2", "--out", "o.npy", "--rank-weights", weights});
    ASSERT_FALSE(bad.ok()) << weights;
    EXPECT_NE(bad.status().message().find(needle), std::string::npos) << bad.status().to_string();
  };
  refused_with("1,2,3", "--rank-weights has 3 weights for --workers 2");
  refused_with("1", "--rank-weights has 1 weights for --workers 2");
  refused_with("1,0", "--rank-weights '0' is not a number > 0");
  refused_with("1,-2", "--rank-weights '-2' is not a number > 0");
  refused_with("1,fast", "--rank-weights 'fast' is not a number > 0");
  refused_with("1,2x", "--rank-weights '2x' is not a number > 0");
  refused_with("1,inf", "--rank-weights 'inf' is not a number > 0");
  refused_with("1,1e9", "differ by more than 2^20");
  refused_with("1,auto", "--rank-weights 'auto' is not a number > 0");
}

// --rank-weights auto: the workers measure their speeds when they join; the spec says so and
// holds no weight yet. `plan`, which runs before any worker, wants numbers.
TEST(JobSpecFromFlags, AutoRankWeightsAreMeasuredAtJoin) {
  StatusOr<pb::JobSpec> job =
      spec_of({"--workers", "3", "--out", "o.npy", "--rank-weights", "auto"});
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  EXPECT_TRUE(job->rank_weights_auto());
  EXPECT_EQ(job->rank_weights_size(), 0);
  EXPECT_FALSE(spec_of({"--workers", "3", "--out", "o.npy"})->rank_weights_auto());
  const StatusOr<std::vector<double>> plan_weights = parse_rank_weights({"auto"});
  ASSERT_FALSE(plan_weights.ok());
  EXPECT_NE(plan_weights.status().message().find("measured when the workers join"),
            std::string::npos)
      << plan_weights.status().to_string();
}

TEST(JobSpecFromFlags, HybridCarriesItsUlyssesDegree) {
  // 4 kv heads over groups of 4 is allowed: the hybrid copies kv heads (attention/hybrid.h).
  StatusOr<pb::JobSpec> job =
      spec_of({"--workers", "8", "--out", "o.npy", "--context-parallel", "hybrid",
               "--ulysses-degree", "4", "--heads", "8", "--kv-heads", "2"});
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  EXPECT_EQ(job->context_parallel(), pb::CONTEXT_PARALLEL_HYBRID);
  EXPECT_EQ(job->ulysses_degree(), 4);
}

TEST(SpecHandoff, TheChildReadsExactlyTheSpecThatWasBuilt) {
  StatusOr<pb::JobSpec> job =
      spec_of({"--workers", "2", "--out", "dir", "--model", "m", "--input", "in.fa"});
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  StatusOr<int> fd = job_spec_memfd(*job);
  ASSERT_TRUE(fd.ok()) << fd.status().to_string();
  // Sealed: nobody can change it between the launcher's check and the child's read.
  EXPECT_LT(::write(*fd, "x", 1), 0);
  StatusOr<pb::JobSpec> back = read_job_spec_fd(*fd);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->SerializeAsString(), job->SerializeAsString());
}

TEST(SpecHandoff, GarbageIsNotASpec) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], "\xff\xff\xff", 3), 3);
  ::close(fds[1]);
  StatusOr<pb::JobSpec> back = read_job_spec_fd(fds[0]);
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.status().message().find("not a serialized JobSpec"), std::string::npos);
}

}  // namespace
}  // namespace ringmaster::launcher
