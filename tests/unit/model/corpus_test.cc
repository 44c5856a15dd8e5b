// Runs every malformed model directory of tests/data/models/bad_* (made by make_corpus.py)
// through the loader and checks it fails with one line naming the file and the place listed in
// tests/data/models/corpus.tsv; good_tiny must load.
#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/safetensors.h"

namespace ringmaster::model {
namespace {

const std::string kCorpus = std::string(RINGMASTER_SOURCE_DIR) + "/tests/data/models";

// What loading a model directory does before any math: config, then weights, then the match.
Status load_model_dir(const std::string& dir) {
  RM_ASSIGN_OR_RETURN(const ModelConfig config, parse_config(dir + "/config.json"));
  RM_ASSIGN_OR_RETURN(const WeightFile weights, WeightFile::open(dir + "/weights.safetensors"));
  return weights.check_against(config);
}

struct Expectation {
  std::string file;                 // the file the error must name
  std::vector<std::string> places;  // substrings the error must contain
};

// corpus.tsv: name <TAB> file <TAB> place... ; '#' starts a comment line.
std::map<std::string, Expectation> read_manifest() {
  std::map<std::string, Expectation> out;
  std::ifstream in(kCorpus + "/corpus.tsv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    std::stringstream split(line);
    std::string field;
    while (std::getline(split, field, '\t')) fields.push_back(field);
    if (fields.size() < 3) {
      ADD_FAILURE() << "corpus.tsv: short line: " << line;
      continue;
    }
    out[fields[0]] = {fields[1], std::vector<std::string>(fields.begin() + 2, fields.end())};
  }
  return out;
}

std::vector<std::string> bad_dirs() {
  std::vector<std::string> out;
  DIR* dir = ::opendir(kCorpus.c_str());
  if (!dir) return out;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name.rfind("bad_", 0) == 0) out.push_back(name);
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ModelCorpus, GoodTinyLoads) {
  const std::string dir = kCorpus + "/good_tiny";
  ASSERT_TRUE(load_model_dir(dir).ok()) << load_model_dir(dir).to_string();
  auto weights = WeightFile::open(dir + "/weights.safetensors");
  ASSERT_TRUE(weights.ok());
  // Mixed dtypes, as the corpus script writes them.
  EXPECT_EQ(weights->tensor("embed").dtype(), DType::kF32);
  EXPECT_EQ(weights->tensor("blocks.0.mlp.w_up").dtype(), DType::kBf16);
  EXPECT_EQ(weights->tensor("blocks.1.attn.wq").dtype(), DType::kF16);
}

TEST(ModelCorpus, EveryBadInputGivesOneErrorNamingFileAndPlace) {
  const std::map<std::string, Expectation> manifest = read_manifest();
  const std::vector<std::string> dirs = bad_dirs();
  ASSERT_GE(dirs.size(), 20u) << "corpus missing under " << kCorpus;
  for (const std::string& name : dirs) {
    SCOPED_TRACE(name);
    const auto expected = manifest.find(name);
    ASSERT_NE(expected, manifest.end()) << "no corpus.tsv line for " << name;
    const Status status = load_model_dir(kCorpus + "/" + name);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    const std::string& message = status.message();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_NE(message.find(name + "/" + expected->second.file + ":"), std::string::npos) << message;
    for (const std::string& place : expected->second.places) {
      EXPECT_NE(message.find(place), std::string::npos) << "'" << place << "' not in: " << message;
    }
  }
  for (const auto& [name, unused] : manifest) {
    EXPECT_TRUE(std::find(dirs.begin(), dirs.end(), name) != dirs.end())
        << "corpus.tsv lists " << name << " but there is no such directory";
  }
}

}  // namespace
}  // namespace ringmaster::model
