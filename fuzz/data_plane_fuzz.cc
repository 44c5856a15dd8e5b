// fuzz/data_plane_fuzz.cc: the data-plane message decoder (comm/authenticated_comm.h,
// MessageSealer::open) over arbitrary bytes (RELIABILITY.md S7). Input: an 8-byte context, then
// the bytes as they would arrive from the transport:
//   src (u8 % 4) | dst (u8 % 4) | kind (u8) | seq (u8) | expected payload bytes (u16 LE) |
//   layer (u8) | step (u8) | wire ...
// Checked, for every input:
//   - open never reads outside the wire, and what it accepts is a view of exactly the expected
//     size inside the wire, right after the header (the property test of S7: an accepted message
//     addresses only bytes of the buffer the receiver allocated);
//   - it accepts only the genuine sealing of that payload under the context (anything else would
//     be a forgery the fuzzer found);
//   - sealing the wire bytes as a payload and opening the result gives them back, and the same
//     message with one byte flipped, or opened for the next sequence number, is refused.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "comm/authenticated_comm.h"

namespace ringmaster::comm {
namespace {

constexpr size_t kContextBytes = 8;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "data_plane_fuzz: %s\n", what);
  std::abort();
}

const MessageSealer& sealer() {
  static const MessageSealer* s = [] {
    DataPlaneKey key;
    key.fill(std::byte{0x42});
    return new MessageSealer(key, "fuzz-job", 1);
  }();
  return *s;
}

void fuzz_one(const uint8_t* data, size_t size) {
  if (size < kContextBytes) return;
  SealContext context;
  context.src = data[0] % 4;
  context.dst = data[1] % 4;
  context.tag = Tag{data[6], data[7], data[2]};
  context.seq = data[3];
  const size_t expected = size_t{data[4]} | (size_t{data[5]} << 8);
  // A copy of exactly the wire, so ASan catches a read past its end.
  const std::vector<std::byte> wire(reinterpret_cast<const std::byte*>(data) + kContextBytes,
                                    reinterpret_cast<const std::byte*>(data) + size);

  StatusOr<ConstView> opened = sealer().open(context, expected, wire);
  if (opened.ok()) {
    if (opened->size() != expected || opened->data() != wire.data() + kSealHeaderBytes) {
      fail("an accepted payload is not the expected bytes of the wire");
    }
    std::vector<std::byte> genuine(kSealHeaderBytes + expected);
    sealer().seal(context, *opened, genuine);
    if (genuine != wire) fail("accepted a message that is not the genuine sealing (a forgery)");
  } else if (opened.status().code() != StatusCode::kDataLoss) {
    fail("a refusal that is not kDataLoss");
  }

  // Round trip with the wire bytes as a payload.
  std::vector<std::byte> sealed(kSealHeaderBytes + wire.size());
  sealer().seal(context, wire, sealed);
  StatusOr<ConstView> back = sealer().open(context, wire.size(), sealed);
  if (!back.ok()) fail("a sealed message does not open");
  if (!std::equal(back->begin(), back->end(), wire.begin(), wire.end())) {
    fail("a sealed message opens to other bytes");
  }
  SealContext next = context;
  ++next.seq;
  if (sealer().open(next, wire.size(), sealed).ok()) fail("a message opened out of sequence");
  const size_t flip = (size_t{data[3]} * 7919 + size) % sealed.size();
  sealed[flip] ^= std::byte{0x01};
  if (sealer().open(context, wire.size(), sealed).ok()) fail("a flipped byte went unnoticed");
}

}  // namespace
}  // namespace ringmaster::comm

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ringmaster::comm::fuzz_one(data, size);
  return 0;
}
