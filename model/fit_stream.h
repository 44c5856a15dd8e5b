// model/fit_stream.h: the latent stream MODEL.md's fit blocks share, and which rank owns which
// group.
//
// FIT keeps m latents per group of `group` positions of every record. The Model owns one
// FitStream: it begins it before the first fit block (lat[g] = fit.latents for every group of
// every record) and ends it after the last; every fit mixer holds a pointer to it and updates it
// in place. Groups never straddle ranks (the plan is aligned to the group size), so READ and
// WRITE are local to a rank. GLOBAL needs every latent of a record: after READ, share() gathers
// all groups to every rank, and the global layers run redundantly on every rank over the whole
// (tiny: G * m rows) stream. So every rank holds the latents of every group of the job.
//
// Thread-compatible: one forward at a time, like the Model.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "model/decode.h"
#include "model/shard.h"

namespace ringmaster::model {

// The job's FIT groups. Group ids count over all records in stream order, so a record's groups
// are consecutive and group id - 1 is the previous group of the same record unless the group is
// its record's first.
struct FitGroups {
  // A group this rank owns: its tokens are local rows [begin, begin + len).
  struct Local {
    int64_t id = 0;
    int64_t begin = 0;
    int64_t len = 0;
  };

  int64_t group = 0;    // positions per group
  int64_t latents = 0;  // m, latents per group
  int64_t num_groups = 0;
  std::vector<int64_t> first_of_record;  // [records + 1]: first group id of each record
  std::vector<int64_t> latent_pos;       // [num_groups * m]: the group's index in its record (rope)
  std::vector<int32_t> latent_seq;       // [num_groups * m]: the record
  std::vector<std::vector<int64_t>> owned;  // [world]: the group ids each rank owns, increasing
  std::vector<Local> local;                 // this rank's groups, in local order

  bool is_first_of_record(int64_t id) const;
  attention::Positions latent_positions() const { return {latent_pos, latent_seq}; }
};

// The groups of ctx's layout and which rank owns each. Errors (kFailedPrecondition): a rank's
// tokens cut a group, i.e. the plan was not aligned to `group`; every rank finds the same error.
StatusOr<FitGroups> map_fit_groups(const ShardContext& ctx, int64_t group, int64_t latents);

class FitStream {
 public:
  // init: fit.latents [m, d], f32 (a view of the weights; must outlive the stream).
  FitStream(Tensor init, int64_t group);

  // Starts the stream for ctx's job: lat[g] = init for every group. Restarts a running one (a
  // forward that failed halfway leaves it running). Errors: as map_fit_groups.
  Status begin(const ShardContext& ctx);
  // Drops the latents (MODEL.md: the stream ends after the last fit block).
  void end();

  const FitGroups& groups() const { return groups_; }
  // [num_groups, m, d], every group of the job. REQUIRES: begun.
  Tensor& latents() { return lat_; }

  // Sends this rank's groups of latents() to every rank and receives theirs: afterwards every
  // rank's latents() agree. One padded all_gather (slots of the largest rank's group count).
  // Collective: every rank calls it with the same layer.
  Status share(const ShardContext& ctx, uint32_t layer);

  // Decoding (model/decode.h). A group's latents are final once its last token is known, so a
  // step whose token ends a group of its stream computes that group's latents anew, through every
  // fit block in order: begin_step sets them to fit.latents for each such row of this rank, and
  // each fit block reads and updates pending(stream) [m, d].
  void begin_step(const DecodeStep& step);
  bool ends_group(int64_t position) const { return (position + 1) % group_ == 0; }
  int64_t group() const { return group_; }
  int64_t latents_per_group() const { return init_.dim(0); }
  float* pending(int32_t stream) { return pending_.at(stream).data(); }

 private:
  Tensor init_;
  int64_t group_;
  FitGroups groups_;
  Tensor lat_;
  std::map<int32_t, std::vector<float>> pending_;  // [stream]: latents of the group it ends
};

}  // namespace ringmaster::model
