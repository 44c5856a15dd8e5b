// The nccl backend as make_communicator offers it, on any machine (no GPU needed): its name, the
// job id the coordinator makes (ncclGetUniqueId works without a GPU), and the refusal to make a
// bootstrap where no GPU is visible. The GPU cases are in nccl_comm_test.cc.
#include <gtest/gtest.h>

#include <algorithm>

#include "comm/make_communicator.h"

namespace ringmaster::comm {
namespace {

TEST(NcclBackend, IsBuiltAndNamed) {
  StatusOr<CommSpec::Backend> parsed = parse_backend("nccl");
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_EQ(*parsed, CommSpec::kNccl);
  EXPECT_STREQ(backend_name(CommSpec::kNccl), "nccl");
  const std::vector<std::string> built = built_backends();
  EXPECT_NE(std::find(built.begin(), built.end(), "nccl"), built.end());
}

TEST(NcclBackend, JobIdIsAFresh128ByteUniqueId) {
  CommSpec spec;
  spec.backend = CommSpec::kNccl;
  StatusOr<std::vector<std::byte>> first = make_job_id(spec);
  StatusOr<std::vector<std::byte>> second = make_job_id(spec);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ(first->size(), 128u);
  EXPECT_EQ(second->size(), 128u);
  EXPECT_NE(*first, *second);
  spec.backend = CommSpec::kLocal;
  StatusOr<std::vector<std::byte>> none = make_job_id(spec);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(NcclBackend, NeedsAGpu) {
  CommSpec spec;
  spec.backend = CommSpec::kNccl;
  StatusOr<std::unique_ptr<CommBootstrap>> boot = make_bootstrap(spec);
  if (boot.ok()) GTEST_SKIP() << "a GPU is visible here: nccl_comm_test.cc covers it";
  EXPECT_EQ(boot.status().code(), StatusCode::kFailedPrecondition) << boot.status().to_string();
  EXPECT_NE(boot.status().message().find("needs a GPU"), std::string::npos)
      << boot.status().to_string();
}

}  // namespace
}  // namespace ringmaster::comm
