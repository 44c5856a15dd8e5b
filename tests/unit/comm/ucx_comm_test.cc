// UcxComm beyond the conformance suite: status conversion, bootstrap arguments, and two real
// processes talking over UCX (TCP, and shared memory), including a peer killed with SIGKILL.
// Built only when RINGMASTER_UCX is on (tests/CMakeLists.txt), so it includes the UCX header.
#include "comm/ucx/ucx_comm.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <ucp/api/ucp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "comm/authenticated_comm.h"
#include "tests/testing/time_slack.h"
#include "tests/unit/comm/comm_test_util.h"
#include "tests/unit/comm/ucx_pair.h"

extern char** environ;

namespace ringmaster::comm {
namespace {

using ringmaster::testing::slack;
using ringmaster::testing::time_slack;

TEST(UcsStatus, ConvertsByKindAndNamesThePlace) {
  EXPECT_TRUE(ucs_status(UCS_OK).ok());
  const Status timeout = ucs_status(UCS_ERR_ENDPOINT_TIMEOUT);
  EXPECT_EQ(timeout.code(), StatusCode::kUnavailable);
  EXPECT_NE(timeout.message().find("ucx_comm_test.cc:"), std::string::npos) << timeout.message();
  EXPECT_NE(timeout.message().find("(-80)"), std::string::npos) << timeout.message();
  EXPECT_EQ(ucs_status(UCS_ERR_CONNECTION_RESET).code(), StatusCode::kUnavailable);
  EXPECT_EQ(ucs_status(UCS_ERR_UNREACHABLE).code(), StatusCode::kUnavailable);
  EXPECT_EQ(ucs_status(UCS_ERR_MESSAGE_TRUNCATED).code(), StatusCode::kDataLoss);
  EXPECT_EQ(ucs_status(UCS_ERR_TIMED_OUT).code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ucs_status(UCS_ERR_CANCELED).code(), StatusCode::kCancelled);
  EXPECT_EQ(ucs_status(UCS_ERR_INVALID_PARAM).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ucs_status(UCS_ERR_NO_MEMORY).code(), StatusCode::kInternal);
}

TEST(UcxBootstrap, RejectsBadConnectArguments) {
  StatusOr<std::unique_ptr<UcxBootstrap>> boot = UcxBootstrap::create({.transports = "tcp"});
  ASSERT_TRUE(boot.ok()) << boot.status().to_string();
  const std::vector<std::byte> self = (*boot)->address();
  EXPECT_FALSE(self.empty());
  const auto timeout = std::chrono::seconds(1);
  EXPECT_EQ((*boot)->connect(0, {}, timeout).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*boot)->connect(2, {self, self}, timeout).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ((*boot)->connect(0, {self, {}}, timeout).status().code(), StatusCode::kInvalidArgument);
  // A world of one needs no endpoints; the bootstrap is spent afterwards.
  StatusOr<std::unique_ptr<Communicator>> comm = (*boot)->connect(0, {{}}, timeout);
  ASSERT_TRUE(comm.ok()) << comm.status().to_string();
  EXPECT_EQ((*comm)->size(), 1);
  EXPECT_EQ((*boot)->connect(0, {{}}, timeout).status().code(), StatusCode::kFailedPrecondition);
}

TEST(UcxBootstrap, UnknownTransportFailsCleanly) {
  StatusOr<std::unique_ptr<UcxBootstrap>> boot =
      UcxBootstrap::create({.transports = "no_such_transport"});
  ASSERT_FALSE(boot.ok());
  EXPECT_EQ(boot.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(boot.status().message().find("no_such_transport"), std::string::npos)
      << boot.status().to_string();
}

// Destroying an unfinished send cannot stop UCX reading its buffer, so it breaks the connection
// to that peer (fail-stop): later calls for the peer are kUnavailable, others are unaffected.
TEST(UcxComm, DroppedUnfinishedSendAbandonsThePeer) {
  auto group = testing::make_group("ucx", "tcp", 3, std::chrono::seconds(10));
  ASSERT_TRUE(group.ok()) << group.status().to_string();
  Communicator& rank0 = *(*group)[0];
  const std::vector<std::byte> large = testing::pattern(0, 1, 0, size_t{4} << 20);
  {
    // Rank 1 never posts the receive, so a rendezvous-sized send stays incomplete.
    StatusOr<Request> send = rank0.isend(1, large, Tag{1, 0, 1});
    ASSERT_TRUE(send.ok()) << send.status().to_string();
    if (send->test()) GTEST_SKIP() << "the transport buffered 4 MiB eagerly";
  }
  EXPECT_EQ(rank0.isend(1, large, Tag{1, 0, 2}).status().code(), StatusCode::kUnavailable);
  // Rank 2 is still reachable.
  const std::vector<Status> statuses = testing::run_ranks(*group, [](Communicator& comm) -> Status {
    if (comm.rank() == 1) return ok_status();
    std::vector<std::byte> value(8);
    if (comm.rank() == 0) {
      RM_ASSIGN_OR_RETURN(Request r, comm.isend(2, value, Tag{2, 0, 1}));
      return r.wait(step_deadline(comm));
    }
    RM_ASSIGN_OR_RETURN(Request r, comm.irecv(0, value, Tag{2, 0, 1}));
    return r.wait(step_deadline(comm));
  });
  for (const Status& s : statuses) EXPECT_TRUE(s.ok()) << s.to_string();
  testing::destroy_group(*group);
}

// A third UCX endpoint that reached rank 0 (it has rank 0's worker address) sends a block on the
// wire tag of a real step, claiming to be rank 1, before rank 1 does. UcxComm matches it (ucp
// matches on the tag alone); AuthenticatedComm refuses it, and the genuine block still arrives
// (RELIABILITY.md S7: never silently wrong).
TEST(UcxComm, AuthenticatedCommRefusesABlockForgedByAThirdEndpoint) {
  for (const char* transports : {"tcp", ""}) {
    SCOPED_TRACE(std::string("transports '") + transports + "'");
    std::vector<std::unique_ptr<CommBootstrap>> boots;
    std::vector<std::vector<std::byte>> addresses;
    for (int r = 0; r < 2; ++r) {
      StatusOr<std::unique_ptr<UcxBootstrap>> boot =
          UcxBootstrap::create({.transports = transports});
      ASSERT_TRUE(boot.ok()) << boot.status().to_string();
      addresses.push_back((*boot)->address());
      boots.push_back(std::move(boot).value());
    }
    std::vector<std::unique_ptr<Communicator>> raw;
    for (int r = 0; r < 2; ++r) {
      auto comm = boots[static_cast<size_t>(r)]->connect(r, addresses, std::chrono::seconds(10));
      ASSERT_TRUE(comm.ok()) << comm.status().to_string();
      raw.push_back(std::move(comm).value());
    }
    DataPlaneKey key;
    key.fill(std::byte{0x33});
    auto auth0 = std::make_unique<AuthenticatedComm>(*raw[0], key, "job", 0);
    auto auth1 = std::make_unique<AuthenticatedComm>(*raw[1], key, "job", 0);
    AuthenticatedComm& rank0 = *auth0;
    AuthenticatedComm& rank1 = *auth1;

    // The forger: its own context, worker and endpoint, as another process would make them.
    ucp_config_t* config = nullptr;
    ASSERT_EQ(ucp_config_read(nullptr, nullptr, &config), UCS_OK);
    if (*transports != '\0') {
      ASSERT_EQ(ucp_config_modify(config, "TLS", transports), UCS_OK);
    }
    ucp_params_t params{};
    params.field_mask = UCP_PARAM_FIELD_FEATURES;
    params.features = UCP_FEATURE_TAG;
    ucp_context_h context = nullptr;
    ASSERT_EQ(ucp_init(&params, config, &context), UCS_OK);
    ucp_config_release(config);
    ucp_worker_params_t worker_params{};
    ucp_worker_h worker = nullptr;
    ASSERT_EQ(ucp_worker_create(context, &worker_params, &worker), UCS_OK);
    ucp_ep_params_t ep_params{};
    ep_params.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS;
    ep_params.address = reinterpret_cast<const ucp_address_t*>(addresses[0].data());
    ucp_ep_h ep = nullptr;
    ASSERT_EQ(ucp_ep_create(worker, &ep_params, &ep), UCS_OK);

    const Tag tag{0, 0, 1};  // the ring's first step
    const std::vector<std::byte> genuine = testing::pattern(1, 0, 0, 4096);
    std::vector<std::byte> forged(kSealHeaderBytes + genuine.size(), std::byte{0x41});
    std::memcpy(forged.data(), "RMD1", 4);  // looks right, MAC made up
    const uint64_t wire = (uint64_t{1} << 48) | tag.packed();
    ucp_request_param_t send_param{};
    void* send = ucp_tag_send_nbx(ep, forged.data(), forged.size(), wire, &send_param);
    ASSERT_FALSE(UCS_PTR_IS_ERR(send));

    std::vector<std::byte> in(genuine.size());
    StatusOr<Request> recv = rank0.irecv(1, in, tag);
    ASSERT_TRUE(recv.ok()) << recv.status().to_string();
    // Progress both until rank 0 has refused the forgery.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (rank0.rejected().count == 0 && std::chrono::steady_clock::now() < deadline) {
      ucp_worker_progress(worker);
      EXPECT_FALSE(recv->test());
    }
    ASSERT_EQ(rank0.rejected().count, 1u);
    std::thread sender([&] {
      StatusOr<Request> s = rank1.isend(0, genuine, tag);
      ASSERT_TRUE(s.ok()) << s.status().to_string();
      EXPECT_TRUE(s->wait(step_deadline(rank1)).ok());
    });
    const Status status = recv->wait(step_deadline(rank0));
    sender.join();
    EXPECT_TRUE(status.ok()) << status.to_string();
    EXPECT_EQ(in, genuine);
    EXPECT_EQ(rank0.rejected().count, 1u);

    if (UCS_PTR_IS_PTR(send)) {
      while (ucp_request_check_status(send) == UCS_INPROGRESS) ucp_worker_progress(worker);
      ucp_request_free(send);
    }
    ucp_request_param_t close_param{};
    close_param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    close_param.flags = UCP_EP_CLOSE_FLAG_FORCE;
    void* close = ucp_ep_close_nbx(ep, &close_param);
    if (UCS_PTR_IS_PTR(close)) {
      while (ucp_request_check_status(close) == UCS_INPROGRESS) ucp_worker_progress(worker);
      ucp_request_free(close);
    }
    ucp_worker_destroy(worker);
    ucp_cleanup(context);
    recv = Request();
    auth0.reset();
    auth1.reset();
    testing::destroy_group(raw);
  }
}

// Messages that arrive before their receive wait in a bounded store, in arrival order, and are
// delivered from it (rendezvous ones too); beyond kUcxMaxUnexpectedMessages the newest are
// dropped, so a flood cannot grow this process without limit (RELIABILITY.md S7).
TEST(UcxComm, EarlyMessagesAreKeptInOrderUpToTheBound) {
  for (const char* transports : {"tcp", ""}) {
    SCOPED_TRACE(std::string("transports '") + transports + "'");
    auto group = testing::make_group("ucx", transports, 2, std::chrono::seconds(20));
    ASSERT_TRUE(group.ok()) << group.status().to_string();
    constexpr int kLarge = 2;
    const int small = static_cast<int>(kUcxMaxUnexpectedMessages) - kLarge + 10;  // 10 too many
    const Tag small_tag{3, 0, 1}, large_tag{3, 1, 1}, done_tag{3, 9, 9};
    const std::vector<Status> statuses =
        testing::run_ranks(*group, [&](Communicator& comm) -> Status {
          if (comm.rank() == 1) {
            std::vector<std::vector<std::byte>> large;
            std::vector<Request> pending;
            for (int i = 0; i < kLarge; ++i) {
              large.push_back(testing::pattern(1, 0, i, size_t{4} << 20));
              RM_ASSIGN_OR_RETURN(Request r, comm.isend(0, large.back(), large_tag));
              pending.push_back(std::move(r));
            }
            for (int64_t i = 0; i < small; ++i) {
              RM_ASSIGN_OR_RETURN(Request r, comm.isend(0, as_bytes(std::span(&i, 1)), small_tag));
              RM_RETURN_IF_ERROR(r.wait(step_deadline(comm)));
            }
            std::byte done{1};
            RM_ASSIGN_OR_RETURN(Request r, comm.isend(0, ConstView(&done, 1), done_tag));
            RM_RETURN_IF_ERROR(r.wait(step_deadline(comm)));
            for (Request& p : pending) RM_RETURN_IF_ERROR(p.wait(step_deadline(comm)));
            return ok_status();
          }
          // Everything rank 1 sent before `done` arrived (in order) while this waited.
          std::byte done{0};
          RM_ASSIGN_OR_RETURN(Request r, comm.irecv(1, MutableView(&done, 1), done_tag));
          RM_RETURN_IF_ERROR(r.wait(step_deadline(comm)));
          const int kept = static_cast<int>(kUcxMaxUnexpectedMessages) - kLarge;
          for (int64_t i = 0; i < kept; ++i) {
            int64_t got = -1;
            RM_ASSIGN_OR_RETURN(Request s,
                                comm.irecv(1, as_writable_bytes(std::span(&got, 1)), small_tag));
            RM_RETURN_IF_ERROR(s.wait(step_deadline(comm)));
            if (got != i)
              return internal_error("small message " + std::to_string(i) + " is " +
                                    std::to_string(got));
          }
          int64_t extra = -1;
          RM_ASSIGN_OR_RETURN(Request s,
                              comm.irecv(1, as_writable_bytes(std::span(&extra, 1)), small_tag));
          const Status dropped =
              s.wait(std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
          if (dropped.code() != StatusCode::kDeadlineExceeded) {
            return internal_error("a message beyond the bound arrived: " + dropped.to_string() +
                                  " value " + std::to_string(extra));
          }
          for (int i = 0; i < kLarge; ++i) {
            std::vector<std::byte> got(size_t{4} << 20);
            RM_ASSIGN_OR_RETURN(Request l, comm.irecv(1, got, large_tag));
            RM_RETURN_IF_ERROR(l.wait(step_deadline(comm)));
            if (const std::string bad = testing::first_mismatch(got, 1, 0, i); !bad.empty()) {
              return internal_error("large message: " + bad);
            }
          }
          return ok_status();
        });
    for (const Status& s : statuses) EXPECT_TRUE(s.ok()) << s.to_string();
    testing::destroy_group(*group);
  }
}

// Closing flushes each endpoint, and over TCP UCX 1.13 completes that flush only once the peer
// has finished wiring up the connection, which takes the peer's own progress. Ranks that close
// together (after a final collective) are quick; a rank that closes beside an idle peer waits
// out kUcxCloseTimeout, and no longer.
TEST(UcxComm, ClosingIsQuickTogetherAndBoundedBesideAnIdlePeer) {
  for (const char* transports : {"tcp", ""}) {
    SCOPED_TRACE(std::string("transports '") + transports + "'");
    for (bool together : {true, false}) {
      auto group = testing::make_group("ucx", transports, 2, std::chrono::seconds(10));
      ASSERT_TRUE(group.ok()) << group.status().to_string();
      const std::vector<Status> statuses =
          testing::run_ranks(*group, [](Communicator& comm) -> Status {
            std::vector<std::byte> value(64);
            RM_ASSIGN_OR_RETURN(Request recv, comm.irecv(1 - comm.rank(), value, Tag{1, 0, 1}));
            RM_ASSIGN_OR_RETURN(Request send, comm.isend(1 - comm.rank(), value, Tag{1, 0, 1}));
            RM_RETURN_IF_ERROR(recv.wait(step_deadline(comm)));
            return send.wait(step_deadline(comm));
          });
      for (const Status& s : statuses) ASSERT_TRUE(s.ok()) << s.to_string();
      const auto start = std::chrono::steady_clock::now();
      if (together) {
        testing::destroy_group(*group);
      } else {
        (*group)[0].reset();
      }
      const auto took = std::chrono::steady_clock::now() - start;
      std::printf("closing %s (transports '%s'): %.1f ms\n",
                  together ? "together" : "beside an idle peer", transports,
                  std::chrono::duration<double, std::milli>(took).count());
      EXPECT_LT(took,
                slack(std::chrono::duration_cast<std::chrono::milliseconds>(
                    together ? kUcxCloseTimeout / 2 : kUcxCloseTimeout + kUcxCloseTimeout / 2)));
      testing::destroy_group(*group);
    }
  }
}

// A child process running ucx_pair_main as rank 1, with pipes to its stdin and stdout.
// Killed and reaped on destruction if still running.
class PairChild {
 public:
  static StatusOr<std::unique_ptr<PairChild>> spawn(const std::string& scenario,
                                                    const std::string& transports,
                                                    int keepalive_ms) {
    int to_child[2];
    int from_child[2];
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) {
      return errno_status("pipe2", errno);
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
    const std::string path = RINGMASTER_UCX_PAIR_PATH;
    const std::string keepalive = std::to_string(keepalive_ms);
    std::vector<char*> argv = {
        const_cast<char*>(path.c_str()), const_cast<char*>(scenario.c_str()),
        const_cast<char*>(transports.empty() ? "default" : transports.c_str()),
        const_cast<char*>(keepalive.c_str()), nullptr};
    pid_t pid = 0;
    const int err = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(to_child[0]);
    ::close(from_child[1]);
    auto child = std::unique_ptr<PairChild>(new PairChild(pid, to_child[1], from_child[0]));
    if (err != 0) {
      child->pid_ = -1;
      return errno_status(path, err);
    }
    return child;
  }

  ~PairChild() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      (void)wait_exit();
    }
    ::close(to_child_);
    ::close(from_child_);
  }

  int to_child() const { return to_child_; }
  int from_child() const { return from_child_; }

  void kill_now() { ::kill(pid_, SIGKILL); }

  // Reaps the child: its exit code, or 128 + signal.
  int wait_exit() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  PairChild(pid_t pid, int to_child, int from_child)
      : pid_(pid), to_child_(to_child), from_child_(from_child) {}

  pid_t pid_;
  int to_child_;
  int from_child_;
};

struct PairCase {
  std::string transports;  // "" = UCX's choice: shared memory on one host
};

void PrintTo(const PairCase& c, std::ostream* os) {
  *os << (c.transports.empty() ? "default transports" : c.transports);
}

std::string pair_case_name(const ::testing::TestParamInfo<PairCase>& info) {
  return info.param.transports.empty() ? "default" : info.param.transports;
}

// Keepalive rounds bound how long a killed peer on shared memory goes unnoticed.
constexpr int kKeepaliveMs = 200;

class UcxTwoProcess : public ::testing::TestWithParam<PairCase> {
 protected:
  // Starts the child and connects to it as rank 0.
  void connect(const std::string& scenario) {
    CommSpec spec;
    spec.backend = CommSpec::kUcx;
    spec.ucx_transports = GetParam().transports;
    spec.ucx_keepalive_interval = std::chrono::milliseconds(kKeepaliveMs);
    StatusOr<std::unique_ptr<CommBootstrap>> boot = make_bootstrap(spec);
    ASSERT_TRUE(boot.ok()) << boot.status().to_string();
    StatusOr<std::unique_ptr<PairChild>> child =
        PairChild::spawn(scenario, GetParam().transports, kKeepaliveMs);
    ASSERT_TRUE(child.ok()) << child.status().to_string();
    child_ = std::move(*child);
    ASSERT_TRUE(testing::write_address(child_->to_child(), (*boot)->address()).ok());
    StatusOr<std::vector<std::byte>> peer = testing::read_address(child_->from_child());
    ASSERT_TRUE(peer.ok()) << peer.status().to_string();
    StatusOr<std::unique_ptr<Communicator>> comm =
        (*boot)->connect(0, {(*boot)->address(), *peer}, std::chrono::seconds(10));
    ASSERT_TRUE(comm.ok()) << comm.status().to_string();
    comm_ = std::move(*comm);
  }

  std::unique_ptr<PairChild> child_;
  std::unique_ptr<Communicator> comm_;
};

TEST_P(UcxTwoProcess, ExchangesMessages) {
  ASSERT_NO_FATAL_FAILURE(connect("exchange"));
  const Status status = testing::run_pair_exchange(*comm_);
  EXPECT_TRUE(status.ok()) << status.to_string();
  comm_.reset();  // flush-closes while the child is still there to acknowledge
  EXPECT_EQ(child_->wait_exit(), 0);
}

// A SIGKILLed peer turns a pending receive into kUnavailable naming it, well before the step
// deadline: at once over TCP (the socket closes), within keepalive rounds over shared memory.
TEST_P(UcxTwoProcess, KilledPeerIsUnavailable) {
  ASSERT_NO_FATAL_FAILURE(connect("hold"));
  ASSERT_TRUE(testing::run_pair_exchange(*comm_).ok());
  std::vector<std::byte> never(8);
  StatusOr<Request> recv = comm_->irecv(1, never, testing::kHeldTag);
  ASSERT_TRUE(recv.ok());
  child_->kill_now();
  EXPECT_EQ(child_->wait_exit(), 128 + SIGKILL);  // reaped: no zombie to look alive
  const auto start = std::chrono::steady_clock::now();
  const Status status = recv->wait(start + std::chrono::seconds(10));
  const double detect_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.to_string();
  EXPECT_NE(status.message().find("rank 1 failed"), std::string::npos) << status.to_string();
  EXPECT_LT(detect_ms, 5000.0 * time_slack());
  RecordProperty("detect_ms", std::to_string(static_cast<int>(detect_ms)));
  std::printf("peer failure detected after %.1f ms: %s\n", detect_ms, status.to_string().c_str());
  // Sends to the dead peer fail too, and closing does not hang.
  const std::vector<std::byte> value(8);
  StatusOr<Request> send = comm_->isend(1, value, Tag{9, 0, 1});
  EXPECT_EQ(send.status().code(), StatusCode::kUnavailable);
  const auto close_start = std::chrono::steady_clock::now();
  comm_.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - close_start,
            slack(std::chrono::duration_cast<std::chrono::milliseconds>(kUcxCloseTimeout +
                                                                        std::chrono::seconds(1))));
}

INSTANTIATE_TEST_SUITE_P(Transports, UcxTwoProcess,
                         ::testing::Values(PairCase{"tcp"}, PairCase{""}), pair_case_name);

}  // namespace
}  // namespace ringmaster::comm
