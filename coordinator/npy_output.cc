#include <optional>

#include "coordinator/job_output.h"
#include "coordinator/result_assembler.h"

namespace ringmaster::coordinator {
namespace {

class NpyOutput final : public JobOutput {
 public:
  explicit NpyOutput(std::string path) : path_(std::move(path)) {}

  Status write(const Tensor& rows, const RunFacts&) override {
    StatusOr<io::AtomicFile> partial = write_partial_npy(path_, rows);
    if (!partial.ok()) return partial.status();
    partial_.emplace(std::move(partial).value());
    return ok_status();
  }

  Status commit() override {
    RM_CHECK(partial_.has_value()) << "commit() without a successful write() of " << path_;
    Status status = partial_->commit();
    partial_.reset();  // renamed, or removed by commit()
    return status;
  }

  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  std::optional<io::AtomicFile> partial_;  // written and not yet renamed; removed when dropped
};

}  // namespace

std::unique_ptr<JobOutput> make_npy_output(std::string path) {
  return std::make_unique<NpyOutput>(std::move(path));
}

}  // namespace ringmaster::coordinator
