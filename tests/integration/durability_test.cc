// What "acknowledged" promises, one failure mode at a time (issue 10): a
// power loss (unsynced data dropped by a fault-injecting file system, as
// leveldb's fault_injection_test), a damaged write-ahead log, a missing
// CURRENT file, a damaged table file, and derived data rebuilt by repair.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "linkage/engine.h"
#include "linkage/model.h"
#include "linkage/synth.h"
#include "synth_people.h"
#include "test_util.h"

namespace linkage {
namespace {

namespace fs = std::filesystem;

// A file system that remembers how much of each file was synced and, after
// Crash(), drops every later write; DropUnsynced() then cuts each file back
// to what was synced, as a power loss would.
class DropUnsyncedFs : public rocksdb::FileSystemWrapper {
 public:
  explicit DropUnsyncedFs(std::shared_ptr<rocksdb::FileSystem> base)
      : rocksdb::FileSystemWrapper(std::move(base)) {}
  const char* Name() const override { return "DropUnsyncedFs"; }

  struct State {
    uint64_t size = 0;
    uint64_t synced = 0;
  };

  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> f, std::string path, DropUnsyncedFs* fs)
        : FSWritableFileOwnerWrapper(std::move(f)), path_(std::move(path)), fs_(fs) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* d) override {
      if (fs_->crashed()) return rocksdb::IOStatus::OK();
      fs_->Grow(path_, data.size());
      return target()->Append(data, o, d);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& /*info*/,
                             rocksdb::IODebugContext* d) override {
      return Append(data, o, d);
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      if (fs_->crashed()) return rocksdb::IOStatus::OK();
      rocksdb::IOStatus s = target()->Sync(o, d);
      if (s.ok()) fs_->Synced(path_);
      return s;
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      return Sync(o, d);
    }
    rocksdb::IOStatus Close(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      return target()->Close(o, d);
    }

   private:
    std::string path_;
    DropUnsyncedFs* fs_;
  };

  rocksdb::IOStatus NewWritableFile(const std::string& path, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* d) override {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    // After the crash nothing reaches the disk: write into a scratch file.
    rocksdb::IOStatus s = target()->NewWritableFile(crashed() ? scratch_ : path, o, &file, d);
    if (!s.ok()) return s;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!crashed()) files_[path] = State{};
    }
    *result = std::make_unique<File>(std::move(file), crashed() ? scratch_ : path, this);
    return s;
  }
  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    if (crashed()) return rocksdb::IOStatus::OK();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (files_.count(from)) {
        files_[to] = files_[from];
        files_.erase(from);
      }
    }
    return target()->RenameFile(from, to, o, d);
  }
  rocksdb::IOStatus DeleteFile(const std::string& path, const rocksdb::IOOptions& o,
                               rocksdb::IODebugContext* d) override {
    if (crashed()) return rocksdb::IOStatus::OK();
    {
      std::lock_guard<std::mutex> lock(mu_);
      files_.erase(path);
    }
    return target()->DeleteFile(path, o, d);
  }

  void Crash(const std::string& scratch) {
    scratch_ = scratch;
    crashed_.store(true);
  }
  // Cuts every file back to its synced length; returns the bytes dropped.
  uint64_t DropUnsynced() {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t dropped = 0;
    for (const auto& [path, state] : files_) {
      std::error_code ec;
      if (!fs::exists(path, ec)) continue;
      dropped += fs::file_size(path) - state.synced;
      fs::resize_file(path, state.synced, ec);
    }
    return dropped;
  }

  bool crashed() const { return crashed_.load(); }
  void Grow(const std::string& path, uint64_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    files_[path].size += n;
  }
  void Synced(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    files_[path].synced = files_[path].size;
  }

 private:
  std::mutex mu_;
  std::map<std::string, State> files_;
  std::atomic<bool> crashed_{false};
  std::string scratch_;
};

struct Opened {
  std::unique_ptr<index::Store> store;
  std::unique_ptr<engine::Engine> engine;
};

absl::StatusOr<Opened> OpenEngine(const std::string& path, index::StoreOptions so = {}) {
  Opened o;
  auto store = index::Store::Open(so, path);
  if (!store.ok()) return store.status();
  o.store = *std::move(store);
  auto stored = engine::Engine::LoadStoredModel(o.store.get());
  if (!stored.ok()) return stored.status();
  auto engine =
      engine::Engine::Create({}, o.store.get(), stored->value_or(model::DefaultVietnameseModel()));
  if (!engine.ok()) return engine.status();
  o.engine = *std::move(engine);
  return o;
}

void ExpectConsistent(const engine::Engine& engine) {
  auto report = engine.CheckIndex();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->problem_count, 0) << (report->problems.empty() ? "" : report->problems[0]);
}

std::vector<std::string> FilesEndingIn(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().string().ends_with(suffix)) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return fs::file_size(a) > fs::file_size(b);
  });
  return out;
}

void FlipByte(const std::string& path, uint64_t at) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(at));
  f.write(&c, 1);
}

// --- Power loss.

int64_t SurvivingAfterPowerLoss(bool sync_writes, int64_t* acknowledged) {
  testing::TempDir dir;
  auto faulty = std::make_shared<DropUnsyncedFs>(rocksdb::FileSystem::Default());
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(faulty);
  std::vector<v1::PersonRecord> people = testing::SynthPeople(1000);
  {
    index::StoreOptions so;
    so.env = env.get();
    so.sync_writes = sync_writes;
    auto o = OpenEngine(dir.Sub("db"), so);
    EXPECT_TRUE(o.ok()) << o.status();
    if (!o.ok()) return -1;
    // Single records and batches, from two writers at once (group commit).
    *acknowledged = 0;
    std::atomic<int64_t> acked{0};
    auto write = [&](size_t from, size_t to, size_t batch) {
      for (size_t i = from; i < to; i += batch) {
        std::vector<v1::PersonRecord> b(
            people.begin() + static_cast<long>(i),
            people.begin() + static_cast<long>(std::min(to, i + batch)));
        if (o->engine->Upsert("register", b).ok()) acked += static_cast<int64_t>(b.size());
      }
    };
    std::thread a(write, 0, 200, 1), b(write, 200, people.size(), 100);
    a.join();
    b.join();
    *acknowledged = acked.load();
    faulty->Crash(dir.Sub("scratch"));
    o->engine.reset();
    o->store.reset();
  }
  faulty->DropUnsynced();
  auto reopened = OpenEngine(dir.Sub("db"));
  EXPECT_TRUE(reopened.ok()) << reopened.status();
  if (!reopened.ok()) return -1;
  int64_t present = 0;
  for (const auto& p : people) {
    auto got = reopened->store->Get("register", p.record_id());
    present += got.ok() && got->has_value();
  }
  ExpectConsistent(*reopened->engine);
  return present;
}

TEST(DurabilityTest, EveryAcknowledgedWriteSurvivesAPowerLoss) {
  int64_t acknowledged = 0;
  EXPECT_EQ(SurvivingAfterPowerLoss(true, &acknowledged), acknowledged);
  EXPECT_EQ(acknowledged, 1000);
}

TEST(DurabilityTest, WithoutSyncAPowerLossLosesAcknowledgedWrites) {
  // Shows the fault injection bites: the same run without syncing loses
  // what it acknowledged.
  int64_t acknowledged = 0;
  EXPECT_LT(SurvivingAfterPowerLoss(false, &acknowledged), acknowledged);
}

// --- A damaged write-ahead log.

TEST(DurabilityTest, ADamagedWriteAheadLogStopsTheOpenUnlessTheLossIsAccepted) {
  testing::TempDir dir;
  const std::string db = dir.Sub("db");
  std::vector<v1::PersonRecord> people = testing::SynthPeople(2000);
  // A process that writes 2,000 records and dies without closing.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto o = OpenEngine(db);
    if (!o.ok()) _exit(3);
    for (size_t i = 0; i < people.size(); i += 100) {
      std::vector<v1::PersonRecord> b(people.begin() + static_cast<long>(i),
                                      people.begin() + static_cast<long>(i + 100));
      if (!o->engine->Upsert("register", b).ok()) _exit(4);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::vector<std::string> logs = FilesEndingIn(db, ".log");
  ASSERT_FALSE(logs.empty());
  FlipByte(logs[0], fs::file_size(logs[0]) / 2);

  auto refused = index::Store::Open({}, db);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss) << refused.status();
  EXPECT_NE(refused.status().message().find("write-ahead log"), std::string::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find("--accept-wal-loss"), std::string::npos);
  // Nothing was dropped by the refusal: the log is still there, whole.
  EXPECT_TRUE(fs::exists(logs[0]));

  index::StoreOptions accept;
  accept.accept_wal_loss = true;
  auto o = OpenEngine(db, accept);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_NE(o->store->recovery_note().find("dropped"), std::string::npos);
  EXPECT_LT(o->store->RecordCount("register"), 2000);
  ExpectConsistent(*o->engine);
}

// --- A missing CURRENT file.

TEST(DurabilityTest, ADatabaseWithoutCurrentIsNeverReplacedByAnEmptyOne) {
  testing::TempDir dir;
  const std::string db = dir.Sub("db");
  {
    auto o = OpenEngine(db);
    ASSERT_TRUE(o.ok());
    ASSERT_TRUE(o->engine->Upsert("register", testing::SynthPeople(500)).ok());
    ASSERT_TRUE(o->store->Flush().ok());
  }
  const size_t tables = FilesEndingIn(db, ".sst").size();
  ASSERT_GT(tables, 0u);
  fs::remove(fs::path(db) / "CURRENT");
  for (int attempt = 0; attempt < 2; ++attempt) {  // As systemd restarting it.
    auto refused = index::Store::Open({}, db);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(refused.status().message().find("no CURRENT file"), std::string::npos);
  }
  EXPECT_EQ(FilesEndingIn(db, ".sst").size(), tables);
  EXPECT_FALSE(fs::exists(fs::path(db) / "CURRENT"));
}

// --- A damaged table file.

TEST(DurabilityTest, DamageFoundInAReadShowsInTheConditionAndStopsWrites) {
  testing::TempDir dir;
  const std::string db = dir.Sub("db");
  std::vector<v1::PersonRecord> people = testing::SynthPeople(3000);
  {
    auto o = OpenEngine(db);
    ASSERT_TRUE(o.ok());
    ASSERT_TRUE(o->engine->Upsert("register", people).ok());
    ASSERT_TRUE(o->store->Flush().ok());
  }
  std::vector<std::string> tables = FilesEndingIn(db, ".sst");
  ASSERT_FALSE(tables.empty());
  FlipByte(tables[0], fs::file_size(tables[0]) / 3);  // Inside a data block.
  index::StoreOptions so;
  so.match_view = false;  // Reads go to the damaged file.
  auto o = OpenEngine(db, so);
  if (!o.ok()) {
    // Damage in an index block is found at open: refused, saying so.
    EXPECT_EQ(o.status().code(), absl::StatusCode::kDataLoss) << o.status();
    return;
  }
  EXPECT_TRUE(o->store->Condition().writable);
  int data_loss = 0;
  for (const auto& p : people) {
    auto got = o->store->Get("register", p.record_id());
    if (!got.ok()) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
      EXPECT_EQ(got.status().message().find('/'), std::string::npos) << got.status();
      ++data_loss;
    }
  }
  auto report = o->engine->CheckIndex();
  if (data_loss == 0) {
    // The damage hit another column family: the check's full scan finds it.
    ASSERT_TRUE(report.ok());
    EXPECT_GT(report->problem_count, 0);
  }
  index::StoreCondition c = o->store->Condition();
  EXPECT_TRUE(c.damaged);
  EXPECT_FALSE(c.writable);
  EXPECT_FALSE(c.reason.empty());
  EXPECT_EQ(o->engine->Upsert("register", {people[0]}).status().code(),
            absl::StatusCode::kDataLoss);
}

// --- Derived data rebuilt from the records.

TEST(DurabilityTest, RepairRebuildsLostDerivedDataAndResumes) {
  testing::TempDir dir;
  const std::string db = dir.Sub("db");
  std::vector<v1::PersonRecord> people = testing::SynthPeople(2500);
  std::vector<std::string> before;
  auto answers = [&people](const engine::Engine& e) {
    std::vector<std::string> out;
    for (size_t i = 0; i < people.size(); i += 50) {
      v1::PersonRecord q = people[i];
      q.clear_national_id();
      q.set_record_id("");
      auto r = e.Match(q, "register", {});
      std::string line;
      if (r.ok()) {
        for (const auto& c : r->candidates()) absl::StrAppend(&line, c.record_id(), " ");
      }
      out.push_back(line);
    }
    return out;
  };
  {
    auto o = OpenEngine(db);
    ASSERT_TRUE(o.ok());
    ASSERT_TRUE(o->engine->Upsert("register", people).ok());
    ASSERT_TRUE(o->store->Flush().ok());  // Read below without our merge operator.
    before = answers(*o->engine);
  }
  {
    // Lose the match family and the blocks, as after `ldb repair` of a lost
    // table file.
    rocksdb::Options options;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name :
         {"default", "records", "blocks", "ids", "terms", "meta", "match", "audit", "review"})
      cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, db, cfs, &handles, &raw).ok());
    for (size_t cf : {2u, 6u})
      ASSERT_TRUE(raw->DeleteRange({}, handles[cf], "", std::string(16, '\xff')).ok());
    for (auto* h : handles) ASSERT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
    delete raw;
  }
  {
    auto o = OpenEngine(db);
    ASSERT_TRUE(o.ok());
    auto report = o->engine->CheckIndex();
    ASSERT_TRUE(report.ok());
    EXPECT_GT(report->problem_count, 2000) << report->problems[0];
    // Interrupted after its first step...
    std::atomic<bool> stop{false};
    auto interrupted = o->engine->Repair([&stop](int64_t, int64_t) { stop = true; }, &stop);
    EXPECT_EQ(interrupted.status().code(), absl::StatusCode::kCancelled);
    EXPECT_EQ(o->engine->Upsert("register", {people[0]}).status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
  auto o = OpenEngine(db);  // ...and resumed by the next process.
  ASSERT_TRUE(o.ok());
  ASSERT_TRUE(o->store->RepairProgress().has_value());
  auto repaired = o->engine->Repair();
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  EXPECT_EQ(*repaired, static_cast<int64_t>(people.size()));
  EXPECT_FALSE(o->store->RepairProgress().has_value());
  ExpectConsistent(*o->engine);
  o->store->AwaitMatchViews();
  EXPECT_EQ(answers(*o->engine), before);
}

}  // namespace
}  // namespace linkage
