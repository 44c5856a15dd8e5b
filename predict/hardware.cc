#include "predict/hardware.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>
#include <vector>

namespace ringmaster::predict {
namespace {

using nlohmann::json;

std::string quote(std::string_view s) { return std::string("'").append(s).append("'"); }

// The number at the front of `text` and the unit after it, which must be one of `units`
// (exact match; "" for none) and scales the number.
StatusOr<double> parse_with_units(
    std::string_view text, std::string_view what,
    std::initializer_list<std::pair<std::string_view, double>> units) {
  const std::string s(text);
  char* end = nullptr;
  const double value = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || !std::isfinite(value) || value < 0) {
    return invalid_argument(std::string(what) + " " + quote(text) +
                            " does not start with a non-negative number");
  }
  std::string_view unit(end);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  std::string known;
  for (const auto& [name, scale] : units) {
    if (unit == name) return value * scale;
    known.append(known.empty() ? "" : ", ").append(name.empty() ? "(none)" : name);
  }
  return invalid_argument(std::string(what) + " " + quote(text) + ": unknown unit " + quote(unit) +
                          " (one of " + known + ")");
}

const char* kind_key(model::MixerKind kind) { return model::mixer_kind_name(kind); }

// {"attention": 3e9, ...}: the kinds with a measured rate.
nlohmann::ordered_json block_flops_json(const std::array<double, kNumMixerKinds>& rates) {
  nlohmann::ordered_json blocks = nlohmann::ordered_json::object();
  for (int k = 0; k < kNumMixerKinds; ++k) {
    if (rates[static_cast<size_t>(k)] > 0) {
      blocks[kind_key(static_cast<model::MixerKind>(k))] = rates[static_cast<size_t>(k)];
    }
  }
  return blocks;
}

// block_flops_json's inverse; errors name `key` (its path in the file) in `where`.
Status parse_block_flops(const json& value, const std::string& where, const std::string& key,
                         std::array<double, kNumMixerKinds>& rates) {
  if (!value.is_object()) return invalid_argument(where + ": " + key + " is not an object");
  for (const auto& [kind_name, rate] : value.items()) {
    int found = -1;
    for (int k = 0; k < kNumMixerKinds; ++k) {
      if (kind_name == kind_key(static_cast<model::MixerKind>(k))) found = k;
    }
    if (found < 0 || !rate.is_number()) {
      return invalid_argument(where + ": " + key + "." + kind_name +
                              " is not a mixer kind with a number");
    }
    rates[static_cast<size_t>(found)] = rate.get<double>();
  }
  return ok_status();
}

Status parse_bf16_rates(const json& value, const std::string& where, Bf16Rates& rates) {
  if (!value.is_object()) return invalid_argument(where + ": bf16 is not an object");
  const std::pair<std::string_view, double*> numbers[] = {
      {"flops", &rates.flops},
      {"attention_flops", &rates.attention_flops},
      {"job_overhead_s", &rates.job_overhead_s},
      {"job_s_per_token", &rates.job_s_per_token}};
  for (const auto& item : value.items()) {
    // Named, not a structured binding: clang (the sanitizer builds) cannot capture one.
    const std::string& key = item.key();
    const json& field = item.value();
    if (key == "block_flops") {
      RM_RETURN_IF_ERROR(parse_block_flops(field, where, "bf16.block_flops", rates.block_flops));
      continue;
    }
    const auto* number = std::find_if(std::begin(numbers), std::end(numbers),
                                      [&](const auto& entry) { return entry.first == key; });
    if (number == std::end(numbers)) {
      return invalid_argument(where + ": unknown key 'bf16." + key + "'");
    }
    if (!field.is_number()) return invalid_argument(where + ": bf16." + key + " is not a number");
    *number->second = field.get<double>();
  }
  return ok_status();
}

}  // namespace

Hardware rates_for(const Hardware& hw, DType compute) {
  Hardware out = hw;
  if (compute != DType::kBf16) return out;
  if (hw.bf16.flops > 0) out.flops = hw.bf16.flops;
  if (hw.bf16.attention_flops > 0) out.attention_flops = hw.bf16.attention_flops;
  for (size_t k = 0; k < out.block_flops.size(); ++k) {
    if (hw.bf16.block_flops[k] > 0) out.block_flops[k] = hw.bf16.block_flops[k];
  }
  if (hw.bf16.job_overhead_s > 0 || hw.bf16.job_s_per_token > 0) {
    out.job_overhead_s = hw.bf16.job_overhead_s;
    out.job_s_per_token = hw.bf16.job_s_per_token;
  }
  return out;
}

Hardware typical_hardware() {
  // `ringmaster bench calibrate` on the project's 2-core development machine, idle.
  Hardware hw;
  hw.threads = 1;
  hw.flops = 1.1e11;
  hw.attention_flops = 6.9e10;
  hw.memory_bandwidth = 2e10;
  hw.link_bandwidth = 5.8e9;
  hw.link_latency = 1e-6;
  hw.process_bytes = int64_t{34} << 20;
  hw.job_overhead_s = 0.09;
  hw.job_s_per_token = 1.75e-6;
  return hw;
}

Status validate_hardware(const Hardware& hw, std::string_view source) {
  auto positive = [&](double v, const char* key) -> Status {
    if (!(std::isfinite(v) && v > 0)) {
      return invalid_argument(std::string(source) + ": " + key + " must be a number > 0");
    }
    return ok_status();
  };
  RM_RETURN_IF_ERROR(positive(hw.flops, "flops"));
  RM_RETURN_IF_ERROR(positive(hw.memory_bandwidth, "memory_bandwidth"));
  RM_RETURN_IF_ERROR(positive(hw.link_bandwidth, "link_bandwidth"));
  for (const double v :
       {hw.attention_flops, hw.link_latency, hw.job_overhead_s, hw.job_s_per_token}) {
    if (!(std::isfinite(v) && v >= 0)) {
      return invalid_argument(
          std::string(source) +
          ": attention_flops, link_latency, job_overhead_s and job_s_per_token must be >= 0");
    }
  }
  for (const double v : hw.block_flops) {
    if (!(std::isfinite(v) && v >= 0)) {
      return invalid_argument(std::string(source) + ": block_flops must be >= 0");
    }
  }
  std::vector<double> bf16 = {hw.bf16.flops, hw.bf16.attention_flops, hw.bf16.job_overhead_s,
                              hw.bf16.job_s_per_token};
  bf16.insert(bf16.end(), hw.bf16.block_flops.begin(), hw.bf16.block_flops.end());
  for (const double v : bf16) {
    if (!(std::isfinite(v) && v >= 0)) {
      return invalid_argument(std::string(source) + ": the bf16 rates must be >= 0");
    }
  }
  if (hw.threads < 1) return invalid_argument(std::string(source) + ": threads must be >= 1");
  if (hw.process_bytes < 0) {
    return invalid_argument(std::string(source) + ": process_bytes must be >= 0");
  }
  return ok_status();
}

std::string hardware_to_json(const Hardware& hw) {
  nlohmann::ordered_json j;
  j["format"] = kHardwareFormat;
  j["threads"] = hw.threads;
  j["flops"] = hw.flops;
  j["attention_flops"] = hw.attention_flops;
  j["block_flops"] = block_flops_json(hw.block_flops);
  j["memory_bandwidth"] = hw.memory_bandwidth;
  j["link_bandwidth"] = hw.link_bandwidth;
  j["link_latency"] = hw.link_latency;
  j["process_bytes"] = hw.process_bytes;
  j["job_overhead_s"] = hw.job_overhead_s;
  j["job_s_per_token"] = hw.job_s_per_token;
  if (hw.bf16.flops > 0) {
    nlohmann::ordered_json bf16;
    bf16["flops"] = hw.bf16.flops;
    bf16["attention_flops"] = hw.bf16.attention_flops;
    bf16["block_flops"] = block_flops_json(hw.bf16.block_flops);
    bf16["job_overhead_s"] = hw.bf16.job_overhead_s;
    bf16["job_s_per_token"] = hw.bf16.job_s_per_token;
    j["bf16"] = bf16;
  }
  return j.dump(2) + "\n";
}

StatusOr<Hardware> parse_hardware_json(std::string_view text, std::string_view source) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  const std::string where(source);
  if (j.is_discarded() || !j.is_object()) {
    return invalid_argument(where + ": not a JSON object");
  }
  Hardware hw;
  auto number = [&](const std::string& key, double& out) -> Status {
    if (!j.at(key).is_number()) return invalid_argument(where + ": " + key + " is not a number");
    out = j.at(key).get<double>();
    return ok_status();
  };
  for (const auto& [key, value] : j.items()) {
    if (key == "format") {
      if (!value.is_string() || value.get<std::string>() != kHardwareFormat) {
        return invalid_argument(where + ": format is not \"" + std::string(kHardwareFormat) + "\"");
      }
    } else if (key == "threads") {
      if (!value.is_number_integer())
        return invalid_argument(where + ": threads is not an integer");
      hw.threads = value.get<int>();
    } else if (key == "flops") {
      RM_RETURN_IF_ERROR(number(key, hw.flops));
    } else if (key == "attention_flops") {
      RM_RETURN_IF_ERROR(number(key, hw.attention_flops));
    } else if (key == "memory_bandwidth") {
      RM_RETURN_IF_ERROR(number(key, hw.memory_bandwidth));
    } else if (key == "link_bandwidth") {
      RM_RETURN_IF_ERROR(number(key, hw.link_bandwidth));
    } else if (key == "link_latency") {
      RM_RETURN_IF_ERROR(number(key, hw.link_latency));
    } else if (key == "job_overhead_s") {
      RM_RETURN_IF_ERROR(number(key, hw.job_overhead_s));
    } else if (key == "job_s_per_token") {
      RM_RETURN_IF_ERROR(number(key, hw.job_s_per_token));
    } else if (key == "process_bytes") {
      double bytes = 0;
      RM_RETURN_IF_ERROR(number(key, bytes));
      hw.process_bytes = static_cast<int64_t>(bytes);
    } else if (key == "block_flops") {
      RM_RETURN_IF_ERROR(parse_block_flops(value, where, key, hw.block_flops));
    } else if (key == "bf16") {
      RM_RETURN_IF_ERROR(parse_bf16_rates(value, where, hw.bf16));
    } else if (key != "host" && key != "measured") {
      return invalid_argument(where + ": unknown key '" + key + "'");
    }
  }
  for (const char* key : {"flops", "memory_bandwidth", "link_bandwidth", "link_latency"}) {
    if (!j.contains(key)) return invalid_argument(where + ": " + key + " is missing");
  }
  RM_RETURN_IF_ERROR(validate_hardware(hw, source));
  return hw;
}

StatusOr<Hardware> read_hardware_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open the hardware file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_hardware_json(text.str(), path);
}

StatusOr<int64_t> parse_bytes(std::string_view text, std::string_view what) {
  constexpr double kKi = 1024.0;
  RM_ASSIGN_OR_RETURN(const double bytes, parse_with_units(text, what,
                                                           {{"", 1},
                                                            {"B", 1},
                                                            {"kB", 1e3},
                                                            {"MB", 1e6},
                                                            {"GB", 1e9},
                                                            {"TB", 1e12},
                                                            {"KiB", kKi},
                                                            {"MiB", kKi * kKi},
                                                            {"GiB", kKi * kKi * kKi},
                                                            {"TiB", kKi * kKi * kKi * kKi}}));
  if (bytes > 9e18) return invalid_argument(std::string(what) + " " + quote(text) + " is too big");
  return static_cast<int64_t>(bytes);
}

StatusOr<double> parse_bandwidth(std::string_view text, std::string_view what) {
  return parse_with_units(text, what,
                          {{"", 1},
                           {"B/s", 1},
                           {"MB/s", 1e6},
                           {"GB/s", 1e9},
                           {"TB/s", 1e12},
                           {"Mbit/s", 1e6 / 8},
                           {"Gbit/s", 1e9 / 8},
                           {"Gb/s", 1e9 / 8},
                           {"Gbps", 1e9 / 8}});
}

StatusOr<double> parse_seconds(std::string_view text, std::string_view what) {
  return parse_with_units(text, what,
                          {{"", 1}, {"s", 1}, {"ms", 1e-3}, {"us", 1e-6}, {"ns", 1e-9}});
}

StatusOr<double> parse_flops(std::string_view text, std::string_view what) {
  return parse_with_units(text, what, {{"", 1}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}});
}

}  // namespace ringmaster::predict
