// The `ringmaster` command line. Subcommands parse their flags here and call into the rooms
// below; this is the only place that reads the environment or decides exit codes.
//
// Exit codes: 0 success; 1 the job failed at run time; 2 bad command line (CLI11's own code).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "bench/kernel_bench.h"
#include "core/logging.h"

namespace {

constexpr int kExitFailed = 1;

int report(const ringmaster::Status& status) {
  if (status.ok()) return 0;
  std::fprintf(stderr, "ringmaster: %s\n", status.to_string().c_str());
  return kExitFailed;
}

void add_bench_kernel(CLI::App& bench, ringmaster::bench::KernelBenchOptions& options) {
  CLI::App* kernel = bench.add_subcommand(
      "kernel", "CPU attention block kernel vs OpenBLAS sgemm, and peak memory at long L");
  kernel->add_option("--json", options.json_path, "also write the rows as a JSON array here");
  kernel->add_option("--lengths", options.lengths, "sequence lengths Lq = Lk")
      ->delimiter(',')
      ->capture_default_str();
  kernel->add_option("--head-dims", options.head_dims, "head dimensions")
      ->delimiter(',')
      ->capture_default_str();
  kernel->add_option("--threads", options.threads, "thread counts")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  kernel
      ->add_option("--rss-length", options.rss_length,
                   "length of the peak-memory row (one head); 0 skips it")
      ->capture_default_str();
  kernel->add_flag("--quiet", options.quiet, "no table on stdout");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ringmaster: exact long-context inference over many workers"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
      ->capture_default_str();

  CLI::App* bench = app.add_subcommand("bench", "benchmarks (never timed tests)");
  bench->require_subcommand(1);
  ringmaster::bench::KernelBenchOptions kernel_options;
  add_bench_kernel(*bench, kernel_options);

  CLI11_PARSE(app, argc, argv);
  if (const auto status = ringmaster::configure_logging("ringmaster", log_level); !status.ok()) {
    return report(status);
  }
  if (bench->got_subcommand("kernel")) {
    return report(ringmaster::bench::run_kernel_bench(kernel_options).status());
  }
  return 0;
}
