#include <vector>

#include "coordinator/job_output.h"
#include "io/npy.h"

namespace ringmaster::coordinator {
namespace {

class ModelOutput final : public JobOutput {
 public:
  ModelOutput(ModelOutputSpec spec, io::OutputDir dir)
      : spec_(std::move(spec)), dir_(std::move(dir)) {}

  Status write(const Tensor& rows, const RunFacts& facts) override {
    const int64_t n = rows.dim(0);
    const float* values = rows.const_data<float>();
    const std::string records_path = dir_.file(io::kRecordsFile);
    if (spec_.score) {
      RM_RETURN_IF_ERROR(io::write_npy(dir_.file(io::kScoresFile), values, {n}, "<f4"));
      const std::vector<double> totals =
          io::sum_per_record(std::span<const float>(values, static_cast<size_t>(n)), spec_.records);
      RM_RETURN_IF_ERROR(io::write_records_tsv(records_path, spec_.records, totals));
    } else {
      const std::string path = dir_.file(io::kEmbeddingsFile);
      RM_RETURN_IF_ERROR(spec_.pool_mean ? io::write_npy(path, record_means(rows))
                                         : io::write_npy(path, rows));
      RM_RETURN_IF_ERROR(io::write_records_tsv(records_path, spec_.records));
    }
    io::JobSummary summary = with_facts(spec_.summary, facts);
    return io::write_summary_json(dir_.file(io::kSummaryFile), summary);
  }

  Status commit() override { return dir_.commit(); }
  const std::string& path() const override { return spec_.dir; }

 private:
  // [records, d]: the mean of each record's rows, summed in double in input order, so the result
  // is the same run after run.
  Tensor record_means(const Tensor& rows) const {
    const int64_t d = rows.dim(1);
    Tensor means = Tensor::empty({static_cast<int64_t>(spec_.records.size()), d}, DType::kF32);
    std::vector<double> sum(static_cast<size_t>(d));
    for (size_t r = 0; r < spec_.records.size(); ++r) {
      const io::RecordSpan record = spec_.records[r];
      std::fill(sum.begin(), sum.end(), 0.0);
      for (int64_t i = record.offset; i < record.offset + record.length; ++i) {
        const float* row = rows.const_data<float>() + i * d;
        for (int64_t c = 0; c < d; ++c) sum[static_cast<size_t>(c)] += row[c];
      }
      float* out = means.data<float>() + static_cast<int64_t>(r) * d;
      for (int64_t c = 0; c < d; ++c) {
        out[c] =
            static_cast<float>(sum[static_cast<size_t>(c)] / static_cast<double>(record.length));
      }
    }
    return means;
  }

  ModelOutputSpec spec_;
  io::OutputDir dir_;
};

}  // namespace

StatusOr<std::unique_ptr<JobOutput>> make_model_output(ModelOutputSpec spec) {
  RM_ASSIGN_OR_RETURN(io::OutputDir dir,
                      io::OutputDir::create(spec.dir, /*replace_existing=*/true));
  return std::unique_ptr<JobOutput>(std::make_unique<ModelOutput>(std::move(spec), std::move(dir)));
}

}  // namespace ringmaster::coordinator
