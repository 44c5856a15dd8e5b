#include "comm/make_communicator.h"

#include "comm/local_comm.h"

#if RINGMASTER_HAVE_UCX
#include "comm/ucx/ucx_comm.h"
#endif
#if RINGMASTER_HAVE_NCCL
#include "comm/nccl/nccl_comm.h"
#endif

namespace ringmaster::comm {

namespace {

// A world of one: nothing to connect, so the local backend serves a single-process run.
class LocalBootstrap final : public CommBootstrap {
 public:
  std::vector<std::byte> address() const override { return {}; }

  StatusOr<std::unique_ptr<Communicator>> connect(
      int rank, const std::vector<std::vector<std::byte>>& peer_addresses,
      std::chrono::milliseconds step_timeout, ConstView /*job_id*/ = {}) override {
    if (connected_) return failed_precondition("local bootstrap: connect called twice");
    if (rank != 0 || peer_addresses.size() != 1) {
      return invalid_argument("local backend joins only a world of one rank (rank " +
                              std::to_string(rank) + " of " +
                              std::to_string(peer_addresses.size()) + "); use ucx");
    }
    connected_ = true;
    return std::move(LocalComm::make_local_group(1, step_timeout).front());
  }

 private:
  bool connected_ = false;
};

#if RINGMASTER_HAVE_UCX
constexpr bool kHaveUcx = true;
#else
constexpr bool kHaveUcx = false;
#endif
#if RINGMASTER_HAVE_NCCL
constexpr bool kHaveNccl = true;
#else
constexpr bool kHaveNccl = false;
#endif

}  // namespace

StatusOr<CommSpec::Backend> parse_backend(std::string_view name) {
  if (name == "local") return CommSpec::kLocal;
  if (name == "ucx") {
    if (!kHaveUcx) return invalid_argument("backend 'ucx' is not built in (RINGMASTER_UCX=OFF)");
    return CommSpec::kUcx;
  }
  if (name == "nccl") {
    if (!kHaveNccl) {
      return invalid_argument("backend 'nccl' is not built in (RINGMASTER_NCCL=OFF)");
    }
    return CommSpec::kNccl;
  }
  return invalid_argument("unknown communication backend '" + std::string(name) +
                          "' (local, ucx, nccl)");
}

const char* backend_name(CommSpec::Backend backend) {
  switch (backend) {
    case CommSpec::kLocal:
      return "local";
    case CommSpec::kUcx:
      return "ucx";
    case CommSpec::kNccl:
      return "nccl";
  }
  return "?";
}

std::vector<std::string> built_backends() {
  std::vector<std::string> names = {"local"};
  if (kHaveUcx) names.emplace_back("ucx");
  if (kHaveNccl) names.emplace_back("nccl");
  return names;
}

StatusOr<std::vector<std::byte>> make_job_id(const CommSpec& spec) {
  if (spec.backend != CommSpec::kNccl) return std::vector<std::byte>{};
#if RINGMASTER_HAVE_NCCL
  return make_nccl_unique_id();
#else
  return invalid_argument("backend 'nccl' is not built in (RINGMASTER_NCCL=OFF)");
#endif
}

StatusOr<std::unique_ptr<CommBootstrap>> make_bootstrap(const CommSpec& spec) {
  switch (spec.backend) {
    case CommSpec::kLocal:
      return std::unique_ptr<CommBootstrap>(std::make_unique<LocalBootstrap>());
    case CommSpec::kUcx: {
#if RINGMASTER_HAVE_UCX
      UcxOptions options;
      options.transports = spec.ucx_transports;
      options.shared_memory = spec.ucx_shared_memory;
      options.keepalive_interval = spec.ucx_keepalive_interval;
      options.net_devices = spec.data_interface;
      RM_ASSIGN_OR_RETURN(std::unique_ptr<UcxBootstrap> boot, UcxBootstrap::create(options));
      return std::unique_ptr<CommBootstrap>(std::move(boot));
#else
      return invalid_argument("backend 'ucx' is not built in (RINGMASTER_UCX=OFF)");
#endif
    }
    case CommSpec::kNccl: {
#if RINGMASTER_HAVE_NCCL
      NcclOptions options;
      options.local_rank = spec.local_rank;
      options.abort_timeout = spec.nccl_abort_timeout;
      RM_ASSIGN_OR_RETURN(std::unique_ptr<NcclBootstrap> boot, NcclBootstrap::create(options));
      return std::unique_ptr<CommBootstrap>(std::move(boot));
#else
      return invalid_argument("backend 'nccl' is not built in (RINGMASTER_NCCL=OFF)");
#endif
    }
  }
  return invalid_argument("unknown communication backend " +
                          std::to_string(static_cast<int>(spec.backend)));
}

}  // namespace ringmaster::comm
