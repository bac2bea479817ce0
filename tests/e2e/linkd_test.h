// A test fixture over the real binaries: linkd started on a port it picks
// itself, linkctl run against it, their output kept for the assertions.
// The including test target defines LINKD_BIN and LINKCTL_BIN.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "process.h"
#include "test_util.h"

namespace linkage::testing {

class LinkdBinaryTest : public ::testing::Test {
 protected:
  // Starts linkd on `db` with `extra` options; false if it did not come up
  // (its log is dir_.Sub("linkd.log")).
  bool StartLinkdOn(const std::string& db, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {LINKD_BIN,     "--db",    db, "--listen",
                                     "127.0.0.1:0", "--grace", "5"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    linkd_ = std::make_unique<Process>(argv, dir_.Sub("linkd.out"), dir_.Sub("linkd.log"));
    port_ = WaitForPort(dir_.Sub("linkd.log"));
    server_ = "127.0.0.1:" + std::to_string(port_);
    return port_ > 0;
  }
  // Stops linkd with `sig`; its exit code.
  int StopLinkd(int sig = SIGTERM) {
    linkd_->Signal(sig);
    int code = linkd_->Wait();
    linkd_.reset();
    return code;
  }
  // Runs a command to completion; stdout in out_, stderr in err_.
  int Run(const std::vector<std::string>& argv) {
    int code = testing::Run(argv, dir_.Sub("cmd.out"), dir_.Sub("cmd.err"));
    out_ = ReadFile(dir_.Sub("cmd.out"));
    err_ = ReadFile(dir_.Sub("cmd.err"));
    return code;
  }
  // Runs linkctl against the server.
  int Linkctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {LINKCTL_BIN, "--server", server_};
    argv.insert(argv.end(), args.begin(), args.end());
    return Run(argv);
  }

  TempDir dir_;
  std::unique_ptr<Process> linkd_;
  int port_ = 0;
  std::string server_;
  std::string out_, err_;
};

}  // namespace linkage::testing
