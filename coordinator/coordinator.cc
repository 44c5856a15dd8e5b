#include "coordinator/coordinator.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <filesystem>
#include <optional>

#include "proto/validate.h"

namespace ringmaster::coordinator {

namespace asio = boost::asio;

Status run_coordinator(const proto::JobToken& token, const CoordinatorOptions& options) {
  RM_RETURN_IF_ERROR(proto::validate_job_spec(options.job));
  RM_RETURN_IF_ERROR(proto::validate_comm_config(options.comm));
  if (options.comm.backend() == pb::COMM_BACKEND_LOCAL && options.job.world() != 1) {
    return invalid_argument("the local data plane joins a single worker; " +
                            std::to_string(options.job.world()) + " need --comm ucx");
  }
  if (options.output_path.empty()) return invalid_argument("no output path");
  // Refuse a job whose output cannot be written before any worker spends time on it.
  const std::filesystem::path parent = std::filesystem::absolute(options.output_path).parent_path();
  if (!std::filesystem::is_directory(parent) || ::access(parent.c_str(), W_OK) != 0) {
    return invalid_argument(options.output_path + ": the directory " + parent.string() +
                            " does not exist or is not writable");
  }
  RM_ASSIGN_OR_RETURN(ResultAssembler assembler, ResultAssembler::make(options.job));

  asio::io_context io(1);
  Strand strand = asio::make_strand(io);
  std::optional<Status> outcome;
  std::optional<Server> server;
  asio::signal_set signals(strand);

  JobRunner runner(strand, options.job, options.comm, options.job_knobs, options.output_path,
                   std::move(assembler), [&](const Status& status) {
                     outcome = status;
                     server->stop();
                     boost::system::error_code ignored;
                     signals.cancel(ignored);
                     io.stop();
                   });
  server.emplace(strand, token, options.server_knobs,
                 [&runner](std::shared_ptr<proto::Connection> connection, const pb::Hello& hello) {
                   runner.adopt(std::move(connection), hello);
                 });
  RM_RETURN_IF_ERROR(server->listen(options.listen_host, options.listen_port));
  spdlog::info("job {}: listening on {}:{} for {} workers", options.job.job_id(),
               options.listen_host, server->port(), options.job.world());
  if (options.on_listening) options.on_listening(server->port());

  if (options.handle_signals) {
    signals.add(SIGINT);
    signals.add(SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
      if (ec) return;
      runner.cancel(
          cancelled(std::string("stopped by ") + (signal_number == SIGINT ? "SIGINT" : "SIGTERM")));
    });
  }
  asio::post(strand, [&] {
    runner.start();
    server->start();
  });
  io.run();
  if (!outcome) return internal_error("coordinator stopped without an outcome");
  return *outcome;
}

}  // namespace ringmaster::coordinator
