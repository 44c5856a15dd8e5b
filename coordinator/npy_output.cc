#include <unistd.h>

#include "coordinator/job_output.h"
#include "coordinator/result_assembler.h"

namespace ringmaster::coordinator {
namespace {

class NpyOutput final : public JobOutput {
 public:
  explicit NpyOutput(std::string path) : path_(std::move(path)) {}
  ~NpyOutput() override {
    if (!partial_.empty()) ::unlink(partial_.c_str());
  }

  Status write(const Tensor& rows, const RunFacts&) override {
    partial_ = partial_path_for(path_);
    Status status = write_partial_npy(partial_, rows);
    if (!status.ok()) partial_.clear();  // write_partial_npy removed it
    return status;
  }

  Status commit() override {
    Status status = commit_partial(partial_, path_);
    partial_.clear();  // renamed, or removed by commit_partial
    return status;
  }

  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  std::string partial_;  // written and not yet renamed
};

}  // namespace

std::unique_ptr<JobOutput> make_npy_output(std::string path) {
  return std::make_unique<NpyOutput>(std::move(path));
}

}  // namespace ringmaster::coordinator
