#include <filesystem>
#include <optional>
#include <system_error>

#include "coordinator/job_output.h"
#include "coordinator/result_assembler.h"

namespace ringmaster::coordinator {
namespace {

class NpyOutput final : public JobOutput {
 public:
  NpyOutput(std::string path, io::JobSummary summary)
      : path_(std::move(path)), summary_(std::move(summary)) {}

  Status write(const Tensor& rows, const RunFacts& facts) override {
    RM_ASSIGN_OR_RETURN(io::AtomicFile summary,
                        io::AtomicFile::create(io::check_summary_path(path_)));
    RM_RETURN_IF_ERROR(summary.write(io::summary_json(with_facts(summary_, facts))));
    RM_ASSIGN_OR_RETURN(io::AtomicFile rows_file, write_partial_npy(path_, rows));
    summary_file_.emplace(std::move(summary));
    rows_file_.emplace(std::move(rows_file));
    return ok_status();
  }

  // The summary first, then the rows; if the rows cannot be renamed into place the summary is
  // removed again, so a failed job leaves neither.
  Status commit() override {
    RM_CHECK(rows_file_.has_value()) << "commit() without a successful write() of " << path_;
    Status status = summary_file_->commit();
    summary_file_.reset();
    if (status.ok()) {
      status = rows_file_->commit();
      if (!status.ok()) {
        std::error_code ignored;
        std::filesystem::remove(io::check_summary_path(path_), ignored);
      }
    }
    rows_file_.reset();  // renamed, or removed by commit() or when dropped
    return status;
  }

  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  io::JobSummary summary_;  // everything but what RunFacts brings
  // Written and not yet renamed; removed when dropped.
  std::optional<io::AtomicFile> summary_file_;
  std::optional<io::AtomicFile> rows_file_;
};

}  // namespace

std::unique_ptr<JobOutput> make_npy_output(std::string path, io::JobSummary summary) {
  return std::make_unique<NpyOutput>(std::move(path), std::move(summary));
}

}  // namespace ringmaster::coordinator
