// The coordinator in-process, over real loopback sockets: junk and idle connections are closed
// without disturbing the job, a real worker (worker::run_worker, local data plane) completes it,
// and scripted fake workers exercise the failure paths: lost, silent, bad results, join timeout.
#include "coordinator/coordinator.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "attention/check_job.h"
#include "comm/make_communicator.h"
#include "core/thread_pool.h"
#include "io/npy.h"
#include "proto/convert.h"
#include "proto/frame.h"
#include "proto/handshake.h"
#include "tests/testing/job_specs.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/time_slack.h"
#include "worker/worker.h"

namespace ringmaster::coordinator {
namespace {

using namespace std::chrono_literals;

const char kSecret[] = "0b4ff93b1610050d6720ca34f1c62a12";

proto::JobToken test_token() { return std::move(proto::JobToken::from_secret(kSecret)).value(); }

CoordinatorOptions options_for(int world, const std::string& out) {
  CoordinatorOptions o;
  o.job = ringmaster::testing::check_job_spec(world, 64);
  o.job.set_result_chunk_bytes(4096);
  pb::CheckJob* check = o.job.mutable_check();
  check->set_n_heads(2);
  check->set_head_dim(8);
  check->set_seed(3);
  o.job.set_output_path(out);
  o.job.mutable_heartbeat()->set_interval_ms(50);
  // Scripted fakes do not heartbeat; loaded CI is slow.
  o.job.mutable_heartbeat()->set_dead_after_ms(3000);
  o.job.set_join_timeout_ms(5000);
  o.job.set_auth_timeout_ms(300);
  o.flush_timeout = 500ms;
  o.handle_signals = false;
  return o;
}

// The coordinator on a thread; port() blocks until it listens.
class RunningCoordinator {
 public:
  explicit RunningCoordinator(CoordinatorOptions options) : token_(test_token()) {
    options.on_listening = [this](uint16_t port) { port_promise_.set_value(port); };
    thread_ = std::thread([this, options = std::move(options)] {
      outcome_.set_value(run_coordinator(token_, options));
    });
    auto port = port_promise_.get_future();
    if (port.wait_for(ringmaster::testing::slack(10s)) == std::future_status::ready) {
      port_ = port.get();
    }
    result_ = outcome_.get_future();
  }
  ~RunningCoordinator() { thread_.join(); }
  uint16_t port() const { return port_; }
  // The outcome, or a deadline_exceeded Status if it did not finish in time.
  Status outcome(std::chrono::milliseconds timeout = 10s) {
    timeout = ringmaster::testing::slack(timeout);
    if (result_.wait_for(timeout) != std::future_status::ready) {
      return deadline_exceeded("coordinator still running");
    }
    return result_.get();
  }

 private:
  proto::JobToken token_;
  std::promise<uint16_t> port_promise_;
  std::promise<Status> outcome_;
  std::future<Status> result_;
  uint16_t port_ = 0;
  std::thread thread_;
};

// A blocking socket speaking raw bytes or frames, for scripted peers.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawClient() { ::close(fd_); }
  bool connected() const { return connected_; }

  void send_bytes(const void* data, size_t n) { (void)!::send(fd_, data, n, MSG_NOSIGNAL); }
  template <typename T>
  void send_message(const T& message) {
    auto frame = proto::encode_frame(message);
    RM_CHECK(frame.ok());
    send_bytes(frame->data(), frame->size());
  }
  // True when the peer closes the connection within `timeout` times time_slack() (frames before
  // that are dropped).
  bool closed_within(std::chrono::milliseconds timeout) {
    timeout = ringmaster::testing::slack(timeout);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return true;
    }
  }
  // The next frame of `type`, skipping heartbeats; nullopt on close or after `timeout` times
  // time_slack().
  std::optional<proto::Frame> next(proto::MessageType type, std::chrono::milliseconds timeout) {
    timeout = ringmaster::testing::slack(timeout);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::array<std::byte, proto::kFrameHeaderBytes> header{};
      if (!read_exact(header.data(), header.size(), deadline)) return std::nullopt;
      auto parsed = proto::parse_frame_header(header, proto::kAllTypes);
      if (!parsed.ok()) return std::nullopt;
      proto::Frame frame{parsed->type, std::vector<std::byte>(parsed->length)};
      if (!read_exact(frame.payload.data(), frame.payload.size(), deadline)) return std::nullopt;
      if (frame.type == type) return frame;
    }
  }

 private:
  bool read_exact(std::byte* out, size_t n, std::chrono::steady_clock::time_point deadline) {
    size_t got = 0;
    while (got < n) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0ms || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      const ssize_t r = ::recv(fd_, out + got, n - got, 0);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
};

// Data-plane addresses of the shape validate_comm_address expects. The fakes never connect.
const std::string kFakeUcxAddress = std::string("\x20", 1) + std::string(15, '\x01');
const std::string kFakeNcclAddress = "fake 0000:01:00.0";

// Authenticates and registers `client` as a worker with `comm_address` (empty: the local
// backend's) and `speed` (--rank-weights auto); returns false if any step failed. `welcome`, when
// given, receives the coordinator's Welcome.
bool join(RawClient& client, const std::string& secret, int rank_hint = -1, int pid = 4242,
          const std::string& comm_address = "", double speed = 0, pb::Welcome* welcome = nullptr) {
  proto::JobToken token = std::move(proto::JobToken::from_secret(secret)).value();
  proto::ClientHandshake handshake(token, "fake", pid);
  client.send_message(*handshake.hello());
  auto challenge_frame = client.next(proto::MessageType::kChallenge, 2s);
  if (!challenge_frame) return false;
  auto challenge = proto::decode_frame<pb::Challenge>(*challenge_frame);
  if (!challenge.ok()) return false;
  auto response = handshake.on_challenge(*challenge);
  if (!response.ok()) return false;
  client.send_message(*response);
  const std::optional<proto::Frame> welcome_frame = client.next(proto::MessageType::kWelcome, 2s);
  if (!welcome_frame) return false;
  if (welcome != nullptr) {
    StatusOr<pb::Welcome> decoded = proto::decode_frame<pb::Welcome>(*welcome_frame);
    if (!decoded.ok()) return false;
    *welcome = *decoded;
  }
  pb::Register reg;
  reg.set_host("fake");
  reg.set_pid(pid);
  reg.set_rank_hint(rank_hint);
  reg.set_comm_address(comm_address);
  reg.set_speed(speed);
  client.send_message(reg);
  return true;
}

class CoordinatorTest : public ::testing::Test {
 protected:
  std::string out() const { return dir_.file("out.npy"); }
  bool dir_empty() const { return dir_.entries().empty(); }

  testing::TempDir dir_;
};

TEST_F(CoordinatorTest, JunkIsClosedAndARealWorkerCompletesTheJob) {
  RunningCoordinator coordinator(options_for(1, out()));
  ASSERT_NE(coordinator.port(), 0);

  RawClient http(coordinator.port());
  http.send_bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
  EXPECT_TRUE(http.closed_within(1s));

  RawClient huge(coordinator.port());  // a Hello header claiming 4 GiB
  const unsigned char header[16] = {0x52, 0x4d, 0x43, 0x50, 1, 0, 1, 0,
                                    0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
  huge.send_bytes(header, sizeof header);
  EXPECT_TRUE(huge.closed_within(1s));

  RawClient idle(coordinator.port());  // connect and say nothing: cut at auth_timeout (300 ms)
  EXPECT_TRUE(idle.closed_within(2s));

  RawClient wrong(coordinator.port());  // a worker that ignores the bad server proof
  {
    proto::JobToken token =
        std::move(proto::JobToken::from_secret("579db5b6f0da5602a49d7cef29b6e605")).value();
    proto::ClientHandshake handshake(token, "intruder", 1);
    StatusOr<pb::Hello> hello = handshake.hello();
    wrong.send_message(*hello);
    auto challenge = wrong.next(proto::MessageType::kChallenge, 2s);
    ASSERT_TRUE(challenge.has_value());
    pb::AuthResponse forged;
    forged.set_client_proof(std::string(proto::kProofBytes, 'x'));
    wrong.send_message(forged);
    auto error = wrong.next(proto::MessageType::kError, 2s);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(proto::decode_frame<pb::Error>(*error)->code(), pb::ERROR_CODE_UNAUTHENTICATED);
    EXPECT_TRUE(wrong.closed_within(2s));
  }

  proto::JobToken token = test_token();
  worker::WorkerOptions w;
  w.coordinator_host = "127.0.0.1";
  w.coordinator_port = coordinator.port();
  w.handle_signals = false;
  w.connect.connect_timeout = 5s;
  const worker::WorkerOutcome result = worker::run_worker(token, w);
  EXPECT_EQ(result.exit, worker::WorkerExit::kOk) << result.status.to_string();
  const Status outcome = coordinator.outcome();
  ASSERT_TRUE(outcome.ok()) << outcome.to_string();

  attention::CheckJobSpec spec;
  spec.num_tokens = 64;
  spec.n_heads = 2;
  spec.n_kv_heads = 1;
  spec.head_dim = 8;
  spec.causal = true;
  spec.seed = 3;
  ThreadPool pool(1);
  StatusOr<Tensor> want = attention::check_job_reference(spec, pool);
  ASSERT_TRUE(want.ok());
  StatusOr<io::NpyArray> got = io::read_npy(out());
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_EQ(got->data.size(), want->bytes());
  EXPECT_EQ(std::memcmp(got->data.data(), want->raw(), want->bytes()), 0);
  // Its summary beside it: the layout, the tokens and what each rank spent.
  std::ifstream in(dir_.file("out.summary.json"));
  ASSERT_TRUE(in.good());
  const nlohmann::json summary = nlohmann::json::parse(in);
  EXPECT_EQ(summary["task"], "check");
  EXPECT_EQ(summary["workers"], 1);
  EXPECT_EQ(summary["tokens"], 64);
  EXPECT_GT(summary["wall_time_s"].get<double>(), 0.0);
  ASSERT_EQ(summary["telemetry"]["ranks"].size(), 1u);
  ASSERT_EQ(summary["peak_memory"].size(), 1u);
}

TEST_F(CoordinatorTest, LostWorkerFailsTheJobNamingIt) {
  RunningCoordinator coordinator(options_for(2, out()));
  RawClient survivor(coordinator.port());
  ASSERT_TRUE(join(survivor, kSecret, 0, 1000, kFakeUcxAddress));
  {
    RawClient victim(coordinator.port());
    ASSERT_TRUE(join(victim, kSecret, 1, 1001, kFakeUcxAddress));
    // Both registered once the Assignment arrives; then the victim's connection drops.
    ASSERT_TRUE(victim.next(proto::MessageType::kAssignment, 2s).has_value());
  }
  const Status outcome = coordinator.outcome();
  EXPECT_EQ(outcome.code(), StatusCode::kUnavailable) << outcome.to_string();
  EXPECT_NE(outcome.message().find("rank 1 (fake pid 1001) lost"), std::string::npos)
      << outcome.to_string();
  EXPECT_TRUE(survivor.next(proto::MessageType::kAbort, 1s).has_value());
  EXPECT_TRUE(dir_empty());
}

TEST_F(CoordinatorTest, SilentWorkerIsDeclaredDead) {
  CoordinatorOptions options = options_for(2, out());
  options.job.mutable_heartbeat()->set_dead_after_ms(400);
  RunningCoordinator coordinator(options);
  RawClient fake(coordinator.port());  // registers, then never sends a Heartbeat
  ASSERT_TRUE(join(fake, kSecret, -1, 4242, kFakeUcxAddress));
  const auto start = std::chrono::steady_clock::now();
  const Status outcome = coordinator.outcome();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(outcome.code(), StatusCode::kUnavailable) << outcome.to_string();
  EXPECT_NE(outcome.message().find("missed heartbeats"), std::string::npos);
  // Dead after 400 ms, checked every 50 ms; the abort then flushes within 500 ms.
  EXPECT_LT(took, ringmaster::testing::slack(1500ms));
  EXPECT_TRUE(fake.next(proto::MessageType::kAbort, 1s).has_value());
}

TEST_F(CoordinatorTest, ResultsOutsideThePlanFailTheJob) {
  RunningCoordinator coordinator(options_for(1, out()));
  RawClient fake(coordinator.port());
  ASSERT_TRUE(join(fake, kSecret));
  ASSERT_TRUE(fake.next(proto::MessageType::kAssignment, 2s).has_value());
  pb::ResultChunk chunk;
  chunk.set_rank(0);
  chunk.add_tokens(64);  // one past the end of the sequence
  chunk.set_rows(std::string(2 * 8 * sizeof(float), '\0'));
  fake.send_message(chunk);
  const Status outcome = coordinator.outcome();
  EXPECT_EQ(outcome.code(), StatusCode::kInvalidArgument) << outcome.to_string();
  EXPECT_NE(outcome.message().find("row 64"), std::string::npos) << outcome.to_string();
  EXPECT_TRUE(dir_empty());
}

// A Done's telemetry is a peer's data: a phase with a name that is no block kind's, or a negative
// time, fails the job with a message naming it; nothing is written.
TEST_F(CoordinatorTest, DoneWithBadTelemetryFailsTheJob) {
  for (const bool bad_name : {true, false}) {
    SCOPED_TRACE(bad_name ? "bad name" : "negative wait");
    RunningCoordinator coordinator(options_for(1, out()));
    RawClient fake(coordinator.port());
    ASSERT_TRUE(join(fake, kSecret));
    ASSERT_TRUE(fake.next(proto::MessageType::kAssignment, 2s).has_value());
    pb::ResultChunk chunk;  // every row of the 64-token check: 2 heads x 8 floats each
    chunk.set_rank(0);
    for (int t = 0; t < 64; ++t) chunk.add_tokens(t);
    chunk.set_rows(std::string(64 * 2 * 8 * sizeof(float), '\0'));
    fake.send_message(chunk);
    pb::Done done;
    done.set_rank(0);
    done.set_rows(64);
    pb::PhaseTelemetry* phase = done.add_phases();
    phase->set_name(bad_name ? "atlas\n" : "atlas");
    phase->set_wait_s(bad_name ? 0.5 : -0.5);
    fake.send_message(done);
    const Status outcome = coordinator.outcome();
    EXPECT_EQ(outcome.code(), StatusCode::kInvalidArgument) << outcome.to_string();
    EXPECT_NE(outcome.message().find(bad_name ? "a phase named" : "phase atlas: a count"),
              std::string::npos)
        << outcome.to_string();
    EXPECT_TRUE(dir_empty());
  }
}

TEST_F(CoordinatorTest, JoinTimeoutListsTheMissingRanks) {
  CoordinatorOptions options = options_for(3, out());
  options.job.set_join_timeout_ms(300);
  RunningCoordinator coordinator(options);
  RawClient fake(coordinator.port());
  ASSERT_TRUE(join(fake, kSecret, 1, 4242, kFakeUcxAddress));
  const Status outcome = coordinator.outcome();
  EXPECT_EQ(outcome.code(), StatusCode::kDeadlineExceeded) << outcome.to_string();
  EXPECT_NE(outcome.message().find("missing ranks: 0, 2"), std::string::npos)
      << outcome.to_string();
}

// A Register whose comm_address is no address of the job's backend is refused before any peer
// would pass it to its transport: the connection is closed (the log names the field: "bad
// Register: Register.comm_address (4 bytes) is too short for a UCX worker address ..."), and the
// worker is not registered (the join then times out missing both ranks).
TEST_F(CoordinatorTest, ImplausibleCommAddressIsRefused) {
  CoordinatorOptions options = options_for(2, out());
  options.job.set_join_timeout_ms(500);
  RunningCoordinator coordinator(options);
  RawClient fake(coordinator.port());
  ASSERT_TRUE(join(fake, kSecret, 0, 4242, "addr"));  // 4 bytes: no UCX worker address
  EXPECT_TRUE(fake.closed_within(2s));
  const Status outcome = coordinator.outcome();
  EXPECT_EQ(outcome.code(), StatusCode::kDeadlineExceeded) << outcome.to_string();
  EXPECT_NE(outcome.message().find("missing ranks: 0, 1"), std::string::npos)
      << outcome.to_string();
}

TEST_F(CoordinatorTest, WorkerReportedErrorFailsTheJob) {
  RunningCoordinator coordinator(options_for(1, out()));
  RawClient fake(coordinator.port());
  ASSERT_TRUE(join(fake, kSecret));
  ASSERT_TRUE(fake.next(proto::MessageType::kAssignment, 2s).has_value());
  pb::Error error;
  error.set_code(pb::ERROR_CODE_DEADLINE_EXCEEDED);
  error.set_message("step 3 timed out");
  error.set_rank(0);
  fake.send_message(error);
  const Status outcome = coordinator.outcome();
  EXPECT_EQ(outcome.code(), StatusCode::kDeadlineExceeded) << outcome.to_string();
  EXPECT_NE(outcome.message().find("rank 0 (fake pid 4242) failed: step 3 timed out"),
            std::string::npos)
      << outcome.to_string();
}

// NCCL jobs: the coordinator makes the job's ncclUniqueId (which needs no GPU) and every rank's
// Assignment carries the same 128 bytes.
TEST_F(CoordinatorTest, NcclJobsCarryOneUniqueIdInEveryAssignment) {
  CoordinatorOptions options = options_for(2, out());
  options.job.mutable_comm()->set_backend(pb::COMM_BACKEND_NCCL);
  options.job.set_device(pb::COMPUTE_DEVICE_CUDA);
  if (!comm::parse_backend("nccl").ok()) {
    const Status refused = run_coordinator(test_token(), options);
    EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument) << refused.to_string();
    EXPECT_NE(refused.message().find("'nccl' is not built in"), std::string::npos)
        << refused.to_string();
    return;
  }
  RunningCoordinator coordinator(options);
  ASSERT_NE(coordinator.port(), 0);
  std::vector<std::string> ids;
  {
    RawClient first(coordinator.port());
    RawClient second(coordinator.port());
    ASSERT_TRUE(join(first, kSecret, 0, 1000, kFakeNcclAddress));
    ASSERT_TRUE(join(second, kSecret, 1, 1001, "fake 0000:02:00.0"));
    for (RawClient* client : {&first, &second}) {
      const std::optional<proto::Frame> frame = client->next(proto::MessageType::kAssignment, 2s);
      ASSERT_TRUE(frame.has_value());
      StatusOr<pb::Assignment> assignment = proto::decode_frame<pb::Assignment>(*frame);
      ASSERT_TRUE(assignment.ok()) << assignment.status().to_string();
      ids.push_back(assignment->nccl_unique_id());
    }
  }  // both fakes leave: the job fails, as it should
  EXPECT_FALSE(coordinator.outcome().ok());
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0].size(), 128u);
  EXPECT_EQ(ids[0], ids[1]);
  EXPECT_NE(ids[0], std::string(128, '\0'));
}

TEST_F(CoordinatorTest, NcclIsRefusedForModelJobs) {
  CoordinatorOptions options = options_for(2, out());
  options.job.mutable_comm()->set_backend(pb::COMM_BACKEND_NCCL);
  options.job.set_device(pb::COMPUTE_DEVICE_CUDA);
  options.job.mutable_model()->set_model_dir("/nonexistent");
  options.job.mutable_model()->set_input_path("/nonexistent.fa");
  options.job.mutable_model()->set_task(pb::TASK_EMBED);
  const Status refused = run_coordinator(test_token(), options);
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument) << refused.to_string();
  EXPECT_NE(refused.message().find("--comm nccl runs the attention check only"), std::string::npos)
      << refused.to_string();
}

// --rank-weights auto: the Welcome asks each worker to time an MLP as wide as the check's heads,
// the speeds they register with become the weights every Assignment carries (rounded to eighths
// of the fastest, coordinator/rank_speeds.h), and a worker that registers without a speed is
// refused.
// Joins two scripted workers registering `fast` and `slow` rows per second and returns the
// Assignments they get (then leave, failing the job).
std::vector<pb::Assignment> measured_assignments(uint16_t port, double fast_speed,
                                                 double slow_speed,
                                                 pb::Welcome* welcome = nullptr) {
  std::vector<pb::Assignment> assignments;
  RawClient fast(port);
  RawClient slow(port);
  if (!join(fast, kSecret, 0, 1000, kFakeUcxAddress, fast_speed, welcome)) return {};
  if (!join(slow, kSecret, 1, 1001, kFakeUcxAddress, slow_speed)) return {};
  for (RawClient* client : {&fast, &slow}) {
    const std::optional<proto::Frame> frame = client->next(proto::MessageType::kAssignment, 2s);
    if (!frame.has_value()) return {};
    StatusOr<pb::Assignment> assignment = proto::decode_frame<pb::Assignment>(*frame);
    if (!assignment.ok()) return {};
    assignments.push_back(*assignment);
  }
  return assignments;
}

TEST_F(CoordinatorTest, MeasuredSpeedsBecomeTheRankWeights) {
  CoordinatorOptions options = options_for(2, out());
  options.job.set_threads(3);
  options.job.set_rank_weights_auto(true);
  RunningCoordinator coordinator(options);
  ASSERT_NE(coordinator.port(), 0);
  {
    RawClient unmeasured(coordinator.port());
    ASSERT_TRUE(join(unmeasured, kSecret, 0, 999, kFakeUcxAddress));
    EXPECT_TRUE(unmeasured.closed_within(2s));
  }
  pb::Welcome welcome;
  const std::vector<pb::Assignment> assignments =
      measured_assignments(coordinator.port(), 3000.0, 1000.0, &welcome);
  EXPECT_EQ(welcome.calibration().d_model(), 16);  // 2 heads of 8
  EXPECT_EQ(welcome.calibration().mlp_hidden(), 64);
  EXPECT_EQ(welcome.calibration().threads(), 3);
  EXPECT_FALSE(coordinator.outcome().ok());
  ASSERT_EQ(assignments.size(), 2u);
  for (const pb::Assignment& a : assignments) {
    // 1000 / 3000 of the fastest is 2.67 eighths, rounded to 3.
    ASSERT_EQ(a.job().rank_weights_size(), 2);
    EXPECT_EQ(a.job().rank_weights(0), 1.0);
    EXPECT_EQ(a.job().rank_weights(1), 0.375);
    EXPECT_TRUE(a.job().rank_weights_auto());
  }
}

// With a cap on one rank's tokens (run --max-memory-per-worker), measured weights that would put
// more on the fast rank move toward equal, an eighth of the way at a time, to the first step that
// fits.
TEST_F(CoordinatorTest, MeasuredWeightsKeepTheBusiestRankWithinItsTokenCap) {
  CoordinatorOptions options = options_for(2, out());
  options.job.set_rank_weights_auto(true);
  auto fast_rank_tokens = [&](double slow_weight) {
    pb::JobSpec job = options.job;
    job.add_rank_weights(1.0);
    job.add_rank_weights(slow_weight);
    return proto::to_partition_plan(job)->num_local(0);
  };
  // 1000 / 3000 measures 0.375; three steps toward equal is 0.375 + 3/8 * 0.625.
  const double fitting = 0.375 + 0.625 * 3 / 8, one_step_short = 0.375 + 0.625 * 2 / 8;
  ASSERT_LT(fast_rank_tokens(fitting), fast_rank_tokens(one_step_short));
  options.job.set_max_rank_tokens(fast_rank_tokens(fitting));
  RunningCoordinator coordinator(options);
  ASSERT_NE(coordinator.port(), 0);
  const std::vector<pb::Assignment> assignments =
      measured_assignments(coordinator.port(), 3000.0, 1000.0);
  EXPECT_FALSE(coordinator.outcome().ok());
  ASSERT_EQ(assignments.size(), 2u);
  for (const pb::Assignment& a : assignments) {
    ASSERT_EQ(a.job().rank_weights_size(), 2);
    EXPECT_EQ(a.job().rank_weights(0), 1.0);
    EXPECT_EQ(a.job().rank_weights(1), fitting);
    EXPECT_LE(proto::to_partition_plan(a.job())->num_local(0), a.job().max_rank_tokens());
  }
}

// A real worker asked for its speed measures it (worker/calibration.h) before registering, and
// the job, cut for the one weight, completes.
TEST_F(CoordinatorTest, RealWorkerMeasuresItsSpeedAndCompletesTheJob) {
  CoordinatorOptions options = options_for(1, out());
  options.job.set_rank_weights_auto(true);
  RunningCoordinator coordinator(options);
  ASSERT_NE(coordinator.port(), 0);
  worker::WorkerOptions w;
  w.coordinator_host = "127.0.0.1";
  w.coordinator_port = coordinator.port();
  w.handle_signals = false;
  w.connect.connect_timeout = 5s;
  const worker::WorkerOutcome result = worker::run_worker(test_token(), w);
  EXPECT_EQ(result.exit, worker::WorkerExit::kOk) << result.status.to_string();
  const Status outcome = coordinator.outcome();
  EXPECT_TRUE(outcome.ok()) << outcome.to_string();
  EXPECT_TRUE(std::filesystem::exists(out()));
}

}  // namespace
}  // namespace ringmaster::coordinator
