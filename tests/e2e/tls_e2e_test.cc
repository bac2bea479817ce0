// End-to-end over TLS: the real linkd with --tls-cert, --client-ca and an
// access policy, driven by the real linkctl with --tls-ca and a token or a
// client certificate (flags and environment); SIGHUP revokes a principal;
// the listener rules of the start line.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <thread>

#include "process.h"
#include "test_util.h"
#include "tls_certs.h"

namespace linkage {
namespace {

using testing::Process;
using testing::ReadFile;
using testing::WriteFile;

// SHA-256 hex of a token, by the openssl command line (as an operator
// would make it).
std::string Sha256OfFile(const std::string& path, const std::string& out) {
  testing::Run(
      {"/bin/sh", "-c", "openssl dgst -sha256 -r " + path + " | cut -d' ' -f1 | tr -d '\\n'"}, out,
      out + ".err");
  return ReadFile(out);
}

class TlsE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = std::make_unique<testing::TestCerts>(dir_.path());
    ASSERT_TRUE(certs_->ok());
    ASSERT_TRUE(certs_->MakeClient("matcher", "matcher.linkd.test"));
    token_file_ = dir_.Sub("ops.token");
    WriteFile(token_file_, "ops-secret-token-42\n");
    // The hash of the token as written, without its newline.
    WriteFile(dir_.Sub("ops.token.bare"), "ops-secret-token-42");
    ops_hash_ = Sha256OfFile(dir_.Sub("ops.token.bare"), dir_.Sub("hash"));
    ASSERT_EQ(ops_hash_.size(), 64u) << ops_hash_;
    policy_ = dir_.Sub("auth.textproto");
    WritePolicy(/*with_ops=*/true);
  }
  void TearDown() override {
    unsetenv("LINKCTL_TLS_CA");
    unsetenv("LINKCTL_TLS_CERT");
    unsetenv("LINKCTL_TLS_KEY");
  }

  void WritePolicy(bool with_ops) {
    std::string p =
        "principals { name: \"matcher\" cert_identity: \"matcher.linkd.test\" roles: MATCH }\n";
    if (with_ops) {
      p += "principals { name: \"ops\" token_sha256: \"" + ops_hash_ +
           "\" roles: ADMIN roles: WRITE roles: MATCH roles: READ }\n";
    }
    WriteFile(policy_, p);
  }

  bool StartLinkd(std::vector<std::string> extra) {
    std::vector<std::string> argv = {LINKD_BIN, "--db", dir_.Sub("db"), "--grace", "5"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    linkd_ = std::make_unique<Process>(argv, dir_.Sub("linkd.out"), dir_.Sub("linkd.log"));
    port_ = testing::WaitForPort(dir_.Sub("linkd.log"));
    server_ = "127.0.0.1:" + std::to_string(port_);
    return port_ > 0;
  }
  std::vector<std::string> Secure() {
    return {"--listen",    "127.0.0.1:0",
            "--tls-cert",  certs_->Crt("server"),
            "--tls-key",   certs_->Key("server"),
            "--client-ca", certs_->Crt("ca"),
            "--auth",      policy_};
  }
  int Linkctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {LINKCTL_BIN, "--server", server_};
    argv.insert(argv.end(), args.begin(), args.end());
    int code = testing::Run(argv, dir_.Sub("ctl.out"), dir_.Sub("ctl.err"));
    out_ = ReadFile(dir_.Sub("ctl.out"));
    err_ = ReadFile(dir_.Sub("ctl.err"));
    return code;
  }
  std::vector<std::string> WithToken(std::vector<std::string> args) {
    std::vector<std::string> all = {"--tls-ca", certs_->Crt("ca"), "--token-file", token_file_};
    all.insert(all.end(), args.begin(), args.end());
    return all;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::TestCerts> certs_;
  std::unique_ptr<Process> linkd_;
  std::string policy_, token_file_, ops_hash_, server_, out_, err_;
  int port_ = 0;
};

TEST_F(TlsE2ETest, LinkctlWorksThroughTlsWithATokenOrACertificate) {
  ASSERT_TRUE(StartLinkd(Secure())) << ReadFile(dir_.Sub("linkd.log"));
  EXPECT_NE(ReadFile(dir_.Sub("linkd.log")).find("\"security\":\"tls+policy\""), std::string::npos);
  const std::string reg = dir_.Sub("reg.csv"), list = dir_.Sub("list.csv");
  ASSERT_EQ(Linkctl({"gen", "--size", "300", "--register", reg, "--list", list, "--list-size", "50",
                     "--truth", dir_.Sub("truth.csv")}),
            0)
      << err_;
  ASSERT_EQ(Linkctl(WithToken({"import", "--dataset", "register", reg})), 0) << err_;
  ASSERT_EQ(Linkctl(WithToken({"verify", "--against", "register", "--input", list, "--output",
                               dir_.Sub("verified.csv")})),
            0)
      << err_;
  EXPECT_NE(out_.find("50 records"), std::string::npos) << out_;
  EXPECT_EQ(Linkctl(WithToken({"stats"})), 0) << err_;
  EXPECT_EQ(Linkctl(WithToken({"model", "show"})), 0) << err_;

  // Health needs no credentials; everything else does.
  EXPECT_EQ(Linkctl({"--tls-ca", certs_->Crt("ca"), "health"}), 0) << err_;
  EXPECT_EQ(Linkctl({"--tls-ca", certs_->Crt("ca"), "stats"}), 1);
  EXPECT_NE(err_.find("UNAUTHENTICATED"), std::string::npos) << err_;
  // A token is never sent in clear.
  EXPECT_EQ(Linkctl({"--token-file", token_file_, "stats"}), 2);
  EXPECT_NE(err_.find("needs TLS"), std::string::npos) << err_;
  // Plaintext to a TLS port fails.
  EXPECT_EQ(Linkctl({"--timeout", "3", "stats"}), 1);

  // A client certificate from the environment: MATCH, not ADMIN.
  setenv("LINKCTL_TLS_CA", certs_->Crt("ca").c_str(), 1);
  setenv("LINKCTL_TLS_CERT", certs_->Crt("matcher").c_str(), 1);
  setenv("LINKCTL_TLS_KEY", certs_->Key("matcher").c_str(), 1);
  EXPECT_EQ(Linkctl({"match", "--dataset", "register", "--name", "NGUYEN VAN A"}), 0) << err_;
  EXPECT_EQ(Linkctl({"stats"}), 1);
  EXPECT_NE(err_.find("PERMISSION_DENIED"), std::string::npos) << err_;
  EXPECT_NE(err_.find("role ADMIN"), std::string::npos) << err_;
  unsetenv("LINKCTL_TLS_CERT");
  unsetenv("LINKCTL_TLS_KEY");

  // SIGHUP: the operator's token is revoked for the calls that follow.
  WritePolicy(/*with_ops=*/false);
  linkd_->Signal(SIGHUP);
  for (int i = 0; i < 100; ++i) {
    if (ReadFile(dir_.Sub("linkd.log")).find("auth_reloaded") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(ReadFile(dir_.Sub("linkd.log")).find("auth_reloaded"), std::string::npos);
  EXPECT_EQ(Linkctl(WithToken({"stats"})), 1);
  EXPECT_NE(err_.find("UNAUTHENTICATED"), std::string::npos) << err_;

  linkd_->Signal(SIGTERM);
  EXPECT_EQ(linkd_->Wait(), 0);
}

TEST_F(TlsE2ETest, OffLoopbackWithoutTlsNeedsInsecureAndSaysSo) {
  const int code = testing::Run({LINKD_BIN, "--db", dir_.Sub("db"), "--listen", "0.0.0.0:0"},
                                dir_.Sub("refused.out"), dir_.Sub("refused.log"));
  EXPECT_EQ(code, 2);
  EXPECT_NE(ReadFile(dir_.Sub("refused.log")).find("--insecure"), std::string::npos);
  ASSERT_TRUE(StartLinkd({"--listen", "0.0.0.0:0", "--insecure"}))
      << ReadFile(dir_.Sub("linkd.log"));
  EXPECT_NE(ReadFile(dir_.Sub("linkd.log")).find("\"security\":\"insecure\""), std::string::npos);
  linkd_->Signal(SIGTERM);
  EXPECT_EQ(linkd_->Wait(), 0);
}

}  // namespace
}  // namespace linkage
