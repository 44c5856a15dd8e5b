// One suite that every Communicator backend built into this binary must pass, with P = 1..4
// ranks as threads of this process: LocalComm, and UcxComm over UCX's default transports (shared
// memory here) and over TCP alone; compiled again into ringmaster_comm_nccl_test for NcclComm
// (conformance_backends.h), where the cases that need matching by tag skip.
#include <gtest/gtest.h>

#include <barrier>
#include <chrono>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "comm/collectives.h"
#include "comm/communicator.h"
#include "comm/make_communicator.h"
#include "tests/unit/comm/comm_test_util.h"
#include "tests/unit/comm/conformance_backends.h"

namespace ringmaster::comm {
namespace {

using testing::destroy_group;
using testing::first_mismatch;
using testing::pattern;
using testing::run_ranks;

// Long enough never to fire on a slow, loaded machine; a hang then fails well before ctest's.
constexpr std::chrono::milliseconds kStepTimeout{10000};

struct CommCase {
  std::string backend;
  std::string transports;  // UCX_TLS; "" = UCX's choice
  int world = 1;
};

void PrintTo(const CommCase& c, std::ostream* os) {
  *os << c.backend << (c.transports.empty() ? "" : " over " + c.transports) << ", P=" << c.world;
}

std::vector<CommCase> all_cases() {
  std::vector<CommCase> cases;
  for (const std::string& backend : testing::conformance_backends()) {
    const std::vector<std::string> transports =
        backend == "ucx" ? std::vector<std::string>{"", "tcp"} : std::vector<std::string>{""};
    for (const std::string& tls : transports) {
      for (int world = 1; world <= 4; ++world) cases.push_back({backend, tls, world});
    }
  }
  return cases;
}

std::string case_name(const ::testing::TestParamInfo<CommCase>& info) {
  const CommCase& c = info.param;
  return c.backend + (c.transports.empty() ? "" : "_" + c.transports) + "_P" +
         std::to_string(c.world);
}

Status send_and_wait(Communicator& comm, int peer, ConstView data, Tag tag) {
  RM_ASSIGN_OR_RETURN(Request request, comm.isend(peer, data, tag));
  return request.wait(step_deadline(comm));
}

Status recv_and_wait(Communicator& comm, int peer, MutableView data, Tag tag) {
  RM_ASSIGN_OR_RETURN(Request request, comm.irecv(peer, data, tag));
  return request.wait(step_deadline(comm));
}

// Checks a received payload; a Status so that a rank's thread can report it.
Status check_payload(const std::vector<std::byte>& got, int src, int dst, int seq) {
  const std::string where = first_mismatch(got, src, dst, seq);
  if (where.empty()) return ok_status();
  return data_loss("wrong " + where);
}

class CommConformance : public ::testing::TestWithParam<CommCase> {
 protected:
  void SetUp() override {
    auto group = testing::make_conformance_group(GetParam().backend, GetParam().transports,
                                                 GetParam().world, kStepTimeout);
    ASSERT_TRUE(group.ok()) << group.status().to_string();
    if (!group->skip.empty()) GTEST_SKIP() << group->skip;
    group_ = std::move(group->ranks);
    matches_by_tag_ = group->matches_by_tag;
  }
  void TearDown() override { destroy_group(group_); }

  int world() const { return GetParam().world; }

  // Runs `fn` on every rank and expects every rank to succeed.
  void run_ok(const std::function<Status(Communicator&)>& fn) {
    const std::vector<Status> statuses = run_ranks(group_, fn);
    for (size_t r = 0; r < statuses.size(); ++r) {
      EXPECT_TRUE(statuses[r].ok()) << "rank " << r << ": " << statuses[r].to_string();
    }
  }

  std::vector<std::unique_ptr<Communicator>> group_;
  bool matches_by_tag_ = true;
};

// The point-to-point cases: instantiated only for worlds of two ranks or more, so a one-rank
// world has nothing to skip.
class CommConformancePairs : public CommConformance {};

TEST_P(CommConformance, ReportsRankAndSize) {
  for (int r = 0; r < world(); ++r) {
    EXPECT_EQ(group_[static_cast<size_t>(r)]->rank(), r);
    EXPECT_EQ(group_[static_cast<size_t>(r)]->size(), world());
    EXPECT_EQ(group_[static_cast<size_t>(r)]->step_timeout(), kStepTimeout);
  }
}

TEST_P(CommConformance, RejectsBadPeersAndTags) {
  Communicator& comm = *group_[0];
  std::vector<std::byte> buffer(8);
  for (int peer : {-1, 0, world()}) {  // 0 is this rank: no self-sends
    EXPECT_EQ(comm.isend(peer, buffer, Tag{}).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(comm.irecv(peer, buffer, Tag{}).status().code(), StatusCode::kInvalidArgument);
  }
  const int peer = world() > 1 ? 1 : 0;
  const Tag wide_layer{Tag::kMaxLayer + 1, 0, 0};
  const Tag wide_step{0, Tag::kMaxStep + 1, 0};
  EXPECT_EQ(comm.isend(peer, buffer, wide_layer).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(comm.irecv(peer, buffer, wide_step).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(CommConformancePairs, PingPong) {
  const int last = world() - 1;
  run_ok([&](Communicator& comm) -> Status {
    if (comm.rank() != 0 && comm.rank() != last) return ok_status();
    const int peer = comm.rank() == 0 ? last : 0;
    uint64_t value = 0;
    for (uint32_t round = 0; round < 200; ++round) {
      const Tag tag{2, round, 1};
      const bool my_turn = (round % 2 == 0) == (comm.rank() == 0);
      if (my_turn) {
        ++value;
        RM_RETURN_IF_ERROR(send_and_wait(comm, peer, std::as_bytes(std::span(&value, 1)), tag));
      } else {
        uint64_t got = 0;
        RM_RETURN_IF_ERROR(
            recv_and_wait(comm, peer, std::as_writable_bytes(std::span(&got, 1)), tag));
        if (got != value + 1) {
          return data_loss("round " + std::to_string(round) + ": got " + std::to_string(got) +
                           ", expected " + std::to_string(value + 1));
        }
        value = got;
      }
    }
    return ok_status();
  });
}

TEST_P(CommConformancePairs, RingPassesEveryBlockAround) {
  run_ok([&](Communicator& comm) -> Status {
    const int p = comm.size();
    const int right = (comm.rank() + 1) % p;
    const int left = (comm.rank() + p - 1) % p;
    std::vector<std::byte> block = pattern(comm.rank(), 0, 0, 1000);
    std::vector<std::byte> incoming(block.size());
    // At step s a rank holds the block that rank (rank - s) mod P started with.
    for (int step = 1; step < p; ++step) {
      const Tag tag{3, static_cast<uint32_t>(step), 1};
      RM_ASSIGN_OR_RETURN(Request recv, comm.irecv(left, incoming, tag));
      RM_ASSIGN_OR_RETURN(Request send, comm.isend(right, block, tag));
      RM_RETURN_IF_ERROR(recv.wait(step_deadline(comm)));
      RM_RETURN_IF_ERROR(send.wait(step_deadline(comm)));
      block.swap(incoming);
      RM_RETURN_IF_ERROR(check_payload(block, (comm.rank() + p - step) % p, 0, 0));
    }
    return ok_status();
  });
}

// Receives posted before and after the sends, in the reverse of the send order, with many
// tags in flight at once: matching is by (peer, tag), never by arrival order.
TEST_P(CommConformancePairs, MatchesManyTagsPostedInAnyOrder) {
  if (!matches_by_tag_) GTEST_SKIP() << "this backend matches in posting order";
  constexpr int kMessages = 16;
  auto tag_of = [](int i) {
    return Tag{static_cast<uint32_t>(i % 4), static_cast<uint32_t>(i), 2};
  };
  auto bytes_of = [](int i) { return size_t{8} + 37 * static_cast<size_t>(i); };
  std::barrier sync(world());
  run_ok([&](Communicator& comm) -> Status {
    const int me = comm.rank();
    std::vector<std::vector<std::vector<std::byte>>> inbox(static_cast<size_t>(comm.size()));
    std::vector<std::vector<std::byte>> outbox;
    std::vector<Request> requests;
    auto post_receives = [&](int parity) -> Status {
      for (int peer = 0; peer < comm.size(); ++peer) {
        if (peer == me) continue;
        auto& slots = inbox[static_cast<size_t>(peer)];
        slots.resize(kMessages);
        for (int i = kMessages - 1; i >= 0; --i) {
          if (i % 2 != parity) continue;
          slots[static_cast<size_t>(i)].resize(bytes_of(i));
          RM_ASSIGN_OR_RETURN(Request r,
                              comm.irecv(peer, slots[static_cast<size_t>(i)], tag_of(i)));
          requests.push_back(std::move(r));
        }
      }
      return ok_status();
    };
    RM_RETURN_IF_ERROR(post_receives(1));  // before the sends
    sync.arrive_and_wait();
    for (int peer = 0; peer < comm.size(); ++peer) {
      if (peer == me) continue;
      for (int i = 0; i < kMessages; ++i) outbox.push_back(pattern(me, peer, i, bytes_of(i)));
    }
    size_t next = 0;
    for (int peer = 0; peer < comm.size(); ++peer) {
      if (peer == me) continue;
      for (int i = 0; i < kMessages; ++i) {
        RM_ASSIGN_OR_RETURN(Request r, comm.isend(peer, outbox[next++], tag_of(i)));
        requests.push_back(std::move(r));
      }
    }
    sync.arrive_and_wait();
    RM_RETURN_IF_ERROR(post_receives(0));  // after the sends: the messages are unexpected
    const Deadline deadline = step_deadline(comm);
    for (Request& r : requests) RM_RETURN_IF_ERROR(r.wait(deadline));
    for (int peer = 0; peer < comm.size(); ++peer) {
      if (peer == me) continue;
      for (int i = 0; i < kMessages; ++i) {
        RM_RETURN_IF_ERROR(
            check_payload(inbox[static_cast<size_t>(peer)][static_cast<size_t>(i)], peer, me, i));
      }
    }
    return ok_status();
  });
}

TEST_P(CommConformancePairs, KeepsOrderWithinOneTag) {
  constexpr int kMessages = 8;
  const Tag tag{4, 4, 4};
  run_ok([&](Communicator& comm) -> Status {
    const int right = (comm.rank() + 1) % comm.size();
    const int left = (comm.rank() + comm.size() - 1) % comm.size();
    std::vector<std::vector<std::byte>> out;
    std::vector<std::vector<std::byte>> in(kMessages, std::vector<std::byte>(64));
    std::vector<Request> requests;
    for (int i = 0; i < kMessages; ++i) out.push_back(pattern(comm.rank(), right, i, 64));
    for (int i = 0; i < kMessages; ++i) {
      RM_ASSIGN_OR_RETURN(Request r, comm.isend(right, out[static_cast<size_t>(i)], tag));
      requests.push_back(std::move(r));
    }
    for (int i = 0; i < kMessages; ++i) {
      RM_ASSIGN_OR_RETURN(Request r, comm.irecv(left, in[static_cast<size_t>(i)], tag));
      requests.push_back(std::move(r));
    }
    const Deadline deadline = step_deadline(comm);
    for (Request& r : requests) RM_RETURN_IF_ERROR(r.wait(deadline));
    for (int i = 0; i < kMessages; ++i) {
      RM_RETURN_IF_ERROR(check_payload(in[static_cast<size_t>(i)], left, comm.rank(), i));
    }
    return ok_status();
  });
}

TEST_P(CommConformancePairs, MovesLargeMessages) {
  constexpr size_t kBytes = size_t{8} << 20;
  run_ok([&](Communicator& comm) -> Status {
    const int p = comm.size();
    const int right = (comm.rank() + 1) % p;
    const int left = (comm.rank() + p - 1) % p;
    // Both directions at once; the tag tells them apart when left == right (P = 2). The odd
    // size of the leftward message leaves a partial last fragment.
    const std::vector<std::byte> to_right = pattern(comm.rank(), right, 1, kBytes);
    const std::vector<std::byte> to_left = pattern(comm.rank(), left, 2, kBytes / 8 + 1);
    std::vector<std::byte> from_left(to_right.size());
    std::vector<std::byte> from_right(to_left.size());
    RM_ASSIGN_OR_RETURN(Request r1, comm.irecv(left, from_left, Tag{5, 0, 1}));
    RM_ASSIGN_OR_RETURN(Request r2, comm.irecv(right, from_right, Tag{5, 0, 2}));
    RM_ASSIGN_OR_RETURN(Request s1, comm.isend(right, to_right, Tag{5, 0, 1}));
    RM_ASSIGN_OR_RETURN(Request s2, comm.isend(left, to_left, Tag{5, 0, 2}));
    const Deadline deadline = step_deadline(comm);
    for (Request* r : {&r1, &r2, &s1, &s2}) RM_RETURN_IF_ERROR(r->wait(deadline));
    RM_RETURN_IF_ERROR(check_payload(from_left, left, comm.rank(), 1));
    return check_payload(from_right, right, comm.rank(), 2);
  });
}

TEST_P(CommConformancePairs, MovesZeroByteMessages) {
  const Tag tag{6, 0, 1};
  run_ok([&](Communicator& comm) -> Status {
    const int right = (comm.rank() + 1) % comm.size();
    const int left = (comm.rank() + comm.size() - 1) % comm.size();
    // An empty message, then a non-empty one on the same tag: the empty one must be consumed.
    RM_ASSIGN_OR_RETURN(Request empty_recv, comm.irecv(left, MutableView{}, tag));
    const std::vector<std::byte> out = pattern(comm.rank(), right, 0, 3);
    RM_ASSIGN_OR_RETURN(Request empty_send, comm.isend(right, ConstView{}, tag));
    RM_ASSIGN_OR_RETURN(Request send, comm.isend(right, out, tag));
    std::vector<std::byte> in(3);
    RM_ASSIGN_OR_RETURN(Request recv, comm.irecv(left, in, tag));
    const Deadline deadline = step_deadline(comm);
    for (Request* r : {&empty_recv, &empty_send, &send, &recv}) {
      RM_RETURN_IF_ERROR(r->wait(deadline));
    }
    return check_payload(in, left, comm.rank(), 0);
  });
}

// A message of another size than the receive expects is kDataLoss, for short and long buffers
// and for a rendezvous-sized message, and the pair stays usable afterwards.
TEST_P(CommConformancePairs, SizeMismatchIsDataLoss) {
  if (!matches_by_tag_) GTEST_SKIP() << "this backend matches in posting order";
  constexpr size_t kLarge = size_t{1} << 20;
  run_ok([&](Communicator& comm) -> Status {
    if (comm.rank() == 0) {
      const std::vector<std::byte> small = pattern(0, 1, 0, 16);
      const std::vector<std::byte> large = pattern(0, 1, 1, kLarge);
      const std::vector<std::byte> after = pattern(0, 1, 2, 8);
      std::vector<Request> sends;
      for (auto [data, kind] : {std::pair{&small, 1}, {&small, 2}, {&large, 3}, {&after, 4}}) {
        RM_ASSIGN_OR_RETURN(Request r, comm.isend(1, *data, Tag{7, 0, uint8_t(kind)}));
        sends.push_back(std::move(r));
      }
      // The sender is not told of the receiver's mismatch, but every send must finish.
      const Deadline deadline = step_deadline(comm);
      for (Request& r : sends) {
        const Status s = r.wait(deadline);
        if (s.code() == StatusCode::kDeadlineExceeded) return s;
      }
      return ok_status();
    }
    if (comm.rank() != 1) return ok_status();
    std::vector<std::byte> shorter(8);
    std::vector<std::byte> longer(32);
    std::vector<std::byte> half(kLarge / 2);
    std::vector<std::byte> exact(8);
    const std::vector<std::pair<std::vector<std::byte>*, uint8_t>> receives = {
        {&shorter, 1}, {&longer, 2}, {&half, 3}};
    for (auto [buffer, kind] : receives) {
      const Status s = recv_and_wait(comm, 0, *buffer, Tag{7, 0, kind});
      EXPECT_EQ(s.code(), StatusCode::kDataLoss) << "kind " << int(kind) << ": " << s.to_string();
      EXPECT_NE(s.message().find("rank 0"), std::string::npos) << s.to_string();
    }
    RM_RETURN_IF_ERROR(recv_and_wait(comm, 0, exact, Tag{7, 0, 4}));
    return check_payload(exact, 0, 1, 2);
  });
}

// A wait that expires leaves the receive posted (waiting again succeeds once the message comes);
// destroying the Request cancels it, so a later message goes to the next receive instead.
TEST_P(CommConformancePairs, WaitPastDeadlineIsDeadlineExceeded) {
  if (!matches_by_tag_) GTEST_SKIP() << "this backend cannot resume or cancel an expired wait";
  const Tag late{8, 1, 1};
  const Tag cancelled_tag{8, 2, 1};
  std::barrier sync(2);
  run_ok([&](Communicator& comm) -> Status {
    if (comm.rank() == 0) {
      sync.arrive_and_wait();  // rank 1 has timed out once
      const std::vector<std::byte> first = pattern(0, 1, 0, 24);
      RM_RETURN_IF_ERROR(send_and_wait(comm, 1, first, late));
      sync.arrive_and_wait();  // rank 1 has dropped its receive on `cancelled_tag`
      const std::vector<std::byte> second = pattern(0, 1, 1, 24);
      return send_and_wait(comm, 1, second, cancelled_tag);
    }
    if (comm.rank() != 1) return ok_status();
    std::vector<std::byte> in(24);
    RM_ASSIGN_OR_RETURN(Request request, comm.irecv(0, in, late));
    const auto start = std::chrono::steady_clock::now();
    const Status expired = request.wait(start + std::chrono::milliseconds(30));
    EXPECT_EQ(expired.code(), StatusCode::kDeadlineExceeded) << expired.to_string();
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(30));
    for (const char* part : {"rank 1", "rank 0", "layer 8 step 1 kind 1"}) {
      EXPECT_NE(expired.message().find(part), std::string::npos) << expired.to_string();
    }
    EXPECT_FALSE(request.test());
    sync.arrive_and_wait();
    RM_RETURN_IF_ERROR(request.wait(step_deadline(comm)));
    RM_RETURN_IF_ERROR(check_payload(in, 0, 1, 0));

    std::vector<std::byte> dropped(24);
    {
      RM_ASSIGN_OR_RETURN(Request doomed, comm.irecv(0, dropped, cancelled_tag));
      EXPECT_EQ(doomed.wait(std::chrono::steady_clock::now()).code(),
                StatusCode::kDeadlineExceeded);
    }  // cancelled here
    sync.arrive_and_wait();
    RM_RETURN_IF_ERROR(recv_and_wait(comm, 0, in, cancelled_tag));
    EXPECT_EQ(dropped, std::vector<std::byte>(24)) << "a cancelled receive was written";
    return check_payload(in, 0, 1, 1);
  });
}

TEST_P(CommConformance, AllGather) {
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{13}, size_t{256} << 10}) {
    SCOPED_TRACE("bytes " + std::to_string(bytes));
    // Twice with one tag: collectives in sequence may reuse it.
    for (int repeat = 0; repeat < 2; ++repeat) {
      run_ok([&](Communicator& comm) -> Status {
        const std::vector<std::byte> mine = pattern(comm.rank(), 0, repeat, bytes);
        std::vector<std::byte> all(bytes * static_cast<size_t>(comm.size()));
        RM_RETURN_IF_ERROR(all_gather(comm, mine, all, Tag{9, 0, 1}));
        for (int r = 0; r < comm.size(); ++r) {
          const auto begin = all.begin() + static_cast<std::ptrdiff_t>(bytes * size_t(r));
          RM_RETURN_IF_ERROR(check_payload(
              std::vector<std::byte>(begin, begin + static_cast<std::ptrdiff_t>(bytes)), r, 0,
              repeat));
        }
        return ok_status();
      });
    }
  }
}

TEST_P(CommConformance, AllToAll) {
  for (size_t block : {size_t{0}, size_t{7}, size_t{64} << 10}) {
    SCOPED_TRACE("block " + std::to_string(block));
    run_ok([&](Communicator& comm) -> Status {
      const size_t p = static_cast<size_t>(comm.size());
      std::vector<std::byte> send;
      for (size_t dst = 0; dst < p; ++dst) {
        const std::vector<std::byte> part = pattern(comm.rank(), int(dst), 0, block);
        send.insert(send.end(), part.begin(), part.end());
      }
      std::vector<std::byte> recv(send.size());
      RM_RETURN_IF_ERROR(all_to_all(comm, send, recv, Tag{10, 0, 1}));
      for (size_t src = 0; src < p; ++src) {
        const auto begin = recv.begin() + static_cast<std::ptrdiff_t>(src * block);
        RM_RETURN_IF_ERROR(
            check_payload(std::vector<std::byte>(begin, begin + static_cast<std::ptrdiff_t>(block)),
                          int(src), comm.rank(), 0));
      }
      return ok_status();
    });
  }
}

// Bytes rank `src` sends rank `dst` in the all_to_all_v tests; zero for some pairs.
size_t v_count(int src, int dst) { return static_cast<size_t>((src * 3 + dst * 5) % 7) * 11; }

TEST_P(CommConformance, AllToAllV) {
  run_ok([&](Communicator& comm) -> Status {
    const int p = comm.size();
    const int me = comm.rank();
    std::vector<size_t> send_counts;
    std::vector<size_t> recv_counts;
    std::vector<std::byte> send;
    for (int peer = 0; peer < p; ++peer) {
      send_counts.push_back(v_count(me, peer));
      recv_counts.push_back(v_count(peer, me));
      const std::vector<std::byte> part = pattern(me, peer, 0, v_count(me, peer));
      send.insert(send.end(), part.begin(), part.end());
    }
    std::vector<std::byte> recv(std::accumulate(recv_counts.begin(), recv_counts.end(), size_t{0}));
    RM_RETURN_IF_ERROR(all_to_all_v(comm, send, send_counts, recv, recv_counts, Tag{11, 0, 1}));
    size_t offset = 0;
    for (int src = 0; src < p; ++src) {
      const auto begin = recv.begin() + static_cast<std::ptrdiff_t>(offset);
      const size_t n = recv_counts[static_cast<size_t>(src)];
      RM_RETURN_IF_ERROR(check_payload(
          std::vector<std::byte>(begin, begin + static_cast<std::ptrdiff_t>(n)), src, me, 0));
      offset += n;
    }
    return ok_status();
  });
}

// Rank 0 expects one byte more from rank 1 than rank 1 sends: rank 0 alone sees kDataLoss.
TEST_P(CommConformancePairs, AllToAllVSizeDisagreementIsDataLoss) {
  if (!matches_by_tag_) GTEST_SKIP() << "this backend matches in posting order";
  const std::vector<Status> statuses = run_ranks(group_, [&](Communicator& comm) -> Status {
    const int p = comm.size();
    std::vector<size_t> send_counts(static_cast<size_t>(p), 4);
    std::vector<size_t> recv_counts(static_cast<size_t>(p), 4);
    if (comm.rank() == 0) recv_counts[1] = 5;
    std::vector<std::byte> send(4 * static_cast<size_t>(p));
    std::vector<std::byte> recv(std::accumulate(recv_counts.begin(), recv_counts.end(), size_t{0}));
    return all_to_all_v(comm, send, send_counts, recv, recv_counts, Tag{12, 0, 1});
  });
  EXPECT_EQ(statuses[0].code(), StatusCode::kDataLoss) << statuses[0].to_string();
  for (size_t r = 1; r < statuses.size(); ++r) {
    EXPECT_TRUE(statuses[r].ok()) << "rank " << r << ": " << statuses[r].to_string();
  }
}

TEST_P(CommConformance, CollectivesRejectInconsistentSizes) {
  const std::vector<Status> statuses = run_ranks(group_, [&](Communicator& comm) -> Status {
    const size_t p = static_cast<size_t>(comm.size());
    std::vector<std::byte> mine(4);
    std::vector<std::byte> all(4 * p + 1);
    const Status gather = all_gather(comm, mine, all, Tag{13, 0, 1});
    std::vector<std::byte> send(p + 1);
    std::vector<std::byte> recv(p);
    const Status to_all = all_to_all(comm, send, recv, Tag{13, 0, 2});
    const std::vector<size_t> counts(p + 1, 1);
    const Status to_all_v = all_to_all_v(comm, send, counts, recv, counts, Tag{13, 0, 3});
    for (const Status* s : {&gather, &to_all, &to_all_v}) {
      if (s->code() != StatusCode::kInvalidArgument) {
        return internal_error("expected invalid_argument, got " + s->to_string());
      }
    }
    return ok_status();
  });
  for (size_t r = 0; r < statuses.size(); ++r) {
    EXPECT_TRUE(statuses[r].ok()) << "rank " << r << ": " << statuses[r].to_string();
  }
}

std::vector<CommCase> pair_cases() {
  std::vector<CommCase> cases;
  for (const CommCase& c : all_cases()) {
    if (c.world >= 2) cases.push_back(c);
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Backends, CommConformance, ::testing::ValuesIn(all_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Backends, CommConformancePairs, ::testing::ValuesIn(pair_cases()),
                         case_name);

}  // namespace
}  // namespace ringmaster::comm
