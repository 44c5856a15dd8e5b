#include "proto/frame.h"

#include <google/protobuf/io/coded_stream.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace ringmaster::proto {
namespace {

uint32_t load_u32(const std::byte* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint16_t load_u16(const std::byte* p) {
  return static_cast<uint16_t>(static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8));
}
void store_u32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
void store_u16(std::byte* p, uint16_t v) {
  p[0] = static_cast<std::byte>(v);
  p[1] = static_cast<std::byte>(v >> 8);
}

uint32_t crc32_of(std::span<const std::byte> bytes) {
  // zlib takes uInt lengths; frames are at most 16 MiB, far below that.
  return static_cast<uint32_t>(
      ::crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

}  // namespace

const char* message_type_name(MessageType type) {
  switch (type) {
    case MessageType::kHello:
      return "Hello";
    case MessageType::kChallenge:
      return "Challenge";
    case MessageType::kAuthResponse:
      return "AuthResponse";
    case MessageType::kWelcome:
      return "Welcome";
    case MessageType::kRegister:
      return "Register";
    case MessageType::kAssignment:
      return "Assignment";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kResultChunk:
      return "ResultChunk";
    case MessageType::kError:
      return "Error";
    case MessageType::kAbort:
      return "Abort";
    case MessageType::kDone:
      return "Done";
    case MessageType::kProgress:
      return "Progress";
    case MessageType::kRestart:
      return "Restart";
  }
  return "unknown";
}

uint32_t max_frame_length(MessageType type) {
  // Each cap is a few times the largest legitimate message, so a peer's claim is checked against
  // what that type can need, not against one global limit (vsomeip#1009: 50 connections each
  // holding a max-size buffer). The handshake types are tiny: they are all an unauthenticated
  // peer may send.
  switch (type) {
    case MessageType::kHello:
      return 1024;
    case MessageType::kChallenge:
      return 256;
    case MessageType::kAuthResponse:
      return 256;
    case MessageType::kWelcome:
      return 1024;
    case MessageType::kRegister:
      return 64u << 10;
    case MessageType::kAssignment:
      return kMaxAssignmentBytes;
    case MessageType::kHeartbeat:
      return 64;
    case MessageType::kResultChunk:
      return kMaxFrameBytes;
    case MessageType::kError:
      return 64u << 10;
    case MessageType::kAbort:
      return 128u << 10;
    case MessageType::kDone:
      // Up to 16 phases of telemetry (the coordinator's limit), each at most about 100 bytes
      // (a 32-byte name, five numbers, three doubles): about 1.7 KB at the most.
      return 4096;
    case MessageType::kProgress:
      return 64;
    case MessageType::kRestart:
      return 64u << 10;
  }
  return 0;
}

StatusOr<FrameHeader> parse_frame_header(std::span<const std::byte, kFrameHeaderBytes> bytes,
                                         TypeSet accepted) {
  const std::byte* p = bytes.data();
  const uint32_t magic = load_u32(p);
  if (magic != kFrameMagic) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08x", magic);
    return invalid_argument(std::string("bad frame magic ") + hex + " (not a ringmaster peer)");
  }
  const uint16_t version = load_u16(p + 4);
  if (version != kFrameVersion) {
    return invalid_argument("unsupported frame version " + std::to_string(version) + " (expected " +
                            std::to_string(kFrameVersion) + ")");
  }
  const uint16_t raw_type = load_u16(p + 6);
  if (raw_type == 0 || raw_type > kMaxMessageType) {
    return invalid_argument("unknown frame type " + std::to_string(raw_type));
  }
  FrameHeader header;
  header.type = static_cast<MessageType>(raw_type);
  if ((accepted & type_bit(header.type)) == 0) {
    return invalid_argument(std::string("unexpected ") + message_type_name(header.type) +
                            " frame in this state");
  }
  header.length = load_u32(p + 8);
  if (header.length > max_frame_length(header.type)) {
    return invalid_argument(std::string(message_type_name(header.type)) + " frame claims " +
                            std::to_string(header.length) + " bytes, limit " +
                            std::to_string(max_frame_length(header.type)));
  }
  header.crc32 = load_u32(p + 12);
  return header;
}

Status check_payload(const FrameHeader& header, std::span<const std::byte> payload) {
  if (payload.size() != header.length) {
    return data_loss(std::string(message_type_name(header.type)) + " payload is " +
                     std::to_string(payload.size()) + " bytes, header says " +
                     std::to_string(header.length));
  }
  if (crc32_of(payload) != header.crc32) {
    return data_loss(std::string(message_type_name(header.type)) + " frame fails its CRC-32");
  }
  return ok_status();
}

Status parse_payload(std::span<const std::byte> payload, google::protobuf::MessageLite& message,
                     MessageType type) {
  google::protobuf::io::CodedInputStream input(reinterpret_cast<const uint8_t*>(payload.data()),
                                               static_cast<int>(payload.size()));
  // Protobuf 3.21 defaults to INT_MAX total bytes and 100 levels; impose ours explicitly.
  input.SetTotalBytesLimit(static_cast<int>(payload.size()));
  input.SetRecursionLimit(kRecursionLimit);
  message.Clear();
  if (!message.MergeFromCodedStream(&input) || !input.ConsumedEntireMessage() ||
      input.CurrentPosition() != static_cast<int>(payload.size())) {
    return invalid_argument(std::string("malformed ") + message_type_name(type) + " message (" +
                            std::to_string(payload.size()) + " bytes)");
  }
  return ok_status();
}

StatusOr<std::vector<std::byte>> encode_frame(MessageType type,
                                              const google::protobuf::MessageLite& message) {
  const size_t length = message.ByteSizeLong();
  if (length > max_frame_length(type)) {
    return invalid_argument(std::string(message_type_name(type)) + " message of " +
                            std::to_string(length) + " bytes exceeds the frame limit " +
                            std::to_string(max_frame_length(type)));
  }
  std::vector<std::byte> frame(kFrameHeaderBytes + length);
  std::byte* body = frame.data() + kFrameHeaderBytes;
  if (!message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(body))) {
    return internal_error(std::string("serializing ") + message_type_name(type) + " failed");
  }
  store_u32(frame.data(), kFrameMagic);
  store_u16(frame.data() + 4, kFrameVersion);
  store_u16(frame.data() + 6, static_cast<uint16_t>(type));
  store_u32(frame.data() + 8, static_cast<uint32_t>(length));
  store_u32(frame.data() + 12, crc32_of({body, length}));
  return frame;
}

}  // namespace ringmaster::proto
