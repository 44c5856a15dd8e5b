// comm/collectives.h: collectives built on Communicator's point-to-point calls.
//
// Every rank calls each collective, in the same order, with the same sizes. The schedules are
// deterministic (fixed peer order), so results are bit-identical run to run: post every receive,
// then every send, then wait for all of them against one step_deadline(comm). Each collective
// sends one message per ordered pair of ranks, all with the caller's `tag`, so collectives in
// flight at once need distinct tags, and one tag may be reused by collectives in sequence.
// With one rank, a collective is a local copy.
//
// Errors: kInvalidArgument for inconsistent local sizes (nothing is sent), else the first error of
// any transfer (kDataLoss when ranks disagree on a size, kUnavailable for a dead peer,
// kDeadlineExceeded), reported after every other transfer has finished or timed out.
// Thread-compatible, like the Communicator they use.
#pragma once

#include "comm/communicator.h"

namespace ringmaster::comm {

// all[r * mine.size() ...] <- rank r's `mine`, for every r (own slot copied locally).
// REQUIRES: all.size() == size() * mine.size().
Status all_gather(Communicator& comm, ConstView mine, MutableView all, Tag tag);

// Rank r's send[p * n ...] (n = send.size() / size()) goes to rank p's recv[r * n ...].
// REQUIRES: send.size() == recv.size(), divisible by size().
Status all_to_all(Communicator& comm, ConstView send, MutableView recv, Tag tag);

// Like all_to_all with per-peer sizes: send_counts[p] bytes from send (packed in peer order)
// to peer p; recv_counts[p] bytes from peer p into recv (packed in peer order).
Status all_to_all_v(Communicator& comm, ConstView send, std::span<const size_t> send_counts,
                    MutableView recv, std::span<const size_t> recv_counts, Tag tag);

}  // namespace ringmaster::comm
