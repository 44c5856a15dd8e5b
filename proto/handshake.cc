#include "proto/handshake.h"

#include "core/printable.h"
#include "proto/validate.h"

namespace ringmaster::proto {

StatusOr<pb::Challenge> ServerHandshake::on_hello(const pb::Hello& hello) {
  if (challenged_) return failed_precondition("second Hello on one connection");
  RM_RETURN_IF_ERROR(validate_hello(hello));
  RM_ASSIGN_OR_RETURN(server_nonce_, make_nonce());
  hello_ = hello;
  challenged_ = true;
  pb::Challenge challenge;
  challenge.set_server_nonce(server_nonce_);
  challenge.set_job_id(job_id_);
  challenge.set_server_proof(server_proof(token_, hello.client_nonce(), server_nonce_, job_id_));
  return challenge;
}

Status ServerHandshake::on_auth_response(const pb::AuthResponse& response) {
  if (!challenged_ || authenticated_) return failed_precondition("AuthResponse out of order");
  RM_RETURN_IF_ERROR(validate_auth_response(response));
  const std::string expected = client_proof(token_, server_nonce_, hello_.client_nonce(), job_id_);
  if (!proofs_equal(expected, response.client_proof())) {
    return failed_precondition(
        "authentication failed: the worker's proof does not match the "
        "job token and job " +
        printable(job_id_) + " (wrong RINGMASTER_TOKEN or token file?)");
  }
  authenticated_ = true;
  return ok_status();
}

StatusOr<pb::Hello> ClientHandshake::hello() {
  if (!client_nonce_.empty()) return failed_precondition("hello() called twice");
  RM_ASSIGN_OR_RETURN(client_nonce_, make_nonce());
  pb::Hello hello;
  hello.set_protocol_version(pb::PROTOCOL_VERSION_CURRENT);
  hello.set_client_nonce(client_nonce_);
  hello.set_host(host_.substr(0, kMaxHostBytes));
  hello.set_pid(pid_);
  return hello;
}

StatusOr<pb::AuthResponse> ClientHandshake::on_challenge(const pb::Challenge& challenge) {
  if (client_nonce_.empty()) return failed_precondition("Challenge before Hello");
  RM_RETURN_IF_ERROR(validate_challenge(challenge));
  const std::string expected =
      server_proof(token_, client_nonce_, challenge.server_nonce(), challenge.job_id());
  if (!proofs_equal(expected, challenge.server_proof())) {
    return failed_precondition(
        "authentication failed: the coordinator's proof does not match "
        "the job token (wrong RINGMASTER_TOKEN or token file?)");
  }
  // The proof covers the job id, so it is the coordinator's own claim, not a forger's.
  if (!expected_job_id_.empty() && challenge.job_id() != expected_job_id_) {
    return failed_precondition("the coordinator serves job " + printable(challenge.job_id()) +
                               ", not job " + printable(expected_job_id_) +
                               " (--job-id); the token is reused across jobs");
  }
  job_id_ = challenge.job_id();
  pb::AuthResponse response;
  response.set_client_proof(
      client_proof(token_, challenge.server_nonce(), client_nonce_, challenge.job_id()));
  return response;
}

}  // namespace ringmaster::proto
