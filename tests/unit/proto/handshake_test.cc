#include "proto/handshake.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "proto/validate.h"
#include "tests/testing/temp_dir.h"

namespace ringmaster::proto {
namespace {

const std::string kJob = "job-a";

JobToken token(const std::string& secret) {
  StatusOr<JobToken> t = JobToken::from_secret(secret);
  RM_CHECK(t.ok()) << t.status().to_string();
  return std::move(t).value();
}

TEST(Handshake, MatchingTokensAuthenticate) {
  const JobToken key = token("49a4b6910db48ad4829e8edc2d736672");
  ServerHandshake server(key, kJob);
  ClientHandshake client(key, "node1", 100);
  StatusOr<pb::Hello> hello = client.hello();
  ASSERT_TRUE(hello.ok());
  StatusOr<pb::Challenge> challenge = server.on_hello(*hello);
  ASSERT_TRUE(challenge.ok()) << challenge.status().to_string();
  StatusOr<pb::AuthResponse> response = client.on_challenge(*challenge);
  ASSERT_TRUE(response.ok()) << response.status().to_string();
  EXPECT_TRUE(server.on_auth_response(*response).ok());
  EXPECT_TRUE(server.authenticated());
  EXPECT_EQ(challenge->job_id(), kJob);
  EXPECT_EQ(client.job_id(), kJob);
  // The token never appears in any message.
  for (const std::string& bytes : {hello->SerializeAsString(), challenge->SerializeAsString(),
                                   response->SerializeAsString()}) {
    EXPECT_EQ(bytes.find(key.secret()), std::string::npos);
  }
}

TEST(Handshake, WorkerRefusesACoordinatorWithAnotherToken) {
  const JobToken real = token("49a4b6910db48ad4829e8edc2d736672");
  const JobToken fake = token("473f0e896feb5d56920d0e93a78b1c76");
  ServerHandshake impostor(fake, kJob);
  ClientHandshake client(real, "node1", 100);
  StatusOr<pb::Challenge> challenge = impostor.on_hello(*client.hello());
  ASSERT_TRUE(challenge.ok());
  StatusOr<pb::AuthResponse> response = client.on_challenge(*challenge);
  ASSERT_FALSE(response.ok());
  EXPECT_NE(response.status().message().find("coordinator's proof"), std::string::npos);
}

TEST(Handshake, CoordinatorRefusesAWorkerWithAnotherToken) {
  const JobToken real = token("49a4b6910db48ad4829e8edc2d736672");
  const JobToken fake = token("473f0e896feb5d56920d0e93a78b1c76");
  ServerHandshake server(real, kJob);
  ClientHandshake client(fake, "node1", 100);
  StatusOr<pb::Hello> hello = client.hello();
  StatusOr<pb::Challenge> challenge = server.on_hello(*hello);
  ASSERT_TRUE(challenge.ok());
  // A worker that skips its own check and answers anyway is still refused.
  pb::AuthResponse forged;
  forged.set_client_proof(
      client_proof(fake, challenge->server_nonce(), hello->client_nonce(), kJob));
  Status status = server.on_auth_response(forged);
  EXPECT_FALSE(status.ok());
  EXPECT_FALSE(server.authenticated());
}

TEST(Handshake, ReplayedResponseFailsOnANewConnection) {
  const JobToken key = token("49a4b6910db48ad4829e8edc2d736672");
  // A good session, recorded.
  ServerHandshake first(key, kJob);
  ClientHandshake client(key, "node1", 100);
  StatusOr<pb::Hello> hello = client.hello();
  StatusOr<pb::AuthResponse> response = client.on_challenge(*first.on_hello(*hello));
  ASSERT_TRUE(first.on_auth_response(*response).ok());
  // The attacker replays Hello and AuthResponse; the new connection draws a new server nonce.
  ServerHandshake second(key, kJob);
  ASSERT_TRUE(second.on_hello(*hello).ok());
  EXPECT_FALSE(second.on_auth_response(*response).ok());
  EXPECT_FALSE(second.authenticated());
}

TEST(Handshake, OutOfOrderAndMalformedMessagesFail) {
  const JobToken key = token("49a4b6910db48ad4829e8edc2d736672");
  ServerHandshake server(key, kJob);
  pb::AuthResponse early;
  early.set_client_proof(std::string(kProofBytes, 'x'));
  EXPECT_FALSE(server.on_auth_response(early).ok());
  pb::Hello short_nonce;
  short_nonce.set_protocol_version(pb::PROTOCOL_VERSION_CURRENT);
  short_nonce.set_client_nonce("abc");
  short_nonce.set_pid(1);
  EXPECT_FALSE(server.on_hello(short_nonce).ok());
  pb::Hello old_version = short_nonce;
  old_version.set_client_nonce(std::string(kNonceBytes, 'n'));
  old_version.set_protocol_version(7);
  EXPECT_FALSE(server.on_hello(old_version).ok());
  // Version 1 proofs did not cover the job id; such a worker is told the versions differ.
  old_version.set_protocol_version(1);
  const StatusOr<pb::Challenge> v1 = server.on_hello(old_version);
  ASSERT_FALSE(v1.ok());
  EXPECT_NE(v1.status().message().find("protocol_version = 1"), std::string::npos)
      << v1.status().to_string();
}

// One token reused by two jobs: a proof made for job A is worthless at job B's coordinator, and a
// coordinator cannot pass a proof for its own job off as one for another job.
TEST(Handshake, ProofsAreBoundToTheJob) {
  const JobToken key = token("49a4b6910db48ad4829e8edc2d736672");
  ServerHandshake job_b(key, "job-b");
  ClientHandshake client(key, "node1", 100);
  StatusOr<pb::Hello> hello = client.hello();
  StatusOr<pb::Challenge> challenge = job_b.on_hello(*hello);
  ASSERT_TRUE(challenge.ok());
  EXPECT_EQ(challenge->job_id(), "job-b");
  pb::AuthResponse for_job_a;
  for_job_a.set_client_proof(
      client_proof(key, challenge->server_nonce(), hello->client_nonce(), "job-a"));
  EXPECT_FALSE(job_b.on_auth_response(for_job_a).ok());
  EXPECT_FALSE(job_b.authenticated());
  // A Challenge whose job id was changed in flight fails the server proof.
  pb::Challenge relabelled = *challenge;
  relabelled.set_job_id("job-a");
  StatusOr<pb::AuthResponse> answer = client.on_challenge(relabelled);
  ASSERT_FALSE(answer.ok());
  EXPECT_NE(answer.status().message().find("coordinator's proof"), std::string::npos);
}

// A worker started with --job-id answers only a coordinator of that job, before proving itself.
TEST(Handshake, WorkerThatKnowsItsJobRefusesAnother) {
  const JobToken key = token("49a4b6910db48ad4829e8edc2d736672");
  ServerHandshake job_a(key, "job-a");
  ClientHandshake wants_b(key, "node1", 100, "job-b");
  StatusOr<pb::Challenge> challenge = job_a.on_hello(*wants_b.hello());
  ASSERT_TRUE(challenge.ok());
  StatusOr<pb::AuthResponse> response = wants_b.on_challenge(*challenge);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(response.status().message().find("serves job job-a, not job job-b"), std::string::npos)
      << response.status().to_string();

  ServerHandshake job_b(key, "job-b");
  ClientHandshake wants_b_again(key, "node1", 100, "job-b");
  StatusOr<pb::AuthResponse> good =
      wants_b_again.on_challenge(*job_b.on_hello(*wants_b_again.hello()));
  ASSERT_TRUE(good.ok()) << good.status().to_string();
  EXPECT_TRUE(job_b.on_auth_response(*good).ok());
}

TEST(Handshake, ProofComparisonNeedsEqualSizes) {
  EXPECT_TRUE(proofs_equal("abc", "abc"));
  EXPECT_FALSE(proofs_equal("abc", "abd"));
  EXPECT_FALSE(proofs_equal("abc", "abcd"));
}

TEST(JobToken, GeneratedTokensAreStrongAndDistinct) {
  StatusOr<JobToken> generated = JobToken::generate();
  ASSERT_TRUE(generated.ok());
  EXPECT_EQ(generated->secret().size(), 64u);
  // The launcher's own tokens pass the strength check.
  EXPECT_TRUE(JobToken::from_secret(generated->secret()).ok());
  StatusOr<JobToken> other = JobToken::generate();
  EXPECT_NE(generated->secret(), other->secret());
}

// At least 128 random bits, as hex or base64 (RELIABILITY.md S2).
TEST(JobToken, AcceptsHexAndBase64OfAtLeast128Bits) {
  for (const char* secret : {
           "8f14e45fceea167a5a36dedd4bea2543",          // 32 hex digits: 128 bits
           "8F14E45FCEEA167A5A36DEDD4BEA2543",          // upper case hex
           "q83vEjRWeJCrze8SNFZ4kA==",                  // openssl rand -base64 16
           "q83vEjRWeJCrze8SNFZ4kA",                    // unpadded: 22 characters
           "Xk3_9-aQz0Lm2Pw8RtY7uB",                    // URL-safe (python secrets.token_urlsafe)
           "3Jq+/9aQz0Lm2Pw8RtY7uBnE5c1VhKsW0oGdFxZy",  // standard alphabet, longer
       }) {
    const StatusOr<JobToken> t = JobToken::from_secret(secret);
    EXPECT_TRUE(t.ok()) << secret << ": " << t.status().to_string();
  }
}

TEST(JobToken, WeakTokensAreRefusedSayingWhyWithoutQuotingThem) {
  const std::string kDigits = "8f14e45fceea167a5a36dedd4bea254";  // 31 hex digits: 124 bits
  const struct {
    std::string secret;
    std::string why;
  } cases[] = {
      {"", "0 hex digits"},
      {"short", "5 base64 characters (30 bits)"},
      {kDigits, "31 hex digits (124 bits)"},
      {"q83vEjRWeJCrze8SNFZ4k", "21 base64 characters"},
      {"correct horse battery staple", "neither hex nor base64 at byte 7"},
      {"tok\n8f14e45fceea167a5a36dedd4bea2543", "neither hex nor base64 at byte 3"},
      {std::string(64, '0'), "only 1 distinct characters"},
      {"abababababababababababababababab", "only 2 distinct characters"},
      {"q83vEjRWeJCrze8SNFZ4kA===", "neither hex nor base64 at byte 22"},
      {std::string(kMaxTokenBytes + 1, 'a'), "longer than"},
  };
  for (const auto& c : cases) {
    const StatusOr<JobToken> t = JobToken::from_secret(c.secret);
    ASSERT_FALSE(t.ok()) << c.secret;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(c.why), std::string::npos) << t.status().to_string();
    if (c.secret.size() >= 5 && c.secret.size() < 100) {
      EXPECT_EQ(t.status().message().find(c.secret), std::string::npos) << "quotes the secret";
    }
    if (c.secret.size() < kMaxTokenBytes) {
      EXPECT_NE(t.status().message().find("openssl rand -hex 32"), std::string::npos);
    }
  }
}

TEST(JobToken, TokenFilesMustBeOwnerOnly) {
  const testing::TempDir dir;
  const std::string path = dir.file("token");
  {
    std::ofstream out(path);
    out << "4f24be6d4ed87cac8616530eccbe0cca\n";
  }
  ::chmod(path.c_str(), 0644);
  StatusOr<JobToken> loose = read_token_file(path);
  ASSERT_FALSE(loose.ok());
  EXPECT_NE(loose.status().message().find("0644"), std::string::npos);
  ::chmod(path.c_str(), 0600);
  StatusOr<JobToken> tight = read_token_file(path);
  ASSERT_TRUE(tight.ok()) << tight.status().to_string();
  EXPECT_EQ(tight->secret(), "4f24be6d4ed87cac8616530eccbe0cca");  // trailing newline stripped
  std::filesystem::remove(path);
  EXPECT_FALSE(read_token_file(path).ok());
}

TEST(JobToken, TokenFileThatIsASymlinkIsRefusedSayingSo) {
  const testing::TempDir dir;
  const std::string target = dir.file("token");
  {
    std::ofstream out(target);
    out << "4f24be6d4ed87cac8616530eccbe0cca\n";
  }
  ::chmod(target.c_str(), 0600);
  const std::string link = dir.file("link");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  StatusOr<JobToken> linked = read_token_file(link);
  ASSERT_FALSE(linked.ok());
  EXPECT_EQ(linked.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(linked.status().message().find(link + ": token file is a symbolic link; refusing to "
                                                  "follow it"),
            std::string::npos)
      << linked.status().to_string();
  EXPECT_TRUE(read_token_file(target).ok());
}

TEST(JobToken, TokenFileOfAnotherUserIsRefused) {
  const testing::TempDir dir;
  std::string path = dir.file("token");
  {
    std::ofstream out(path);
    out << "4f24be6d4ed87cac8616530eccbe0cca\n";
  }
  ::chmod(path.c_str(), 0600);
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);  // nobody
  } else {
    path = "/etc/passwd";  // root's, and we are not root
  }
  StatusOr<JobToken> theirs = read_token_file(path);
  ASSERT_FALSE(theirs.ok());
  EXPECT_EQ(theirs.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(theirs.status().message().find("token file is owned by uid"), std::string::npos)
      << theirs.status().to_string();
  EXPECT_NE(
      theirs.status().message().find("not by this user (uid " + std::to_string(::geteuid()) + ")"),
      std::string::npos)
      << theirs.status().to_string();
}

TEST(JobToken, TokenFileMustHoldAStrongToken) {
  const testing::TempDir dir;
  const std::string path = dir.file("token");
  {
    std::ofstream out(path);
    out << "my password\n";
  }
  ::chmod(path.c_str(), 0600);
  StatusOr<JobToken> weak = read_token_file(path);
  ASSERT_FALSE(weak.ok());
  EXPECT_NE(weak.status().message().find(path), std::string::npos) << weak.status().to_string();
  EXPECT_NE(weak.status().message().find("neither hex nor base64"), std::string::npos);
}

}  // namespace
}  // namespace ringmaster::proto
