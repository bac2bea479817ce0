// Backups of a serving linkd (real gRPC on loopback, real RocksDB in
// temporary directories): taken under concurrent writes, restored, and
// compared record by record and answer by answer; incremental; verified;
// purged; and an aborted backup is never listed.
#include "../src/service/backup.h"

#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/utilities/backup_engine.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "linkage/server.h"
#include "linkage/store.h"
#include "linkage/v1/service.grpc.pb.h"
#include "synth_people.h"
#include "test_util.h"

namespace linkage {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::MessageDifferencer;

struct Served {
  std::unique_ptr<service::Server> server;
  std::unique_ptr<v1::LinkageService::Stub> linkage;
  std::unique_ptr<v1::AdminService::Stub> admin;
  std::unique_ptr<v1::AuditService::Stub> audit;
};

Served Serve(const std::string& db) {
  v1::ServerConfig config;
  config.set_listen("127.0.0.1:0");
  config.set_db(db);
  config.set_shutdown_grace_seconds(2);
  auto server = service::Server::Start(config);
  EXPECT_TRUE(server.ok()) << server.status();
  Served s;
  s.server = *std::move(server);
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(s.server->port()),
                                     grpc::InsecureChannelCredentials());
  s.linkage = v1::LinkageService::NewStub(channel);
  s.admin = v1::AdminService::NewStub(channel);
  s.audit = v1::AuditService::NewStub(channel);
  return s;
}

grpc::Status Upsert(Served& s, const std::vector<v1::PersonRecord>& records) {
  v1::UpsertRecordsRequest req;
  req.set_dataset("register");
  for (const auto& r : records) *req.add_records() = r;
  v1::UpsertRecordsResponse resp;
  grpc::ClientContext ctx;
  return s.linkage->UpsertRecords(&ctx, req, &resp);
}

absl::StatusOr<v1::BackupResponse> Backup(Served& s, const std::string& dest) {
  v1::BackupRequest req;
  req.set_dest(dest);
  v1::BackupResponse resp;
  grpc::ClientContext ctx;
  grpc::Status st = s.admin->Backup(&ctx, req, &resp);
  if (!st.ok()) return absl::InternalError(st.error_message());
  return resp;
}

std::vector<v1::MatchResult> Answers(Served& s, const std::vector<v1::PersonRecord>& queries) {
  std::vector<v1::MatchResult> out;
  for (v1::PersonRecord q : queries) {
    q.clear_record_id();
    v1::MatchRequest req;
    req.set_dataset("register");
    req.set_top_k(5);
    *req.mutable_record() = q;
    v1::MatchResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(s.linkage->Match(&ctx, req, &resp).ok());
    out.push_back(resp.result());
  }
  return out;
}

// Every record of `dataset`, by id.
std::map<std::string, std::string> Records(index::Store& store) {
  std::map<std::string, std::string> out;
  EXPECT_TRUE(store
                  .ForEachRecord("register",
                                 [&out](const v1::StoredRecord& r) {
                                   out[r.record().record_id()] = r.record().SerializeAsString();
                                   return true;
                                 })
                  .ok());
  return out;
}

std::unique_ptr<index::Store> OpenRestored(const std::string& db) {
  index::StoreOptions so;
  so.create_if_missing = false;
  so.disk_reserve_mib = 0;
  auto store = index::Store::Open(so, db);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

TEST(BackupTest, RestoresWhatWasAcknowledgedUnderConcurrentWritesAndAnswersAlike) {
  testing::TempDir dir;
  const std::string dest = dir.Sub("backups");
  std::vector<v1::PersonRecord> people = testing::SynthPeople(3000);
  ASSERT_GE(people.size(), 3000u);
  Served a = Serve(dir.Sub("a"));
  for (size_t i = 0; i < 2000; i += 500) {
    ASSERT_TRUE(Upsert(a, {people.begin() + static_cast<long>(i),
                           people.begin() + static_cast<long>(i + 500)})
                    .ok());
  }

  // A writer adds the other 1,000 people, 10 at a time, while the backup runs.
  std::mutex mu;
  std::vector<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::atomic<size_t> next{2000};
  std::thread writer([&] {
    while (!stop.load() && next.load() < people.size()) {
      const size_t from = next.fetch_add(10);
      std::vector<v1::PersonRecord> batch(people.begin() + static_cast<long>(from),
                                          people.begin() + static_cast<long>(from + 10));
      if (!Upsert(a, batch).ok()) continue;
      std::lock_guard<std::mutex> lock(mu);
      for (const auto& r : batch) acknowledged.push_back(r.record_id());
    }
  });
  while (next.load() < 2100) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::vector<std::string> before;
  {
    std::lock_guard<std::mutex> lock(mu);
    before = acknowledged;
  }
  auto first = Backup(a, dest);
  stop.store(true);
  writer.join();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->backup_id(), 1u);
  EXPECT_EQ(first->metadata().layout_version(), std::string(index::LayoutVersion()));

  // Restored: every write acknowledged before the backup began, each record
  // as the original holds it, counts and audit head as the metadata says,
  // and a clean check.
  const std::string restored = dir.Sub("restored");
  auto info = index::RestoreBackup(dest, first->backup_id(), restored);
  ASSERT_TRUE(info.ok()) << info.status();
  v1::BackupMetadata meta;
  ASSERT_TRUE(meta.ParseFromString(info->metadata));
  EXPECT_TRUE(MessageDifferencer::Equals(meta, first->metadata()));
  std::map<std::string, std::string> back;
  {
    auto store = OpenRestored(restored);
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(service::CheckRestored(*store, meta).ok());
    back = Records(*store);
    ASSERT_EQ(meta.datasets_size(), 1);
    EXPECT_EQ(static_cast<int64_t>(back.size()), meta.datasets(0).records());
    EXPECT_GE(back.size(), 2000 + before.size());
    for (const std::string& id : before) EXPECT_TRUE(back.contains(id)) << id;
    auto check = store->Check();
    ASSERT_TRUE(check.ok()) << check.status();
    EXPECT_EQ(check->problem_count, 0) << (check->problems.empty() ? "" : check->problems[0]);
  }

  // Quiesced: a second backup is incremental, and the database restored
  // from it answers a set of queries exactly as the original does.
  auto second = Backup(a, dest);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->backup_id(), 2u);
  EXPECT_LT(second->new_bytes(), first->new_bytes());
  std::vector<v1::PersonRecord> queries;
  for (size_t i = 0; i < people.size(); i += 97) queries.push_back(people[i]);
  std::vector<v1::MatchResult> expected = Answers(a, queries);
  const std::string restored2 = dir.Sub("restored2");
  ASSERT_TRUE(index::RestoreBackup(dest, 0, restored2).ok());
  Served b = Serve(restored2);
  std::vector<v1::MatchResult> got = Answers(b, queries);
  ASSERT_EQ(got.size(), expected.size());
  size_t found = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    found += expected[i].candidates_size() > 0 ? 1 : 0;
    EXPECT_TRUE(MessageDifferencer::Equals(expected[i], got[i]))
        << "query " << i << "\nexpected " << expected[i].ShortDebugString() << "\ngot "
        << got[i].ShortDebugString();
  }
  EXPECT_GT(found, got.size() * 3 / 4);
  b.server->Shutdown();

  // Verify with checksums passes, then catches one flipped byte.
  ASSERT_TRUE(index::VerifyBackup(dest, 1).ok());
  ASSERT_TRUE(index::VerifyBackup(dest, 0).ok());
  std::string victim;
  for (const auto& e : fs::recursive_directory_iterator(dest))
    if (e.path().extension() == ".sst" && (victim.empty() || e.file_size() > fs::file_size(victim)))
      victim = e.path().string();
  ASSERT_FALSE(victim.empty());
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(100);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(100);
    f.write(&c, 1);
  }
  auto r1 = index::VerifyBackup(dest, 1), r2 = index::VerifyBackup(dest, 2);
  EXPECT_TRUE(!r1.ok() || !r2.ok());
  for (const auto* r : {&r1, &r2}) {
    if (!r->ok()) {
      EXPECT_EQ(r->status().code(), absl::StatusCode::kDataLoss) << r->status();
    }
  }

  // Purge keeps the newest N; restore refuses a non-empty target.
  auto third = Backup(a, dest);
  ASSERT_TRUE(third.ok()) << third.status();
  {  // Each backup copied every person: each is in the audit log.
    grpc::ClientContext ctx;
    v1::ListAuditRequest req;
    auto reader = a.audit->ListAudit(&ctx, req);
    v1::AuditRecord r;
    int backups = 0;
    while (reader->Read(&r)) backups += r.entry().method() == "Backup" ? 1 : 0;
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_EQ(backups, 3);
  }
  auto purged = index::PurgeBackups(dest, 2);
  ASSERT_TRUE(purged.ok()) << purged.status();
  EXPECT_EQ(*purged, 1);
  auto list = index::ListBackups(dest);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, 2u);
  EXPECT_EQ((*list)[1].id, 3u);
  EXPECT_EQ(index::RestoreBackup(dest, 3, restored).status().code(),
            absl::StatusCode::kFailedPrecondition);
  a.server->Shutdown();
  a.server.reset();

  // Each restored record is the original's (the writer only added records).
  auto original_store = OpenRestored(dir.Sub("a"));
  ASSERT_NE(original_store, nullptr);
  std::map<std::string, std::string> original = Records(*original_store);
  for (const auto& [id, bytes] : back) {
    ASSERT_TRUE(original.contains(id)) << id;
    EXPECT_EQ(original.at(id), bytes) << id;
  }
}

TEST(BackupTest, AStoppedBackupIsNeverListed) {
  testing::TempDir dir;
  index::StoreOptions so;
  so.disk_reserve_mib = 0;
  auto store = index::Store::Open(so, dir.Sub("db"));
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->PutMeta("x", "y").ok());
  const std::string dest = dir.Sub("backups");
  auto meta = [](index::Store&) -> absl::StatusOr<std::string> { return std::string("m"); };
  EXPECT_EQ((*store)->Backup(dir.Sub("db/backups"), meta, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE((*store)->Backup(dest, meta, nullptr).ok());
  std::atomic<bool> stop{false};
  auto stopping = [&stop](index::Store&) -> absl::StatusOr<std::string> {
    stop.store(true);  // A cancel arriving while the checkpoint is read.
    return std::string("m");
  };
  auto stopped = (*store)->Backup(dest, stopping, &stop);
  EXPECT_EQ(stopped.status().code(), absl::StatusCode::kCancelled) << stopped.status();
  auto list = index::ListBackups(dest);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
  EXPECT_FALSE(fs::exists(fs::path(dir.Sub("db")) / "backup-checkpoint.tmp"));
}

// What linkd relies on for a backup that fails half way: BackupEngine
// writes a backup's description only after all its files, so a backup
// stopped mid-copy is not listed.
TEST(BackupTest, BackupEngineStoppedMidCopyListsNothing) {
  testing::TempDir dir;
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir.Sub("db"), &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  for (int i = 0; i < 200; ++i)
    ASSERT_TRUE(
        db->Put({}, std::to_string(i), std::string(4096, static_cast<char>('a' + i % 26))).ok());
  ASSERT_TRUE(db->Flush({}).ok());
  rocksdb::BackupEngineOptions beo(dir.Sub("backups"));
  beo.callback_trigger_interval_size = 1024;
  rocksdb::BackupEngine* raw_engine = nullptr;
  ASSERT_TRUE(rocksdb::BackupEngine::Open(beo, rocksdb::Env::Default(), &raw_engine).ok());
  std::unique_ptr<rocksdb::BackupEngine> engine(raw_engine);
  rocksdb::CreateBackupOptions create;
  create.progress_callback = [&engine] { engine->StopBackup(); };
  rocksdb::IOStatus s = engine->CreateNewBackupWithMetadata(create, db.get(), "m");
  EXPECT_TRUE(s.IsIncomplete()) << s.ToString();
  engine.reset();
  auto list = index::ListBackups(dir.Sub("backups"));
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_TRUE(list->empty());
}

}  // namespace
}  // namespace linkage
