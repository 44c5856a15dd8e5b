// The CPU AttentionBackend: attention.h's tiled kernel and merge on a ThreadPool. Everything is
// host memory and every op has finished when it returns, so synchronize() has nothing to do.
#include <cstring>
#include <stop_token>
#include <utility>

#include "attention/backend.h"

namespace ringmaster::attention {
namespace {

class CpuBackend final : public AttentionBackend {
 public:
  CpuBackend(ThreadPool& pool, std::stop_token stop, DType compute)
      : pool_(pool), stop_(std::move(stop)), compute_(compute) {}

  std::string name() const override { return compute_ == DType::kBf16 ? "cpu-bf16" : "cpu"; }
  Device device() const override { return Device::cpu(); }

  StatusOr<Tensor> empty(const Shape& shape, DType dtype, Device where) override {
    if (!where.is_cpu()) {
      return invalid_argument("cpu backend: cannot allocate on " + where.to_string());
    }
    return Tensor::empty(shape, dtype);
  }

  Status copy(const Tensor& src, const Tensor& dst) override {
    if (!src.device().is_cpu() || !dst.device().is_cpu() || src.bytes() != dst.bytes() ||
        (dst.bytes() > 0 && !dst.writable())) {
      return invalid_argument("cpu backend: copy of " + src.to_string() + " into " +
                              dst.to_string());
    }
    if (src.bytes() > 0) std::memcpy(dst.mutable_raw(), src.raw(), src.bytes());
    return ok_status();
  }

  Status attend_block_into(const Tensor& q, const Tensor& k, const Tensor& v,
                           const Positions& q_pos, const Positions& k_pos, const MaskSpec& mask,
                           BlockResult& result) override {
    return attention::attend_block_into(q, k, v, q_pos, k_pos, mask, pool_, result, stop_,
                                        compute_);
  }

  Status merge_into(BlockResult& acc, const BlockResult& part) override {
    // attention::merge_into treats a mismatch as a bug; here it may be a caller's input.
    if (acc.out.shape() != part.out.shape() || acc.lse.shape() != part.lse.shape() ||
        !acc.out.device().is_cpu() || !part.out.device().is_cpu()) {
      return invalid_argument("cpu backend: merge_into of " + acc.out.to_string() + " and " +
                              part.out.to_string());
    }
    attention::merge_into(acc, part);
    return ok_status();
  }

  Status synchronize() override { return ok_status(); }

 private:
  ThreadPool& pool_;
  std::stop_token stop_;
  DType compute_;
};

}  // namespace

std::unique_ptr<AttentionBackend> make_cpu_backend(ThreadPool& pool, std::stop_token stop,
                                                   DType compute) {
  return std::make_unique<CpuBackend>(pool, std::move(stop), compute);
}

}  // namespace ringmaster::attention
