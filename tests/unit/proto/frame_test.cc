#include "proto/frame.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace ringmaster::proto {
namespace {

std::array<std::byte, kFrameHeaderBytes> header_of(const std::vector<std::byte>& frame) {
  std::array<std::byte, kFrameHeaderBytes> h{};
  std::memcpy(h.data(), frame.data(), kFrameHeaderBytes);
  return h;
}

std::array<std::byte, kFrameHeaderBytes> raw_header(uint32_t magic, uint16_t version, uint16_t type,
                                                    uint32_t length) {
  std::array<std::byte, kFrameHeaderBytes> h{};
  auto put = [&](size_t at, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) h[at + i] = static_cast<std::byte>(v >> (8 * i));
  };
  put(0, magic, 4);
  put(4, version, 2);
  put(6, type, 2);
  put(8, length, 4);
  return h;
}

TEST(Frame, RoundTripsEveryField) {
  pb::Register reg;
  reg.set_host("node7");
  reg.set_pid(4242);
  reg.set_rank_hint(3);
  reg.set_comm_address(std::string("\x00\x01\x02", 3));
  StatusOr<std::vector<std::byte>> frame = encode_frame(reg);
  ASSERT_TRUE(frame.ok()) << frame.status().to_string();
  StatusOr<FrameHeader> header = parse_frame_header(header_of(*frame), kAllTypes);
  ASSERT_TRUE(header.ok()) << header.status().to_string();
  EXPECT_EQ(header->type, MessageType::kRegister);
  EXPECT_EQ(header->length, frame->size() - kFrameHeaderBytes);
  Frame received{header->type, {frame->begin() + kFrameHeaderBytes, frame->end()}};
  ASSERT_TRUE(check_payload(*header, received.payload).ok());
  StatusOr<pb::Register> back = decode_frame<pb::Register>(received);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->host(), "node7");
  EXPECT_EQ(back->pid(), 4242);
  EXPECT_EQ(back->rank_hint(), 3);
  EXPECT_EQ(back->comm_address().size(), 3u);
}

TEST(Frame, RejectsJunkAtTheHeader) {
  // An HTTP request and a TLS ClientHello fail on their first four bytes.
  std::array<std::byte, kFrameHeaderBytes> http{};
  std::memcpy(http.data(), "GET / HTTP/1.1\r\n", kFrameHeaderBytes);
  EXPECT_FALSE(parse_frame_header(http, kAllTypes).ok());
  std::array<std::byte, kFrameHeaderBytes> tls{};
  const unsigned char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01};
  std::memcpy(tls.data(), hello, sizeof hello);
  EXPECT_FALSE(parse_frame_header(tls, kAllTypes).ok());
  EXPECT_FALSE(parse_frame_header(raw_header(kFrameMagic, 2, 1, 10), kAllTypes).ok());
  EXPECT_FALSE(parse_frame_header(raw_header(kFrameMagic, 1, 0, 10), kAllTypes).ok());
  EXPECT_FALSE(parse_frame_header(raw_header(kFrameMagic, 1, 99, 10), kAllTypes).ok());
}

TEST(Frame, RejectsOversizedLengthsBeforeAllocating) {
  const uint16_t hello = static_cast<uint16_t>(MessageType::kHello);
  const uint16_t chunk = static_cast<uint16_t>(MessageType::kResultChunk);
  EXPECT_TRUE(parse_frame_header(raw_header(kFrameMagic, 1, hello, 0), kAllTypes).ok());
  EXPECT_TRUE(parse_frame_header(raw_header(kFrameMagic, 1, hello, 1024), kAllTypes).ok());
  EXPECT_FALSE(parse_frame_header(raw_header(kFrameMagic, 1, hello, 1025), kAllTypes).ok());
  EXPECT_FALSE(parse_frame_header(raw_header(kFrameMagic, 1, hello, 0xffffffffu), kAllTypes).ok());
  EXPECT_TRUE(parse_frame_header(raw_header(kFrameMagic, 1, chunk, 16u << 20), kAllTypes).ok());
  EXPECT_FALSE(
      parse_frame_header(raw_header(kFrameMagic, 1, chunk, (16u << 20) + 1), kAllTypes).ok());
}

TEST(Frame, RejectsTypesTheStateDoesNotAccept) {
  // Before authentication only Hello passes: a 16 MiB ResultChunk header is refused outright.
  const TypeSet before_auth = type_bit(MessageType::kHello);
  const uint16_t chunk = static_cast<uint16_t>(MessageType::kResultChunk);
  StatusOr<FrameHeader> h = parse_frame_header(raw_header(kFrameMagic, 1, chunk, 100), before_auth);
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("unexpected ResultChunk"), std::string::npos);
}

TEST(Frame, DetectsCorruptPayloads) {
  pb::Heartbeat beat;
  beat.set_seq(12345);
  StatusOr<std::vector<std::byte>> frame = encode_frame(beat);
  ASSERT_TRUE(frame.ok());
  StatusOr<FrameHeader> header = parse_frame_header(header_of(*frame), kAllTypes);
  ASSERT_TRUE(header.ok());
  std::vector<std::byte> payload(frame->begin() + kFrameHeaderBytes, frame->end());
  payload[0] ^= std::byte{0x01};
  EXPECT_EQ(check_payload(*header, payload).code(), StatusCode::kDataLoss);
}

TEST(Frame, RefusesGarbageAndDeepNesting) {
  std::vector<std::byte> garbage(64, std::byte{0xff});
  pb::Hello hello;
  EXPECT_FALSE(parse_payload(garbage, hello, MessageType::kHello).ok());

  // An unknown field holding groups nested 10 000 deep (CVE-2024-7254's shape): start-group
  // tags of field 15 (wire type 3), each closed by its end-group tag (wire type 4), so the input
  // is well formed and not truncated: only the recursion limit can refuse it.
  std::vector<std::byte> nested;
  for (int i = 0; i < 10000; ++i) nested.push_back(std::byte{(15 << 3) | 3});
  for (int i = 0; i < 10000; ++i) nested.push_back(std::byte{(15 << 3) | 4});
  EXPECT_FALSE(parse_payload(nested, hello, MessageType::kHello).ok());

  // Nesting within the limit but closed properly parses (the unknown field is kept).
  std::vector<std::byte> shallow;
  for (int i = 0; i < 5; ++i) shallow.push_back(std::byte{(15 << 3) | 3});
  for (int i = 0; i < 5; ++i) shallow.push_back(std::byte{(15 << 3) | 4});
  EXPECT_TRUE(parse_payload(shallow, hello, MessageType::kHello).ok());

  // 40 levels: more than kRecursionLimit.
  std::vector<std::byte> deep;
  for (int i = 0; i < 40; ++i) deep.push_back(std::byte{(15 << 3) | 3});
  for (int i = 0; i < 40; ++i) deep.push_back(std::byte{(15 << 3) | 4});
  EXPECT_FALSE(parse_payload(deep, hello, MessageType::kHello).ok());
}

TEST(Frame, RefusesToEncodeMessagesOverTheLimit) {
  pb::Hello hello;
  hello.set_host(std::string(2000, 'x'));
  EXPECT_FALSE(encode_frame(hello).ok());
}

// The largest Done a coordinator accepts (16 phases of telemetry, 32-byte names, every number at
// its widest) fits Done's frame limit, both ways.
TEST(Frame, LargestDoneFits) {
  pb::Done done;
  done.set_rank(1023);
  done.set_rows(int64_t{1} << 40);
  done.set_wall_s(1e300);
  done.set_compute_s(1e300);
  done.set_wait_s(1e300);
  done.set_bytes_sent(INT64_MAX);
  done.set_bytes_received(INT64_MAX);
  done.set_peak_rss_bytes(INT64_MAX);
  done.set_epoch(UINT32_MAX);
  done.set_prefill_s(1e300);
  done.set_decode_s(1e300);
  for (int i = 0; i < 16; ++i) {
    pb::PhaseTelemetry* phase = done.add_phases();
    phase->set_name(std::string(32, 'a'));
    phase->set_blocks(INT64_MAX);
    phase->set_wall_s(1e300);
    phase->set_compute_s(1e300);
    phase->set_wait_s(1e300);
    phase->set_bytes_sent(INT64_MAX);
    phase->set_bytes_received(INT64_MAX);
  }
  StatusOr<std::vector<std::byte>> frame = encode_frame(done);
  ASSERT_TRUE(frame.ok()) << frame.status().to_string();
  Frame received{MessageType::kDone, {frame->begin() + kFrameHeaderBytes, frame->end()}};
  StatusOr<pb::Done> decoded = decode_frame<pb::Done>(received);
  ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
  EXPECT_EQ(decoded->phases_size(), 16);
}

TEST(Frame, DecodeChecksTheType) {
  pb::Heartbeat beat;
  StatusOr<std::vector<std::byte>> frame = encode_frame(beat);
  ASSERT_TRUE(frame.ok());
  Frame received{MessageType::kHeartbeat, {frame->begin() + kFrameHeaderBytes, frame->end()}};
  EXPECT_FALSE(decode_frame<pb::Done>(received).ok());
}

}  // namespace
}  // namespace ringmaster::proto
