#include "coordinator/result_assembler.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/npy.h"
#include "proto/convert.h"
#include "proto/validate.h"

namespace ringmaster::coordinator {

namespace {

// The rank that produces each output row. Check job: the owner of token t. Model job: rows are
// input indices; an embedding comes from its own token, a score from the token before it (which
// is <bos> for a record's first row).
std::vector<int32_t> row_owners(const pb::JobSpec& job, const comm::PartitionPlan& plan) {
  std::vector<int32_t> owner(static_cast<size_t>(proto::result_rows(job)), -1);
  const comm::RecordLayout layout = proto::to_record_layout(job);
  const bool model = job.has_model();
  // A variants job's rows are a score job's (its branches are checked apart).
  const bool score =
      model && (job.model().task() == pb::TASK_SCORE || job.model().task() == pb::TASK_VARIANTS);
  for (int r = 0; r < plan.world(); ++r) {
    for (const comm::TokenRange& range : plan.ranges_of(r)) {
      for (int64_t t = range.begin; t < range.end; ++t) {
        if (!model) {
          owner[static_cast<size_t>(t)] = r;
          continue;
        }
        const int record = layout.record_of(t);
        const int64_t pos = t - layout.start(record);
        // The row t produces: its own (embed, not <bos>) or its successor's (score, not last).
        const int64_t produced = score ? t + 1 : t;
        if ((!score && pos == 0) || (score && pos + 1 >= layout.length(record))) continue;
        owner[static_cast<size_t>(produced - record - 1)] = r;
      }
    }
  }
  return owner;
}

}  // namespace

StatusOr<ResultAssembler> ResultAssembler::make(const pb::JobSpec& job,
                                                std::optional<io::Vocab> vocab) {
  RM_ASSIGN_OR_RETURN(comm::PartitionPlan plan, proto::to_partition_plan(job));
  ResultAssembler a;
  if (job.has_model() && job.model().task() == pb::TASK_GENERATE) {
    if (!vocab) return internal_error("a generate job's results need the model's vocabulary");
    a.received_.assign(static_cast<size_t>(plan.world()), 0);
    a.generated_.emplace(job, plan, *vocab);
    return a;
  }
  a.num_tokens_ = proto::result_rows(job);
  a.row_bytes_ = proto::result_row_bytes(job);
  a.owner_ = row_owners(job, plan);
  a.have_.assign(static_cast<size_t>(a.num_tokens_), 0);
  a.expected_.assign(static_cast<size_t>(plan.world()), 0);
  a.received_.assign(static_cast<size_t>(plan.world()), 0);
  for (const int32_t r : a.owner_) ++a.expected_[static_cast<size_t>(r)];
  const Shape shape = job.has_model()
                          ? Shape{a.num_tokens_, a.row_bytes_ / int64_t{sizeof(float)}}
                          : Shape{a.num_tokens_, job.check().n_heads(), job.check().head_dim()};
  a.output_ = Tensor::empty(shape, DType::kF32);
  if (job.has_model() && job.model().task() == pb::TASK_VARIANTS) a.branches_.emplace(job, plan);
  return a;
}

Status ResultAssembler::add(int rank, const pb::ResultChunk& chunk) {
  if (generated_) return generated_->add(rank, chunk);
  const std::string who = "rank " + std::to_string(rank);
  if (chunk.rank() != rank) {
    return invalid_argument(who + " sent a ResultChunk claiming rank " +
                            std::to_string(chunk.rank()));
  }
  if (branches_) {
    RM_RETURN_IF_ERROR(proto::validate_variants_chunk(chunk, row_bytes_).with_context(who));
    // Branches first: they are stored only if the rows pass too (else removed again).
    RM_RETURN_IF_ERROR(branches_->add(rank, chunk));
    Status rows = add_rows(rank, chunk);
    if (!rows.ok()) branches_->remove(rank, chunk);
    return rows;
  }
  RM_RETURN_IF_ERROR(proto::validate_result_chunk(chunk, row_bytes_).with_context(who));
  return add_rows(rank, chunk);
}

Status ResultAssembler::add_rows(int rank, const pb::ResultChunk& chunk) {
  const std::string who = "rank " + std::to_string(rank);
  // Check every token before copying any row, so a bad chunk leaves no trace. Tokens are marked
  // as they pass, which also catches a duplicate inside this chunk; on error the marks are undone.
  auto fail = [&](int marked, Status status) {
    for (int j = 0; j < marked; ++j) have_[static_cast<size_t>(chunk.tokens(j))] = 0;
    return status;
  };
  for (int i = 0; i < chunk.tokens_size(); ++i) {
    const int64_t t = chunk.tokens(i);
    if (t < 0 || t >= num_tokens_) {
      return fail(i, invalid_argument(who + " sent row " + std::to_string(t) + " outside [0, " +
                                      std::to_string(num_tokens_) + ")"));
    }
    if (owner_[static_cast<size_t>(t)] != rank) {
      return fail(i, invalid_argument(who + " sent row " + std::to_string(t) +
                                      ", which the plan gives rank " +
                                      std::to_string(owner_[static_cast<size_t>(t)])));
    }
    if (have_[static_cast<size_t>(t)] != 0) {
      return fail(i, data_loss(who + " sent row " + std::to_string(t) + " twice"));
    }
    have_[static_cast<size_t>(t)] = 1;
  }
  // NaN or infinity in a result is a failed computation, never an output: refuse the chunk.
  const auto* values = reinterpret_cast<const unsigned char*>(chunk.rows().data());
  const int64_t row_values = row_bytes_ / int64_t{sizeof(float)};
  const int64_t num_values = int64_t{chunk.tokens_size()} * row_values;
  for (int64_t v = 0; v < num_values; ++v) {
    uint32_t bits;
    std::memcpy(&bits, values + v * int64_t{sizeof(float)}, sizeof bits);
    if ((bits & 0x7f800000u) != 0x7f800000u) continue;  // all-ones exponent: NaN or inf
    const char* what = (bits & 0x007fffffu) != 0 ? "NaN" : (bits >> 31) != 0 ? "-inf" : "+inf";
    const int64_t t = chunk.tokens(static_cast<int>(v / row_values));
    return fail(chunk.tokens_size(),
                data_loss(who + " sent row " + std::to_string(t) + " holding " + what +
                          " at element " + std::to_string(v % row_values) + " of " +
                          std::to_string(row_values) + "; non-finite results are refused"));
  }
  auto* out = static_cast<std::byte*>(output_.mutable_raw());
  const auto* rows = reinterpret_cast<const std::byte*>(chunk.rows().data());
  for (int i = 0; i < chunk.tokens_size(); ++i) {
    std::memcpy(out + chunk.tokens(i) * row_bytes_, rows + int64_t{i} * row_bytes_,
                static_cast<size_t>(row_bytes_));
  }
  received_[static_cast<size_t>(rank)] += chunk.tokens_size();
  received_total_ += chunk.tokens_size();
  return ok_status();
}

Status ResultAssembler::check_done(int rank, int64_t rows) const {
  const int64_t expected = expected_[static_cast<size_t>(rank)];
  const int64_t received = received_[static_cast<size_t>(rank)];
  if (rows != expected || received != expected) {
    return data_loss("rank " + std::to_string(rank) + " finished with " + std::to_string(rows) +
                     " rows sent and " + std::to_string(received) + " received; the plan gives " +
                     "it " + std::to_string(expected));
  }
  return ok_status();
}

Status ResultAssembler::check_done(int rank, const pb::Done& done) {
  if (generated_) {
    return generated_->check_done(rank, done.rows(), done.prefill_s(), done.decode_s());
  }
  if (branches_) RM_RETURN_IF_ERROR(branches_->check_done(rank));
  return check_done(rank, done.rows());
}

StatusOr<io::AtomicFile> write_partial_npy(const std::string& path, const Tensor& tensor) {
  RM_ASSIGN_OR_RETURN(io::AtomicFile file, io::AtomicFile::create(path));
  RM_RETURN_IF_ERROR(io::write_npy(file, tensor));
  // The data's fsync is the slow part of committing: do it here, off the strand, so commit()'s
  // own fsync finds nothing left to write.
  if (::fsync(file.fd()) != 0) return errno_status(file.temp_path() + ": fsync", errno);
  return file;
}

Status write_npy_atomically(const std::string& path, const Tensor& tensor) {
  RM_ASSIGN_OR_RETURN(io::AtomicFile file, write_partial_npy(path, tensor));
  return file.commit();
}

void ResultAssembler::clear() {
  if (generated_) generated_->clear();
  if (branches_) branches_->clear();
  std::fill(have_.begin(), have_.end(), uint8_t{0});
  std::fill(received_.begin(), received_.end(), int64_t{0});
  received_total_ = 0;
}

}  // namespace ringmaster::coordinator
