#include "tests/testing/fake_device.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "attention/backend.h"
#include "core/check.h"
#include "model/layer_backend.h"

namespace ringmaster::testing {
namespace {

// The fake device's pages: closed (PROT_NONE) unless some fake backend is inside an op.
class Pages {
 public:
  static Pages& get() {
    static Pages pages;
    return pages;
  }

  // A new zero-filled tensor on the fake device.
  Tensor tensor(const Shape& shape, DType dtype) {
    const auto bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
    return *Tensor::from_buffer(allocate(bytes), 0, shape, dtype);
  }

 private:
  std::shared_ptr<Buffer> allocate(size_t bytes) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t mapped = (std::max<size_t>(bytes, 1) + page - 1) / page * page;
    std::lock_guard lock(mutex_);
    void* data = mmap(nullptr, mapped, open_ops_ > 0 ? kOpen : PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    RM_CHECK(data != MAP_FAILED) << "fake device: mmap of " << mapped << " bytes";
    regions_[data] = mapped;
    return Buffer::borrow(data, bytes, kFakeDevice, /*writable=*/true, [this, data] {
      std::lock_guard released(mutex_);
      munmap(data, regions_[data]);
      regions_.erase(data);
    });
  }

 public:
  // Open while an op of any fake backend runs.
  class Open {
   public:
    Open() {
      Pages& p = get();
      std::lock_guard lock(p.mutex_);
      if (p.open_ops_++ == 0) p.protect(kOpen);
    }
    ~Open() {
      Pages& p = get();
      std::lock_guard lock(p.mutex_);
      if (--p.open_ops_ == 0) p.protect(PROT_NONE);
    }
    Open(const Open&) = delete;
    Open& operator=(const Open&) = delete;
  };

 private:
  static constexpr int kOpen = PROT_READ | PROT_WRITE;

  void protect(int how) {
    for (const auto& [data, bytes] : regions_) {
      RM_CHECK(mprotect(data, bytes, how) == 0) << "fake device: mprotect";
    }
  }

  std::mutex mutex_;
  std::map<void*, size_t> regions_;
  int open_ops_ = 0;
};

std::atomic<int64_t> device_views{0};

bool placed(const Tensor& t) { return t.device().is_cpu() || t.device() == kFakeDevice; }

// `t` as host rows over the same bytes (the CPU backends refuse device tensors).
Tensor host_view(const Tensor& t) {
  if (t.device().is_cpu() || !t.defined()) return t;
  ++device_views;
  return Tensor::wrap(t.mutable_raw(), t.shape(), t.dtype());
}

Status check_placed(std::initializer_list<const Tensor*> tensors, const char* op) {
  for (const Tensor* t : tensors) {
    if (!placed(*t)) {
      return invalid_argument(std::string("fake device: ") + op + " of " + t->to_string());
    }
  }
  return ok_status();
}

class FakeAttention final : public attention::AttentionBackend {
 public:
  explicit FakeAttention(ThreadPool& pool) : cpu_(attention::make_cpu_backend(pool)) {}

  std::string name() const override { return kFakeDevice.to_string() + " (fake)"; }
  Device device() const override { return kFakeDevice; }

  StatusOr<Tensor> empty(const Shape& shape, DType dtype, Device where) override {
    if (where.is_cpu()) return Tensor::empty(shape, dtype);
    if (where != kFakeDevice) return invalid_argument("fake device: empty on " + where.to_string());
    return Pages::get().tensor(shape, dtype);
  }

  Status copy(const Tensor& src, const Tensor& dst) override {
    RM_RETURN_IF_ERROR(check_placed({&src, &dst}, "copy"));
    if (src.bytes() != dst.bytes() || !dst.writable()) {
      return invalid_argument("fake device: copy of " + src.to_string() + " to " + dst.to_string());
    }
    const Pages::Open open;
    std::memcpy(dst.mutable_raw(), src.raw(), src.bytes());
    return ok_status();
  }

  Status attend_block_into(const Tensor& q, const Tensor& k, const Tensor& v,
                           const attention::Positions& q_pos, const attention::Positions& k_pos,
                           const attention::MaskSpec& mask,
                           attention::BlockResult& result) override {
    RM_RETURN_IF_ERROR(check_placed({&q, &k, &v, &result.out, &result.lse}, "attend_block_into"));
    const Pages::Open open;
    attention::BlockResult host{host_view(result.out), host_view(result.lse)};
    return cpu_->attend_block_into(host_view(q), host_view(k), host_view(v), q_pos, k_pos, mask,
                                   host);
  }

  Status merge_into(attention::BlockResult& acc, const attention::BlockResult& part) override {
    RM_RETURN_IF_ERROR(check_placed({&acc.out, &acc.lse, &part.out, &part.lse}, "merge_into"));
    const Pages::Open open;
    attention::BlockResult host_acc{host_view(acc.out), host_view(acc.lse)};
    return cpu_->merge_into(host_acc, {host_view(part.out), host_view(part.lse)});
  }

  Status synchronize() override { return ok_status(); }

 private:
  std::unique_ptr<attention::AttentionBackend> cpu_;
};

class FakeLayers final : public model::LayerBackend {
 public:
  explicit FakeLayers(ThreadPool& pool) : cpu_(model::make_cpu_layer_backend(pool)) {}

  const char* name() const override { return "cuda:7 (fake)"; }
  Device device() const override { return kFakeDevice; }

  StatusOr<Tensor> empty(const Shape& shape, DType dtype) override {
    return Pages::get().tensor(shape, dtype);
  }

  StatusOr<Tensor> load(Tensor rows) override {
    RM_ASSIGN_OR_RETURN(Tensor x, empty(rows.shape(), rows.dtype()));
    const Pages::Open open;
    std::memcpy(x.mutable_raw(), rows.raw(), rows.bytes());
    return x;
  }

  Status mixer_input(const Tensor& x, const Tensor& g, float eps, Tensor& h) override {
    RM_RETURN_IF_ERROR(check_placed({&x, &h}, "mixer_input"));
    const Pages::Open open;
    Tensor host_h = host_view(h);
    return cpu_->mixer_input(host_view(x), g, eps, host_h);
  }

  Status add_residuals(Tensor& x, const Tensor& mixed, const Tensor& g, float eps,
                       const model::MlpWeights& mlp, const std::stop_token& stop,
                       const std::string& where) override {
    RM_RETURN_IF_ERROR(check_placed({&x, &mixed}, "add_residuals"));
    const Pages::Open open;
    Tensor host_x = host_view(x);
    return cpu_->add_residuals(host_x, host_view(mixed), g, eps, mlp, stop, where);
  }

  Status project_heads(const Tensor& x, const Tensor& w, std::span<const int64_t> rope_pos,
                       double rope_theta, const Tensor& out, const std::stop_token& stop) override {
    RM_RETURN_IF_ERROR(check_placed({&x, &out}, "project_heads"));
    const Pages::Open open;
    return cpu_->project_heads(host_view(x), w, rope_pos, rope_theta, host_view(out), stop);
  }

  Status project_out(const Tensor& o, const Tensor& wo, const Tensor& out,
                     bool accumulate) override {
    RM_RETURN_IF_ERROR(check_placed({&o, &out}, "project_out"));
    const Pages::Open open;
    return cpu_->project_out(host_view(o), wo, host_view(out), accumulate);
  }

  StatusOr<Tensor> output(Tensor x, const Tensor& g, float eps) override {
    Tensor hf = Tensor::empty(x.shape(), DType::kF32);
    {
      const Pages::Open open;
      std::memcpy(hf.mutable_raw(), x.raw(), x.bytes());
    }
    return cpu_->output(std::move(hf), g, eps);
  }

 private:
  std::unique_ptr<model::LayerBackend> cpu_;
};

}  // namespace

int64_t fake_device_views() { return device_views.load(); }

model::ShardBackends make_fake_device_backends(ThreadPool& pool) {
  model::ShardBackends backends;
  backends.attention = std::make_shared<FakeAttention>(pool);
  backends.layers = std::make_shared<FakeLayers>(pool);
  return backends;
}

}  // namespace ringmaster::testing
