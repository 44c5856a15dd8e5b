#include "core/printable.h"

#include <gtest/gtest.h>

#include <string>

namespace ringmaster {
namespace {

TEST(Printable, LeavesPlainTextAlone) {
  EXPECT_EQ(printable("node-1.cluster:4242 says hi"), "node-1.cluster:4242 says hi");
  EXPECT_EQ(printable(""), "");
}

TEST(Printable, EscapesNewlinesSoNoLineCanBeForged) {
  const std::string forged = "x\n[2024-01-01 00:00:00] [coordinator] [info] job 1 succeeded";
  const std::string out = printable(forged);
  EXPECT_EQ(out.find('\n'), std::string::npos);
  EXPECT_EQ(out, "x\\n[2024-01-01 00:00:00] [coordinator] [info] job 1 succeeded");
  EXPECT_EQ(printable("a\r\tb"), "a\\r\\tb");
}

TEST(Printable, EscapesControlBytesAndNonAscii) {
  EXPECT_EQ(printable("\x1b[2J\x1b]0;owned\x07"), "\\x1b[2J\\x1b]0;owned\\x07");
  EXPECT_EQ(printable(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(printable("\x7f"), "\\x7f");
  EXPECT_EQ(printable("caf\xc3\xa9"), "caf\\xc3\\xa9");
}

TEST(Printable, EscapesTheBackslashItself) {
  // Otherwise a peer could send the text "\x1b" and have it read as an escaped byte.
  EXPECT_EQ(printable("\\x1b"), "\\\\x1b");
}

TEST(Printable, OutputContainsOnlyPrintableAscii) {
  std::string every;
  for (int b = 0; b < 256; ++b) every.push_back(static_cast<char>(b));
  for (const char c : printable(every)) {
    EXPECT_GE(static_cast<unsigned char>(c), 0x20);
    EXPECT_LT(static_cast<unsigned char>(c), 0x7f);
  }
}

TEST(Printable, CutsLongText) {
  EXPECT_EQ(printable(std::string(100, 'a'), 4), "aaaa...");
  EXPECT_EQ(printable("abcd", 4), "abcd");
}

TEST(SafeHostName, AcceptsNamesAndAddresses) {
  for (const char* name :
       {"node01", "gpu-7.cluster.example.org", "10.0.0.2", "::1", "fe80::1:2", "host_name"}) {
    EXPECT_TRUE(is_safe_host_name(name)) << name;
  }
}

TEST(SafeHostName, RefusesEverythingElse) {
  for (const char* name : {"", "a b", "host\n", "x\x1b[0m", "a/b", "a'b", "h\xc3\xa9"}) {
    EXPECT_FALSE(is_safe_host_name(name)) << printable(name);
  }
}

}  // namespace
}  // namespace ringmaster
