#include "bench/ring_bench.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "attention/check_job.h"
#include "attention/hybrid.h"
#include "bench/link_rate.h"
#include "comm/authenticated_comm.h"
#include "comm/make_communicator.h"

namespace ringmaster::bench {
namespace {

using Clock = std::chrono::steady_clock;

StatusOr<RingBenchRow> run_row(const RingBenchOptions& o, int world, int64_t tokens,
                               const std::string& plan_name, const std::string& context_parallel,
                               bool data_auth) {
  RM_ASSIGN_OR_RETURN(comm::PlanKind kind, comm::parse_plan(plan_name));
  RM_ASSIGN_OR_RETURN(attention::ContextParallel how,
                      attention::parse_context_parallel(context_parallel));
  const int degree = how == attention::ContextParallel::kHybrid ? o.ulysses_degree : 1;
  if (how == attention::ContextParallel::kHybrid) {
    RM_RETURN_IF_ERROR(attention::check_hybrid(world, degree, o.n_heads));
  }
  RM_ASSIGN_OR_RETURN(comm::PartitionPlan plan, comm::PartitionPlan::make(kind, tokens, world));
  const attention::CheckJobSpec spec{.num_tokens = tokens,
                                     .n_heads = o.n_heads,
                                     .n_kv_heads = o.n_kv_heads,
                                     .head_dim = o.head_dim,
                                     .causal = o.causal,
                                     .seed = 1,
                                     .context_parallel = {how, degree}};
  RM_ASSIGN_OR_RETURN(auto group, make_ucx_group(world));
  // As a worker wraps its UcxComm: every message sealed and checked.
  std::vector<std::unique_ptr<comm::AuthenticatedComm>> sealed;
  std::vector<comm::Communicator*> ranks;
  comm::DataPlaneKey key;
  key.fill(std::byte{0x5a});
  for (auto& rank : group) {
    if (data_auth) {
      sealed.push_back(std::make_unique<comm::AuthenticatedComm>(*rank, key, "bench", 0));
      ranks.push_back(sealed.back().get());
    } else {
      ranks.push_back(rank.get());
    }
  }
  std::vector<StatusOr<attention::CheckJobResult>> results(static_cast<size_t>(world),
                                                           internal_error("not run"));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      ThreadPool pool(1);
      results[static_cast<size_t>(r)] =
          attention::run_check_job(*ranks[static_cast<size_t>(r)], plan, spec, pool);
    });
  }
  for (auto& t : threads) t.join();
  RingBenchRow row{world, tokens, plan_name, context_parallel, degree, o.causal, data_auth};
  for (const auto& result : results) {
    if (!result.ok()) return result.status();
    row.wall_s = std::max(row.wall_s, result->stats.wall_s);
    row.compute_s += result->stats.compute_s / world;
    row.wait_s += result->stats.wait_s / world;
    row.bytes_moved += result->stats.bytes_sent;
  }
  row.tokens_per_s = static_cast<double>(tokens) / row.wall_s;
  return row;
}

// Runs `command` (argv) and returns its standard output.
StatusOr<std::string> capture(const std::vector<std::string>& argv) {
  std::string joined;
  for (const auto& a : argv) joined += a + " ";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen((joined + "2>/dev/null").c_str(), "r"), pclose);
  if (!pipe) return unavailable("cannot run " + joined);
  std::string out;
  std::array<char, 4096> buffer;
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe.get()))
    out.append(buffer.data(), n);
  return out;
}

// One-way tag bandwidth of ucx_perftest at `bytes` per message, in MB/s (its "average" column).
StatusOr<double> perftest_bandwidth(int64_t bytes) {
  const std::string size = std::to_string(bytes);
  pid_t server;
  const char* server_argv[] = {"ucx_perftest", "-p", "13337", nullptr};
  posix_spawn_file_actions_t quiet;
  posix_spawn_file_actions_init(&quiet);
  posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&quiet, 2, "/dev/null", O_WRONLY, 0);
  const int spawned = posix_spawnp(&server, "ucx_perftest", &quiet, nullptr,
                                   const_cast<char**>(server_argv), environ);
  posix_spawn_file_actions_destroy(&quiet);
  if (spawned != 0) return unavailable("ucx_perftest not found (package ucx-utils)");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the server bind
  RM_ASSIGN_OR_RETURN(std::string out, capture({"ucx_perftest", "127.0.0.1", "-p", "13337", "-t",
                                                "tag_bw", "-s", size, "-n", "200", "-w", "20"}));
  int status = 0;
  waitpid(server, &status, 0);
  // The final line of the table holds: iterations, latency (typical, avg, overall), bandwidth
  // (avg, overall) in MB/s, message rate (avg, overall).
  double best = 0;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::vector<double> numbers;
    for (std::string f; fields >> f;) {
      if (f == "Final:") continue;
      try {
        numbers.push_back(std::stod(f));
      } catch (...) {
        numbers.clear();
        break;
      }
    }
    if (numbers.size() >= 8) best = numbers[5];  // overall bandwidth, MB/s
  }
  if (best <= 0) return unavailable("could not parse ucx_perftest output");
  return best;
}

// UcxComm one-way bandwidth at `bytes` per message between two ranks, MB/s.
StatusOr<double> ucxcomm_bandwidth(int64_t bytes, int messages) {
  RM_ASSIGN_OR_RETURN(auto group, make_ucx_group(2));
  std::vector<std::byte> send(static_cast<size_t>(bytes)), recv(static_cast<size_t>(bytes));
  Status receiver_status;
  const auto start = Clock::now();
  std::thread receiver([&] {
    for (int i = 0; i < messages && receiver_status.ok(); ++i) {
      auto r = group[1]->irecv(0, recv, comm::Tag{0, static_cast<uint32_t>(i), 9});
      receiver_status = r.ok() ? r->wait(comm::step_deadline(*group[1])) : r.status();
    }
  });
  Status sender_status;
  for (int i = 0; i < messages && sender_status.ok(); ++i) {
    auto s = group[0]->isend(1, send, comm::Tag{0, static_cast<uint32_t>(i), 9});
    sender_status = s.ok() ? s->wait(comm::step_deadline(*group[0])) : s.status();
  }
  receiver.join();
  RM_RETURN_IF_ERROR(sender_status);
  RM_RETURN_IF_ERROR(receiver_status);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(bytes) * messages / seconds / 1e6;
}

}  // namespace

StatusOr<std::vector<RingBenchRow>> run_ring_bench(const RingBenchOptions& options) {
  std::vector<RingBenchRow> rows;
  std::vector<bool> auth_modes;
  for (const std::string& mode : options.data_auth) {
    if (mode != "off" && mode != "on") {
      return invalid_argument("--data-auth takes off and/or on, not '" + mode + "'");
    }
    auth_modes.push_back(mode == "on");
  }
  std::printf("%7s %8s %10s %10s %6s %5s %8s %9s %8s %12s %10s %6s\n", "workers", "tokens", "plan",
              "cp", "causal", "auth", "wall_s", "compute_s", "wait_s", "bytes_moved", "tokens/s",
              "eff");
  for (const std::string& cp : options.context_parallels) {
    const bool hybrid = cp == "hybrid";
    const std::string cp_label = hybrid ? "hybrid U" + std::to_string(options.ulysses_degree) : cp;
    for (int64_t tokens : options.tokens) {
      for (const std::string& plan : options.plans) {
        double single = 0;  // 1-rank throughput of this (tokens, plan)
        for (int world : options.workers) {
          if (hybrid && world % options.ulysses_degree != 0) {
            std::printf("%7d %8lld %10s %10s  skipped: --ulysses-degree %d does not divide %d\n",
                        world, static_cast<long long>(tokens), plan.c_str(), cp_label.c_str(),
                        options.ulysses_degree, world);
            continue;
          }
          for (bool auth : auth_modes) {
            RM_ASSIGN_OR_RETURN(RingBenchRow row, run_row(options, world, tokens, plan, cp, auth));
            if (world == 1 && single == 0) single = row.tokens_per_s;
            if (single == 0) {
              // A hybrid on one rank is the ring on one rank.
              RM_ASSIGN_OR_RETURN(RingBenchRow one,
                                  run_row(options, 1, tokens, plan, hybrid ? "ring" : cp, false));
              single = one.tokens_per_s;
            }
            row.efficiency = row.tokens_per_s / (world * single);
            std::printf("%7d %8lld %10s %10s %6s %5s %8.3f %9.3f %8.3f %12lld %10.0f %6.2f\n",
                        world, static_cast<long long>(tokens), plan.c_str(), cp_label.c_str(),
                        row.causal ? "yes" : "no", row.data_auth ? "on" : "off", row.wall_s,
                        row.compute_s, row.wait_s, static_cast<long long>(row.bytes_moved),
                        row.tokens_per_s, row.efficiency);
            std::fflush(stdout);
            rows.push_back(row);
          }
        }
      }
    }
  }
  // The MAC's cost: each authenticated row's wall time over the same row's without (noisy on a
  // shared machine), and the sealing and checking of the largest row's bytes timed alone.
  if (std::find(auth_modes.begin(), auth_modes.end(), true) != auth_modes.end()) {
    const int64_t tokens = *std::max_element(options.tokens.begin(), options.tokens.end());
    const int64_t block = tokens / 2 * (2 * options.n_kv_heads * options.head_dim * 4 + 12);
    double moved = 0;
    for (const RingBenchRow& row : rows) {
      if (row.tokens == tokens) moved = std::max(moved, static_cast<double>(row.bytes_moved));
    }
    comm::DataPlaneKey key;
    key.fill(std::byte{0x5a});
    const comm::MessageSealer sealer(key, "bench", 0);
    std::vector<std::byte> payload(static_cast<size_t>(block), std::byte{1});
    std::vector<std::byte> wire(comm::kSealHeaderBytes + payload.size());
    const comm::SealContext context{0, 1, comm::Tag{0, 0, 1}, 0};
    constexpr int kRounds = 5;
    const auto start = Clock::now();
    for (int i = 0; i < kRounds; ++i) {
      sealer.seal(context, payload, wire);
      RM_RETURN_IF_ERROR(sealer.open(context, payload.size(), wire).status());
    }
    const double per_byte =
        std::chrono::duration<double>(Clock::now() - start).count() / (kRounds * double(block));
    std::printf(
        "data-plane auth alone: seal + check %.0f MB/s at %lld-byte blocks; the %.0f bytes "
        "the %lld-token rows moved cost %.3f s of work in all ranks together\n",
        1e-6 / per_byte, static_cast<long long>(block), moved, static_cast<long long>(tokens),
        per_byte * moved);
  }
  for (const RingBenchRow& on : rows) {
    if (!on.data_auth || on.workers == 1) continue;
    for (const RingBenchRow& off : rows) {
      if (off.data_auth || off.workers != on.workers || off.tokens != on.tokens ||
          off.plan != on.plan || off.context_parallel != on.context_parallel) {
        continue;
      }
      std::printf(
          "data-plane auth: %d workers, %lld tokens, %s/%s: wall %.3f s vs %.3f s, ratio "
          "%.3f (%+.1f%%), compute %.3f vs %.3f s, wait %.3f vs %.3f s\n",
          on.workers, static_cast<long long>(on.tokens), on.plan.c_str(),
          on.context_parallel.c_str(), on.wall_s, off.wall_s, on.wall_s / off.wall_s,
          100.0 * (on.wall_s / off.wall_s - 1.0), on.compute_s, off.compute_s, on.wait_s,
          off.wait_s);
    }
  }
  if (options.perftest) {
    // The ring's message: one rank's K and V block (and positions) at the largest row.
    const int64_t tokens = *std::max_element(options.tokens.begin(), options.tokens.end());
    const int64_t block = tokens / 2 * (2 * options.n_kv_heads * options.head_dim * 4 + 12);
    RM_ASSIGN_OR_RETURN(double ours, ucxcomm_bandwidth(block, 20));
    auto theirs = perftest_bandwidth(block);
    if (theirs.ok()) {
      std::printf("UcxComm %.0f MB/s vs ucx_perftest tag_bw %.0f MB/s at %lld-byte blocks: %.2f\n",
                  ours, *theirs, static_cast<long long>(block), ours / *theirs);
    } else {
      std::printf("UcxComm %.0f MB/s at %lld-byte blocks (%s)\n", ours,
                  static_cast<long long>(block), theirs.status().to_string().c_str());
    }
  }
  if (!options.json_path.empty()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rows) {
      out.push_back({{"workers", r.workers},
                     {"tokens", r.tokens},
                     {"plan", r.plan},
                     {"context_parallel", r.context_parallel},
                     {"ulysses_degree", r.ulysses_degree},
                     {"causal", r.causal},
                     {"data_auth", r.data_auth},
                     {"wall_s", r.wall_s},
                     {"compute_s", r.compute_s},
                     {"wait_s", r.wait_s},
                     {"bytes_moved", r.bytes_moved},
                     {"tokens_per_s", r.tokens_per_s},
                     {"efficiency", r.efficiency}});
    }
    std::ofstream file(options.json_path);
    file << out.dump(2) << "\n";
    if (!file) return data_loss(options.json_path + ": write failed");
  }
  return rows;
}

}  // namespace ringmaster::bench
