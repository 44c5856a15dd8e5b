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
