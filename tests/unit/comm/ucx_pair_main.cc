// ucx_pair_main: rank 1 of the two-process UCX test (ucx_comm_test.cc starts it).
//
//   ucx_pair_main <exchange|hold> <transports|default> <keepalive_ms>
//
// Reads rank 0's address from stdin, writes its own to stdout, connects, then:
//   exchange  runs run_pair_exchange and exits 0 on success;
//   hold      runs it too, then waits on a receive that rank 0 never sends, until rank 0 kills
//             it (exits 3 should the wait ever return).
// Errors go to stderr and exit 1; bad arguments exit 2.
#include <chrono>
#include <cstdio>
#include <string>

#include "comm/make_communicator.h"
#include "tests/unit/comm/ucx_pair.h"

namespace {

using namespace ringmaster;
using namespace ringmaster::comm;

int fail(const Status& status) {
  std::fprintf(stderr, "ucx_pair_main: %s\n", status.to_string().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <exchange|hold> <transports|default> <keepalive_ms>\n",
                 argv[0]);
    return 2;
  }
  const std::string scenario = argv[1];
  if (scenario != "exchange" && scenario != "hold") return 2;
  CommSpec spec;
  spec.backend = CommSpec::kUcx;
  spec.ucx_transports = std::string(argv[2]) == "default" ? "" : argv[2];
  spec.ucx_keepalive_interval = std::chrono::milliseconds(std::stol(argv[3]));

  StatusOr<std::unique_ptr<CommBootstrap>> boot = make_bootstrap(spec);
  if (!boot.ok()) return fail(boot.status());
  StatusOr<std::vector<std::byte>> parent = testing::read_address(STDIN_FILENO);
  if (!parent.ok()) return fail(parent.status());
  const Status written = testing::write_address(STDOUT_FILENO, (*boot)->address());
  if (!written.ok()) return fail(written);
  StatusOr<std::unique_ptr<Communicator>> comm =
      (*boot)->connect(1, {*parent, (*boot)->address()}, std::chrono::seconds(10));
  if (!comm.ok()) return fail(comm.status());

  const Status exchanged = testing::run_pair_exchange(**comm);
  if (!exchanged.ok()) return fail(exchanged);
  if (scenario == "exchange") return 0;

  std::vector<std::byte> never(8);
  StatusOr<Request> held = (*comm)->irecv(0, never, testing::kHeldTag);
  if (!held.ok()) return fail(held.status());
  const Status waited = held->wait(std::chrono::steady_clock::now() + std::chrono::seconds(30));
  std::fprintf(stderr, "ucx_pair_main: held wait returned: %s\n", waited.to_string().c_str());
  return 3;
}
