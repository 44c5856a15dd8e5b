// attention/received_positions.h: checks the positions and sequence ids that arrive with a
// peer's K/V block against those the partition plan and the record layout give that peer.
//
// Ring and Ulysses send a block's positions and sequence ids with it (the mask needs them, and a
// device block keeps them next to K and V). The transport checks the size (exact-size receives)
// and AuthenticatedComm the sender; this checks the content a receiver can derive itself, so a
// peer with a bug or a stale plan fails the step with kDataLoss instead of silently moving the
// mask (RELIABILITY.md S7).
//
// Thread-compatible.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "comm/partition.h"
#include "core/status.h"

namespace ringmaster::attention {

// OK when `pos` and `seq` (empty: every sequence id 0) are, row by row, the positions within
// their records and the record ids of the tokens `plan` gives rank `src`, as `layout` places
// them. Else kDataLoss: "<where>: the block from rank S: row I has position P of sequence Q; the
// plan gives token T position P' of sequence Q'" (or the row counts, when they differ).
Status check_received_positions(const comm::PartitionPlan& plan, const comm::RecordLayout& layout,
                                int src, std::span<const int64_t> pos, std::span<const int32_t> seq,
                                const std::string& where);

}  // namespace ringmaster::attention
