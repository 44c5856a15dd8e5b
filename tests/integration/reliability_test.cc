// RELIABILITY.md section 4 between real processes: bad input refused before any work with exit
// code 6, one error line naming the file and place, and nothing written; junk on the
// coordinator's port while a job runs; a worker frozen with SIGSTOP. Test knobs: heartbeat
// 200 ms, dead after 1 s, abort grace 2 s, authentication timeout 1 s.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "comm/make_communicator.h"
#include "tests/integration/process.h"

namespace ringmaster::testing {
namespace {

namespace fs = std::filesystem;
const std::string kToken = "4cd62d328c59b8f452e0bc5f2cda2df0";
const std::string kData = RINGMASTER_SOURCE_DIR "/tests/data";

int count_lines_with(const std::string& text, const std::string& needle) {
  int count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

// `ringmaster run` on (model, input); expects the bad-input refusal.
void expect_refused(const std::string& model, const std::string& input,
                    const std::string& culprit) {
  TempDir dir;
  auto run = Process::start({ringmaster_binary(), "run", "--model", model, "--input", input,
                             "--workers", "2", "--out", dir.file("out")});
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  const std::optional<int> code = (*run)->wait_for_exit(slack(milliseconds(20000)));
  ASSERT_TRUE(code.has_value()) << (*run)->output();
  const std::string output = (*run)->output();
  EXPECT_EQ(*code, 6) << output;  // kExitBadInput
  EXPECT_EQ(count_lines_with(output, "ringmaster: "), 1) << output;
  EXPECT_NE(output.find(culprit), std::string::npos) << output;
  EXPECT_TRUE(dir.entries().empty()) << output;
}

// The files of tests/data/<folder> whose names start with bad_, sorted.
std::vector<std::string> bad_files(const std::string& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kData + "/" + folder)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("bad_", 0) == 0) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// A gtest case name for a corpus file: its name with every character but [A-Za-z0-9] as '_'.
std::string file_case_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

// One case per malformed FASTA file, so a failure names its file.
class MalformedFasta : public ::testing::TestWithParam<std::string> {};

TEST_P(MalformedFasta, IsRefusedNamingFileAndPlace) {
  const std::string path = kData + "/fasta/" + GetParam();
  expect_refused(kData + "/models/good_tiny", path, path);
}

INSTANTIATE_TEST_SUITE_P(BadInput, MalformedFasta, ::testing::ValuesIn(bad_files("fasta")),
                         file_case_name);

// The corpus is all there (a lost folder would otherwise leave no case to fail).
TEST(BadInput, MalformedFastaCorpusIsPresent) { EXPECT_GE(bad_files("fasta").size(), 30u); }

TEST(BadInput, EveryMalformedModelIsRefusedNamingTheFile) {
  int models = 0;
  for (const auto& entry : fs::directory_iterator(kData + "/models")) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("bad_", 0) != 0) continue;
    SCOPED_TRACE(name);
    // The config or the weights, whichever is broken, is named by path.
    expect_refused(entry.path().string(), kData + "/fasta/good_basic.fa", entry.path().string());
    ++models;
  }
  EXPECT_GE(models, 20);
}

int connect_to(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_all(int fd, const std::string& bytes) {
  (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
}

// A frame header (proto/frame.h): magic, version 1, type, length, CRC-32 of the payload.
std::string frame(uint16_t type, uint32_t length, const std::string& payload) {
  std::string out(16, '\0');
  const uint32_t magic = 0x50434d52, crc = static_cast<uint32_t>(
                                         ::crc32(0L, reinterpret_cast<const Bytef*>(payload.data()),
                                                 static_cast<uInt>(payload.size())));
  const uint16_t version = 1;
  std::memcpy(out.data(), &magic, 4);
  std::memcpy(out.data() + 4, &version, 2);
  std::memcpy(out.data() + 6, &type, 2);
  std::memcpy(out.data() + 8, &length, 4);
  std::memcpy(out.data() + 12, &crc, 4);
  return out + payload;
}

int64_t rss_kib(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  }
  return -1;
}

// True when the peer closed `fd` within `timeout` (read returns 0 or an error).
bool closed_by_peer(int fd, milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
  }
}

TEST(Junk, CoordinatorSurvivesJunkAndTheJobCompletesCorrectly) {
  if (!have_ucx()) GTEST_SKIP() << "needs UCX for two workers";
  TempDir dir;
  const std::string out = dir.file("out.npy");
  CheckJob job;
  job.tokens = 8192;
  Coordinator coordinator = start_coordinator(kToken, 2, out, job, {"--auth-timeout-ms", "1000"});
  ASSERT_FALSE(coordinator.address.empty()) << coordinator.process->output();
  const pid_t pid = coordinator.process->pid();
  const int64_t rss_before = rss_kib(pid, "VmRSS");

  std::mt19937 rng(3);
  std::string random_bytes(1 << 16, '\0');
  for (char& c : random_bytes) c = static_cast<char>(rng());
  std::string tls_hello = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, static_cast<char>(0xfc),
                           0x03, 0x03};
  tls_hello.append(500, '\x42');
  // A well-framed Hello under its 1 KiB cap holding an unknown field (15) of groups nested 500
  // deep, each closed: well formed and small, so only the parser's recursion limit refuses it
  // (checked below in the coordinator's log).
  const std::string nested = std::string(500, '\x7b') + std::string(500, '\x7c');
  const std::vector<std::string> junk = {
      random_bytes,
      "GET / HTTP/1.1\r\nHost: ringmaster\r\n\r\n",
      tls_hello,
      frame(1, 0xffffffffu, ""),               // a Hello claiming 4 GiB
      frame(6, 1024, std::string(1024, 'a')),  // an Assignment before authenticating
      frame(1, static_cast<uint32_t>(nested.size()), nested),
  };
  std::vector<int> rounds;
  for (int round = 0; round < 20; ++round) {  // 120 junk connections, plus connect-then-close
    for (const std::string& bytes : junk) {
      const int fd = connect_to(coordinator.port);
      ASSERT_GE(fd, 0);
      send_all(fd, bytes);
      ::close(fd);
    }
    const int fd = connect_to(coordinator.port);
    ASSERT_GE(fd, 0);
    ::close(fd);
  }
  // Idle, unauthenticated connections are closed after the authentication timeout.
  std::vector<int> idle;
  for (int i = 0; i < 10; ++i) idle.push_back(connect_to(coordinator.port));
  const auto idle_since = std::chrono::steady_clock::now();
  for (int fd : idle) {
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(closed_by_peer(fd, slack(milliseconds(5000))));
    ::close(fd);
  }
  EXPECT_LT(seconds_since(idle_since), 3.0 * time_slack());
  const int64_t rss_after = rss_kib(pid, "VmRSS");
  EXPECT_FALSE(coordinator.process->exited()) << coordinator.process->output();
  // The nested Hello reached the parser (it passed the size cap and the CRC) and was refused there.
  EXPECT_NE(coordinator.process->output().find("malformed Hello message (1000 bytes)"),
            std::string::npos)
      << coordinator.process->output();
  // Bound: unauthenticated peers may only send frames of at most 1 KiB (Hello, AuthResponse),
  // and connections are closed on the first bad byte, so the junk leaves no lasting growth.
  EXPECT_LT(rss_after - rss_before, 16 * 1024) << "KiB";
  std::printf("[ memory ] coordinator RSS %lld KiB before junk, %lld KiB after (growth %lld KiB)\n",
              static_cast<long long>(rss_before), static_cast<long long>(rss_after),
              static_cast<long long>(rss_after - rss_before));

  auto w0 = start_worker(coordinator.address, kToken, 0);
  auto w1 = start_worker(coordinator.address, kToken, 1);
  const std::optional<int> code = coordinator.process->wait_for_exit(slack(milliseconds(60000)));
  ASSERT_TRUE(code.has_value()) << coordinator.process->output();
  EXPECT_EQ(*code, 0) << coordinator.process->output();
  const Status same = matches_reference(out, job);
  EXPECT_TRUE(same.ok()) << same.to_string();
}

TEST(Stopped, FrozenWorkerIsReportedAndFencedAfterSigcont) {
  if (!have_ucx()) GTEST_SKIP() << "needs UCX for two workers";
  TempDir dir;
  const std::string out = dir.file("out.npy");
  CheckJob job;
  job.tokens = 65536;  // seconds of work, so the stop lands mid-job
  Coordinator coordinator = start_coordinator(kToken, 2, out, job, {"--auth-timeout-ms", "1000"});
  ASSERT_FALSE(coordinator.address.empty()) << coordinator.process->output();
  auto w0 = start_worker(coordinator.address, kToken, 0);
  auto w1 = start_worker(coordinator.address, kToken, 1);
  ASSERT_TRUE(w1->wait_for_output("running the attention check", slack(milliseconds(20000))))
      << w1->output() << coordinator.process->output();

  const auto stopped_at = std::chrono::steady_clock::now();
  w1->signal(SIGSTOP);
  const bool reported =
      coordinator.process->wait_for_output("missed heartbeats", slack(milliseconds(10000)));
  const double detect_s = seconds_since(stopped_at);
  EXPECT_TRUE(reported) << coordinator.process->output();
  // Dead deadline (1 s) plus a heartbeat (0.2 s), plus scheduling slack on 2 shared cores.
  EXPECT_LT(detect_s, 2.5 * time_slack());
  // The coordinator gives its Abort flush_timeout (2 s) to reach the frozen worker, then exits.
  const std::optional<int> code = coordinator.process->wait_for_exit(slack(milliseconds(10000)));
  w1->signal(SIGCONT);
  ASSERT_TRUE(code.has_value()) << coordinator.process->output();
  EXPECT_EQ(*code, 3) << coordinator.process->output();  // a worker was lost
  const std::string log = coordinator.process->output();
  EXPECT_NE(log.find("pid " + std::to_string(w1->pid())), std::string::npos) << log;
  EXPECT_NE(log.find("missed heartbeats"), std::string::npos) << log;
  // Resumed, the frozen worker finds its session gone (fenced) and exits with a failure code.
  for (Process* w : {w0.get(), w1.get()}) {
    const std::optional<int> worker_code = w->wait_for_exit(slack(milliseconds(8000)));
    ASSERT_TRUE(worker_code.has_value()) << w->output();
    EXPECT_NE(*worker_code, 0) << w->output();
  }
  EXPECT_TRUE(dir.entries().empty()) << "the failed job left a file";
  std::printf("[ timing ] SIGSTOP to report: %.3f s; everything stopped after %.3f s\n", detect_s,
              seconds_since(stopped_at));
}

}  // namespace
}  // namespace ringmaster::testing
