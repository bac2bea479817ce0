// LinkageService and AdminService over a real gRPC channel on loopback,
// against a real RocksDB in a temporary directory.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "linkage/server.h"
#include "linkage/v1/service.grpc.pb.h"
#include "test_util.h"

namespace linkage {
namespace {

using testing::Person;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  void StartServer(int max_batch = 100, int max_message_mib = 1) {
    v1::ServerConfig config;
    config.set_listen("127.0.0.1:0");
    config.set_db(dir_.Sub("db"));
    config.set_max_batch_records(max_batch);
    config.set_max_message_mib(max_message_mib);
    config.set_shutdown_grace_seconds(2);
    auto server = service::Server::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    linkage_ = v1::LinkageService::NewStub(channel_);
    admin_ = v1::AdminService::NewStub(channel_);
  }

  grpc::Status Upsert(std::vector<v1::PersonRecord> records,
                      v1::UpsertRecordsResponse* response = nullptr, bool partial = false,
                      const std::string& dataset = "register") {
    v1::UpsertRecordsRequest req;
    req.set_dataset(dataset);
    req.set_allow_partial(partial);
    req.set_strict_dates(true);  // The error cases below use a date only strictness refuses.
    for (auto& r : records) *req.add_records() = std::move(r);
    v1::UpsertRecordsResponse local;
    grpc::ClientContext ctx;
    return linkage_->UpsertRecords(&ctx, req, response ? response : &local);
  }

  void LoadRegister() {
    ASSERT_TRUE(Upsert({Person("R1", "Nguyễn Thị Hòa", "12/05/1948", "006148003121",
                               "Phường Đức Xuân, Thái Nguyên", v1::SEX_FEMALE),
                        Person("R2", "Triệu Văn Sơn", "02/02/1930", "006030000517",
                               "Xã Bằng Thành, Thái Nguyên", v1::SEX_MALE),
                        Person("R3", "Triệu Thị Hà", "11/09/1958", "006158002266",
                               "Xã Bằng Thành, Thái Nguyên", v1::SEX_FEMALE),
                        Person("R4", "Lý Kim Đài", "03/07/1952", "006152004410",
                               "Xã Ba Bể, Thái Nguyên", v1::SEX_FEMALE),
                        Person("R5", "Nông Văn Toại", "15/08/1945", "006045001982",
                               "Xã Ba Bể, Thái Nguyên", v1::SEX_MALE),
                        Person("R6", "Nông Văn Thái", "15/08/1945", "006045001983",
                               "Xã Ba Bể, Thái Nguyên", v1::SEX_MALE)})
                    .ok());
  }

  v1::MatchResponse Match(const v1::PersonRecord& r, grpc::Status* status) {
    v1::MatchRequest req;
    req.set_dataset("register");
    *req.mutable_record() = r;
    v1::MatchResponse resp;
    grpc::ClientContext ctx;
    *status = linkage_->Match(&ctx, req, &resp);
    return resp;
  }

  v1::Verification Verify(const v1::PersonRecord& claim, grpc::Status* status) {
    v1::VerifyRequest req;
    req.set_dataset("register");
    *req.mutable_claim() = claim;
    v1::VerifyResponse resp;
    grpc::ClientContext ctx;
    *status = linkage_->Verify(&ctx, req, &resp);
    return resp.verification();
  }

  testing::TempDir dir_;
  std::unique_ptr<service::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::LinkageService::Stub> linkage_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

TEST_F(ServiceTest, HealthIsServing) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  for (const char* service : {"", "linkage.v1.LinkageService", "linkage.v1.AdminService"}) {
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(health->Check(&ctx, req, &resp).ok()) << service;
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
}

TEST_F(ServiceTest, ReflectionListsTheServices) {
  // grpc.reflection.v1alpha.ServerReflectionInfo, spoken in raw bytes: a
  // request with list_services (field 7) = "".
  grpc::GenericStub stub(channel_);
  grpc::ClientContext ctx;
  grpc::CompletionQueue cq;
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  std::string request("\x3a\x00", 2);
  grpc::Slice slice(request);
  grpc::ByteBuffer buffer(&slice, 1);
  call->Write(buffer, reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  call->WritesDone(reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::ByteBuffer reply;
  call->Read(&reply, reinterpret_cast<void*>(4));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(reply.Dump(&slices).ok());
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_NE(bytes.find("linkage.v1.LinkageService"), std::string::npos);
  EXPECT_NE(bytes.find("linkage.v1.AdminService"), std::string::npos);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(ServiceTest, UpsertGetDelete) {
  v1::UpsertRecordsResponse resp;
  ASSERT_TRUE(Upsert({Person("R1", "Nguyễn Thị Hòa", "12/05/1948")}, &resp).ok());
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_EQ(resp.results(0).outcome(), v1::CREATED);
  ASSERT_TRUE(Upsert({Person("R1", "Nguyễn Thị Hòa", "12/05/1948")}, &resp).ok());
  EXPECT_EQ(resp.results(0).outcome(), v1::UNCHANGED);

  v1::GetRecordRequest get;
  get.set_dataset("register");
  get.set_record_id("R1");
  get.set_include_normalized(true);
  v1::GetRecordResponse got;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(linkage_->GetRecord(&ctx, get, &got).ok());
  }
  EXPECT_EQ(got.record().full_name(), "Nguyễn Thị Hòa");
  EXPECT_EQ(got.normalized().birth_date().year(), 1948);
  EXPECT_GT(got.updated_unix_micros(), 0);

  v1::DeleteRecordRequest del;
  del.set_dataset("register");
  del.set_record_id("R1");
  v1::DeleteRecordResponse deleted;
  {
    grpc::ClientContext ctx;
    EXPECT_TRUE(linkage_->DeleteRecord(&ctx, del, &deleted).ok());
  }
  {
    grpc::ClientContext ctx;
    grpc::Status again = linkage_->DeleteRecord(&ctx, del, &deleted);
    EXPECT_EQ(again.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_NE(again.error_message().find("\"R1\""), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(linkage_->GetRecord(&ctx, get, &got).error_code(), grpc::StatusCode::NOT_FOUND);
  }
}

TEST_F(ServiceTest, InvalidRecordRejectsTheWholeBatch) {
  grpc::Status st = Upsert(
      {Person("B0041", "Nguyễn Văn A", "1950"), Person("B0042", "Trần Văn B", "31/13/1950")});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(),
            "record \"B0042\": birth_date \"31/13/1950\": month 13 is not 1..12");
  v1::GetRecordRequest get;
  get.set_dataset("register");
  get.set_record_id("B0041");
  v1::GetRecordResponse got;
  grpc::ClientContext ctx;
  EXPECT_EQ(linkage_->GetRecord(&ctx, get, &got).error_code(), grpc::StatusCode::NOT_FOUND);
}

// Issue 11: a record_id twice in one request, and a record whose dataset
// differs from the request's, were written without a word (last one wins;
// the record's dataset replaced). Both refuse the whole request now.
TEST_F(ServiceTest, DuplicateRecordIdOrForeignDatasetRefusesTheRequest) {
  for (bool partial : {false, true}) {
    grpc::Status st = Upsert({Person("D1", "Nguyễn Văn A", "1950"),
                              Person("D2", "Trần Văn B", "1951"), Person("D1", "Lê Văn C", "1952")},
                             nullptr, partial);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(st.error_message(),
              "record \"D1\": record_id appears twice in the request (records 0 and 2)");
  }
  v1::PersonRecord foreign = Person("D3", "Phạm Thị D", "1953");
  foreign.set_dataset("list");
  grpc::Status st = Upsert({Person("D2", "Trần Văn B", "1951"), foreign});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(),
            "record \"D3\": dataset \"list\" differs from the request's dataset \"register\"");
  v1::GetRecordRequest get;
  get.set_dataset("register");
  get.set_record_id("D2");
  v1::GetRecordResponse got;
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(linkage_->GetRecord(&ctx, get, &got).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  // The request's own dataset, written on the record, is fine.
  foreign.set_dataset("register");
  ASSERT_TRUE(Upsert({foreign}).ok());
}

TEST_F(ServiceTest, PartialBatchReportsEachBadRecord) {
  v1::UpsertRecordsResponse resp;
  ASSERT_TRUE(Upsert({Person("B1", "Nguyễn Văn A", "1950"), Person("B2", "  ", "1950"),
                      Person("B3", "Lê Văn C", "abc")},
                     &resp, /*partial=*/true)
                  .ok());
  ASSERT_EQ(resp.results_size(), 3);
  EXPECT_EQ(resp.results(0).outcome(), v1::CREATED);
  EXPECT_EQ(resp.results(1).outcome(), v1::REJECTED_INVALID);
  EXPECT_NE(resp.results(1).error().find("full_name"), std::string::npos);
  EXPECT_EQ(resp.results(2).outcome(), v1::REJECTED_INVALID);
  EXPECT_NE(resp.results(2).error().find("birth_date"), std::string::npos);
}

TEST_F(ServiceTest, ErrorsUseCanonicalCodes) {
  LoadRegister();
  grpc::Status st;
  v1::PersonRecord q = Person("", "Nguyễn Thị Hòa", "1948");
  // Unknown dataset.
  v1::MatchRequest req;
  req.set_dataset("nope");
  *req.mutable_record() = q;
  v1::MatchResponse resp;
  {
    grpc::ClientContext ctx;
    st = linkage_->Match(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  }
  // Bad dataset name, empty name, oversized field.
  req.set_dataset("Bad Name");
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(linkage_->Match(&ctx, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  Match(Person("Q1", "", "1948"), &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("full_name"), std::string::npos);
  Match(Person("Q1", std::string(1000, 'a'), "1948"), &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // Verify without an ID.
  Verify(Person("Q2", "Nguyễn Thị Hòa", "1948"), &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("national_id"), std::string::npos);
}

// A fixed limit is OUT_OF_RANGE (permanent: a retry fails the same way);
// RESOURCE_EXHAUSTED is kept for what passes, and for the transport's own
// message-size refusal, which says "larger than max".
TEST_F(ServiceTest, SizeLimitsAreOutOfRange) {
  std::vector<v1::PersonRecord> many;
  for (int i = 0; i < 101; ++i)
    many.push_back(Person("R" + std::to_string(i), "Nguyễn Văn A", "1950"));
  grpc::Status st = Upsert(many);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_NE(st.error_message().find("101"), std::string::npos);
  // A message over the 1 MiB limit.
  v1::PersonRecord big = Person("R1", "Nguyễn Văn A", "1950");
  (*big.mutable_attributes())["blob"] = std::string(2 << 20, 'x');
  st = Upsert({big});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(st.error_message().find("larger than max"), std::string::npos) << st.error_message();
}

TEST_F(ServiceTest, DeadlineExpiry) {
  LoadRegister();
  v1::MatchRequest req;
  req.set_dataset("register");
  *req.mutable_record() = Person("", "Nguyễn Thị Hòa", "1948");
  v1::MatchResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() - std::chrono::milliseconds(1));
  EXPECT_EQ(linkage_->Match(&ctx, req, &resp).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(ServiceTest, MatchAndVerify) {
  LoadRegister();
  grpc::Status st;
  v1::MatchResponse m =
      Match(Person("", "NGUYEN THI HOA", "12/5/1948", "", "P. Duc Xuan, TP Bac Kan"), &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_GT(m.result().candidates_size(), 0);
  EXPECT_EQ(m.result().candidates(0).record_id(), "R1");
  EXPECT_EQ(m.result().band(), v1::BAND_MATCH);
  EXPECT_GT(m.result().candidates(0).contributions_size(), 0);

  v1::Verification ok =
      Verify(Person("", "Nguyễn Thị Hòa", "12/05/1948", "006148003121", "", v1::SEX_FEMALE), &st);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(ok.decision(), v1::VERIFIED);
  EXPECT_EQ(ok.record_id(), "R1");
  for (const auto& fc : ok.contributions()) {
    EXPECT_TRUE(fc.candidate_value().empty());  // No personal data back.
  }

  // A relative's CCCD on the form.
  v1::Verification relative =
      Verify(Person("", "Triệu Thị Hà", "11/09/1958", "006030000517", "", v1::SEX_FEMALE), &st);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(relative.decision(), v1::REVIEW);
  EXPECT_EQ(relative.record_id(), "R3");
  EXPECT_EQ(relative.id_holder(), "R2");
  auto has = [](const v1::Verification& v, const std::string& f) {
    return std::find(v.flags().begin(), v.flags().end(), f) != v.flags().end();
  };
  EXPECT_TRUE(has(relative, "ID_CONFLICT"));
  EXPECT_TRUE(has(relative, "ID_INCONSISTENT"));  // 006030... says male, 1930.

  // The claimant's own CCCD with one digit wrong: a typo, verified.
  v1::Verification typo_id = Verify(
      Person("", "Nguyễn Thị Hòa", "12/05/1948", "006148003112", "Phường Đức Xuân", v1::SEX_FEMALE),
      &st);
  EXPECT_EQ(typo_id.decision(), v1::VERIFIED);
  EXPECT_EQ(typo_id.record_id(), "R1");
  EXPECT_TRUE(has(typo_id, "ID_TYPO"));

  v1::Verification stranger = Verify(Person("", "Phạm Văn Tư", "1940", "001040999999"), &st);
  EXPECT_EQ(stranger.decision(), v1::NOT_FOUND);
  EXPECT_TRUE(has(stranger, "ID_NOT_IN_REGISTER"));

  v1::Verification wrong = Verify(Person("", "Hoàng Văn Nam", "1980", "006148003121"), &st);
  EXPECT_EQ(wrong.decision(), v1::REJECTED);

  // The holder's own name written given-name first, middle name dropped,
  // without diacritics: not the same words in order, but the same words —
  // a clerk should look (REVIEW), not a rejection.
  v1::Verification reordered =
      Verify(Person("", "Hoa Nguyen", "12/05/1948", "006148003121", "", v1::SEX_FEMALE), &st);
  ASSERT_TRUE(st.ok());
  EXPECT_NE(reordered.decision(), v1::REJECTED);
  EXPECT_EQ(reordered.record_id(), "R1");

  // A twin claiming with the sibling's CCCD: never verified as the sibling.
  v1::Verification twin = Verify(
      Person("", "Nông Văn Thái", "15/08/1945", "006045001982", "Xã Ba Bể", v1::SEX_MALE), &st);
  EXPECT_EQ(twin.decision(), v1::REVIEW);
  EXPECT_EQ(twin.record_id(), "R6");
  EXPECT_EQ(twin.id_holder(), "R5");
  EXPECT_TRUE(has(twin, "ID_CONFLICT"));

  // The holder's own CCCD with a typo in the given name, nobody else of that
  // name: the ID and the other fields establish the person (issue 13).
  v1::Verification typo =
      Verify(Person("", "Nguyễn Thị Hòq", "12/05/1948", "006148003121", "", v1::SEX_FEMALE), &st);
  EXPECT_EQ(typo.decision(), v1::VERIFIED);
  EXPECT_EQ(typo.record_id(), "R1");
  EXPECT_TRUE(has(typo, "NAME_TYPO"));
}

TEST_F(ServiceTest, MatchStreamAnswersEveryRequest) {
  LoadRegister();
  grpc::ClientContext ctx;
  auto stream = linkage_->MatchStream(&ctx);
  const int n = 300;
  std::thread writer([&] {
    for (int i = 0; i < n; ++i) {
      v1::MatchStreamRequest req;
      req.set_request_id(std::to_string(i));
      req.set_dataset("register");
      req.set_verify_claimed_id(true);
      req.set_strict_dates(true);
      if (i % 3 == 0) {
        *req.mutable_record() = Person("", "Lý Kim §µi", "1952");
      } else if (i % 3 == 1) {
        *req.mutable_record() = Person("", "Nguyễn Thị Hòa", "12/05/1948", "006148003121");
      } else {
        *req.mutable_record() = Person("", "Lê Văn C", "31/13/1950");  // Invalid: an error item.
      }
      ASSERT_TRUE(stream->Write(req));
    }
    stream->WritesDone();
  });
  std::set<std::string> seen;
  int errors = 0, verified = 0;
  v1::MatchStreamResponse resp;
  while (stream->Read(&resp)) {
    EXPECT_TRUE(seen.insert(resp.request_id()).second);
    int i = std::stoi(resp.request_id());
    if (i % 3 == 2) {
      EXPECT_EQ(resp.error_code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
      EXPECT_NE(resp.error_message().find("birth_date"), std::string::npos);
      ++errors;
    } else {
      EXPECT_EQ(resp.error_code(), 0) << resp.error_message();
      ASSERT_GT(resp.result().candidates_size(), 0);
      EXPECT_EQ(resp.result().candidates(0).record_id(), i % 3 == 0 ? "R4" : "R1");
      if (i % 3 == 1) {
        EXPECT_EQ(resp.verification().decision(), v1::VERIFIED);
        ++verified;
      }
    }
  }
  writer.join();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(static_cast<int>(seen.size()), n);
  EXPECT_EQ(errors, n / 3);
  EXPECT_EQ(verified, n / 3);
}

TEST_F(ServiceTest, ConcurrentMatchCalls) {
  LoadRegister();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        grpc::Status st;
        v1::MatchResponse m = Match(Person("", "Triệu Thị Hà", "1958"), &st);
        if (!st.ok() || m.result().candidates_size() == 0 ||
            m.result().candidates(0).record_id() != "R3")
          ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(ServiceTest, AdminCalls) {
  LoadRegister();
  v1::GetStatsResponse stats;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin_->GetStats(&ctx, v1::GetStatsRequest(), &stats).ok());
  }
  ASSERT_EQ(stats.datasets_size(), 1);
  EXPECT_EQ(stats.datasets(0).name(), "register");
  EXPECT_EQ(stats.datasets(0).records(), 6);
  EXPECT_EQ(stats.model_version(), "vn-default-4");
  EXPECT_GT(stats.calls().at("UpsertRecords"), 0);
  v1::GetModelResponse model;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin_->GetModel(&ctx, v1::GetModelRequest(), &model).ok());
  }
  EXPECT_GT(model.model().spec().fields_size(), 0);
  v1::CheckIndexResponse check;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin_->CheckIndex(&ctx, v1::CheckIndexRequest(), &check).ok());
  }
  EXPECT_EQ(check.records(), 6);
  EXPECT_GT(check.block_entries(), 0);
  EXPECT_EQ(check.problem_count(), 0);
}

TEST_F(ServiceTest, SetModelSwapsAtomicallyAndPersists) {
  LoadRegister();
  v1::GetModelResponse current;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin_->GetModel(&ctx, v1::GetModelRequest(), &current).ok());
  }
  v1::SetModelRequest req;
  *req.mutable_model() = current.model();
  req.mutable_model()->set_version("test-2");
  req.mutable_model()->mutable_fields(0)->mutable_levels(0)->set_u(0.001);
  v1::SetModelResponse resp;
  {
    grpc::ClientContext ctx;
    grpc::Status st = admin_->SetModel(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  EXPECT_EQ(resp.previous_version(), "vn-default-4");
  grpc::Status st;
  v1::MatchResponse m = Match(Person("", "Nguyễn Thị Hòa", "12/05/1948"), &st);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(m.result().model_version(), "test-2");

  // Other blocking rules over existing data: refused.
  v1::SetModelRequest rules = req;
  rules.mutable_model()->mutable_spec()->mutable_blocking_rules()->RemoveLast();
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(admin_->SetModel(&ctx, rules, &resp).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
  }
  // An invalid model: refused, naming the field.
  v1::SetModelRequest bad = req;
  bad.mutable_model()->mutable_fields(1)->mutable_levels(0)->set_m(0);
  {
    grpc::ClientContext ctx;
    grpc::Status invalid = admin_->SetModel(&ctx, bad, &resp);
    EXPECT_EQ(invalid.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(invalid.error_message().find("birth_date"), std::string::npos)
        << invalid.error_message();
  }
  // Kept across a restart.
  server_->Shutdown();
  server_.reset();
  StartServer();
  v1::GetModelResponse after;
  grpc::ClientContext ctx;
  ASSERT_TRUE(admin_->GetModel(&ctx, v1::GetModelRequest(), &after).ok());
  EXPECT_EQ(after.model().version(), "test-2");
}

TEST_F(ServiceTest, TrainModelDryRunAndInstall) {
  std::vector<v1::PersonRecord> people;
  for (int i = 0; i < 300; ++i) {
    people.push_back(Person("P" + std::to_string(i), i % 2 ? "Nguyễn Văn An" : "Trần Thị Bình",
                            std::to_string(1940 + i % 30), "",
                            i % 3 ? "Phường Đức Xuân, Thái Nguyên" : ""));
  }
  for (size_t i = 0; i < people.size(); i += 100) {
    ASSERT_TRUE(Upsert(std::vector<v1::PersonRecord>(people.begin() + static_cast<long>(i),
                                                     people.begin() + static_cast<long>(i + 100)))
                    .ok());
  }
  v1::TrainModelRequest req;
  req.set_dataset("register");
  req.set_dry_run(true);
  req.set_u_pairs(5000);
  v1::TrainModelResponse resp;
  {
    grpc::ClientContext ctx;
    grpc::Status st = admin_->TrainModel(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  EXPECT_FALSE(resp.installed());
  EXPECT_EQ(resp.model().version().rfind("trained-", 0), 0u);
  EXPECT_GT(resp.u_pairs(), 0);
  v1::GetStatsResponse stats;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin_->GetStats(&ctx, v1::GetStatsRequest(), &stats).ok());
  }
  EXPECT_EQ(stats.model_version(), "vn-default-4");
  req.set_dry_run(false);
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin_->TrainModel(&ctx, req, &resp).ok());
  }
  EXPECT_TRUE(resp.installed());
  EXPECT_EQ(resp.previous_version(), "vn-default-4");
  // Unknown dataset: an error, and the next training is not blocked by it.
  req.set_dataset("nope");
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(admin_->TrainModel(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
}

TEST_F(ServiceTest, ExcludeRecordIdAndLargeTopK) {
  LoadRegister();
  v1::MatchRequest req;
  req.set_dataset("register");
  *req.mutable_record() = Person("R1", "Nguyễn Thị Hòa", "12/05/1948");
  req.set_exclude_record_id("R1");
  req.set_top_k(1000);
  v1::MatchResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(linkage_->Match(&ctx, req, &resp).ok());
  for (const auto& c : resp.result().candidates()) EXPECT_NE(c.record_id(), "R1");
}

TEST_F(ServiceTest, UnavailableAfterShutdown) {
  LoadRegister();
  server_->Shutdown();
  grpc::Status st;
  Match(Person("", "Nguyễn Thị Hòa", "1948"), &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  // Data survives a restart on the same directory.
  server_.reset();
  StartServer();
  v1::MatchResponse m = Match(Person("", "Nguyễn Thị Hòa", "1948"), &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(m.result().candidates(0).record_id(), "R1");
}

}  // namespace
}  // namespace linkage
