#include "model/atlas_mixer.h"

#include <cblas.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "comm/communicator.h"
#include "core/stopwatch.h"
#include "memory/features.h"
#include "memory/omega.h"
#include "model/atlas_chain.h"
#include "model/layers.h"

namespace ringmaster::model {
namespace {

using memory::AtlasShape;
using memory::ChunkGates;
using memory::HeadState;

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }
double softplus(double z) { return z > 30 ? z : std::log1p(std::exp(z)); }

void l2_normalize(float* u, int64_t width) {
  double sum = 0;
  for (int64_t j = 0; j < width; ++j) sum += double{u[j]} * u[j];
  const auto inv = static_cast<float>(1.0 / std::max(std::sqrt(sum), 1e-6));
  for (int64_t j = 0; j < width; ++j) u[j] *= inv;
}

// Tokens per block of a piece (rounded to whole chunks): the block's projections and outputs
// ([block, 3 q_dim + heads] and [block, q_dim]) stay in cache and are reused block after block,
// so a layer allocates and first-touches no buffer that grows with the shard.
constexpr int64_t kBlockTokens = 512;
// Rows per projection GEMM inside a block, the unit the pool hands out.
constexpr int64_t kProjectTile = 64;

// How long a rank with no start state at hand blocks on one before checking the others.
constexpr std::chrono::milliseconds kWaitSlice{2};

comm::Tag state_tag(uint32_t layer, int32_t record) {
  return {layer, static_cast<uint32_t>(record) & comm::Tag::kMaxStep, kAtlasStateKind};
}

class AtlasMixer final : public Mixer {
 public:
  AtlasMixer(AtlasWeights w, int64_t n_heads, const AtlasShape& shape)
      : w_(std::move(w)), heads_(n_heads), shape_(shape) {
    const int64_t d = w_.wq.dim(1), width = heads_ * shape_.head_dim;
    // One GEMM gives q, k, v and the per-token gamma pre-activation.
    proj_ = Tensor::empty({3 * width + heads_, d}, DType::kF32);
    float* dst = proj_.data<float>();
    for (const Tensor* t : {&w_.wq, &w_.wk, &w_.wv}) {
      dst = std::copy(t->const_data<float>(), t->const_data<float>() + width * d, dst);
    }
    const float* gamma_rows = w_.w_gates.const_data<float>() + 3 * heads_ * d;
    std::copy(gamma_rows, gamma_rows + heads_ * d, dst);
  }

  Status forward(const ShardContext& ctx, const Tensor& h, Tensor& out, uint32_t layer) override;
  Status append(const ShardContext& ctx, const DecodeStep& step, const Tensor& h, Tensor& out,
                uint32_t layer) override;

 private:
  // What a stream's decode rows need, on its tail rank: the memory at the start of the chunk
  // the next token falls in (every token of a chunk reads that state) and the chunk's rows so
  // far, which its update needs once the chunk is complete. O(heads * memory + chunk * d).
  struct StreamCache {
    std::vector<HeadState> start;
    int64_t chunk_begin = 0;
    std::vector<float> h;  // [rows, d]: the chunk's rows so far
  };

  // A packed state (memory/atlas.h pack_states) on its way in or out; the buffer lives as
  // long as the request.
  struct Transfer {
    std::vector<float> state;
    comm::Request request;
  };

  int64_t width() const { return heads_ * shape_.head_dim; }
  int64_t proj_width() const { return 3 * width() + heads_; }
  int64_t block_tokens() const {
    return std::max<int64_t>(1, kBlockTokens / shape_.chunk) * shape_.chunk;
  }
  void project(const ShardContext& ctx, const float* h, int64_t rows, int64_t d, float* p) const;
  std::vector<ChunkGates> chunk_gates(const Tensor& h, const ChainPiece& piece) const;
  // Advances `states` over `piece`, block by block, writing the piece's rows of out.
  Status run_piece(const ShardContext& ctx, const Tensor& h, const ChainPiece& piece,
                   std::vector<HeadState>& states, Tensor& out);
  // run_piece, keeping the decode cache of every tailed stream whose base falls in `piece`
  // (ctx.streams).
  Status run_piece_keeping(const ShardContext& ctx, const Tensor& h, const ChainPiece& piece,
                           std::vector<HeadState>& states, Tensor& out);
  void initial_states(std::vector<HeadState>& states) const;
  // The earliest unfinished piece whose start state is at hand (a record that starts here, or
  // whose state has arrived); waits for one until `deadline`.
  static StatusOr<size_t> next_ready(const std::vector<ChainPiece>& pieces,
                                     std::vector<Transfer>& incoming, const std::vector<bool>& done,
                                     comm::Deadline deadline);
  static comm::Deadline wait_deadline(const comm::Communicator& comm,
                                      const std::vector<ChainPiece>& pieces,
                                      const std::vector<bool>& done);
  // Waits for the sends of the previous forward (their buffers are ours until then).
  Status finish_sends(const ShardContext& ctx) override;

  AtlasWeights w_;
  int64_t heads_;
  AtlasShape shape_;
  Tensor proj_;  // [3 * width + heads, d]: wq, wk, wv, gamma rows of w_gates
  std::vector<float> block_p_, block_y_;  // one block's projections and memory reads
  std::vector<Transfer> sends_;
  std::vector<StreamCache> cache_;  // [stream]; filled for the streams whose tail is here
};

// p[rows, 3 width + heads] = h proj^T, then l2norm on q and k and sigmoid on gamma per head.
void AtlasMixer::project(const ShardContext& ctx, const float* h, int64_t rows, int64_t d,
                         float* p) const {
  const int64_t pw = proj_width(), hd = shape_.head_dim;
  const float* b_gamma = w_.b_gates.const_data<float>() + 3 * heads_;
  const int64_t tiles = (rows + kProjectTile - 1) / kProjectTile;
  ctx.pool->parallel_for(tiles, [&](int64_t t, int) {
    const int64_t begin = t * kProjectTile, count = std::min(kProjectTile, rows - begin);
    linear(h + begin * d, count, proj_, p + begin * pw);
    for (int64_t i = begin; i < begin + count; ++i) {
      float* row = p + i * pw;
      for (int64_t e = 0; e < 2 * heads_; ++e) l2_normalize(row + e * hd, hd);
      float* gamma = row + 3 * width();
      for (int64_t e = 0; e < heads_; ++e) {
        gamma[e] = static_cast<float>(sigmoid(double{gamma[e]} + b_gamma[e]));
      }
    }
  });
}

// keep, lr, mom of every chunk of `piece`, from the chunk's mean row: [heads][chunks].
std::vector<ChunkGates> AtlasMixer::chunk_gates(const Tensor& h, const ChainPiece& piece) const {
  const int64_t d = h.dim(1), chunks = (piece.len + shape_.chunk - 1) / shape_.chunk;
  const float* wg = w_.w_gates.const_data<float>();
  const float* bg = w_.b_gates.const_data<float>();
  std::vector<ChunkGates> gates(static_cast<size_t>(heads_ * chunks));
  std::vector<double> mean(static_cast<size_t>(d));
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * shape_.chunk, end = std::min(piece.len, begin + shape_.chunk);
    std::fill(mean.begin(), mean.end(), 0.0);
    for (int64_t i = begin; i < end; ++i) {
      const float* row = h.data<float>() + (piece.local_begin + i) * d;
      for (int64_t j = 0; j < d; ++j) mean[j] += row[j];
    }
    for (double& m : mean) m /= static_cast<double>(end - begin);
    auto gate = [&](int64_t g, int64_t e) {
      const float* row = wg + (g * heads_ + e) * d;
      double z = bg[g * heads_ + e];
      for (int64_t j = 0; j < d; ++j) z += row[j] * mean[j];
      return z;
    };
    for (int64_t e = 0; e < heads_; ++e) {
      gates[e * chunks + c] = {static_cast<float>(sigmoid(gate(0, e))),
                               static_cast<float>(softplus(gate(1, e))),
                               static_cast<float>(sigmoid(gate(2, e)))};
    }
  }
  return gates;
}

Status AtlasMixer::run_piece(const ShardContext& ctx, const Tensor& h, const ChainPiece& piece,
                             std::vector<HeadState>& states, Tensor& out) {
  const std::vector<ChunkGates> gates = chunk_gates(h, piece);
  const auto chunks = gates.size() / static_cast<size_t>(heads_);
  const int64_t pw = proj_width(), hd = shape_.head_dim, d = h.dim(1), block = block_tokens();
  block_p_.resize(static_cast<size_t>(block * pw));
  block_y_.resize(static_cast<size_t>(block * width()));
  std::vector<Status> head_status(static_cast<size_t>(heads_));
  for (int64_t b0 = 0; b0 < piece.len; b0 += block) {
    if (ctx.stop.stop_requested()) {
      return cancelled("atlas chain of record " + std::to_string(piece.record) + " at position " +
                       std::to_string(piece.first_pos + b0) + ": cancelled");
    }
    const int64_t rows = std::min(block, piece.len - b0), first = piece.local_begin + b0;
    project(ctx, h.data<float>() + first * d, rows, d, block_p_.data());
    // The state carries the Omega window tail from block to block (memory/atlas.h).
    const auto first_chunk = static_cast<size_t>(b0 / shape_.chunk);
    ctx.pool->parallel_for(heads_, [&](int64_t e, int thread) {
      memory::HeadRun run;
      run.first_pos = piece.first_pos + b0;
      run.len = rows;
      run.q = block_p_.data() + e * hd;
      run.k = run.q + width();
      run.v = run.q + 2 * width();
      run.gamma = block_p_.data() + 3 * width() + e;
      run.ld = pw;
      run.y = block_y_.data() + e * hd;
      run.ld_y = width();
      run.gates = std::span(gates).subspan(static_cast<size_t>(e) * chunks + first_chunk,
                                           chunks - first_chunk);
      head_status[static_cast<size_t>(e)] =
          ctx.atlas->run_head(shape_, states[static_cast<size_t>(e)], run, thread);
    });
    for (const Status& s : head_status) RM_RETURN_IF_ERROR(s);
    const int64_t tiles = (rows + kProjectTile - 1) / kProjectTile;
    ctx.pool->parallel_for(tiles, [&](int64_t t, int) {
      const int64_t begin = t * kProjectTile, count = std::min(kProjectTile, rows - begin);
      linear(block_y_.data() + begin * width(), count, w_.wo,
             out.data<float>() + (first + begin) * out.dim(1));
    });
  }
  return ok_status();
}

Status AtlasMixer::run_piece_keeping(const ShardContext& ctx, const Tensor& h,
                                     const ChainPiece& piece, std::vector<HeadState>& states,
                                     Tensor& out) {
  // The streams whose last prefill token is in this piece, by the start of the chunk their first
  // token falls in: the chain stops there to copy the state, then goes on.
  std::multimap<int64_t, int32_t> cuts;
  if (ctx.keep_caches()) {
    const DecodeStreams& streams = *ctx.streams;
    const int64_t end = piece.first_pos + piece.len;
    for (const int32_t s : streams.tailed_by(ctx.comm->rank())) {
      const DecodeStream& stream = streams[static_cast<size_t>(s)];
      if (stream.record != piece.record || stream.base <= piece.first_pos || stream.base > end) {
        continue;
      }
      cuts.emplace(stream.base / shape_.chunk * shape_.chunk, s);
    }
  }
  const int64_t d = h.dim(1);
  ChainPiece rest = piece;
  for (auto it = cuts.begin(); it != cuts.end();) {
    const int64_t cut = it->first;
    if (cut > rest.first_pos) {
      ChainPiece head = rest;
      head.len = cut - rest.first_pos;
      RM_RETURN_IF_ERROR(run_piece(ctx, h, head, states, out));
      rest.first_pos += head.len;
      rest.local_begin += head.len;
      rest.len -= head.len;
    }
    for (; it != cuts.end() && it->first == cut; ++it) {
      StreamCache& cache = cache_[static_cast<size_t>(it->second)];
      const int64_t base = (*ctx.streams)[static_cast<size_t>(it->second)].base;
      cache.start = states;
      cache.chunk_begin = cut;
      const float* rows = h.const_data<float>() + rest.local_begin * d;
      cache.h.assign(rows, rows + (base - cut) * d);
    }
  }
  return rest.len > 0 ? run_piece(ctx, h, rest, states, out) : ok_status();
}

Status AtlasMixer::append(const ShardContext& ctx, const DecodeStep& step, const Tensor& h,
                          Tensor& out, uint32_t layer) {
  const int64_t n = step.num_local(), d = h.dim(1), hd = shape_.head_dim, pw = proj_width();
  const memory::MemoryDims dims = shape_.dims();
  // The projections and the output of every row in one GEMM each; only the memory reads and
  // updates are per stream.
  std::vector<float> p(static_cast<size_t>(n * pw)), phi(static_cast<size_t>(shape_.d_phi())),
      y(static_cast<size_t>(n * width())), scratch;
  project(ctx, h.data<float>(), n, d, p.data());
  for (int64_t j = 0; j < n; ++j) {
    const size_t i = step.local[static_cast<size_t>(j)];
    StreamCache& cache = cache_[static_cast<size_t>(step.stream[i])];
    const float* row = h.data<float>() + j * d;
    cache.h.insert(cache.h.end(), row, row + d);
    for (int64_t e = 0; e < heads_; ++e) {
      const HeadState& state = cache.start[static_cast<size_t>(e)];
      memory::features(p.data() + j * pw + e * hd, 1, hd, hd, shape_.feature_degree, phi.data());
      memory::memory_read(state.w1.data(), state.w2.data(), dims, phi.data(), 1,
                          y.data() + j * width() + e * hd, hd, scratch);
    }
    if ((step.pos[i] + 1) % shape_.chunk != 0) continue;
    // The chunk is complete: its update, exactly as a prefill runs it (its reads are dropped).
    const int64_t rows = static_cast<int64_t>(cache.h.size()) / d;
    const Tensor chunk_h = Tensor::wrap(cache.h.data(), {rows, d}, DType::kF32);
    Tensor dropped = Tensor::empty({rows, d}, DType::kF32);
    const ChainPiece piece{.record = (*ctx.streams)[static_cast<size_t>(step.stream[i])].record,
                           .local_begin = 0,
                           .len = rows,
                           .first_pos = cache.chunk_begin};
    RM_RETURN_IF_ERROR(run_piece(ctx, chunk_h, piece, cache.start, dropped)
                           .with_context("atlas block " + std::to_string(layer)));
    cache.chunk_begin += rows;
    cache.h.clear();
  }
  if (n > 0) linear(y.data(), n, w_.wo, out.data<float>());
  return ok_status();
}

void AtlasMixer::initial_states(std::vector<HeadState>& states) const {
  const int64_t n1 = shape_.memory_hidden * shape_.d_phi(),
                n2 = shape_.head_dim * shape_.memory_hidden;
  for (int64_t e = 0; e < heads_; ++e) {
    states[static_cast<size_t>(e)] = memory::initial_state(
        shape_, w_.w1_init.const_data<float>() + e * n1, w_.w2_init.const_data<float>() + e * n2);
  }
}

StatusOr<size_t> AtlasMixer::next_ready(const std::vector<ChainPiece>& pieces,
                                        std::vector<Transfer>& incoming,
                                        const std::vector<bool>& done, comm::Deadline deadline) {
  for (;;) {
    for (size_t i = 0; i < pieces.size(); ++i) {
      if (done[i]) continue;
      if (pieces[i].prev_rank < 0) return i;
      if (incoming[i].request.test()) {
        RM_RETURN_IF_ERROR(incoming[i].request.wait(deadline).with_context(
            "atlas state of record " + std::to_string(pieces[i].record) + " from rank " +
            std::to_string(pieces[i].prev_rank)));
        return i;
      }
    }
    // Nothing at hand: block briefly on the earliest missing state rather than spin, so a
    // waiting rank leaves its cores to others, then look at all of them again.
    size_t first = 0;
    while (done[first]) ++first;
    const auto now = std::chrono::steady_clock::now();
    const Status s = incoming[first].request.wait(std::min(deadline, now + kWaitSlice));
    if (!s.ok() && (s.code() != StatusCode::kDeadlineExceeded || now >= deadline)) {
      return s.with_context("atlas state of record " + std::to_string(pieces[first].record) +
                            " from rank " + std::to_string(pieces[first].prev_rank));
    }
  }
}

// One step per hop of the longest chain still to arrive: in the first atlas layer the rank at
// the end of a chain waits while every piece before it runs (the wavefront filling).
comm::Deadline AtlasMixer::wait_deadline(const comm::Communicator& comm,
                                         const std::vector<ChainPiece>& pieces,
                                         const std::vector<bool>& done) {
  int64_t hops = 1;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (!done[i]) hops = std::max(hops, pieces[i].hops);
  }
  return std::chrono::steady_clock::now() + hops * comm.step_timeout();
}

Status AtlasMixer::finish_sends(const ShardContext& ctx) {
  for (Transfer& s : sends_) {
    RM_RETURN_IF_ERROR(s.request.wait(comm::step_deadline(*ctx.comm)));
  }
  sends_.clear();
  return ok_status();
}

Status AtlasMixer::forward(const ShardContext& ctx, const Tensor& h, Tensor& out, uint32_t layer) {
  RM_RETURN_IF_ERROR(finish_sends(ctx));
  RM_ASSIGN_OR_RETURN(const std::vector<ChainPiece> pieces, chain_pieces(ctx, shape_.chunk));
  if (ctx.keep_caches()) cache_.assign(ctx.streams->size(), {});
  // The pool parallelises; OpenBLAS's own threads would oversubscribe it.
  if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
  comm::Communicator& comm = *ctx.comm;

  // Every receive is posted first, so states land while this rank works on other pieces.
  std::vector<Transfer> incoming(pieces.size());
  for (size_t i = 0; i < pieces.size(); ++i) {
    const ChainPiece& piece = pieces[i];
    if (piece.prev_rank < 0) continue;
    incoming[i].state.resize(
        static_cast<size_t>(memory::state_floats(shape_, heads_, piece.first_pos)));
    // Only the state travels (exact size): record and position come from the plan, never a peer.
    RM_ASSIGN_OR_RETURN(
        incoming[i].request,
        comm.irecv(piece.prev_rank, comm::as_writable_bytes(std::span(incoming[i].state)),
                   state_tag(layer, piece.record)));
  }

  std::vector<bool> done(pieces.size(), false);
  std::vector<HeadState> states(static_cast<size_t>(heads_));
  double waited_s = 0;  // idle for want of a state: the wavefront's fill and its stalls
  for (size_t remaining = pieces.size(); remaining > 0; --remaining) {
    const auto wait_start = std::chrono::steady_clock::now();
    RM_ASSIGN_OR_RETURN(const size_t next,
                        next_ready(pieces, incoming, done, wait_deadline(comm, pieces, done)));
    waited_s += seconds_since(wait_start);
    const ChainPiece& piece = pieces[next];
    if (piece.prev_rank < 0) {
      initial_states(states);
    } else {
      memory::unpack_states(shape_, piece.first_pos, incoming[next].state.data(), states);
    }
    RM_RETURN_IF_ERROR(run_piece_keeping(ctx, h, piece, states, out)
                           .with_context("atlas block " + std::to_string(layer) + " on the " +
                                         ctx.atlas->name() + " backend"));
    if (piece.next_rank >= 0) {
      const int64_t end_pos = piece.first_pos + piece.len;
      Transfer& send = sends_.emplace_back();
      send.state.resize(static_cast<size_t>(memory::state_floats(shape_, heads_, end_pos)));
      memory::pack_states(states, send.state.data());
      RM_ASSIGN_OR_RETURN(
          send.request,
          comm.isend(piece.next_rank, comm::as_bytes(std::span<const float>(send.state)),
                     state_tag(layer, piece.record)));
    }
    done[next] = true;
  }

  std::erase_if(sends_, [](Transfer& s) { return s.request.test(); });
  spdlog::info("rank {}: atlas block {} waited {:.3f} s for memory states", comm.rank(), layer,
               waited_s);
  return ok_status();
}

}  // namespace

std::unique_ptr<Mixer> make_atlas_mixer(AtlasWeights w, int64_t n_heads,
                                        const memory::AtlasShape& shape) {
  return std::make_unique<AtlasMixer>(std::move(w), n_heads, shape);
}

std::unique_ptr<Mixer> make_atlas_mixer(const ModelConfig& c, const BlockConfig& b,
                                        const WeightFile& file, const std::string& prefix) {
  AtlasWeights w{file.f32(prefix + ".wq"),      file.f32(prefix + ".wk"),
                 file.f32(prefix + ".wv"),      file.f32(prefix + ".wo"),
                 file.f32(prefix + ".w_gates"), file.f32(prefix + ".b_gates"),
                 file.f32(prefix + ".w1_init"), file.f32(prefix + ".w2_init")};
  memory::AtlasShape shape;
  shape.head_dim = c.head_dim;
  shape.memory_hidden = b.memory_hidden;
  shape.feature_degree = static_cast<int>(b.feature_degree);
  shape.chunk = b.chunk;
  shape.omega_window = b.omega_window;
  return make_atlas_mixer(std::move(w), c.n_heads, shape);
}

}  // namespace ringmaster::model
