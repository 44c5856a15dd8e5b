// proto/frame.h: how control-plane messages are cut into frames on a TCP stream, and how a
// frame from an untrusted peer is checked before anything is allocated or parsed.
//
// A frame is a fixed 16-byte header, then `length` bytes of one protobuf message:
//
//   offset  size  field     value
//   0       4     magic     "RMCP" (0x50434d52 little-endian): rejects stray protocols at once
//   4       2     version   kFrameVersion
//   6       2     type      MessageType: which message of ringmaster.proto follows
//   8       4     length    payload bytes, <= max_frame_length(type), checked BEFORE allocating
//   12      4     crc32     zlib CRC-32 of the payload: catches framing bugs and flipped bits
//
// All integers are little-endian. The receiver decides which types it accepts in its current
// state (before authentication only Hello / AuthResponse, each a few hundred bytes), so an
// unauthenticated peer can never make us buffer more than max_frame_length of those types.
// Payloads are parsed with a CodedInputStream limited to the payload and a recursion limit of
// kRecursionLimit (our schema nests 3 deep), per RELIABILITY.md section 3, rule 9.
//
// Everything here is a pure function over bytes: thread-safe, no I/O, no Asio.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "core/status.h"
#include "proto/ringmaster.pb.h"

namespace ringmaster::proto {

inline constexpr uint32_t kFrameMagic = 0x50434d52;  // "RMCP" as little-endian bytes
inline constexpr uint16_t kFrameVersion = 1;
inline constexpr size_t kFrameHeaderBytes = 16;
inline constexpr int kRecursionLimit = 32;
// The largest frame of any type (RELIABILITY.md defaults: max control frame 16 MiB).
inline constexpr uint32_t kMaxFrameBytes = 16u << 20;
// ResultChunk rows are at most this many bytes, so a chunk with its token list fits a frame.
inline constexpr uint32_t kMaxResultChunkRowBytes = 8u << 20;
inline constexpr int kMaxResultChunkTokens = 1 << 16;
// An Assignment carries the rank's tokens, one byte each (ringmaster.proto): up to 256 Mi
// tokens per rank. Only an authenticated coordinator can send one.
inline constexpr uint32_t kMaxAssignmentBytes = 256u << 20;

enum class MessageType : uint16_t {
  kHello = 1,
  kChallenge = 2,
  kAuthResponse = 3,
  kWelcome = 4,
  kRegister = 5,
  kAssignment = 6,
  kHeartbeat = 7,
  kResultChunk = 8,
  kError = 9,
  kAbort = 10,
  kDone = 11,
  kProgress = 12,
  kRestart = 13,
};
inline constexpr uint16_t kMaxMessageType = 13;

const char* message_type_name(MessageType type);  // "Hello", ...; "unknown" otherwise
// The largest payload a frame of `type` may carry; 0 for an unknown type.
uint32_t max_frame_length(MessageType type);

// A set of message types (bit t set = type t accepted).
using TypeSet = uint32_t;
constexpr TypeSet type_bit(MessageType type) { return TypeSet{1} << static_cast<uint16_t>(type); }
constexpr TypeSet kAllTypes = ((TypeSet{1} << (kMaxMessageType + 1)) - 1) & ~TypeSet{1};

struct FrameHeader {
  MessageType type = MessageType::kHeartbeat;
  uint32_t length = 0;
  uint32_t crc32 = 0;
};

// One received frame: its type and payload (not yet parsed).
struct Frame {
  MessageType type = MessageType::kHeartbeat;
  std::vector<std::byte> payload;
};

// Checks magic, version, type (known and in `accepted`) and length (<= max_frame_length(type)).
// Errors (kInvalidArgument) say which field was wrong and what it held; nothing is allocated.
StatusOr<FrameHeader> parse_frame_header(std::span<const std::byte, kFrameHeaderBytes> bytes,
                                         TypeSet accepted);

// Checks the payload's CRC against the header (kDataLoss on mismatch).
Status check_payload(const FrameHeader& header, std::span<const std::byte> payload);

// Parses `payload` into `message` with a bounded stream; the whole payload must be consumed.
// kInvalidArgument names the message type when the bytes are not a valid message (including
// nesting deeper than kRecursionLimit).
Status parse_payload(std::span<const std::byte> payload, google::protobuf::MessageLite& message,
                     MessageType type);

// Serializes `message` as a frame of `type`. kInvalidArgument if it exceeds
// max_frame_length(type) (a peer table or chunk sized wrongly by the caller).
StatusOr<std::vector<std::byte>> encode_frame(MessageType type,
                                              const google::protobuf::MessageLite& message);

// The frame type of each message class, so callers cannot pair a message with the wrong type.
template <typename T>
constexpr MessageType message_type_of() {
  using M = MessageType;
  if constexpr (std::is_same_v<T, pb::Hello>) {
    return M::kHello;
  } else if constexpr (std::is_same_v<T, pb::Challenge>) {
    return M::kChallenge;
  } else if constexpr (std::is_same_v<T, pb::AuthResponse>) {
    return M::kAuthResponse;
  } else if constexpr (std::is_same_v<T, pb::Welcome>) {
    return M::kWelcome;
  } else if constexpr (std::is_same_v<T, pb::Register>) {
    return M::kRegister;
  } else if constexpr (std::is_same_v<T, pb::Assignment>) {
    return M::kAssignment;
  } else if constexpr (std::is_same_v<T, pb::Heartbeat>) {
    return M::kHeartbeat;
  } else if constexpr (std::is_same_v<T, pb::ResultChunk>) {
    return M::kResultChunk;
  } else if constexpr (std::is_same_v<T, pb::Error>) {
    return M::kError;
  } else if constexpr (std::is_same_v<T, pb::Abort>) {
    return M::kAbort;
  } else if constexpr (std::is_same_v<T, pb::Progress>) {
    return M::kProgress;
  } else if constexpr (std::is_same_v<T, pb::Restart>) {
    return M::kRestart;
  } else {
    static_assert(std::is_same_v<T, pb::Done>, "not a control-plane message");
    return M::kDone;
  }
}

template <typename T>
StatusOr<std::vector<std::byte>> encode_frame(const T& message) {
  return encode_frame(message_type_of<T>(), message);
}

// Parses a received frame as T. kInvalidArgument if the frame holds another type.
template <typename T>
StatusOr<T> decode_frame(const Frame& frame) {
  if (frame.type != message_type_of<T>()) {
    return invalid_argument(std::string("expected a ") + message_type_name(message_type_of<T>()) +
                            " frame, got " + message_type_name(frame.type));
  }
  T message;
  RM_RETURN_IF_ERROR(parse_payload(frame.payload, message, frame.type));
  return message;
}

}  // namespace ringmaster::proto
