#include "model/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include "model/tensor_names.h"
#include "tests/testing/temp_dir.h"

namespace ringmaster::model {
namespace {

// MODEL.md's config.json example, verbatim.
constexpr const char* kExample = R"({
  "format": "ringmaster-model/1",
  "vocab": "dna",
  "d_model": 128,
  "n_heads": 4,
  "n_kv_heads": 2,
  "head_dim": 32,
  "mlp_hidden": 384,
  "norm_eps": 1e-5,
  "rope_theta": 10000.0,
  "causal": true,
  "blocks": [
    {"mixer": "attention"},
    {"mixer": "window", "window": 512},
    {"mixer": "local", "group": 1024},
    {"mixer": "fit", "group": 1024, "latents": 8, "global_layers": 1},
    {"mixer": "atlas", "chunk": 64, "omega_window": 64, "memory_hidden": 64, "feature_degree": 1}
  ]
})";

// kExample with the first occurrence of `from` replaced by `to`.
std::string edited(const std::string& from, const std::string& to) {
  std::string text = kExample;
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "test bug: '" << from << "' not in the example";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// The one-line error for `text`, which must fail.
std::string error_of(const std::string& text) {
  auto parsed = parse_config_text(text, "cfg.json");
  EXPECT_FALSE(parsed.ok()) << text;
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  const std::string& message = parsed.status().message();
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(message.rfind("cfg.json", 0), 0u) << message;
  return message;
}

ModelConfig example() {
  auto parsed = parse_config_text(kExample, "example");
  RM_CHECK(parsed.ok()) << parsed.status().to_string();
  return *parsed;
}

TEST(ModelConfig, ParsesTheModelMdExample) {
  const ModelConfig c = example();
  EXPECT_EQ(c.format, "ringmaster-model/1");
  EXPECT_EQ(c.vocab, Vocab::kDna);
  EXPECT_EQ(c.vocab_size(), 8);
  EXPECT_EQ(c.d_model, 128);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.mlp_hidden, 384);
  EXPECT_EQ(c.norm_eps, 1e-5);
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_TRUE(c.causal);
  ASSERT_EQ(c.blocks.size(), 5u);
  EXPECT_EQ(c.blocks[0], (BlockConfig{.mixer = MixerKind::kAttention}));
  EXPECT_EQ(c.blocks[1], (BlockConfig{.mixer = MixerKind::kWindow, .window = 512}));
  EXPECT_EQ(c.blocks[2], (BlockConfig{.mixer = MixerKind::kLocal, .group = 1024}));
  EXPECT_EQ(
      c.blocks[3],
      (BlockConfig{.mixer = MixerKind::kFit, .group = 1024, .latents = 8, .global_layers = 1}));
  EXPECT_EQ(c.blocks[4], (BlockConfig{.mixer = MixerKind::kAtlas,
                                      .chunk = 64,
                                      .omega_window = 64,
                                      .memory_hidden = 64,
                                      .feature_degree = 1}));
  EXPECT_EQ(c.q_dim(), 128);
  EXPECT_EQ(c.kv_dim(), 64);
  EXPECT_TRUE(c.has_fit());
}

TEST(ModelConfig, ToJsonParsesBackToTheSameConfig) {
  ModelConfig c = example();
  c.norm_eps = 1.0 / 3.0;  // needs all 17 digits
  c.vocab = Vocab::kBytes;
  c.causal = false;
  const std::string text = to_json(c);
  auto back = parse_config_text(text, "written");
  ASSERT_TRUE(back.ok()) << back.status().to_string() << "\n" << text;
  EXPECT_EQ(*back, c);
  EXPECT_NE(text.find("\n    {\"mixer\": \"window\", \"window\": 512},\n"), std::string::npos)
      << text;
}

TEST(ModelConfig, BlocksMayBeEmpty) {
  auto parsed = parse_config_text(
      R"({"format": "ringmaster-model/1", "vocab": "bytes", "d_model": 8, "n_heads": 1,
          "n_kv_heads": 1, "head_dim": 2, "mlp_hidden": 4, "norm_eps": 1e-6,
          "rope_theta": 10000, "causal": false, "blocks": []})",
      "empty");
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_TRUE(parsed->blocks.empty());
  EXPECT_EQ(parsed->vocab_size(), 259);
  EXPECT_EQ(parsed->rope_theta, 10000.0);  // an integer where a number is expected is fine
  auto back = parse_config_text(to_json(*parsed), "written");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, *parsed);
}

TEST(ModelConfig, UnknownKeysNameTheKeyAndTheBlock) {
  EXPECT_EQ(error_of(edited("\"causal\": true", "\"causal\": true, \"dropout\": 0.1")),
            "cfg.json: unknown key 'dropout' (config.json keys are: format, vocab, d_model, "
            "n_heads, n_kv_heads, head_dim, mlp_hidden, norm_eps, rope_theta, causal, blocks)");
  EXPECT_EQ(error_of(edited("\"window\": 512", "\"windw\": 512")),
            "cfg.json: blocks[1]: unknown key 'windw' (a 'window' block has: mixer, window)");
  // A key of another block kind is unknown here too.
  EXPECT_NE(error_of(edited("\"window\": 512", "\"window\": 512, \"group\": 4"))
                .find("cfg.json: blocks[1]: unknown key 'group'"),
            std::string::npos);
}

TEST(ModelConfig, MissingKeysAreErrors) {
  EXPECT_EQ(error_of(edited("\"head_dim\": 32,", "")), "cfg.json: missing key 'head_dim'");
  EXPECT_EQ(error_of(edited(", \"latents\": 8", "")), "cfg.json: blocks[3]: missing key 'latents'");
  EXPECT_EQ(error_of(edited("{\"mixer\": \"attention\"}", "{}")),
            "cfg.json: blocks[0]: missing key 'mixer'");
}

TEST(ModelConfig, WrongTypesAreErrors) {
  EXPECT_EQ(error_of(edited("\"d_model\": 128", "\"d_model\": \"128\"")),
            "cfg.json: 'd_model': expected an integer, got a string (\"128\")");
  EXPECT_EQ(error_of(edited("\"d_model\": 128", "\"d_model\": 128.5")),
            "cfg.json: 'd_model': expected an integer, got a number (128.5)");
  EXPECT_EQ(error_of(edited("\"causal\": true", "\"causal\": 1")),
            "cfg.json: 'causal': expected true or false, got an integer (1)");
  EXPECT_EQ(error_of(edited("\"norm_eps\": 1e-5", "\"norm_eps\": null")),
            "cfg.json: 'norm_eps': expected a number, got null (null)");
  EXPECT_EQ(error_of(edited("\"vocab\": \"dna\"", "\"vocab\": 8")),
            "cfg.json: 'vocab': expected a string, got an integer (8)");
  EXPECT_EQ(error_of(edited("\"window\": 512", "\"window\": [512]")),
            "cfg.json: blocks[1]: 'window': expected an integer, got an array ([512])");
  EXPECT_EQ(error_of(edited("{\"mixer\": \"attention\"}", "\"attention\"")),
            "cfg.json: blocks[0]: expected an object, got a string");
  EXPECT_EQ(error_of("[1, 2]"), "cfg.json: expected a JSON object, got an array");
}

TEST(ModelConfig, BadValuesAreErrors) {
  EXPECT_EQ(error_of(edited("ringmaster-model/1", "ringmaster-model/2")),
            "cfg.json: 'format' is 'ringmaster-model/2'; this build reads 'ringmaster-model/1'");
  EXPECT_EQ(error_of(edited("\"dna\"", "\"rna\"")),
            "cfg.json: 'vocab' is 'rna'; expected 'dna' or 'bytes'");
  EXPECT_EQ(error_of(edited("\"window\", \"window\"", "\"windows\", \"window\"")),
            "cfg.json: blocks[1]: 'mixer' is 'windows'; expected one of attention, window, "
            "local, fit, atlas");
  EXPECT_EQ(error_of(edited("\"n_kv_heads\": 2", "\"n_kv_heads\": 3")),
            "cfg.json: 'n_heads' (4) is not a multiple of 'n_kv_heads' (3)");
  EXPECT_EQ(error_of(edited("\"head_dim\": 32", "\"head_dim\": 33")),
            "cfg.json: 'head_dim' is 33; it must be even (rope rotates its two halves)");
  EXPECT_EQ(error_of(edited("\"d_model\": 128", "\"d_model\": 0")),
            "cfg.json: 'd_model' is 0; it must be in [1, 2147483647]");
  EXPECT_EQ(error_of(edited("\"n_heads\": 4", "\"n_heads\": -4")),
            "cfg.json: 'n_heads' is -4; it must be in [1, 2147483647]");
  EXPECT_EQ(error_of(edited("\"mlp_hidden\": 384", "\"mlp_hidden\": 4294967296")),
            "cfg.json: 'mlp_hidden' is 4294967296; it must be in [1, 2147483647]");
  EXPECT_EQ(error_of(edited("\"d_model\": 128", "\"d_model\": 18446744073709551615")),
            "cfg.json: 'd_model' is 18446744073709551615, above the cap of 2147483647");
  EXPECT_EQ(error_of(edited("\"norm_eps\": 1e-5", "\"norm_eps\": 0")),
            "cfg.json: 'norm_eps' is 0.0; it must be a finite number > 0");
  EXPECT_EQ(error_of(edited("\"rope_theta\": 10000.0", "\"rope_theta\": -1.5")),
            "cfg.json: 'rope_theta' is -1.5; it must be a finite number > 0");
  EXPECT_EQ(error_of(edited("\"window\": 512", "\"window\": 0")),
            "cfg.json: blocks[1]: 'window' is 0; it must be in [1, 2147483647]");
  EXPECT_EQ(error_of(edited("\"global_layers\": 1", "\"global_layers\": -1")),
            "cfg.json: blocks[3]: 'global_layers' is -1; it must be in [0, 2147483647]");
  EXPECT_EQ(error_of(edited("\"feature_degree\": 1", "\"feature_degree\": 3")),
            "cfg.json: blocks[4]: 'feature_degree' is 3; it must be 1 or 2");
  auto zero_global = parse_config_text(edited("\"global_layers\": 1", "\"global_layers\": 0"), "z");
  EXPECT_TRUE(zero_global.ok()) << zero_global.status().to_string();
}

TEST(ModelConfig, GroupsAndLatentsAgreeAcrossBlocks) {
  EXPECT_EQ(error_of(edited("\"fit\", \"group\": 1024", "\"fit\", \"group\": 512")),
            "cfg.json: blocks[3]: 'group' is 512 but blocks[2] has 1024; every local and fit "
            "block uses the same group");
  const std::string two_fits =
      edited("{\"mixer\": \"attention\"}",
             "{\"mixer\": \"fit\", \"group\": 1024, \"latents\": 4, \"global_layers\": 0}");
  auto parsed = parse_config_text(two_fits, "cfg.json");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(),
            "cfg.json: blocks[3]: 'latents' is 8 but blocks[0] has 4; every fit block uses the "
            "same latents");
}

TEST(ModelConfig, ImpossibleSizesHitTheCaps) {
  EXPECT_EQ(error_of(edited("\"d_model\": 128", "\"d_model\": 2000000000")),
            "cfg.json: the model has 19570000016400 parameters, above the cap of "
            "17179869184 (2^34, 64 GiB as f32)");
  EXPECT_EQ(error_of(edited("\"global_layers\": 1", "\"global_layers\": 5000")),
            "cfg.json: blocks[3]: blocks plus FIT global layers exceed the cap of 4096 layers");
  // Degree-2 features grow as head_dim^2: d_phi * memory_hidden * n_heads overflows int64.
  std::string huge = edited("\"head_dim\": 32", "\"head_dim\": 2000000000");
  EXPECT_NE(error_of(huge).find("parameters, above the cap"), std::string::npos);
}

TEST(ModelConfig, DuplicateKeysAreErrors) {
  EXPECT_EQ(error_of(edited("\"d_model\": 128,", "\"d_model\": 128, \"d_model\": 64,")),
            "cfg.json: duplicate key 'd_model'");
  EXPECT_EQ(error_of(edited("\"window\": 512", "\"window\": 512, \"window\": 8")),
            "cfg.json: blocks[1]: duplicate key 'window'");
}

TEST(ModelConfig, SyntaxErrorsNameLineAndColumn) {
  const std::string message = error_of(edited("\"n_heads\": 4,", "\"n_heads\": ,"));
  EXPECT_EQ(message,
            "cfg.json:5:14: invalid JSON: syntax error while parsing value - unexpected ','; "
            "expected '[', '{', or a literal");
  EXPECT_EQ(error_of(std::string(kExample) + "\n x").rfind("cfg.json:20:2: invalid JSON", 0), 0u)
      << error_of(std::string(kExample) + "\n x");
  // The parser reports the end of the offending token: 1e999 spans columns 15-19.
  EXPECT_EQ(error_of(edited("1e-5", "1e999")),
            "cfg.json:9:19: invalid JSON: number overflow parsing '1e999'");
  EXPECT_EQ(error_of("").rfind("cfg.json:1:1: invalid JSON", 0), 0u);
  std::string expected_path;
  for (int i = 0; i < 63; ++i) expected_path += "[0]";
  EXPECT_EQ(error_of(std::string(100, '[')),
            "cfg.json: " + expected_path + ": nested deeper than 64 levels");
}

TEST(ModelConfig, ValidateRejectsFieldsOfAnotherKind) {
  ModelConfig c = example();
  c.blocks[1].group = 7;
  const Status s = validate_config(c, "built");
  EXPECT_EQ(s.message(), "built: blocks[1]: 'group' does not apply to a 'window' block");
  c.blocks[1].group = 0;
  EXPECT_TRUE(validate_config(c, "built").ok());
}

TEST(ModelConfig, ParseConfigReadsAFileAndNamesIt) {
  const testing::TempDir dir;
  const std::string path = dir.file("config.json");
  {
    std::ofstream out(path);
    out << edited("\"window\": 512", "\"windw\": 512");
  }
  auto bad = parse_config(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind(path + ": blocks[1]: unknown key 'windw'", 0), 0u);
  {
    std::ofstream out(path);
    out << kExample;
  }
  auto good = parse_config(path);
  ASSERT_TRUE(good.ok()) << good.status().to_string();
  EXPECT_EQ(*good, example());
  {
    std::ofstream out(path);
    out << std::string((1 << 20) + 1, ' ');
  }
  auto big = parse_config(path);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("above the 1 MiB limit"), std::string::npos);
  std::remove(path.c_str());
  auto missing = parse_config(path);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message().rfind(path, 0), 0u);
}

TEST(TensorNames, FollowModelMdTable) {
  const ModelConfig c = example();
  const std::vector<TensorSpec> specs = expected_tensors(c);
  auto shape_of = [&](const std::string& name) -> Shape {
    for (const TensorSpec& s : specs) {
      if (s.name == name) return s.shape;
    }
    ADD_FAILURE() << "no tensor " << name;
    return {};
  };
  EXPECT_EQ(specs.front().name, "embed");
  EXPECT_EQ(shape_of("embed"), (Shape{8, 128}));
  EXPECT_EQ(shape_of("head"), (Shape{8, 128}));
  EXPECT_EQ(shape_of("norm"), (Shape{128}));
  EXPECT_EQ(shape_of("blocks.0.norm1"), (Shape{128}));
  EXPECT_EQ(shape_of("blocks.0.norm2"), (Shape{128}));
  EXPECT_EQ(shape_of("blocks.0.mlp.w_gate"), (Shape{384, 128}));
  EXPECT_EQ(shape_of("blocks.0.mlp.w_up"), (Shape{384, 128}));
  EXPECT_EQ(shape_of("blocks.0.mlp.w_down"), (Shape{128, 384}));
  for (const char* block : {"blocks.0", "blocks.1", "blocks.2"}) {
    const std::string p = std::string(block) + ".attn.";
    EXPECT_EQ(shape_of(p + "wq"), (Shape{128, 128}));
    EXPECT_EQ(shape_of(p + "wk"), (Shape{64, 128}));
    EXPECT_EQ(shape_of(p + "wv"), (Shape{64, 128}));
    EXPECT_EQ(shape_of(p + "wo"), (Shape{128, 128}));
  }
  for (const char* part : {"read", "write"}) {
    const std::string p = std::string("blocks.3.") + part;
    EXPECT_EQ(shape_of(p + ".norm_q"), (Shape{128}));
    EXPECT_EQ(shape_of(p + ".norm_kv"), (Shape{128}));
    EXPECT_EQ(shape_of(p + ".wk"), (Shape{64, 128}));
    EXPECT_EQ(shape_of(p + ".wo"), (Shape{128, 128}));
  }
  EXPECT_EQ(shape_of("blocks.3.global.0.norm1"), (Shape{128}));
  EXPECT_EQ(shape_of("blocks.3.global.0.norm2"), (Shape{128}));
  EXPECT_EQ(shape_of("blocks.3.global.0.attn.wv"), (Shape{64, 128}));
  EXPECT_EQ(shape_of("blocks.3.global.0.mlp.w_down"), (Shape{128, 384}));
  EXPECT_EQ(shape_of("fit.latents"), (Shape{8, 128}));
  EXPECT_EQ(shape_of("blocks.4.atlas.wq"), (Shape{128, 128}));
  EXPECT_EQ(shape_of("blocks.4.atlas.wk"), (Shape{128, 128}));  // n_heads, not n_kv_heads
  EXPECT_EQ(shape_of("blocks.4.atlas.wv"), (Shape{128, 128}));
  EXPECT_EQ(shape_of("blocks.4.atlas.wo"), (Shape{128, 128}));
  EXPECT_EQ(shape_of("blocks.4.atlas.w_gates"), (Shape{16, 128}));
  EXPECT_EQ(shape_of("blocks.4.atlas.b_gates"), (Shape{16}));
  EXPECT_EQ(shape_of("blocks.4.atlas.w1_init"), (Shape{4, 64, 32}));
  EXPECT_EQ(shape_of("blocks.4.atlas.w2_init"), (Shape{4, 32, 64}));
  // 3 + 5 per block + 4 (attention x3) + 4+4+4 + 9 (fit, one global layer) + 8 (atlas) + latents
  EXPECT_EQ(specs.size(), 3u + 25u + 12u + 21u + 8u + 1u);
  std::set<std::string> unique;
  for (const TensorSpec& s : specs) unique.insert(s.name);
  EXPECT_EQ(unique.size(), specs.size());
}

TEST(TensorNames, DegreeTwoFeaturesAndNoLatentsWithoutFit) {
  EXPECT_EQ(atlas_d_phi(32, 1), 32);
  EXPECT_EQ(atlas_d_phi(32, 2), 32 + 32 * 32);
  ModelConfig c = example();
  c.blocks = {BlockConfig{.mixer = MixerKind::kAtlas,
                          .chunk = 8,
                          .omega_window = 8,
                          .memory_hidden = 16,
                          .feature_degree = 2}};
  ASSERT_TRUE(validate_config(c, "built").ok());
  const std::vector<TensorSpec> specs = expected_tensors(c);
  bool found = false;
  for (const TensorSpec& s : specs) {
    EXPECT_NE(s.name, "fit.latents");
    if (s.name == "blocks.0.atlas.w1_init") {
      EXPECT_EQ(s.shape, (Shape{4, 16, 32 + 32 * 32}));
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(ModelSize, ParamCountIsTheSumOfTheTensors) {
  ModelConfig c = example();
  c.blocks = {BlockConfig{.mixer = MixerKind::kAttention},
              BlockConfig{.mixer = MixerKind::kWindow, .window = 16}};
  const int64_t d = 128, mlp = 384, v = 8, q = 128, kv = 64;
  const int64_t per_block = 2 * d + 3 * mlp * d + (2 * q + 2 * kv) * d;
  EXPECT_EQ(param_count(c), 2 * v * d + d + 2 * per_block);
  int64_t sum = 0;
  for (const TensorSpec& s : expected_tensors(example())) sum += shape_numel(s.shape);
  EXPECT_EQ(param_count(example()), sum);
}

TEST(ModelSize, MemoryEstimateFollowsTheDocumentedFormula) {
  ModelConfig c = example();
  auto m = memory_estimate(c, 1000001, 2);
  ASSERT_TRUE(m.ok());
  const int64_t n = 500001;
  EXPECT_EQ(m->tokens_per_rank, n);
  EXPECT_EQ(m->weight_bytes, param_count(c) * 4);
  EXPECT_EQ(m->activation_bytes, n * (3 * 128 + 2 * 128 + 2 * 64) * 4);
  EXPECT_EQ(m->ring_kv_bytes, 2 * n * 2 * 64 * 4);
  const int64_t fit = 3 * ((1000001 + 1023) / 1024) * 8 * 128 * 4;  // the whole sequence
  const int64_t atlas = 4 * 4 * (64 * 32 + 32 * 64) * 4;
  EXPECT_EQ(m->state_bytes, std::max(fit, atlas));
  EXPECT_EQ(m->total_bytes,
            m->weight_bytes + m->activation_bytes + m->ring_kv_bytes + m->state_bytes);
  EXPECT_FALSE(memory_estimate(c, 10, 0).ok());
  EXPECT_FALSE(memory_estimate(c, -1, 1).ok());
  auto empty = memory_estimate(c, 0, 3);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->activation_bytes, 0);
}

}  // namespace
}  // namespace ringmaster::model
