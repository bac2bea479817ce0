// Transport security and the access policy over real TLS channels on
// loopback, with certificates made at test time by openssl (tls_certs.h):
// each role against each RPC, missing and foreign credentials, tokens,
// reload, the per-principal limits, Verify redaction and the date-of-birth
// guessing attack it stops, and guarded model installs.
#include "../src/service/auth.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "../src/service/convert.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/text_format.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "linkage/server.h"
#include "linkage/v1/service.grpc.pb.h"
#include "test_util.h"
#include "tls_certs.h"

namespace linkage {
namespace {

using testing::Person;
using testing::TestCerts;

constexpr char kAdminToken[] = "admin-token-0123456789";
constexpr char kAuditToken[] = "audit-token-0123456789";
constexpr char kLimitedToken[] = "limited-token-0123456789";

std::string Policy(bool with_matcher = true) {
  std::string p = R"pb(
    principals { name: "verifier" cert_identity: "verifier.linkd.test" roles: VERIFY }
    principals { name: "verifier2" cert_identity: "verifier2.linkd.test" roles: VERIFY }
    principals { name: "reader" cert_identity: "reader.linkd.test" roles: READ }
    principals { name: "writer" cert_identity: "writer.linkd.test" roles: WRITE }
    principals { name: "cn-only" cert_identity: "cn-only.linkd.test" roles: READ }
  )pb";
  if (with_matcher) {
    p += R"pb(principals {
                name: "matcher"
                cert_identity: "matcher.linkd.test"
                roles: MATCH
                roles: VERIFY
                limits { max_candidates_per_query: 1 }
              })pb";
  }
  p += "principals { name: \"ops\" token_sha256: \"" + service::Sha256Hex(kAdminToken) +
       "\" roles: ADMIN }\n";
  p += "principals { name: \"auditor\" token_sha256: \"" + service::Sha256Hex(kAuditToken) +
       "\" roles: AUDIT }\n";
  p += "principals { name: \"limited\" token_sha256: \"" + service::Sha256Hex(kLimitedToken) +
       "\" roles: WRITE limits { requests_per_second: 2 records_per_second: 20 } }\n";
  return p;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

class AuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    certs_ = new TestCerts(dir_->path());
    ASSERT_TRUE(certs_->ok()) << "openssl could not make the test certificates";
    for (const char* who : {"verifier", "verifier2", "reader", "writer", "matcher", "stranger"})
      ASSERT_TRUE(certs_->MakeClient(who, std::string(who) + ".linkd.test"));
    ASSERT_TRUE(certs_->MakeClient("cn-only", "cn-only.linkd.test", /*cn_only=*/true));
    ASSERT_TRUE(certs_->MakeClient("foreign", "verifier.linkd.test", false, "other-ca"));
    ASSERT_TRUE(certs_->MakeClient("san", "reader.linkd.test", false, "ca", "someone-else"));
  }
  static void TearDownTestSuite() {
    delete certs_;
    delete dir_;
  }

  void SetUp() override {
    policy_ = dir_->Sub(std::string("policy-") +
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    WriteFile(policy_, Policy());
    db_ = std::make_unique<testing::TempDir>();
    v1::ServerConfig config;
    config.set_listen("127.0.0.1:0");
    config.set_db(db_->Sub("db"));
    config.set_shutdown_grace_seconds(1);
    config.set_tls_cert(certs_->Crt("server"));
    config.set_tls_key(certs_->Key("server"));
    config.set_client_ca(certs_->Crt("ca"));
    config.set_auth_file(policy_);
    auto server = service::Server::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  // A TLS channel presenting client certificate `cert` ("" for none) and
  // bearer token `token` ("" for none).
  std::shared_ptr<grpc::Channel> Channel(const std::string& cert, const std::string& token = "") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = certs_->Pem(certs_->Crt("ca"));
    if (!cert.empty()) {
      ssl.pem_cert_chain = certs_->Pem(certs_->Crt(cert));
      ssl.pem_private_key = certs_->Pem(certs_->Key(cert));
    }
    std::shared_ptr<grpc::ChannelCredentials> creds = grpc::SslCredentials(ssl);
    if (!token.empty())
      creds = grpc::CompositeChannelCredentials(creds, grpc::AccessTokenCredentials(token));
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), creds);
  }

  // Calls `method` with an empty request (every linkd RPC refuses it as
  // invalid once admitted).
  static grpc::Status CallRaw(const std::shared_ptr<grpc::Channel>& channel,
                              const std::string& method) {
    grpc::GenericStub stub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::ByteBuffer request, response;
    grpc::Slice empty("");
    request = grpc::ByteBuffer(&empty, 1);
    absl::Notification done;
    grpc::Status status;
    stub.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
      status = std::move(s);
      done.Notify();
    });
    done.WaitForNotification();
    return status;
  }

  void LoadRegister() {
    auto stub = v1::LinkageService::NewStub(Channel("writer"));
    v1::UpsertRecordsRequest req;
    req.set_dataset("register");
    *req.add_records() = Person("R1", "Nguyễn Thị Hòa", "12/05/1948", "006148003121",
                                "Phường Đức Xuân, Thái Nguyên", v1::SEX_FEMALE);
    *req.add_records() = Person("R2", "Triệu Văn Sơn", "02/02/1930", "006030000517",
                                "Xã Bằng Thành, Thái Nguyên", v1::SEX_MALE);
    *req.add_records() = Person("R3", "Nguyễn Thị Hoa", "12/05/1948", "006148003999",
                                "Phường Đức Xuân, Thái Nguyên", v1::SEX_FEMALE);
    // Others, so the prior (1 / people in the register) is not that of a
    // register of three.
    const char* given[] = {"An",  "Bình", "Cường", "Dũng", "Hải",
                           "Lan", "Mai",  "Nam",   "Phúc", "Yến"};
    const char* family[] = {"Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương"};
    for (int i = 0; i < 400; ++i) {
      const std::string dob = std::to_string(1 + i % 28) + "/" + std::to_string(1 + i % 12) + "/" +
                              std::to_string(1930 + i % 60);
      *req.add_records() = Person("F" + std::to_string(i),
                                  std::string(family[i % 10]) + " Văn " + given[(i / 10) % 10], dob,
                                  "", "Xã Ba Bể, Thái Nguyên", v1::SEX_MALE);
    }
    v1::UpsertRecordsResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = stub->UpsertRecords(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }

  grpc::Status Verify(const std::string& cert, const std::string& dob, v1::Sex sex,
                      v1::VerifyResponse* resp) {
    auto stub = v1::LinkageService::NewStub(Channel(cert));
    v1::VerifyRequest req;
    req.set_dataset("register");
    *req.mutable_claim() =
        Person("claim", "Nguyễn Thị Hòa", dob, "006148003121", "Phường Đức Xuân, Thái Nguyên", sex);
    grpc::ClientContext ctx;
    return stub->Verify(&ctx, req, resp);
  }

  static testing::TempDir* dir_;
  static TestCerts* certs_;
  std::unique_ptr<testing::TempDir> db_;
  std::string policy_;
  std::unique_ptr<service::Server> server_;
};

testing::TempDir* AuthTest::dir_ = nullptr;
TestCerts* AuthTest::certs_ = nullptr;

bool Denied(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
         s.error_code() == grpc::StatusCode::UNAUTHENTICATED;
}

TEST_F(AuthTest, EachRoleReachesItsRpcsAndNoOthers) {
  const std::map<std::string, std::string> role_of = {
      {"/linkage.v1.LinkageService/Verify", "VERIFY"},
      {"/linkage.v1.LinkageService/Match", "MATCH"},
      {"/linkage.v1.LinkageService/MatchStream", "MATCH"},
      {"/linkage.v1.LinkageService/MatchBatchStream", "MATCH"},
      {"/linkage.v1.LinkageService/GetRecord", "READ"},
      {"/linkage.v1.LinkageService/UpsertRecords", "WRITE"},
      {"/linkage.v1.LinkageService/DeleteRecord", "WRITE"},
      {"/linkage.v1.AdminService/GetStats", "ADMIN"},
      {"/linkage.v1.AdminService/GetModel", "ADMIN"},
      {"/linkage.v1.AdminService/SetModel", "ADMIN"},
      {"/linkage.v1.AdminService/TrainModel", "ADMIN"},
      {"/linkage.v1.AdminService/FindDuplicates", "ADMIN"},
      {"/linkage.v1.AuditService/ListAudit", "AUDIT"},  // PART B's service, by prefix.
  };
  struct Caller {
    std::string cert, token;
    std::set<std::string> roles;
  };
  const std::map<std::string, Caller> callers = {
      {"verifier", {"verifier", "", {"VERIFY"}}}, {"matcher", {"matcher", "", {"MATCH", "VERIFY"}}},
      {"reader", {"reader", "", {"READ"}}},       {"writer", {"writer", "", {"WRITE"}}},
      {"ops", {"", kAdminToken, {"ADMIN"}}},      {"auditor", {"", kAuditToken, {"AUDIT"}}},
  };
  for (const auto& [name, caller] : callers) {
    auto channel = Channel(caller.cert, caller.token);
    for (const auto& [method, role] : role_of) {
      SCOPED_TRACE(name + " " + method);
      const grpc::Status st = CallRaw(channel, method);
      if (caller.roles.count(role) > 0) {
        EXPECT_FALSE(Denied(st)) << st.error_message();
      } else {
        EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
        const std::string short_name = method.substr(method.rfind('/') + 1);
        EXPECT_NE(st.error_message().find(short_name), std::string::npos) << st.error_message();
        EXPECT_NE(st.error_message().find("role " + role), std::string::npos) << st.error_message();
      }
    }
  }
}

TEST_F(AuthTest, TheDnsNameIsTheIdentityElseTheCn) {
  grpc::Status st = CallRaw(Channel("cn-only"), "/linkage.v1.LinkageService/GetRecord");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  // CN "someone-else", DNS SAN "reader.linkd.test": the SAN decides.
  st = CallRaw(Channel("san"), "/linkage.v1.LinkageService/GetRecord");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
}

TEST_F(AuthTest, NoCredentialsIsUnauthenticatedButHealthAnswers) {
  auto channel = Channel("");
  const grpc::Status st = CallRaw(channel, "/linkage.v1.LinkageService/Verify");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  EXPECT_NE(st.error_message().find("needs credentials"), std::string::npos);

  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(AuthTest, UnknownCertificateOrTokenIsUnauthenticated) {
  grpc::Status st = CallRaw(Channel("stranger"), "/linkage.v1.LinkageService/Verify");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  st = CallRaw(Channel("", "not-a-token"), "/linkage.v1.AdminService/GetStats");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
}

TEST_F(AuthTest, CertificateFromAnotherCaCannotConnect) {
  // Same identity as "verifier", but signed by a CA linkd does not trust:
  // the handshake fails.
  const grpc::Status st = CallRaw(Channel("foreign"), "/linkage.v1.LinkageService/Verify");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
}

TEST_F(AuthTest, TokenOverTlsWorksAndIsRefusedOverPlaintext) {
  auto admin = v1::AdminService::NewStub(Channel("", kAdminToken));
  v1::GetStatsResponse stats;
  grpc::ClientContext ctx;
  grpc::Status st = admin->GetStats(&ctx, v1::GetStatsRequest(), &stats);
  EXPECT_TRUE(st.ok()) << st.error_message();

  // gRPC will not send call credentials over a plaintext channel...
  auto plain = grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(server_->port()),
      grpc::CompositeChannelCredentials(grpc::InsecureChannelCredentials(),
                                        grpc::AccessTokenCredentials(kAdminToken)));
  EXPECT_FALSE(CallRaw(plain, "/linkage.v1.AdminService/GetStats").ok());
  // ... linkd refuses a policy without TLS ...
  v1::ServerConfig config = service::WithDefaults(server_->config());
  config.clear_tls_cert();
  config.clear_tls_key();
  config.clear_client_ca();
  absl::Status refused = service::ValidateConfig(config);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("auth_file needs TLS"), std::string::npos) << refused;
  // ... and the policy refuses a token that came over plaintext anyway.
  auto loaded = service::Authorizer::Open(policy_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(
      (*loaded)->Admit("/linkage.v1.AdminService/GetStats", kAdminToken, "", false).status().code(),
      absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(*(*loaded)->Admit("/linkage.v1.AdminService/GetStats", kAdminToken, "", true), "ops");
}

TEST_F(AuthTest, RevokedPrincipalIsRefusedAfterReload) {
  auto channel = Channel("matcher");  // One connection, before and after.
  EXPECT_FALSE(Denied(CallRaw(channel, "/linkage.v1.LinkageService/Match")));
  WriteFile(policy_, Policy(/*with_matcher=*/false));
  absl::StatusOr<int> reloaded = server_->ReloadAuth();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(CallRaw(channel, "/linkage.v1.LinkageService/Match").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(CallRaw(Channel("matcher"), "/linkage.v1.LinkageService/Match").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // A broken policy file keeps the one in force.
  WriteFile(policy_, "principals { name: \"x\" roles: ADMIN }");
  EXPECT_FALSE(server_->ReloadAuth().ok());
  EXPECT_FALSE(Denied(CallRaw(Channel("reader"), "/linkage.v1.LinkageService/GetRecord")));
}

TEST_F(AuthTest, RequestsAndRecordsPerSecondAreLimited) {
  auto stub = v1::LinkageService::NewStub(Channel("", kLimitedToken));
  int exhausted = 0;
  for (int i = 0; i < 6; ++i) {
    v1::DeleteRecordRequest req;
    req.set_dataset("register");
    req.set_record_id("none");
    v1::DeleteRecordResponse resp;
    grpc::ClientContext ctx;
    const grpc::Status st = stub->DeleteRecord(&ctx, req, &resp);
    if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++exhausted;
      EXPECT_NE(st.error_message().find("requests_per_second"), std::string::npos);
    }
  }
  EXPECT_GE(exhausted, 3);  // A burst of 2, refilled at 2/s.

  service::Authorizer auth(*service::LoadAuthPolicy(policy_));
  EXPECT_TRUE(auth.ChargeRecords("limited", 50).ok());  // Admitted into debt...
  absl::Status st = auth.ChargeRecords("limited", 1);   // ... which is repaid first.
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("records_per_second"), std::string::npos);
  EXPECT_TRUE(auth.ChargeRecords("verifier", 100000).ok());  // No limit set.
}

TEST_F(AuthTest, MatchAnswersAreCutToTheCallersCap) {
  LoadRegister();
  auto stub = v1::LinkageService::NewStub(Channel("matcher"));
  v1::MatchRequest req;
  req.set_dataset("register");
  req.set_top_k(5);
  *req.mutable_record() = Person("q", "Nguyễn Thị Hòa", "12/05/1948", "",
                                 "Phường Đức Xuân, Thái Nguyên", v1::SEX_FEMALE);
  v1::MatchResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub->Match(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.result().candidates_size(), 1);
}

// The attack of issue 14: a caller who knows a CCCD (and, worse, the
// holder's name and address) varies the claimed date of birth and reads the
// answers. Before, the per-field date level said how close each guess was
// and the date fell out in 58 calls.
TEST_F(AuthTest, DateOfBirthGuessingLearnsNothingWithinTheLimits) {
  LoadRegister();
  std::vector<std::string> guesses;
  for (int year = 1940; year <= 1955 && guesses.size() < 58; ++year) {
    for (const char* day_month : {"01/01/", "12/05/", "05/12/", "13/05/"})
      guesses.push_back(day_month + std::to_string(year));
  }
  int answered = 0, refused = 0;
  std::set<std::string> answers;
  for (const std::string& dob : guesses) {
    if (dob == "12/05/1948") continue;  // The attacker does not know it.
    v1::VerifyResponse resp;
    const grpc::Status st = Verify("verifier", dob, v1::SEX_FEMALE, &resp);
    if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused;
      EXPECT_NE(st.error_message().find("verify_attempts_per_id"), std::string::npos);
      continue;
    }
    ASSERT_TRUE(st.ok()) << st.error_message();
    ++answered;
    const v1::Verification& v = resp.verification();
    // Nothing about the register person or which field disagreed.
    EXPECT_TRUE(v.record_id().empty());
    EXPECT_TRUE(v.id_holder().empty());
    EXPECT_EQ(v.contributions_size(), 0);
    for (const std::string& r : v.reasons()) {
      EXPECT_TRUE(r == "CLAIM_MATCHES" || r == "CLAIM_UNCERTAIN" || r == "CLAIM_DIFFERS" ||
                  r == "NOT_IN_REGISTER" || r == "ID_NOT_IN_REGISTER" || r == "ID_INCONSISTENT")
          << r;
    }
    for (const std::string& f : v.flags()) {
      EXPECT_TRUE(f == "ID_NOT_IN_REGISTER" || f == "ID_INCONSISTENT" || f.rfind("DATE_", 0) == 0)
          << f;
    }
    answers.insert(v1::VerifyDecision_Name(v.decision()) + " " + absl::StrJoin(v.reasons(), ",") +
                   " " + std::to_string(v.probability()));
  }
  EXPECT_EQ(answered, 5);  // verify_attempts_per_id's default.
  // Each answer says at most whether the whole claim fits (VERIFIED when the
  // guess is within what a typo explains, else REVIEW): one bit an attempt,
  // five a day, against the ~15 bits of a date of birth; never the field
  // level the 58-call walk read.
  EXPECT_LE(answers.size(), 2u) << absl::StrJoin(answers, "; ");
  EXPECT_EQ(refused, static_cast<int>(guesses.size()) - 1 - 5);

  // A wrong date and a wrong sex read the same: the answer does not say
  // which field disagreed. (A second principal: the first has used its
  // attempts with this ID.)
  v1::VerifyResponse wrong_date, wrong_sex, right;
  ASSERT_TRUE(Verify("verifier2", "03/09/1951", v1::SEX_FEMALE, &wrong_date).ok());
  ASSERT_TRUE(Verify("verifier2", "12/05/1948", v1::SEX_MALE, &wrong_sex).ok());
  EXPECT_EQ(absl::StrJoin(wrong_date.verification().reasons(), ","),
            absl::StrJoin(wrong_sex.verification().reasons(), ","));
  EXPECT_EQ(absl::StrJoin(wrong_date.verification().flags(), ","),
            absl::StrJoin(wrong_sex.verification().flags(), ","));
  // The true claim is still verified: the limits do not break the service.
  ASSERT_TRUE(Verify("verifier2", "12/05/1948", v1::SEX_FEMALE, &right).ok());
  EXPECT_EQ(right.verification().decision(), v1::VERIFIED);
  EXPECT_EQ(absl::StrJoin(right.verification().reasons(), ","), "CLAIM_MATCHES");
}

// gRPC 1.51 gives all calls on a connection one AuthContext; linkd's
// principal on it must survive many calls processed at once (it aborted
// the server under 1,000 Verify calls a second before), and stay one entry.
TEST_F(AuthTest, ManyConcurrentCallsOnOneConnectionKeepOnePrincipal) {
  auto channel = Channel("reader");
  std::vector<std::thread> threads;
  std::atomic<int> not_found{0}, other{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      auto stub = v1::LinkageService::NewStub(channel);
      for (int i = 0; i < 150; ++i) {
        v1::GetRecordRequest req;
        req.set_dataset("register");
        req.set_record_id("NOBODY");
        v1::GetRecordResponse resp;
        grpc::ClientContext ctx;
        const grpc::Status st = stub->GetRecord(&ctx, req, &resp);
        (st.error_code() == grpc::StatusCode::NOT_FOUND ? not_found : other)++;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(not_found.load(), 8 * 150);
  EXPECT_EQ(other.load(), 0);
}

TEST_F(AuthTest, VerifyWithMatchRoleGetsTheFullAnswer) {
  LoadRegister();
  v1::VerifyResponse resp;
  ASSERT_TRUE(Verify("matcher", "12/05/1948", v1::SEX_FEMALE, &resp).ok());
  EXPECT_EQ(resp.verification().record_id(), "R1");
  EXPECT_GT(resp.verification().contributions_size(), 0);
}

TEST_F(AuthTest, VerifyAttemptWindowSlidesAndIdsAreNormalized) {
  v1::AuthPolicy policy;
  v1::Principal* p = policy.add_principals();
  p->set_name("v");
  p->set_cert_identity("v.test");
  p->add_roles(v1::VERIFY);
  p->mutable_limits()->set_verify_attempts_per_id(2);
  p->mutable_limits()->set_verify_window_seconds(60);
  service::Authorizer auth(policy);
  static absl::Time now = absl::FromUnixSeconds(1000000);
  auth.SetClockForTest([] { return now; });
  EXPECT_TRUE(auth.ChargeVerifyAttempt("v", "006148003121").ok());
  EXPECT_TRUE(auth.ChargeVerifyAttempt("v", "006 148 003 121").ok());
  EXPECT_EQ(auth.ChargeVerifyAttempt("v", "006148003121").code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(auth.ChargeVerifyAttempt("v", "006148003122").ok());  // Another ID.
  now += absl::Seconds(61);
  EXPECT_TRUE(auth.ChargeVerifyAttempt("v", "006148003121").ok());
}

TEST_F(AuthTest, AModelWhoseCalibrationMakesEveryoneAMatchIsRefused) {
  auto admin = v1::AdminService::NewStub(Channel("", kAdminToken));
  v1::GetModelResponse current;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin->GetModel(&ctx, v1::GetModelRequest(), &current).ok());
  }
  v1::SetModelRequest req;
  *req.mutable_model() = current.model();
  req.mutable_model()->set_version("everyone-matches");
  req.mutable_model()->set_calibrated(true);
  v1::Calibration* c = req.mutable_model()->mutable_calibration();
  c->clear_raw();
  c->clear_calibrated();
  for (double raw : {0.0, 0.5, 1.0}) {
    c->add_raw(raw);
    c->add_calibrated(1.0);
  }
  v1::SetModelResponse resp;
  grpc::ClientContext ctx;
  grpc::Status st = admin->SetModel(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("calibration.calibrated[0]"), std::string::npos)
      << st.error_message();

  c->set_calibrated(0, 0.2);
  c->set_calibrated(1, 0.1);  // Not monotone.
  grpc::ClientContext ctx2;
  st = admin->SetModel(&ctx2, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("calibration.calibrated[1]"), std::string::npos)
      << st.error_message();

  c->set_calibrated(1, 1.5);  // Out of [0, 1].
  grpc::ClientContext ctx3;
  st = admin->SetModel(&ctx3, req, &resp);
  EXPECT_NE(st.error_message().find("must be in [0, 1]"), std::string::npos) << st.error_message();
}

// The server certificate is replaced on disk, by one from another CA;
// linkd serves it without a restart.
TEST(CertificateRotationTest, ANewServerCertificateIsServedWithoutARestart) {
  testing::TempDir dir;
  TestCerts certs(dir.path());
  ASSERT_TRUE(certs.ok());
  ASSERT_TRUE(certs.MakeServer("server2", "other-ca"));
  const std::string live_crt = dir.Sub("live.crt"), live_key = dir.Sub("live.key");
  WriteFile(live_crt, certs.Pem(certs.Crt("server")));
  WriteFile(live_key, certs.Pem(certs.Key("server")));
  v1::ServerConfig config;
  config.set_listen("127.0.0.1:0");
  config.set_db(dir.Sub("db"));
  config.set_shutdown_grace_seconds(1);
  config.set_tls_cert(live_crt);
  config.set_tls_key(live_key);
  config.set_tls_refresh_seconds(1);
  auto server = service::Server::Start(config);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->security(), "tls");
  auto healthy = [&](const std::string& ca) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = certs.Pem(certs.Crt(ca));
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()),
                                       grpc::SslCredentials(ssl));
    auto health = grpc::health::v1::Health::NewStub(channel);
    grpc::health::v1::HealthCheckResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    return health->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &resp).ok();
  };
  EXPECT_TRUE(healthy("ca"));
  EXPECT_FALSE(healthy("other-ca"));
  // Replace each file whole (rename), as a deployment would.
  WriteFile(live_key + ".new", certs.Pem(certs.Key("server2")));
  WriteFile(live_crt + ".new", certs.Pem(certs.Crt("server2")));
  ASSERT_EQ(std::rename((live_key + ".new").c_str(), live_key.c_str()), 0);
  ASSERT_EQ(std::rename((live_crt + ".new").c_str(), live_crt.c_str()), 0);
  bool rotated = false;
  for (int i = 0; i < 40 && !rotated; ++i) {
    rotated = healthy("other-ca");
    if (!rotated) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_TRUE(rotated);
  EXPECT_FALSE(healthy("ca"));
  (*server)->Shutdown();
}

TEST(VerifyRedactionTest, KeepsTheVerdictAndDropsWhatNamesAFieldOrAPerson) {
  v1::Verification v;
  v.set_decision(v1::REVIEW);
  v.set_probability(0.8765);
  v.set_record_id("R1");
  v.set_id_holder("R2");
  v.set_model_version("m-1");
  v.add_reasons("date of birth differs");
  for (const char* f : {"NAME_DIFFERS", "ID_CONFLICT", "AMBIGUOUS", "ID_TYPO", "ID_INCONSISTENT",
                        "DATE_PLACEHOLDER"})
    v.add_flags(f);
  v1::FieldContribution* c = v.add_contributions();
  c->set_field("birth_date");
  c->set_level("year_only");
  service::RedactForVerifyOnly(&v);
  EXPECT_EQ(v.decision(), v1::REVIEW);
  EXPECT_DOUBLE_EQ(v.probability(), 0.8);
  EXPECT_EQ(v.model_version(), "m-1");
  EXPECT_TRUE(v.record_id().empty());
  EXPECT_TRUE(v.id_holder().empty());
  EXPECT_EQ(v.contributions_size(), 0);
  EXPECT_EQ(absl::StrJoin(v.reasons(), ","), "CLAIM_UNCERTAIN,ID_INCONSISTENT");
  EXPECT_EQ(absl::StrJoin(v.flags(), ","), "ID_INCONSISTENT,DATE_PLACEHOLDER");
}

TEST(ListenerRulesTest, OffLoopbackNeedsTlsAndAPolicyOrInsecure) {
  v1::ServerConfig c = service::WithDefaults(v1::ServerConfig());
  c.set_listen("0.0.0.0:50051");
  absl::Status st = service::ValidateConfig(c);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("--insecure"), std::string::npos) << st;
  c.set_insecure(true);
  EXPECT_TRUE(service::ValidateConfig(c).ok());
  c.set_insecure(false);
  c.set_tls_cert("cert.pem");
  EXPECT_NE(service::ValidateConfig(c).message().find("tls_key"), std::string::npos);
  c.set_tls_key("key.pem");
  EXPECT_FALSE(service::ValidateConfig(c).ok());  // TLS, but open to anyone.
  c.set_auth_file("policy");
  EXPECT_TRUE(service::ValidateConfig(c).ok());
  for (const char* loopback : {"127.0.0.1:1", "localhost:1", "[::1]:1", "unix:/tmp/linkd"}) {
    c = service::WithDefaults(v1::ServerConfig());
    c.set_listen(loopback);
    EXPECT_TRUE(service::ValidateConfig(c).ok()) << loopback;
  }
}

TEST(AuthPolicyTest, TheShippedExampleIsValid) {
  auto policy = service::LoadAuthPolicy(std::string(LINKD_SOURCE_DIR) + "/deploy/auth.textproto");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->principals(0).name(), "payments");
  EXPECT_EQ(policy->principals(0).cert_identity(), "payments.linkd.internal");
}

TEST(AuthPolicyTest, InvalidPoliciesNameTheField) {
  auto check = [](const std::string& text) {
    v1::AuthPolicy p;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &p));
    return std::string(service::ValidateAuthPolicy(p).message());
  };
  EXPECT_NE(check(R"pb(principals { name: "a" roles: VERIFY })pb").find("exactly one"),
            std::string::npos);
  EXPECT_NE(check(R"pb(principals { name: "a" token_sha256: "abc" roles: VERIFY })pb")
                .find("64 lowercase hex"),
            std::string::npos);
  EXPECT_NE(check(R"pb(principals { name: "a" cert_identity: "x" })pb").find("roles"),
            std::string::npos);
  EXPECT_NE(check(R"pb(principals { name: "a" cert_identity: "x" roles: READ }
                       principals { name: "a" cert_identity: "y" roles: READ })pb")
                .find("twice"),
            std::string::npos);
  EXPECT_NE(check(R"pb(principals {
                         name: "a"
                         cert_identity: "x"
                         roles: READ
                         limits { requests_per_second: -1 }
                       })pb")
                .find("requests_per_second"),
            std::string::npos);
  EXPECT_EQ(service::AccessFor("/linkage.v1.AuditService/Anything").role, v1::AUDIT);
  EXPECT_TRUE(service::AccessFor("/grpc.health.v1.Health/Check").open);
  EXPECT_FALSE(service::AccessFor("/linkage.v1.LinkageService/NewThing").known);
  EXPECT_EQ(service::AccessFor("/linkage.v1.ReviewService/DecideReview").role, v1::REVIEWER);
  EXPECT_EQ(service::AccessFor("/linkage.v1.ReviewService/ListReview").role, v1::REVIEWER);
  // The labels calibrate --from-review reads carry no person: ADMIN.
  EXPECT_EQ(service::AccessFor("/linkage.v1.AdminService/GetReviewLabels").role, v1::ADMIN);
}

// Operators write the review role as REVIEW (the issue's and DESIGN's
// word); the enum is REVIEWER because VerifyDecision holds REVIEW. Only the
// bare word is read as the role: a quoted name or a comment is left alone.
TEST(AuthPolicyTest, TheReviewRoleIsSpelledReview) {
  testing::TempDir dir;
  const std::string path = dir.Sub("auth.textproto");
  WriteFile(path,
            "# REVIEW officers\n"
            "principals { name: \"REVIEW\" token_sha256: \"" +
                std::string(64, 'a') +
                "\" roles: REVIEW }\n"
                "principals {\tname: \"both\"\ttoken_sha256: \"" +
                std::string(64, 'b') +
                "\"\troles: [MATCH,\tREVIEW] }\n"
                "principals { name: \"new\" token_sha256: \"" +
                std::string(64, 'c') + "\" roles: REVIEWER }\n");
  absl::StatusOr<v1::AuthPolicy> policy = service::LoadAuthPolicy(path);
  ASSERT_TRUE(policy.ok()) << policy.status();
  ASSERT_EQ(policy->principals_size(), 3);
  EXPECT_EQ(policy->principals(0).name(), "REVIEW");
  ASSERT_EQ(policy->principals(0).roles_size(), 1);
  EXPECT_EQ(policy->principals(0).roles(0), v1::REVIEWER);
  ASSERT_EQ(policy->principals(1).roles_size(), 2);
  EXPECT_EQ(policy->principals(1).roles(1), v1::REVIEWER);
  EXPECT_EQ(policy->principals(2).roles(0), v1::REVIEWER);
  // A word that is not a role stays an error naming it.
  WriteFile(path, "principals { name: \"x\" token_sha256: \"" + std::string(64, 'a') +
                      "\" roles: REVIEWS }\n");
  EXPECT_FALSE(service::LoadAuthPolicy(path).ok());
}

}  // namespace
}  // namespace linkage
