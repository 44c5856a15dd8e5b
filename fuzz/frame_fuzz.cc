// fuzz/frame_fuzz.cc: the control-plane decoder as a peer reaches it (RELIABILITY.md S6):
// frame header, payload, protobuf, then the semantic validator, and the handshake state machines.
//
// The input is a byte stream cut into frames exactly as proto::Connection cuts a TCP stream: a
// 16-byte header checked against the types the receiver accepts in its state, then `length`
// payload bytes. The same bytes are read three times:
//   1. by the coordinator before authentication (coordinator/server.cc): Hello, then
//      AuthResponse, through ServerHandshake;
//   2. by a worker during its handshake (worker/control_client.cc): Challenge or Error, through
//      ClientHandshake;
//   3. as an authenticated peer's traffic: any type, each message through its validate_*.
// Random bytes cannot forge an HMAC proof, so (3) is how the fuzzer reaches the types that only
// a peer holding the job token may send; such a peer is not trusted to be well-formed either.
//
// CRC-32 is no defence against an attacker (anyone can compute it), so a mismatch is checked but
// does not stop the stream: the payload goes on to the parser, where a hostile peer would get it.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "proto/auth.h"
#include "proto/frame.h"
#include "proto/handshake.h"
#include "proto/validate.h"

namespace ringmaster::proto {
namespace {

using Bytes = std::span<const std::byte>;

// Cuts the next frame off `stream`, or nullopt where the receiver would close the connection
// (header refused) or keep waiting (a frame cut short by the end of the input).
std::optional<Frame> next_frame(Bytes& stream, TypeSet accepted) {
  if (stream.size() < kFrameHeaderBytes) return std::nullopt;
  StatusOr<FrameHeader> header = parse_frame_header(stream.first<kFrameHeaderBytes>(), accepted);
  if (!header.ok()) return std::nullopt;
  stream = stream.subspan(kFrameHeaderBytes);
  if (stream.size() < header->length) return std::nullopt;
  const Bytes payload = stream.first(header->length);
  stream = stream.subspan(header->length);
  (void)check_payload(*header, payload);
  return Frame{header->type, {payload.begin(), payload.end()}};
}

const JobToken& token() {
  static const JobToken kToken = JobToken::from_secret("42de49fe6ed12f4930b52f25f70a42b7").value();
  return kToken;
}

// 1. The coordinator's side of the handshake; any error closes the connection.
void serve_handshake(Bytes stream) {
  ServerHandshake handshake(token(), "fuzz-job");
  std::optional<Frame> frame = next_frame(stream, type_bit(MessageType::kHello));
  if (!frame) return;
  StatusOr<pb::Hello> hello = decode_frame<pb::Hello>(*frame);
  if (!hello.ok() || !handshake.on_hello(*hello).ok()) return;
  frame = next_frame(stream, type_bit(MessageType::kAuthResponse));
  if (!frame) return;
  StatusOr<pb::AuthResponse> response = decode_frame<pb::AuthResponse>(*frame);
  if (!response.ok()) return;
  // Fails (the server nonce is fresh), but must fail cleanly.
  (void)handshake.on_auth_response(*response);
}

// 2. The worker's side: it sent Hello and reads the coordinator's answer.
void join_handshake(Bytes stream) {
  ClientHandshake handshake(token(), "fuzz-host", 1);
  if (!handshake.hello().ok()) return;
  const std::optional<Frame> frame =
      next_frame(stream, type_bit(MessageType::kChallenge) | type_bit(MessageType::kError));
  if (!frame) return;
  if (frame->type == MessageType::kError) {
    if (StatusOr<pb::Error> error = decode_frame<pb::Error>(*frame); error.ok()) {
      (void)validate_error(*error);
    }
    return;
  }
  if (StatusOr<pb::Challenge> challenge = decode_frame<pb::Challenge>(*frame); challenge.ok()) {
    (void)handshake.on_challenge(*challenge);
  }
}

template <typename T, typename Validate>
void decode_and_validate(const Frame& frame, Validate validate) {
  StatusOr<T> message = decode_frame<T>(frame);
  if (message.ok()) (void)validate(*message);
}

constexpr auto accept_any = [](const auto&) { return ok_status(); };

// 3. Every frame type, each through its validator. A ResultChunk is checked against the row
// size of the last valid Assignment, as the coordinator checks it against its job.
void authenticated_traffic(Bytes stream) {
  int64_t row_bytes = 16;
  while (std::optional<Frame> frame = next_frame(stream, kAllTypes)) {
    switch (frame->type) {
      case MessageType::kHello:
        decode_and_validate<pb::Hello>(*frame, validate_hello);
        break;
      case MessageType::kChallenge:
        decode_and_validate<pb::Challenge>(*frame, validate_challenge);
        break;
      case MessageType::kAuthResponse:
        decode_and_validate<pb::AuthResponse>(*frame, validate_auth_response);
        break;
      case MessageType::kWelcome:
        decode_and_validate<pb::Welcome>(*frame, validate_welcome);
        break;
      case MessageType::kRegister:
        decode_and_validate<pb::Register>(*frame, validate_register);
        break;
      case MessageType::kAssignment:
        decode_and_validate<pb::Assignment>(*frame, [&](const pb::Assignment& assignment) {
          Status status = validate_assignment(assignment);
          if (status.ok()) {
            row_bytes = result_row_bytes(assignment.job());
            (void)result_rows(assignment.job());
          }
          return status;
        });
        break;
      case MessageType::kResultChunk:
        decode_and_validate<pb::ResultChunk>(*frame, [&](const pb::ResultChunk& chunk) {
          return validate_result_chunk(chunk, row_bytes);
        });
        break;
      case MessageType::kError:
        decode_and_validate<pb::Error>(*frame, validate_error);
        break;
      case MessageType::kAbort:
        decode_and_validate<pb::Abort>(
            *frame, [](const pb::Abort& a) { return validate_error(a.cause()); });
        break;
      // No validator exists for these: every value of their fields is acceptable.
      case MessageType::kHeartbeat:
        decode_and_validate<pb::Heartbeat>(*frame, accept_any);
        break;
      case MessageType::kDone:
        decode_and_validate<pb::Done>(*frame, accept_any);
        break;
      case MessageType::kProgress:
        decode_and_validate<pb::Progress>(*frame, accept_any);
        break;
      case MessageType::kRestart:
        decode_and_validate<pb::Restart>(*frame, accept_any);
        break;
    }
  }
}

}  // namespace
}  // namespace ringmaster::proto

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> stream(reinterpret_cast<const std::byte*>(data), size);
  ringmaster::proto::serve_handshake(stream);
  ringmaster::proto::join_handshake(stream);
  ringmaster::proto::authenticated_traffic(stream);
  return 0;
}
