// The hardware file `bench calibrate` writes and `plan --hardware` reads, and the unit parsers of
// `plan`'s flags.
#include "predict/hardware.h"

#include <gtest/gtest.h>

namespace ringmaster::predict {
namespace {

TEST(Hardware, JsonRoundTrips) {
  Hardware hw;
  hw.threads = 2;
  hw.flops = 5.5e10;
  hw.attention_flops = 3e10;
  hw.block_flops[static_cast<size_t>(model::MixerKind::kAtlas)] = 4e9;
  hw.memory_bandwidth = 1.2e10;
  hw.link_bandwidth = 3e9;
  hw.link_latency = 4e-6;
  hw.process_bytes = 50000000;
  hw.job_overhead_s = 0.5;
  auto back = parse_hardware_json(hardware_to_json(hw), "hw.json");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->threads, 2);
  EXPECT_EQ(back->flops, 5.5e10);
  EXPECT_EQ(back->attention_rate(), 3e10);
  EXPECT_EQ(back->block_rate(model::MixerKind::kAtlas), 4e9);
  EXPECT_EQ(back->block_rate(model::MixerKind::kFit), 0);
  EXPECT_EQ(back->link_latency, 4e-6);
  EXPECT_EQ(back->process_bytes, 50000000);
  EXPECT_EQ(back->job_overhead_s, 0.5);
}

// The bf16 rates `bench calibrate` measures round-trip, and rates_for puts them in place of the
// f32 ones for a bf16 job where they were measured.
TEST(Hardware, Bf16RatesRoundTripAndReplaceTheF32Ones) {
  Hardware hw = typical_hardware();
  hw.block_flops[static_cast<size_t>(model::MixerKind::kFit)] = 2e9;
  hw.block_flops[static_cast<size_t>(model::MixerKind::kAtlas)] = 3e9;
  hw.bf16.flops = 2e11;
  hw.bf16.attention_flops = 1e11;
  hw.bf16.block_flops[static_cast<size_t>(model::MixerKind::kAtlas)] = 5e9;
  hw.bf16.job_overhead_s = 0.7;
  hw.bf16.job_s_per_token = 7e-6;
  auto back = parse_hardware_json(hardware_to_json(hw), "hw.json");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->bf16.flops, 2e11);
  EXPECT_EQ(back->bf16.attention_flops, 1e11);
  EXPECT_EQ(back->bf16.block_flops[static_cast<size_t>(model::MixerKind::kAtlas)], 5e9);
  EXPECT_EQ(back->bf16.block_flops[static_cast<size_t>(model::MixerKind::kFit)], 0);

  const Hardware f32 = rates_for(*back, DType::kF32);
  EXPECT_EQ(f32.flops, hw.flops);
  EXPECT_EQ(f32.block_rate(model::MixerKind::kAtlas), 3e9);
  const Hardware bf16 = rates_for(*back, DType::kBf16);
  EXPECT_EQ(bf16.flops, 2e11);
  EXPECT_EQ(bf16.attention_rate(), 1e11);
  EXPECT_EQ(bf16.block_rate(model::MixerKind::kAtlas), 5e9);
  EXPECT_EQ(bf16.block_rate(model::MixerKind::kFit), 2e9);  // not measured in bf16
  EXPECT_EQ(bf16.job_overhead_s, 0.7);
  EXPECT_EQ(bf16.job_s_per_token, 7e-6);
  EXPECT_EQ(bf16.memory_bandwidth, hw.memory_bandwidth);
  EXPECT_EQ(f32.job_overhead_s, hw.job_overhead_s);

  const std::string base =
      R"({"flops": 1e9, "memory_bandwidth": 1e9, "link_bandwidth": 1e9, "link_latency": 0, )";
  auto typo = parse_hardware_json(base + R"("bf16": {"flop": 1}})", "hw.json");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("unknown key 'bf16.flop'"), std::string::npos);
  auto negative = parse_hardware_json(base + R"("bf16": {"flops": -1}})", "hw.json");
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("bf16 rates must be >= 0"), std::string::npos);
  auto kind = parse_hardware_json(base + R"("bf16": {"block_flops": {"atlass": 1}}})", "hw.json");
  ASSERT_FALSE(kind.ok());
  EXPECT_NE(kind.status().message().find("bf16.block_flops.atlass"), std::string::npos);
}

TEST(Hardware, RefusesTyposAndMissingRates) {
  const std::string ok =
      R"({"flops": 1e9, "memory_bandwidth": 1e9, "link_bandwidth": 1e9, "link_latency": 0)";
  EXPECT_TRUE(parse_hardware_json(ok + "}", "hw.json").ok());
  auto typo = parse_hardware_json(ok + R"(, "flop": 1})", "hw.json");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("hw.json: unknown key 'flop'"), std::string::npos);
  auto missing = parse_hardware_json(R"({"flops": 1e9, "memory_bandwidth": 1e9})", "hw.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("link_bandwidth"), std::string::npos);
  EXPECT_FALSE(parse_hardware_json(ok + R"(, "flops": -1})", "hw.json").ok());
  EXPECT_FALSE(parse_hardware_json("[1]", "hw.json").ok());
  EXPECT_FALSE(parse_hardware_json(ok + R"(, "block_flops": {"atention": 1}})", "hw.json").ok());
}

TEST(Hardware, ParsesUnits) {
  EXPECT_EQ(*parse_bytes("16GiB", "--m"), int64_t{16} << 30);
  EXPECT_EQ(*parse_bytes("1.5GB", "--m"), 1500000000);
  EXPECT_EQ(*parse_bytes("4096", "--m"), 4096);
  EXPECT_DOUBLE_EQ(*parse_bandwidth("25Gbit/s", "--b"), 25e9 / 8);
  EXPECT_DOUBLE_EQ(*parse_bandwidth("400Gb/s", "--b"), 50e9);
  EXPECT_DOUBLE_EQ(*parse_bandwidth("12.5GB/s", "--b"), 12.5e9);
  EXPECT_DOUBLE_EQ(*parse_seconds("5us", "--l"), 5e-6);
  EXPECT_DOUBLE_EQ(*parse_seconds("2ms", "--l"), 2e-3);
  EXPECT_DOUBLE_EQ(*parse_flops("50G", "--f"), 50e9);
  auto bad = parse_bytes("16GB/s", "--memory-per-worker");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--memory-per-worker '16GB/s': unknown unit"),
            std::string::npos);
  EXPECT_FALSE(parse_bytes("-1", "--m").ok());
  EXPECT_FALSE(parse_seconds("fast", "--l").ok());
}

}  // namespace
}  // namespace ringmaster::predict
