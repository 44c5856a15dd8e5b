#include "model/fit_stream.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "comm/collectives.h"

namespace ringmaster::model {
namespace {

constexpr uint8_t kFitLatentKind = 30;

Status cut_group_error(int rank, const comm::TokenRange& range, int record, int64_t group) {
  return failed_precondition("fit: rank " + std::to_string(rank) + "'s tokens [" +
                             std::to_string(range.begin) + ", " + std::to_string(range.end) +
                             ") cut a group of " + std::to_string(group) + " positions of record " +
                             std::to_string(record) +
                             "; the partition plan must align to the group size");
}

}  // namespace

bool FitGroups::is_first_of_record(int64_t id) const {
  return std::binary_search(first_of_record.begin(), first_of_record.end(), id);
}

StatusOr<FitGroups> map_fit_groups(const ShardContext& ctx, int64_t group, int64_t latents) {
  const comm::RecordLayout& layout = *ctx.layout;
  FitGroups g;
  g.group = group;
  g.latents = latents;
  g.first_of_record.push_back(0);
  for (int r = 0; r < layout.num_records(); ++r) {
    const int64_t groups = (layout.length(r) + group - 1) / group;
    g.first_of_record.push_back(g.first_of_record.back() + groups);
    for (int64_t j = 0; j < groups; ++j) {
      g.latent_pos.insert(g.latent_pos.end(), static_cast<size_t>(latents), j);
      g.latent_seq.insert(g.latent_seq.end(), static_cast<size_t>(latents), r);
    }
  }
  g.num_groups = g.first_of_record.back();

  // Every rank checks every rank's ranges, so all of them agree on an error before any transfer.
  const int world = ctx.plan->world();
  g.owned.resize(static_cast<size_t>(world));
  for (int p = 0; p < world; ++p) {
    for (const comm::TokenRange& range : ctx.plan->ranges_of(p)) {
      for (int64_t t = range.begin; t < range.end;) {
        const int r = layout.record_of(t);
        const int64_t first = t - layout.start(r);
        const int64_t end = std::min(range.end, layout.start(r + 1));
        const int64_t last = end - layout.start(r);  // exclusive
        if (first % group != 0 || (last % group != 0 && end != layout.start(r + 1))) {
          return cut_group_error(p, range, r, group);
        }
        for (int64_t j = first / group; j < (last + group - 1) / group; ++j) {
          g.owned[static_cast<size_t>(p)].push_back(g.first_of_record[static_cast<size_t>(r)] + j);
        }
        t = end;
      }
    }
  }

  for (int64_t i = 0; i < ctx.num_local(); ++i) {
    const auto idx = static_cast<size_t>(i);
    const int64_t id = g.first_of_record[static_cast<size_t>(ctx.seq[idx])] + ctx.pos[idx] / group;
    if (g.local.empty() || g.local.back().id != id) g.local.push_back({id, i, 0});
    ++g.local.back().len;
  }
  return g;
}

FitStream::FitStream(Tensor init, int64_t group) : init_(std::move(init)), group_(group) {}

Status FitStream::begin(const ShardContext& ctx) {
  const int64_t m = init_.dim(0), d = init_.dim(1);
  RM_ASSIGN_OR_RETURN(groups_, map_fit_groups(ctx, group_, m));
  lat_ = Tensor::empty({groups_.num_groups, m, d}, DType::kF32);
  for (int64_t g = 0; g < groups_.num_groups; ++g) {
    std::memcpy(lat_.data<float>() + g * m * d, init_.const_data<float>(), init_.bytes());
  }
  return ok_status();
}

void FitStream::begin_step(const DecodeStep& step) {
  pending_.clear();
  const float* init = init_.const_data<float>();
  for (const size_t i : step.local) {
    if (!ends_group(step.pos[i])) continue;
    pending_[step.stream[i]].assign(init, init + init_.numel());
  }
}

void FitStream::end() {
  lat_ = Tensor();
  groups_ = FitGroups();
}

Status FitStream::share(const ShardContext& ctx, uint32_t layer) {
  const int world = ctx.comm->size(), rank = ctx.comm->rank();
  if (world == 1) return ok_status();
  const int64_t row = lat_.dim(1) * lat_.dim(2);  // floats per group
  size_t slot_groups = 0;
  for (const auto& owned : groups_.owned) slot_groups = std::max(slot_groups, owned.size());
  const size_t slot = slot_groups * static_cast<size_t>(row);
  if (slot == 0) return ok_status();

  std::vector<float> mine(slot), all(slot * static_cast<size_t>(world));
  float* lat = lat_.data<float>();
  const auto& own = groups_.owned[static_cast<size_t>(rank)];
  for (size_t i = 0; i < own.size(); ++i) {
    std::memcpy(mine.data() + i * row, lat + own[i] * row,
                static_cast<size_t>(row) * sizeof(float));
  }
  // Only latents travel (exact sizes): whose groups they are comes from the plan, never a peer.
  RM_RETURN_IF_ERROR(comm::all_gather(*ctx.comm, std::as_bytes(std::span(mine)),
                                      std::as_writable_bytes(std::span(all)),
                                      comm::Tag{layer, 0, kFitLatentKind}));
  for (int p = 0; p < world; ++p) {
    if (p == rank) continue;
    const auto& owned = groups_.owned[static_cast<size_t>(p)];
    const float* from = all.data() + static_cast<size_t>(p) * slot;
    for (size_t i = 0; i < owned.size(); ++i) {
      std::memcpy(lat + owned[i] * row, from + i * row, static_cast<size_t>(row) * sizeof(float));
    }
  }
  return ok_status();
}

}  // namespace ringmaster::model
