// NcclComm on real GPUs, one thread and one GPU per rank (labelled gpu): init and destroy with
// one rank, the refusals (two ranks on one GPU, a bad job id, host memory), ring exchanges of
// device blocks, a tag mismatch, and an unmatched receive that hits its deadline and leaves the
// communicator broken but destroyable. Cases that need more GPUs than are visible skip; without
// any GPU all skip (or fail under RINGMASTER_REQUIRE_GPU, as tests/gpu/run.sh sets).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "comm/make_communicator.h"
#include "tests/unit/comm/comm_test_util.h"
#include "tests/unit/comm/nccl_test_group.h"
#include "tests/unit/gpu/require_gpu.h"

namespace ringmaster::comm {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::DeviceBuffer;
using testing::first_mismatch;
using testing::make_nccl_group;
using testing::pattern;
using testing::visible_gpus;

constexpr std::chrono::milliseconds kStepTimeout{20000};

using NcclCommTest = ringmaster::testing::GpuTest;

// Why a case with `n` ranks cannot run here, or "" when n GPUs are visible.
std::string gpus_lacking(int n) {
  if (visible_gpus() >= n) return "";
  return "needs " + std::to_string(n) + " GPUs (one per rank), " + std::to_string(visible_gpus()) +
         " visible";
}

std::vector<std::byte> job_id() {
  CommSpec spec;
  spec.backend = CommSpec::kNccl;
  StatusOr<std::vector<std::byte>> id = make_job_id(spec);
  RM_CHECK(id.ok()) << id.status().to_string();
  return *id;
}

TEST_F(NcclCommTest, OneRankJoinsAndLeaves) {
  const auto start = Clock::now();
  auto group = make_nccl_group(1, kStepTimeout);
  ASSERT_TRUE(group.ok()) << group.status().to_string();
  ASSERT_EQ(group->size(), 1u);
  EXPECT_EQ((*group)[0]->rank(), 0);
  EXPECT_EQ((*group)[0]->size(), 1);
  EXPECT_EQ((*group)[0]->step_timeout(), kStepTimeout);
  // No peer: every transfer is refused, before its buffer is looked at.
  EXPECT_EQ((*group)[0]->isend(0, ConstView{}, Tag{}).status().code(),
            StatusCode::kInvalidArgument);
  group->clear();
  EXPECT_LT(Clock::now() - start, 15s);
}

TEST_F(NcclCommTest, RefusesTwoRanksOnOneGpu) {
  CommSpec spec;
  spec.backend = CommSpec::kNccl;
  auto first = make_bootstrap(spec);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  spec.local_rank = visible_gpus();  // wraps round to GPU 0 as well
  auto second = make_bootstrap(spec);
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  const Status shared =
      (*first)->connect(0, {(*first)->address(), (*second)->address()}, 1s, job_id()).status();
  EXPECT_EQ(shared.code(), StatusCode::kFailedPrecondition) << shared.to_string();
  for (const char* part : {"ranks 0 and 1 would share GPU", "one GPU per rank", "local"}) {
    EXPECT_NE(shared.message().find(part), std::string::npos) << shared.to_string();
  }
}

TEST_F(NcclCommTest, RefusesABadJobIdAndASecondConnect) {
  CommSpec spec;
  spec.backend = CommSpec::kNccl;
  auto boot = make_bootstrap(spec);
  ASSERT_TRUE(boot.ok()) << boot.status().to_string();
  const std::vector<std::byte> short_id(5);
  EXPECT_EQ((*boot)->connect(0, {(*boot)->address()}, 1s, short_id).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ((*boot)->connect(1, {(*boot)->address()}, 1s, job_id()).status().code(),
            StatusCode::kInvalidArgument);
  auto comm = (*boot)->connect(0, {(*boot)->address()}, kStepTimeout, job_id());
  ASSERT_TRUE(comm.ok()) << comm.status().to_string();
  EXPECT_EQ((*boot)->connect(0, {(*boot)->address()}, 1s, job_id()).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(NcclCommTest, RefusesHostMemory) {
  if (const std::string why = gpus_lacking(2); !why.empty()) GTEST_SKIP() << why;
  auto group = make_nccl_group(2, kStepTimeout);
  ASSERT_TRUE(group.ok()) << group.status().to_string();
  std::vector<std::byte> host(64);
  const Status send = (*group)[0]->isend(1, host, Tag{1, 2, 3}).status();
  const Status recv = (*group)[0]->irecv(1, host, Tag{1, 2, 3}).status();
  for (const Status* s : {&send, &recv}) {
    EXPECT_EQ(s->code(), StatusCode::kInvalidArgument) << s->to_string();
    EXPECT_NE(s->message().find("host memory"), std::string::npos) << s->to_string();
    EXPECT_NE(s->message().find("rank 0"), std::string::npos) << s->to_string();
  }
  testing::destroy_group(*group);
}

// The ring schedule of attention/ring.cc over device blocks: at step s every rank sends the
// block it holds right and receives the next from the left, testing both between "compute
// slices"; after P - 1 steps each block has visited every rank. Several layers reuse the pair.
TEST_F(NcclCommTest, RingPassesDeviceBlocksAround) {
  if (const std::string why = gpus_lacking(2); !why.empty()) GTEST_SKIP() << why;
  for (int world = 2; world <= std::min(visible_gpus(), 8); ++world) {
    SCOPED_TRACE("P=" + std::to_string(world));
    auto group = make_nccl_group(world, kStepTimeout);
    ASSERT_TRUE(group.ok()) << group.status().to_string();
    constexpr size_t kBytes = (size_t{4} << 20) + 24;  // 4 MiB and an odd tail
    const std::vector<Status> statuses = testing::run_ranks(*group, [&](Communicator& comm) {
      const int p = comm.size(), me = comm.rank();
      DeviceBuffer current(me, kBytes), incoming(me, kBytes);
      if (!current.ok() || !incoming.ok()) return internal_error("cudaMalloc failed");
      for (uint32_t layer = 0; layer < 3; ++layer) {
        RM_RETURN_IF_ERROR(
            testing::copy_to_device(me, current.data(), pattern(me, 0, int(layer), kBytes)));
        DeviceBuffer* hold = &current;
        DeviceBuffer* next = &incoming;
        for (int step = 0; step + 1 < p; ++step) {
          const Tag tag{layer, static_cast<uint32_t>(step), 1};
          RM_ASSIGN_OR_RETURN(Request send, comm.isend((me + 1) % p, hold->view(), tag));
          RM_ASSIGN_OR_RETURN(Request recv, comm.irecv((me + p - 1) % p, next->view(), tag));
          for (int slice = 0; slice < 4; ++slice) {
            send.test();
            recv.test();
          }
          RM_RETURN_IF_ERROR(recv.wait(step_deadline(comm)));
          RM_RETURN_IF_ERROR(send.wait(step_deadline(comm)));
          std::swap(hold, next);
          std::vector<std::byte> got(kBytes);
          RM_RETURN_IF_ERROR(testing::copy_to_host(me, got, hold->data()));
          const std::string wrong = first_mismatch(got, (me + p - step - 1) % p, 0, int(layer));
          if (!wrong.empty()) return data_loss("layer " + std::to_string(layer) + ": " + wrong);
        }
      }
      return ok_status();
    });
    for (size_t r = 0; r < statuses.size(); ++r) {
      EXPECT_TRUE(statuses[r].ok()) << "rank " << r << ": " << statuses[r].to_string();
    }
    testing::destroy_group(*group);
  }
}

// Rank 0 posts (layer 1, step 1), rank 1 sends (layer 1, step 2) of the same size: the header
// shows the mismatch, and the communicator is broken afterwards.
TEST_F(NcclCommTest, TagMismatchIsDataLossNamingBothTags) {
  if (const std::string why = gpus_lacking(2); !why.empty()) GTEST_SKIP() << why;
  auto group = make_nccl_group(2, kStepTimeout, /*abort_timeout=*/5s);
  ASSERT_TRUE(group.ok()) << group.status().to_string();
  const std::vector<Status> statuses = testing::run_ranks(*group, [&](Communicator& comm) {
    DeviceBuffer buffer(comm.rank(), 256);
    if (comm.rank() == 1) {
      RM_ASSIGN_OR_RETURN(Request send, comm.isend(0, buffer.view(), Tag{1, 2, 0}));
      return send.wait(step_deadline(comm));
    }
    RM_ASSIGN_OR_RETURN(Request recv, comm.irecv(1, buffer.view(), Tag{1, 1, 0}));
    const Status got = recv.wait(step_deadline(comm));
    if (got.code() != StatusCode::kDataLoss) return internal_error("got " + got.to_string());
    for (const char* part : {"rank 0", "rank 1", "layer 1 step 1 kind 0", "layer 1 step 2"}) {
      if (got.message().find(part) == std::string::npos) {
        return internal_error("no '" + std::string(part) + "' in " + got.to_string());
      }
    }
    const Status after = comm.isend(1, buffer.view(), Tag{}).status();
    if (after.code() != StatusCode::kUnavailable) return internal_error(after.to_string());
    return ok_status();
  });
  for (size_t r = 0; r < statuses.size(); ++r) {
    EXPECT_TRUE(statuses[r].ok()) << "rank " << r << ": " << statuses[r].to_string();
  }
  testing::destroy_group(*group);
}

// RELIABILITY.md: a receive nobody sends ends at its deadline (kDeadlineExceeded naming both
// ranks and the tag, within 100 ms of it); the communicator then aborts itself, fails every later
// call fast, and is destroyed without hanging, as is its healthy peer.
TEST_F(NcclCommTest, UnmatchedReceiveHitsTheDeadlineAndBreaksTheComm) {
  if (const std::string why = gpus_lacking(2); !why.empty()) GTEST_SKIP() << why;
  auto group = make_nccl_group(2, kStepTimeout, /*abort_timeout=*/5s);
  ASSERT_TRUE(group.ok()) << group.status().to_string();
  Communicator& comm = *(*group)[0];
  DeviceBuffer buffer(0, 1024);
  auto recv = comm.irecv(1, buffer.view(), Tag{4, 5, 6});
  ASSERT_TRUE(recv.ok()) << recv.status().to_string();
  const auto start = Clock::now();
  const Status expired = recv->wait(start + 300ms);
  const auto took = Clock::now() - start;
  EXPECT_EQ(expired.code(), StatusCode::kDeadlineExceeded) << expired.to_string();
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 400ms);
  for (const char* part : {"rank 0", "rank 1", "layer 4 step 5 kind 6"}) {
    EXPECT_NE(expired.message().find(part), std::string::npos) << expired.to_string();
  }
  const auto fast = Clock::now();
  const Status later = comm.isend(1, buffer.view(), Tag{}).status();
  EXPECT_EQ(later.code(), StatusCode::kUnavailable) << later.to_string();
  EXPECT_EQ(recv->wait(Clock::now() + 10s).code(), StatusCode::kUnavailable);
  EXPECT_LT(Clock::now() - fast, 100ms);
  const auto destroy = Clock::now();
  *recv = Request();  // waits for the abort, which stops the receive
  testing::destroy_group(*group);
  // Each side is bounded by the abort timeout (rank 1's finalize may wait for rank 0 until then).
  EXPECT_LT(Clock::now() - destroy, 8s) << "destroying a broken communicator hung";
}

}  // namespace
}  // namespace ringmaster::comm
