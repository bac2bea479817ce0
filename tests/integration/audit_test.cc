// The audit log: an entry for every call that reads or writes a person,
// over a real gRPC channel on loopback and a real RocksDB in a temporary
// directory; and the chain, verified after rows are changed, removed or cut
// off directly in the database.
#include "linkage/audit.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "audit_tamper.h"
#include "linkage/server.h"
#include "linkage/store.h"
#include "linkage/v1/service.grpc.pb.h"
#include "test_util.h"

namespace linkage {
namespace {

using testing::Person;

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }
  void TearDown() override { StopServer(); }

  void StartServer() {
    v1::ServerConfig config;
    config.set_listen("127.0.0.1:0");
    config.set_db(dir_.Sub("db"));
    config.set_shutdown_grace_seconds(2);
    config.set_workers(2);
    auto server = service::Server::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    linkage_ = v1::LinkageService::NewStub(channel_);
    admin_ = v1::AdminService::NewStub(channel_);
    audit_ = v1::AuditService::NewStub(channel_);
  }
  void StopServer() {
    if (server_) server_->Shutdown();
    server_.reset();
  }

  void Upsert(const std::string& dataset, std::vector<v1::PersonRecord> records) {
    v1::UpsertRecordsRequest req;
    req.set_dataset(dataset);
    for (auto& r : records) *req.add_records() = std::move(r);
    v1::UpsertRecordsResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(linkage_->UpsertRecords(&ctx, req, &resp).ok());
  }

  void LoadRegister() {
    Upsert("register", {Person("R1", "Nguyễn Thị Hòa", "12/05/1948", "006148003121",
                               "Phường Đức Xuân, Thái Nguyên", v1::SEX_FEMALE),
                        Person("R2", "Triệu Văn Sơn", "02/02/1930", "006030000517",
                               "Xã Bằng Thành, Thái Nguyên", v1::SEX_MALE),
                        Person("R3", "Lý Kim Đài", "03/07/1952", "006152004410",
                               "Xã Ba Bể, Thái Nguyên", v1::SEX_FEMALE)});
  }

  std::vector<v1::AuditRecord> List(const v1::ListAuditRequest& req = {}) {
    grpc::ClientContext ctx;
    auto reader = audit_->ListAudit(&ctx, req);
    std::vector<v1::AuditRecord> out;
    v1::AuditRecord r;
    while (reader->Read(&r)) out.push_back(r);
    EXPECT_TRUE(reader->Finish().ok());
    return out;
  }

  v1::VerifyAuditResponse VerifyChain(const v1::VerifyAuditRequest& req = {}) {
    grpc::ClientContext ctx;
    v1::VerifyAuditResponse resp;
    EXPECT_TRUE(audit_->VerifyAudit(&ctx, req, &resp).ok());
    return resp;
  }

  // The one entry of `method`; fails the test unless there is exactly one.
  v1::AuditEntry Only(const std::vector<v1::AuditRecord>& all, const std::string& method) {
    std::vector<v1::AuditEntry> found;
    for (const auto& r : all)
      if (r.entry().method() == method) found.push_back(r.entry());
    EXPECT_EQ(found.size(), 1u) << method;
    return found.empty() ? v1::AuditEntry() : found[0];
  }

  testing::TempDir dir_;
  std::unique_ptr<service::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::LinkageService::Stub> linkage_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::AuditService::Stub> audit_;
};

TEST_F(AuditTest, EveryLookupKindIsAuditedWithItsIdsAndNoClearNationalId) {
  LoadRegister();
  {  // Verify: the claim's CCCD hashed, the holder returned.
    v1::VerifyRequest req;
    req.set_dataset("register");
    *req.mutable_claim() = Person("C1", "Nguyễn Thị Hòa", "12/05/1948", "006148003121",
                                  "Phường Đức Xuân, Thái Nguyên", v1::SEX_FEMALE);
    v1::VerifyResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(linkage_->Verify(&ctx, req, &resp).ok());
  }
  {  // Match.
    v1::MatchRequest req;
    req.set_dataset("register");
    *req.mutable_record() = Person("Q1", "Lý Kim Đài", "03/07/1952");
    v1::MatchResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(linkage_->Match(&ctx, req, &resp).ok());
  }
  {  // One MatchStream message, then one MatchBatchStream batch of three.
    grpc::ClientContext ctx;
    auto stream = linkage_->MatchStream(&ctx);
    v1::MatchStreamRequest req;
    req.set_dataset("register");
    req.set_request_id("S1");
    *req.mutable_record() = Person("", "Triệu Văn Sơn", "02/02/1930");
    ASSERT_TRUE(stream->Write(req));
    ASSERT_TRUE(stream->WritesDone());
    v1::MatchStreamResponse resp;
    while (stream->Read(&resp)) {
    }
    ASSERT_TRUE(stream->Finish().ok());
  }
  {
    grpc::ClientContext ctx;
    auto stream = linkage_->MatchBatchStream(&ctx);
    v1::MatchBatchRequest batch;
    const char* names[] = {"Nguyễn Thị Hòa", "Triệu Văn Sơn", "Lý Kim Đài"};
    const char* dobs[] = {"12/05/1948", "02/02/1930", "03/07/1952"};
    const char* ids[] = {"006148003121", "006030000517", ""};
    for (int i = 0; i < 3; ++i) {
      v1::MatchStreamRequest* r = batch.add_requests();
      r->set_dataset("register");
      r->set_request_id("B" + std::to_string(i));
      r->set_verify_claimed_id(true);
      *r->mutable_record() = Person("B" + std::to_string(i), names[i], dobs[i], ids[i]);
    }
    ASSERT_TRUE(stream->Write(batch));
    ASSERT_TRUE(stream->WritesDone());
    v1::MatchBatchResponse resp;
    while (stream->Read(&resp)) {
    }
    ASSERT_TRUE(stream->Finish().ok());
  }
  {  // GetRecord, DeleteRecord.
    v1::GetRecordRequest req;
    req.set_dataset("register");
    req.set_record_id("R2");
    v1::GetRecordResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(linkage_->GetRecord(&ctx, req, &resp).ok());
  }
  {
    v1::DeleteRecordRequest req;
    req.set_dataset("register");
    req.set_record_id("R3");
    v1::DeleteRecordResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(linkage_->DeleteRecord(&ctx, req, &resp).ok());
  }
  // The jobs: duplicates and conflicts of a list against the register.
  Upsert("list", {Person("L1", "Nguyễn Thị Hòa", "12/05/1948", "006148003121"),
                  Person("L2", "Nguyễn Thị Hoà", "12/05/1948", "006148003121")});
  {
    v1::FindDuplicatesRequest req;
    req.set_dataset("list");
    v1::FindDuplicatesResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin_->FindDuplicates(&ctx, req, &resp).ok());
  }
  {
    v1::FindConflictsRequest req;
    req.set_dataset("list");
    req.set_against("register");
    v1::FindConflictsResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin_->FindConflicts(&ctx, req, &resp).ok());
  }

  const std::vector<v1::AuditRecord> all = List();
  // Two upserts, Verify, Match, one stream message, one batch, GetRecord,
  // DeleteRecord, two jobs.
  ASSERT_EQ(all.size(), 10u);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].entry().seq(), i + 1);
    EXPECT_EQ(all[i].entry().principal(), "anonymous");
    EXPECT_EQ(all[i].entry().status(), "OK") << all[i].entry().method();
    EXPECT_GT(all[i].entry().time_unix_micros(), 0);
  }

  const v1::AuditEntry verify = Only(all, "Verify");
  ASSERT_EQ(verify.items_size(), 1);
  EXPECT_EQ(verify.dataset(), "register");
  EXPECT_EQ(verify.items(0).record_id(), "C1");
  EXPECT_EQ(verify.items(0).national_id_hmac().size(), 16u);
  ASSERT_GE(verify.items(0).returned_ids_size(), 1);
  EXPECT_EQ(verify.items(0).returned_ids(0), "R1");
  EXPECT_EQ(verify.items(0).decision(), "VERIFIED");

  const v1::AuditEntry match = Only(all, "Match");
  ASSERT_EQ(match.items_size(), 1);
  EXPECT_EQ(match.items(0).record_id(), "Q1");
  ASSERT_GE(match.items(0).returned_ids_size(), 1);
  EXPECT_EQ(match.items(0).returned_ids(0), "R3");
  EXPECT_TRUE(match.items(0).national_id_hmac().empty());

  const v1::AuditEntry stream = Only(all, "MatchStream");
  ASSERT_EQ(stream.items_size(), 1);
  EXPECT_EQ(stream.items(0).record_id(), "S1");
  ASSERT_GE(stream.items(0).returned_ids_size(), 1);
  EXPECT_EQ(stream.items(0).returned_ids(0), "R2");

  // One entry for the batch, one item per request in it.
  const v1::AuditEntry batch = Only(all, "MatchBatchStream");
  ASSERT_EQ(batch.items_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(batch.items(i).record_id(), "B" + std::to_string(i));
    ASSERT_GE(batch.items(i).returned_ids_size(), 1) << i;
    EXPECT_EQ(batch.items(i).returned_ids(0), "R" + std::to_string(i + 1)) << i;
  }
  EXPECT_EQ(batch.items(0).decision(), "VERIFIED");
  EXPECT_EQ(batch.items(0).national_id_hmac(), verify.items(0).national_id_hmac());
  EXPECT_NE(batch.items(1).national_id_hmac(), batch.items(0).national_id_hmac());
  EXPECT_TRUE(batch.items(2).national_id_hmac().empty());

  const v1::AuditEntry get = Only(all, "GetRecord");
  ASSERT_EQ(get.items_size(), 1);
  EXPECT_EQ(get.items(0).record_id(), "R2");
  EXPECT_EQ(get.items(0).decision(), "READ");
  const v1::AuditEntry del = Only(all, "DeleteRecord");
  ASSERT_EQ(del.items_size(), 1);
  EXPECT_EQ(del.items(0).record_id(), "R3");
  EXPECT_EQ(del.items(0).decision(), "DELETED");

  // The register's upsert names its three records, IDs hashed.
  EXPECT_EQ(all[0].entry().method(), "UpsertRecords");
  ASSERT_EQ(all[0].entry().items_size(), 3);
  EXPECT_EQ(all[0].entry().items(0).record_id(), "R1");
  EXPECT_EQ(all[0].entry().items(0).decision(), "CREATED");
  EXPECT_EQ(all[0].entry().items(0).national_id_hmac(), verify.items(0).national_id_hmac());

  const v1::AuditEntry dupes = Only(all, "FindDuplicates");
  EXPECT_EQ(dupes.dataset(), "list");
  ASSERT_EQ(dupes.items_size(), 1);  // L1 and L2 are one person.
  EXPECT_EQ(dupes.items(0).returned_ids_size(), 2);
  const v1::AuditEntry conflicts = Only(all, "FindConflicts");
  EXPECT_EQ(conflicts.dataset(), "list");
  ASSERT_EQ(conflicts.other_datasets_size(), 1);
  EXPECT_EQ(conflicts.other_datasets(0), "register");
  EXPECT_NE(conflicts.detail().find("records=2"), std::string::npos) << conflicts.detail();

  // Filters: by record (asked about or returned), principal, national ID,
  // time range.
  v1::ListAuditRequest by_record;
  by_record.set_record_id("R3");
  auto methods = [this](const v1::ListAuditRequest& req) {
    std::set<std::string> m;
    for (const auto& r : List(req)) m.insert(r.entry().method());
    return m;
  };
  EXPECT_EQ(methods(by_record),
            (std::set<std::string>{"UpsertRecords", "Match", "MatchBatchStream", "DeleteRecord"}));
  v1::ListAuditRequest by_id;
  by_id.set_national_id("006148003121");
  const std::set<std::string> with_id = methods(by_id);
  for (const char* m : {"UpsertRecords", "Verify", "MatchBatchStream"})
    EXPECT_EQ(with_id.count(m), 1u) << m;
  EXPECT_EQ(with_id.count("Match"), 0u);
  EXPECT_EQ(with_id.count("GetRecord"), 0u);
  v1::ListAuditRequest by_principal;
  by_principal.set_principal("payments");
  EXPECT_TRUE(List(by_principal).empty());
  v1::ListAuditRequest by_time;
  by_time.set_since_unix_micros(all[5].entry().time_unix_micros());
  by_time.set_until_unix_micros(all[6].entry().time_unix_micros() + 1);
  EXPECT_GE(List(by_time).size(), 2u);
  EXPECT_LE(List(by_time).front().entry().seq(), 6u);

  // The chain is whole and its head is what GetStats publishes.
  const v1::VerifyAuditResponse v = VerifyChain();
  EXPECT_TRUE(v.ok()) << v.problem();
  EXPECT_EQ(v.entries(), 10u);
  v1::GetStatsResponse stats;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin_->GetStats(&ctx, v1::GetStatsRequest(), &stats).ok());
  }
  EXPECT_EQ(stats.audit_head().count(), 10u);
  EXPECT_EQ(stats.audit_head().hash(), v.head().hash());
  EXPECT_EQ(stats.audit_head().hash(), all.back().hash());

  // No national ID in clear anywhere in the audit column family.
  StopServer();
  const auto rows = testing::AuditRows(dir_.Sub("db"));
  ASSERT_EQ(rows.size(), 10u);
  for (const auto& [seq, bytes] : rows) {
    for (const char* id : {"006148003121", "006030000517", "006152004410"})
      EXPECT_EQ(bytes.find(id), std::string::npos) << "entry " << seq << " holds " << id;
  }
}

TEST_F(AuditTest, TheChainSurvivesARestartAndAFailedLookupIsAuditedToo) {
  LoadRegister();
  {
    v1::GetRecordRequest req;
    req.set_dataset("register");
    req.set_record_id("NOBODY");
    v1::GetRecordResponse resp;
    grpc::ClientContext ctx;
    EXPECT_EQ(linkage_->GetRecord(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  const std::string head = VerifyChain().head().hash();
  StopServer();
  StartServer();
  LoadRegister();  // Unchanged records: still an entry.
  const auto all = List();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].entry().status(), "NOT_FOUND");
  EXPECT_EQ(all[1].entry().items(0).decision(), "NOT_FOUND");
  EXPECT_EQ(audit::Hex(all[2].entry().prev_hash()), head);
  EXPECT_EQ(all[2].entry().items(0).decision(), "UNCHANGED");
  EXPECT_TRUE(VerifyChain().ok());
}

TEST_F(AuditTest, AModelInstallIsAuditedWithTheOldAndNewVersion) {
  v1::GetModelResponse current;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin_->GetModel(&ctx, v1::GetModelRequest(), &current).ok());
  }
  v1::SetModelRequest req;
  *req.mutable_model() = current.model();
  req.mutable_model()->set_version("audited-1");
  v1::SetModelResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(admin_->SetModel(&ctx, req, &resp).ok());
  const v1::AuditEntry e = Only(List(), "SetModel");
  EXPECT_EQ(e.detail(), "model=audited-1 previous=" + current.model().version());
  EXPECT_EQ(e.status(), "OK");
  EXPECT_TRUE(VerifyChain().ok());
}

// The chain on its own: a store with entries appended, then changed on
// disk behind the log's back.
class ChainTest : public ::testing::Test {
 protected:
  void Append(int n) {
    auto store = index::Store::Open(index::StoreOptions(), dir_.Sub("db"));
    ASSERT_TRUE(store.ok()) << store.status();
    auto key = audit::LoadKey(store->get(), "");
    ASSERT_TRUE(key.ok()) << key.status();
    auto log = audit::AuditLog::Open(store->get(), *key);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < n; ++i) {
      v1::AuditEntry e;
      e.set_principal("payments");
      e.set_method("Verify");
      e.set_dataset("register");
      e.add_items()->set_record_id("C" + std::to_string(i));
      ASSERT_TRUE((*log)->Append(e).ok());
    }
    heads_.push_back((*log)->head());
    ASSERT_TRUE((*store)->Flush().ok());
  }
  audit::VerifyReport Verify(const audit::Head* expect = nullptr) {
    auto reader = index::OpenAuditReadOnly(dir_.Sub("db"));
    EXPECT_TRUE(reader.ok()) << reader.status();
    auto report = audit::VerifyChain(**reader, expect);
    EXPECT_TRUE(report.ok()) << report.status();
    return *report;
  }
  testing::TempDir dir_;
  std::vector<audit::Head> heads_;
};

TEST_F(ChainTest, AWholeChainVerifiesAndItsHeadRoundTrips) {
  Append(5);
  Append(3);  // Reopened: the chain goes on from the stored head.
  audit::VerifyReport r = Verify(&heads_[0]);
  EXPECT_TRUE(r.ok()) << r.problem;
  EXPECT_EQ(r.entries, 8u);
  EXPECT_EQ(r.head, heads_[1]);
  auto parsed = audit::ParseHead(audit::HeadText(r.head));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, r.head);
  EXPECT_FALSE(audit::ParseHead("12:abc").ok());
  EXPECT_FALSE(audit::ParseHead("x:").ok());
}

TEST_F(ChainTest, AnEditedEntryIsFoundAtItsSeq) {
  Append(6);
  auto rows = testing::AuditRows(dir_.Sub("db"));
  v1::AuditEntry e;
  ASSERT_TRUE(e.ParseFromString(rows[3]));
  e.mutable_items(0)->set_record_id("SOMEONE-ELSE");  // Hide who was looked up.
  ASSERT_TRUE(testing::PutAuditRow(dir_.Sub("db"), 3, e.SerializeAsString()));
  audit::VerifyReport r = Verify();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_seq, 3u) << r.problem;
  EXPECT_EQ(r.entries, 6u);
  // Bytes that no longer parse are found at their own seq.
  ASSERT_TRUE(testing::PutAuditRow(dir_.Sub("db"), 3, rows[3].substr(0, rows[3].size() / 2)));
  EXPECT_EQ(Verify().first_bad_seq, 3u);
}

TEST_F(ChainTest, ADeletedEntryIsAGap) {
  Append(6);
  ASSERT_TRUE(testing::DeleteAuditRows(dir_.Sub("db"), 4, 4));
  audit::VerifyReport r = Verify();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_seq, 4u) << r.problem;
  EXPECT_NE(r.problem.find("missing"), std::string::npos) << r.problem;
}

TEST_F(ChainTest, ACutTailOnlyFailsTheExpectedHead) {
  Append(6);
  ASSERT_TRUE(testing::DeleteAuditRows(dir_.Sub("db"), 5, 6));
  audit::VerifyReport r = Verify();
  EXPECT_TRUE(r.ok()) << r.problem;  // A chain alone cannot tell.
  EXPECT_EQ(r.head.count, 4u);
  r = Verify(&heads_[0]);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_seq, 5u) << r.problem;
  // An expected head at a count the chain has, but with another hash: the
  // prefix was rewritten.
  audit::Head wrong = {3, std::string(32, 'x')};
  EXPECT_EQ(Verify(&wrong).first_bad_seq, 3u);
}

TEST_F(ChainTest, TheIdKeyComesFromItsFileOrIsKeptInTheDatabase) {
  auto store = index::Store::Open(index::StoreOptions(), dir_.Sub("db"));
  ASSERT_TRUE(store.ok()) << store.status();
  auto kept = audit::LoadKey(store->get(), "");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->size(), 32u);
  EXPECT_EQ(*audit::LoadKey(store->get(), ""), *kept);  // Made once, then read back.
  std::ofstream(dir_.Sub("key")) << std::string(64, 'a') << "\n";
  auto from_file = audit::LoadKey(store->get(), dir_.Sub("key"));
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  EXPECT_EQ(*from_file, std::string(32, '\xaa'));
  std::ofstream(dir_.Sub("short")) << "abcd";
  EXPECT_EQ(audit::LoadKey(store->get(), dir_.Sub("short")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(audit::LoadKey(store->get(), dir_.Sub("absent")).status().code(),
            absl::StatusCode::kNotFound);
  // Keyed: one ID hashes alike under one key, differently under another.
  auto a = audit::AuditLog::Open(store->get(), *kept);
  auto b = audit::AuditLog::Open(store->get(), *from_file);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)->HashId("c:006148003121"), (*a)->HashId("c:006148003121"));
  EXPECT_NE((*a)->HashId("c:006148003121"), (*b)->HashId("c:006148003121"));
  EXPECT_NE((*a)->HashId("c:006148003121"), (*a)->HashId("c:006148003122"));
}

}  // namespace
}  // namespace linkage
