// `ringmaster plan`'s glue and the memory check of `ringmaster run`: the prediction comes from the
// job's own model and input, and a job predicted over --max-memory-per-worker is refused with the
// bad-input exit code before any process starts.
#include "launcher/plan_command.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "coordinator/planner.h"
#include "io/input.h"
#include "launcher/exit_codes.h"
#include "launcher/local_run.h"
#include "model/init.h"
#include "tests/testing/model_configs.h"
#include "tests/testing/temp_dir.h"

namespace ringmaster::launcher {
namespace {

using model::BlockConfig;
using model::MixerKind;

class PlanCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    const model::ModelConfig config = testing::small_model_config(
        /*causal=*/true, {BlockConfig{.mixer = MixerKind::kAttention},
                          BlockConfig{.mixer = MixerKind::kWindow, .window = 16}});
    ASSERT_TRUE(model::init_model(config, 1, dir_.file("model")).ok());
    std::ofstream(dir_.file("in.fa")) << ">a\n" << std::string(999, 'A') << "\n";
  }
  JobFlags flags() const {
    JobFlags f;
    f.workers = 2;
    f.model = dir_.file("model");
    f.input = dir_.file("in.fa");
    f.out = dir_.file("out");
    return f;
  }
  testing::TempDir dir_;
};

TEST_F(PlanCommand, RunPredictsFromItsModelAndInput) {
  auto plan = plan_for_run(flags(), 0);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  ASSERT_TRUE(plan->has_value());
  EXPECT_EQ((*plan)->job.tokens, 1000);  // 999 bases and <bos>
  EXPECT_EQ((*plan)->memory.tokens_per_rank, 500);
  EXPECT_TRUE((*plan)->verdict.fits);
  JobFlags check;  // the attention check has no model to predict
  check.workers = 2;
  auto none = plan_for_run(check, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

// A FASTA of several records is cut record by record (each cut on a group boundary of its
// record): run's prediction holds the busiest rank the coordinator's plan will make.
TEST_F(PlanCommand, RunPredictsTheCoordinatorsCutOfSeveralRecords) {
  std::ofstream(dir_.file("records.fa")) << ">a\n"
                                         << std::string(333, 'C') << "\n>b\n"
                                         << std::string(20, 'G') << "\n>c\n"
                                         << std::string(651, 'T') << "\n";
  JobFlags f = flags();
  f.input = dir_.file("records.fa");
  f.workers = 3;
  f.plan_align = 64;
  auto plan = plan_for_run(f, 0);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  ASSERT_TRUE(plan->has_value());
  StatusOr<pb::JobSpec> job = job_spec_from_flags(f);
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  auto config = model::parse_config(f.model + "/config.json");
  auto stream = io::read_input(f.input, config->vocab);
  ASSERT_TRUE(config.ok() && stream.ok());
  auto cut = coordinator::plan_model_job(*config, f.model + "/config.json", *stream, *job);
  ASSERT_TRUE(cut.ok()) << cut.status().to_string();
  EXPECT_EQ((*plan)->job.tokens, 1007);
  EXPECT_EQ((*plan)->memory.tokens_per_rank, cut->plan.max_local());
  // Laid end to end as one record, the busiest rank would hold less.
  EXPECT_LT(comm::PartitionPlan::make(comm::PlanKind::kZigzag, 1007, 3, 64)->max_local(),
            cut->plan.max_local());
}

// `run`'s own prediction follows its --compute-dtype, and with --rank-weights auto (measured after
// it) shows the equal split.
TEST_F(PlanCommand, RunPredictsItsComputeDtypeAndTheEqualSplitOfAuto) {
  JobFlags f = flags();
  f.compute_dtype = "bf16";
  f.rank_weights = {"auto"};
  auto plan = plan_for_run(f, 0);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  ASSERT_TRUE(plan->has_value());
  EXPECT_EQ((*plan)->job.compute, DType::kBf16);
  EXPECT_TRUE((*plan)->job.rank_weights.empty());
  EXPECT_EQ((*plan)->memory.tokens_per_rank, 500);
}

TEST_F(PlanCommand, RunRefusesAJobOverTheLimitBeforeStartingIt) {
  LocalRunOptions o;
  o.job = flags();
  o.max_memory_per_worker = "1MiB";  // the process alone needs more
  EXPECT_EQ(run_local(o), kExitBadInput);
  EXPECT_FALSE(std::filesystem::exists(dir_.file("out")));
  o.max_memory_per_worker = "lots";
  EXPECT_EQ(run_local(o), kExitUsage);
}

// The check `run` and `coordinator` share: refused over the limit, and with --rank-weights auto
// (weighed after it) the most tokens one rank may hold within the limit go into the job.
TEST_F(PlanCommand, MemoryCheckCapsTheRankTokensOfAutoWeights) {
  JobFlags f = flags();
  StatusOr<pb::JobSpec> job = job_spec_from_flags(f);
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  EXPECT_EQ(check_predicted_memory(f, "1MiB", *job), kExitBadInput);
  EXPECT_EQ(check_predicted_memory(f, "1GiB", *job), kExitOk);
  EXPECT_EQ(job->max_rank_tokens(), 0);  // measured weights only
  f.rank_weights = {"auto"};
  job = job_spec_from_flags(f);
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  EXPECT_EQ(check_predicted_memory(f, "", *job), kExitOk);
  EXPECT_EQ(job->max_rank_tokens(), 0);  // no limit
  EXPECT_EQ(check_predicted_memory(f, "1GiB", *job), kExitOk);
  EXPECT_EQ(job->max_rank_tokens(), 1000);  // every token fits on one rank
  auto plan = plan_for_run(f, 0);
  ASSERT_TRUE(plan.ok() && plan->has_value());
  const int64_t limit = (*plan)->memory.peak_bytes + 10000;
  EXPECT_EQ(check_predicted_memory(f, std::to_string(limit), *job), kExitOk);
  EXPECT_GT(job->max_rank_tokens(), 500);
  EXPECT_LT(job->max_rank_tokens(), 1000);
  EXPECT_EQ(*predict::most_rank_tokens_within((*plan)->job, predict::typical_hardware(), limit),
            job->max_rank_tokens());
}

// `plan --hardware typical` predicts as `run` does, so it can say why run refused a job.
TEST_F(PlanCommand, TypicalHardwareIsWhatRunPredictsWith) {
  PlanOptions o;
  o.model_dir = dir_.file("model");
  o.tokens = 999;
  o.workers = 2;
  o.hardware_path = "typical";
  auto report = run_plan(o);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  auto run = plan_for_run(flags(), 0);
  ASSERT_TRUE(run.ok() && run->has_value());
  EXPECT_EQ(report->memory.peak_bytes, (*run)->memory.peak_bytes);
  EXPECT_EQ(report->prefill.total_s, (*run)->prefill.total_s);
  o.hardware_path = dir_.file("typical");  // a file of that name is not the built-in hardware
  EXPECT_EQ(run_plan(o).status().code(), StatusCode::kNotFound);
}

TEST_F(PlanCommand, PlanWritesItsJson) {
  PlanOptions o;
  o.model_dir = dir_.file("model");
  o.tokens = 999;
  o.workers = 2;
  o.flops = "10G";
  o.memory_bandwidth = "10GB/s";
  o.link_bandwidth = "25Gbit/s";
  o.link_latency = "5us";
  o.memory_per_worker = "1GiB";
  o.json_path = dir_.file("plan.json");
  auto report = run_plan(o);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  std::ifstream in(o.json_path);
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["tokens"], 1000);
  EXPECT_EQ(j["memory"]["peak"], report->memory.peak_bytes);
  EXPECT_DOUBLE_EQ(j["hardware"]["link_bandwidth"].get<double>(), 25e9 / 8);
  EXPECT_EQ(j["compute_dtype"], "f32");
  o.compute_dtype = "bf16";
  auto bf16 = run_plan(o);
  ASSERT_TRUE(bf16.ok()) << bf16.status().to_string();
  EXPECT_EQ(bf16->job.compute, DType::kBf16);
  std::ifstream again(o.json_path);
  EXPECT_EQ(nlohmann::json::parse(again)["compute_dtype"], "bf16");
  o.compute_dtype = "f16";
  auto f16 = run_plan(o);
  ASSERT_FALSE(f16.ok());
  EXPECT_NE(f16.status().message().find("--compute-dtype 'f16' is not f32 or bf16"),
            std::string::npos);
  o.compute_dtype = "f32";
  o.rank_weights = {"auto"};  // measured at join: `plan` wants numbers
  auto measured = run_plan(o);
  ASSERT_FALSE(measured.ok());
  EXPECT_NE(measured.status().message().find("measured when the workers join"), std::string::npos);
  o.rank_weights.clear();
  o.link_bandwidth.clear();  // neither a file nor every rate: say what is missing
  auto missing = run_plan(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--hardware"), std::string::npos);
}

}  // namespace
}  // namespace ringmaster::launcher
