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

JobToken token(const std::string& secret) {
  StatusOr<JobToken> t = JobToken::from_secret(secret);
  RM_CHECK(t.ok()) << t.status().to_string();
  return std::move(t).value();
}

TEST(Handshake, MatchingTokensAuthenticate) {
  const JobToken key = token("the-job-token-0123456789");
  ServerHandshake server(key);
  ClientHandshake client(key, "node1", 100);
  StatusOr<pb::Hello> hello = client.hello();
  ASSERT_TRUE(hello.ok());
  StatusOr<pb::Challenge> challenge = server.on_hello(*hello);
  ASSERT_TRUE(challenge.ok()) << challenge.status().to_string();
  StatusOr<pb::AuthResponse> response = client.on_challenge(*challenge);
  ASSERT_TRUE(response.ok()) << response.status().to_string();
  EXPECT_TRUE(server.on_auth_response(*response).ok());
  EXPECT_TRUE(server.authenticated());
  // The token never appears in any message.
  for (const std::string& bytes : {hello->SerializeAsString(), challenge->SerializeAsString(),
                                   response->SerializeAsString()}) {
    EXPECT_EQ(bytes.find(key.secret()), std::string::npos);
  }
}

TEST(Handshake, WorkerRefusesACoordinatorWithAnotherToken) {
  const JobToken real = token("the-job-token-0123456789");
  const JobToken fake = token("not-the-job-token-98765");
  ServerHandshake impostor(fake);
  ClientHandshake client(real, "node1", 100);
  StatusOr<pb::Challenge> challenge = impostor.on_hello(*client.hello());
  ASSERT_TRUE(challenge.ok());
  StatusOr<pb::AuthResponse> response = client.on_challenge(*challenge);
  ASSERT_FALSE(response.ok());
  EXPECT_NE(response.status().message().find("coordinator's proof"), std::string::npos);
}

TEST(Handshake, CoordinatorRefusesAWorkerWithAnotherToken) {
  const JobToken real = token("the-job-token-0123456789");
  const JobToken fake = token("not-the-job-token-98765");
  ServerHandshake server(real);
  ClientHandshake client(fake, "node1", 100);
  StatusOr<pb::Hello> hello = client.hello();
  StatusOr<pb::Challenge> challenge = server.on_hello(*hello);
  ASSERT_TRUE(challenge.ok());
  // A worker that skips its own check and answers anyway is still refused.
  pb::AuthResponse forged;
  forged.set_client_proof(client_proof(fake, challenge->server_nonce(), hello->client_nonce()));
  Status status = server.on_auth_response(forged);
  EXPECT_FALSE(status.ok());
  EXPECT_FALSE(server.authenticated());
}

TEST(Handshake, ReplayedResponseFailsOnANewConnection) {
  const JobToken key = token("the-job-token-0123456789");
  // A good session, recorded.
  ServerHandshake first(key);
  ClientHandshake client(key, "node1", 100);
  StatusOr<pb::Hello> hello = client.hello();
  StatusOr<pb::AuthResponse> response = client.on_challenge(*first.on_hello(*hello));
  ASSERT_TRUE(first.on_auth_response(*response).ok());
  // The attacker replays Hello and AuthResponse; the new connection draws a new server nonce.
  ServerHandshake second(key);
  ASSERT_TRUE(second.on_hello(*hello).ok());
  EXPECT_FALSE(second.on_auth_response(*response).ok());
  EXPECT_FALSE(second.authenticated());
}

TEST(Handshake, OutOfOrderAndMalformedMessagesFail) {
  const JobToken key = token("the-job-token-0123456789");
  ServerHandshake server(key);
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
}

TEST(Handshake, ProofComparisonNeedsEqualSizes) {
  EXPECT_TRUE(proofs_equal("abc", "abc"));
  EXPECT_FALSE(proofs_equal("abc", "abd"));
  EXPECT_FALSE(proofs_equal("abc", "abcd"));
}

TEST(JobToken, ShortTokensAreRefused) {
  EXPECT_FALSE(JobToken::from_secret("short").ok());
  StatusOr<JobToken> generated = JobToken::generate();
  ASSERT_TRUE(generated.ok());
  EXPECT_EQ(generated->secret().size(), 64u);
  StatusOr<JobToken> other = JobToken::generate();
  EXPECT_NE(generated->secret(), other->secret());
}

TEST(JobToken, TokenFilesMustBeOwnerOnly) {
  const testing::TempDir dir;
  const std::string path = dir.file("token");
  {
    std::ofstream out(path);
    out << "file-token-0123456789abcdef\n";
  }
  ::chmod(path.c_str(), 0644);
  StatusOr<JobToken> loose = read_token_file(path);
  ASSERT_FALSE(loose.ok());
  EXPECT_NE(loose.status().message().find("0644"), std::string::npos);
  ::chmod(path.c_str(), 0600);
  StatusOr<JobToken> tight = read_token_file(path);
  ASSERT_TRUE(tight.ok()) << tight.status().to_string();
  EXPECT_EQ(tight->secret(), "file-token-0123456789abcdef");  // trailing newline stripped
  std::filesystem::remove(path);
  EXPECT_FALSE(read_token_file(path).ok());
}

}  // namespace
}  // namespace ringmaster::proto
