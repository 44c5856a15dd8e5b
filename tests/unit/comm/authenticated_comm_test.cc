// AuthenticatedComm over LocalComm: genuine messages arrive unchanged; a flipped bit, a wrong key,
// another attempt's or pair's or tag's message, a replay and a wrong size are refused (dropped and
// counted, never delivered) while the genuine message behind them still arrives; a receive that
// gets only forged traffic ends at its deadline naming the claimed source (RELIABILITY.md S7).
//
// The forger writes into the transport directly (the inner LocalComm of the rank it claims to
// be), as a third process that reached a worker's UCX endpoint would.
#include "comm/authenticated_comm.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "comm/local_comm.h"
#include "tests/unit/comm/comm_test_util.h"

namespace ringmaster::comm {
namespace {

using namespace std::chrono_literals;
constexpr std::chrono::milliseconds kStepTimeout{300};
constexpr char kJob[] = "job-7";

DataPlaneKey key_of(char fill) {
  DataPlaneKey key;
  key.fill(std::byte(fill));
  return key;
}

// Two (or more) LocalComm ranks, each wrapped with the same key, plus the raw ranks for forging.
struct Group {
  explicit Group(int world, uint32_t epoch = 3)
      : raw(LocalComm::make_local_group(world, kStepTimeout)) {
    for (auto& rank : raw) {
      auth.push_back(std::make_unique<AuthenticatedComm>(*rank, key_of('k'), kJob, epoch));
    }
  }
  std::vector<std::unique_ptr<Communicator>> raw;
  std::vector<std::unique_ptr<AuthenticatedComm>> auth;
};

// A sealed message as `sealer` makes it.
std::vector<std::byte> sealed(const MessageSealer& sealer, const SealContext& context,
                              const std::vector<std::byte>& payload) {
  std::vector<std::byte> wire(kSealHeaderBytes + payload.size());
  sealer.seal(context, payload, wire);
  return wire;
}

// Sends `wire` from raw rank `src` to `dst` on `tag`, completing at once (LocalComm copies).
void inject(Group& group, int src, int dst, Tag tag, const std::vector<std::byte>& wire) {
  StatusOr<Request> send = group.raw[static_cast<size_t>(src)]->isend(dst, wire, tag);
  ASSERT_TRUE(send.ok()) << send.status().to_string();
  ASSERT_TRUE(send->wait(step_deadline(*group.raw[static_cast<size_t>(src)])).ok());
}

void send_genuine(Group& group, int src, int dst, Tag tag, const std::vector<std::byte>& payload) {
  StatusOr<Request> send = group.auth[static_cast<size_t>(src)]->isend(dst, payload, tag);
  ASSERT_TRUE(send.ok()) << send.status().to_string();
  ASSERT_TRUE(send->wait(step_deadline(*group.auth[static_cast<size_t>(src)])).ok());
}

// Receives `bytes` at `dst` from `src`; the status and what arrived.
std::pair<Status, std::vector<std::byte>> receive(Group& group, int dst, int src, Tag tag,
                                                  size_t bytes) {
  std::vector<std::byte> in(bytes, std::byte{0xee});
  AuthenticatedComm& comm = *group.auth[static_cast<size_t>(dst)];
  StatusOr<Request> recv = comm.irecv(src, in, tag);
  if (!recv.ok()) return {recv.status(), in};
  Status status = recv->wait(step_deadline(comm));
  return {status, in};
}

TEST(AuthenticatedComm, RoundTripsInOrderIncludingEmptyMessages) {
  Group group(2);
  const Tag tag{2, 5, 1};
  for (int seq = 0; seq < 3; ++seq)
    send_genuine(group, 1, 0, tag, testing::pattern(1, 0, seq, 1000));
  send_genuine(group, 0, 1, tag, {});
  for (int seq = 0; seq < 3; ++seq) {
    auto [status, got] = receive(group, 0, 1, tag, 1000);
    ASSERT_TRUE(status.ok()) << status.to_string();
    EXPECT_EQ(testing::first_mismatch(got, 1, 0, seq), "");
  }
  auto [status, got] = receive(group, 1, 0, tag, 0);
  EXPECT_TRUE(status.ok()) << status.to_string();
  EXPECT_EQ(group.auth[0]->rejected().count, 0u);
  EXPECT_EQ(group.auth[1]->rejected().count, 0u);
}

TEST(AuthenticatedComm, SendBufferIsFreeOnReturn) {
  Group group(2);
  std::vector<std::byte> out = testing::pattern(0, 1, 0, 64);
  StatusOr<Request> send = group.auth[0]->isend(1, out, Tag{0, 1, 0});
  ASSERT_TRUE(send.ok());
  std::fill(out.begin(), out.end(), std::byte{0});  // sealed a copy: the message is unchanged
  auto [status, got] = receive(group, 1, 0, Tag{0, 1, 0}, 64);
  ASSERT_TRUE(status.ok()) << status.to_string();
  EXPECT_EQ(testing::first_mismatch(got, 0, 1, 0), "");
  EXPECT_TRUE(send->wait(step_deadline(*group.auth[0])).ok());
}

// Each forgery goes first, on the genuine message's tag; the genuine one follows. The receiver
// must get exactly the genuine bytes and count one refusal.
struct Forgery {
  const char* name;
  const char* why;  // in the refusal's reason
  std::function<std::vector<std::byte>(const std::vector<std::byte>& payload)> make;
};

TEST(AuthenticatedComm, RefusesForgeriesAndStillDeliversTheGenuineMessage) {
  const Tag tag{1, 4, 2};
  const SealContext genuine{.src = 1, .dst = 0, .tag = tag, .seq = 0};
  const MessageSealer right(key_of('k'), kJob, 3);
  const MessageSealer wrong_key(key_of('x'), kJob, 3);
  const MessageSealer other_epoch(key_of('k'), kJob, 2);
  const MessageSealer other_job(key_of('k'), "job-8", 3);
  const std::vector<Forgery> forgeries = {
      {"flipped payload bit", "MAC mismatch",
       [&](const std::vector<std::byte>& p) {
         auto wire = sealed(right, genuine, p);
         wire[kSealHeaderBytes + 17] ^= std::byte{0x04};
         return wire;
       }},
      {"flipped MAC bit", "MAC mismatch",
       [&](const std::vector<std::byte>& p) {
         auto wire = sealed(right, genuine, p);
         wire[20] ^= std::byte{0x80};
         return wire;
       }},
      {"wrong key", "MAC mismatch", [&](const auto& p) { return sealed(wrong_key, genuine, p); }},
      {"another attempt", "MAC mismatch",
       [&](const auto& p) { return sealed(other_epoch, genuine, p); }},
      {"another job", "MAC mismatch", [&](const auto& p) { return sealed(other_job, genuine, p); }},
      {"another tag", "MAC mismatch",
       [&](const auto& p) {
         SealContext c = genuine;
         c.tag = Tag{1, 5, 2};
         return sealed(right, c, p);
       }},
      {"another source", "MAC mismatch",
       [&](const auto& p) {
         SealContext c = genuine;
         c.src = 2;
         return sealed(right, c, p);
       }},
      {"another destination", "MAC mismatch",
       [&](const auto& p) {
         SealContext c = genuine;
         c.dst = 2;
         return sealed(right, c, p);
       }},
      {"later sequence number", "out of sequence",
       [&](const auto& p) {
         SealContext c = genuine;
         c.seq = 1;
         return sealed(right, c, p);
       }},
      {"wrong size", "bytes",
       [&](const auto& p) {
         auto wire = sealed(right, genuine, p);
         wire.pop_back();
         return wire;
       }},
      {"unsealed payload", "bytes", [&](const auto& p) { return p; }},
      {"bad magic", "magic",
       [&](const auto& p) {
         auto wire = sealed(right, genuine, p);
         wire[0] = std::byte{'X'};
         return wire;
       }},
  };
  for (const Forgery& forgery : forgeries) {
    SCOPED_TRACE(forgery.name);
    Group group(3);
    const std::vector<std::byte> payload = testing::pattern(1, 0, 0, 256);
    std::vector<std::byte> forged_payload = payload;
    forged_payload[0] ^= std::byte{1};
    inject(group, 1, 0, tag, forgery.make(forged_payload));
    send_genuine(group, 1, 0, tag, payload);
    auto [status, got] = receive(group, 0, 1, tag, payload.size());
    ASSERT_TRUE(status.ok()) << status.to_string();
    EXPECT_EQ(got, payload);
    EXPECT_EQ(group.auth[0]->rejected().count, 1u);
  }
}

TEST(AuthenticatedComm, RefusesAReplayedGenuineMessage) {
  Group group(2);
  const Tag tag{0, 0, 7};
  // The collectives reuse a tag: a captured first message must not stand in for the second.
  const MessageSealer sealer(key_of('k'), kJob, 3);
  const std::vector<std::byte> first = testing::pattern(1, 0, 0, 128);
  const std::vector<std::byte> wire = sealed(sealer, {1, 0, tag, 0}, first);
  inject(group, 1, 0, tag, wire);  // the genuine first message, as the sender's seal makes it
  auto [s1, got1] = receive(group, 0, 1, tag, 128);
  ASSERT_TRUE(s1.ok()) << s1.to_string();
  EXPECT_EQ(got1, first);
  inject(group, 1, 0, tag, wire);  // the replay
  const std::vector<std::byte> second = testing::pattern(1, 0, 1, 128);
  // The genuine second: the real sender's sequence for this tag is at 0, so seal it by hand.
  inject(group, 1, 0, tag, sealed(sealer, {1, 0, tag, 1}, second));
  auto [s2, got2] = receive(group, 0, 1, tag, 128);
  ASSERT_TRUE(s2.ok()) << s2.to_string();
  EXPECT_EQ(got2, second);
  EXPECT_EQ(group.auth[0]->rejected().count, 1u);
}

TEST(AuthenticatedComm, OnlyForgedTrafficEndsAtTheDeadlineNamingTheSource) {
  Group group(2);
  const Tag tag{3, 9, 1};
  const MessageSealer wrong_key(key_of('x'), kJob, 3);
  for (int i = 0; i < 3; ++i) {
    inject(group, 1, 0, tag, sealed(wrong_key, {1, 0, tag, 0}, testing::pattern(1, 0, i, 64)));
  }
  const auto start = std::chrono::steady_clock::now();
  auto [status, got] = receive(group, 0, 1, tag, 64);
  EXPECT_GE(std::chrono::steady_clock::now() - start, kStepTimeout - 10ms);
  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded) << status.to_string();
  EXPECT_NE(status.message().find("claiming to be from rank 1"), std::string::npos)
      << status.to_string();
  EXPECT_NE(status.message().find("refused 3 message(s)"), std::string::npos) << status.to_string();
  EXPECT_NE(status.message().find("MAC mismatch"), std::string::npos) << status.to_string();
  EXPECT_EQ(got, std::vector<std::byte>(64, std::byte{0xee}));  // nothing reached the buffer
  EXPECT_EQ(group.auth[0]->rejected().count, 3u);
}

TEST(AuthenticatedComm, TestSettlesForgeriesWithoutBlocking) {
  Group group(2);
  const Tag tag{0, 2, 0};
  const MessageSealer wrong_key(key_of('x'), kJob, 3);
  std::vector<std::byte> in(32);
  StatusOr<Request> recv = group.auth[0]->irecv(1, in, tag);
  ASSERT_TRUE(recv.ok());
  EXPECT_FALSE(recv->test());
  inject(group, 1, 0, tag, sealed(wrong_key, {1, 0, tag, 0}, testing::pattern(1, 0, 0, 32)));
  EXPECT_FALSE(recv->test());  // refused and posted again
  send_genuine(group, 1, 0, tag, testing::pattern(1, 0, 1, 32));
  EXPECT_TRUE(recv->test());
  EXPECT_TRUE(recv->wait(step_deadline(*group.auth[0])).ok());
  EXPECT_EQ(testing::first_mismatch(in, 1, 0, 1), "");
}

TEST(AuthenticatedComm, ADeadPeerIsStillReportedAtOnce) {
  Group group(2);
  static_cast<LocalComm&>(*group.raw[1]).mark_dead();
  std::vector<std::byte> in(8);
  StatusOr<Request> recv = group.auth[0]->irecv(1, in, Tag{0, 1, 0});
  ASSERT_TRUE(recv.ok());
  const Status status = recv->wait(step_deadline(*group.auth[0]));
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.to_string();
}

TEST(AuthenticatedComm, RejectsBadArgumentsLikeEveryBackend) {
  Group group(2);
  std::vector<std::byte> buf(8);
  EXPECT_EQ(group.auth[0]->isend(0, buf, Tag{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(group.auth[0]->irecv(2, buf, Tag{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(group.auth[0]->isend(1, buf, Tag{0x10000, 0, 0}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(DataPlaneKey, DependsOnEveryInput) {
  const std::string nonce(kDataPlaneNonceBytes, 'n');
  const DataPlaneKey base = derive_data_plane_key("token-secret-0123", kJob, 0, nonce);
  EXPECT_EQ(base, derive_data_plane_key("token-secret-0123", kJob, 0, nonce));
  EXPECT_NE(base, derive_data_plane_key("token-secret-0124", kJob, 0, nonce));
  EXPECT_NE(base, derive_data_plane_key("token-secret-0123", "job-8", 0, nonce));
  EXPECT_NE(base, derive_data_plane_key("token-secret-0123", kJob, 1, nonce));
  EXPECT_NE(base, derive_data_plane_key("token-secret-0123", kJob, 0, std::string(32, 'm')));
  StatusOr<std::string> a = make_data_plane_nonce();
  StatusOr<std::string> b = make_data_plane_nonce();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), kDataPlaneNonceBytes);
  EXPECT_NE(*a, *b);
}

}  // namespace
}  // namespace ringmaster::comm
