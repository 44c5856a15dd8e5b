#include "comm/make_communicator.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace ringmaster::comm {
namespace {

TEST(MakeCommunicator, LocalIsAlwaysBuilt) {
  const std::vector<std::string> built = built_backends();
  ASSERT_FALSE(built.empty());
  EXPECT_EQ(built.front(), "local");
  for (const std::string& name : built) {
    StatusOr<CommSpec::Backend> backend = parse_backend(name);
    ASSERT_TRUE(backend.ok()) << backend.status().to_string();
    EXPECT_EQ(backend_name(*backend), name);
  }
}

TEST(MakeCommunicator, RejectsUnknownBackends) {
  StatusOr<CommSpec::Backend> backend = parse_backend("carrier-pigeon");
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(backend.status().message().find("carrier-pigeon"), std::string::npos);
  const std::vector<std::string> built = built_backends();
  if (std::find(built.begin(), built.end(), "ucx") == built.end()) {
    EXPECT_EQ(parse_backend("ucx").status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(MakeCommunicator, LocalBootstrapJoinsAWorldOfOne) {
  StatusOr<std::unique_ptr<CommBootstrap>> boot = make_bootstrap(CommSpec{});
  ASSERT_TRUE(boot.ok()) << boot.status().to_string();
  EXPECT_TRUE((*boot)->address().empty());
  EXPECT_EQ((*boot)->connect(0, {{}, {}}, std::chrono::seconds(1)).status().code(),
            StatusCode::kInvalidArgument);
  StatusOr<std::unique_ptr<Communicator>> comm =
      (*boot)->connect(0, {(*boot)->address()}, std::chrono::seconds(1));
  ASSERT_TRUE(comm.ok()) << comm.status().to_string();
  EXPECT_EQ((*comm)->rank(), 0);
  EXPECT_EQ((*comm)->size(), 1);
  EXPECT_EQ((*comm)->step_timeout(), std::chrono::seconds(1));
  EXPECT_EQ((*boot)->connect(0, {{}}, std::chrono::seconds(1)).status().code(),
            StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace ringmaster::comm
