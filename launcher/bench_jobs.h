// launcher/bench_jobs.h: what the whole-job benchmarks (bench model, bench decode) share: a
// random FASTA input, `ringmaster run` as a child process exactly as a user runs it, and the
// job's summary.json.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace ringmaster::launcher {

// `bases` random ACGT bases (fixed seed).
std::string random_bases(int64_t bases);

// One record named `bench` of random_bases(bases), 60 a line.
Status write_random_fasta(const std::string& path, int64_t bases);

// Runs `ringmaster --log-level warn run ARGS...` and waits; an error unless it exits 0.
Status run_job(const std::vector<std::string>& args);

// The parsed summary.json of a finished job.
StatusOr<nlohmann::json> read_summary(const std::string& path);

// The largest worker's peak RSS in MiB, from a summary.json.
double max_peak_rss_mib(const nlohmann::json& summary);

}  // namespace ringmaster::launcher
