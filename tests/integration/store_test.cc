// The store on a real RocksDB in a temporary directory, written through the
// engine so index entries come from the real linkage spec.
#include "linkage/store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <thread>

#include "linkage/engine.h"
#include "linkage/model.h"
#include "test_util.h"

namespace linkage {
namespace {

using testing::Person;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    engine_.reset();
    store_.reset();
    auto s = index::Store::Open({}, dir_.Sub("db"));
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
    auto e = engine::Engine::Create({}, store_.get(), model::DefaultVietnameseModel());
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = *std::move(e);
  }
  void ExpectConsistent() {
    auto report = store_->Check();
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->problem_count, 0) << (report->problems.empty() ? "" : report->problems[0]);
  }
  std::vector<std::string> Block(const std::string& rule, const std::string& key) {
    std::vector<std::string> ids;
    auto ok = store_->ScanBlock(store_->generation(), "reg", rule, key, 100, &ids);
    EXPECT_TRUE(ok.ok() && *ok);
    return ids;
  }

  testing::TempDir dir_;
  std::unique_ptr<index::Store> store_;
  std::unique_ptr<engine::Engine> engine_;
};

TEST_F(StoreTest, UpsertGetAndCounts) {
  auto out = engine_->Upsert("reg", {Person("R1", "Nguyễn Thị Hòa", "12/05/1948", "006148012345"),
                                     Person("R2", "Lý Kim Đài", "1952")});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0], index::WriteOutcome::kCreated);
  EXPECT_EQ(store_->RecordCount("reg"), 2);
  auto r1 = store_->Get("reg", "R1");
  ASSERT_TRUE(r1.ok() && r1->has_value());
  EXPECT_EQ((*r1)->record().full_name(), "Nguyễn Thị Hòa");
  EXPECT_EQ((*r1)->normalized().birth_date().year(), 1948);
  EXPECT_EQ(Block("fgy", "nguyen|hoa|1948"), std::vector<std::string>{"R1"});
  EXPECT_EQ(store_->TermCount("reg", "t:full_name:nguyen thi hoa"), 1);
  ExpectConsistent();
}

TEST_F(StoreTest, UpsertTwiceLeavesNoStaleEntry) {
  ASSERT_TRUE(
      engine_->Upsert("reg", {Person("R1", "Nguyễn Thị Hòa", "12/05/1948", "006148012345")}).ok());
  // Same record again: nothing changes.
  auto same =
      engine_->Upsert("reg", {Person("R1", "Nguyễn Thị Hòa", "12/05/1948", "006148012345")});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ((*same)[0], index::WriteOutcome::kUnchanged);
  // New name, date and ID: every old entry must go.
  auto changed = engine_->Upsert("reg", {Person("R1", "Trần Văn Bình", "1950", "006050099999")});
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ((*changed)[0], index::WriteOutcome::kUpdated);
  EXPECT_TRUE(Block("fgy", "nguyen|hoa|1948").empty());
  EXPECT_TRUE(Block("gdob", "hoa|19480512").empty());
  EXPECT_TRUE(Block("id", "006148012345").empty());
  EXPECT_EQ(Block("fgy", "tran|binh|1950"), std::vector<std::string>{"R1"});
  std::vector<std::string> holders;
  ASSERT_TRUE(store_->LookupId("reg", "c:006148012345", 10, &holders).ok());
  EXPECT_TRUE(holders.empty());
  EXPECT_EQ(store_->TermCount("reg", "t:full_name:nguyen thi hoa"), 0);
  EXPECT_EQ(store_->TermCount("reg", "t:full_name:tran van binh"), 1);
  EXPECT_EQ(store_->RecordCount("reg"), 1);
  ExpectConsistent();
}

TEST_F(StoreTest, DuplicateIdInOneBatchLastWins) {
  auto out = engine_->Upsert(
      "reg", {Person("R1", "Nguyễn Thị Hòa", "1948"), Person("R1", "Trần Văn Bình", "1950")});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(store_->RecordCount("reg"), 1);
  EXPECT_TRUE(Block("fgy", "nguyen|hoa|1948").empty());
  EXPECT_EQ(Block("fgy", "tran|binh|1950"), std::vector<std::string>{"R1"});
  ExpectConsistent();
}

TEST_F(StoreTest, DeleteRemovesEveryEntry) {
  ASSERT_TRUE(engine_
                  ->Upsert("reg", {Person("R1", "Nguyễn Thị Hòa", "12/05/1948", "006148012345",
                                          "Phường Đức Xuân, Thái Nguyên"),
                                   Person("R2", "Lý Kim Đài", "1952")})
                  .ok());
  EXPECT_EQ(Block("phc", "hoa nguien thi|01840"), std::vector<std::string>{"R1"});
  auto deleted = store_->Delete("reg", "R1");
  ASSERT_TRUE(deleted.ok() && *deleted);
  auto again = store_->Delete("reg", "R1");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  auto stats = store_->Stats();
  uint64_t block_keys = 0;
  for (const auto& cf : stats.column_families) {
    if (cf.name == "blocks") block_keys = cf.estimated_keys;
  }
  auto r2 = store_->Get("reg", "R2");
  ASSERT_TRUE(r2.ok() && r2->has_value());
  EXPECT_LE(block_keys,
            static_cast<uint64_t>((*r2)->block_keys_size()) + 8);  // Estimate counts tombstones.
  EXPECT_TRUE(Block("fgy", "nguyen|hoa|1948").empty());
  EXPECT_TRUE(Block("phc", "hoa nguien thi|01840").empty());
  EXPECT_EQ(store_->RecordCount("reg"), 1);
  EXPECT_EQ(store_->TermCount("reg", "t:full_name:nguyen thi hoa"), 0);
  ExpectConsistent();
}

TEST_F(StoreTest, BatchWithOneInvalidRecordIsRejectedWhole) {
  engine::UpsertOptions strict;
  strict.strict_dates = true;
  auto out = engine_->Upsert(
      "reg",
      {Person("B0041", "Nguyễn Văn A", "1950"), Person("B0042", "Trần Văn B", "31/13/1950"),
       Person("B0043", "Lê Văn C", "1951")},
      strict);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(),
            "record \"B0042\": birth_date \"31/13/1950\": month 13 is not 1..12");
  EXPECT_EQ(store_->RecordCount("reg"), 0);
  auto r = store_->Get("reg", "B0041");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  ExpectConsistent();
}

TEST_F(StoreTest, InvalidDatasetName) {
  auto out = engine_->Upsert("Bad Name", {Person("R1", "A", "")});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, OversizedBlockIsReportedNotRead) {
  std::vector<v1::PersonRecord> many;
  for (int i = 0; i < 30; ++i)
    many.push_back(Person("R" + std::to_string(i), "Nguyễn Văn Hùng", "1950"));
  ASSERT_TRUE(engine_->Upsert("reg", many).ok());
  std::vector<std::string> ids;
  auto complete =
      store_->ScanBlock(store_->generation(), "reg", "fgy", "nguyen|hung|1950", 10, &ids);
  ASSERT_TRUE(complete.ok());
  EXPECT_FALSE(*complete);
  EXPECT_TRUE(ids.empty());
  complete = store_->ScanBlock(store_->generation(), "reg", "fgy", "nguyen|hung|1950", 30, &ids);
  EXPECT_TRUE(*complete);
  EXPECT_EQ(ids.size(), 30u);
}

TEST_F(StoreTest, SurvivesReopen) {
  ASSERT_TRUE(
      engine_->Upsert("reg", {Person("R1", "Nguyễn Thị Hòa", "12/05/1948", "006148012345")}).ok());
  Open();
  EXPECT_EQ(store_->RecordCount("reg"), 1);
  EXPECT_EQ(Block("fgy", "nguyen|hoa|1948"), std::vector<std::string>{"R1"});
  ExpectConsistent();
}

TEST_F(StoreTest, OldLayoutIsMigratedOnOpen) {
  ASSERT_TRUE(engine_
                  ->Upsert("reg", {Person("R1", "Nguyễn Thị Hòa", "12/05/1948"),
                                   Person("R2", "Lý Kim Đài", "1952")})
                  .ok());
  // Make it look like a layout-1 database: no match entries.
  ASSERT_TRUE(store_->PutMeta("schema_version", "1").ok());
  // In SST files, so the raw session below (without linkd's merge operator)
  // need not replay the write-ahead log.
  ASSERT_TRUE(store_->Flush().ok());
  engine_.reset();
  store_.reset();
  {
    rocksdb::DB* raw = nullptr;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name :
         {"default", "records", "blocks", "ids", "terms", "meta", "match", "audit", "review"}) {
      rocksdb::ColumnFamilyOptions o;
      if (std::string(name) == "terms") o.merge_operator = nullptr;
      cfs.emplace_back(name, o);
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir_.Sub("db"), cfs, &handles, &raw).ok());
    ASSERT_TRUE(raw->DeleteRange(rocksdb::WriteOptions(), handles[6], "", "\xff").ok());

    for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
    delete raw;
  }
  Open();
  EXPECT_EQ(*store_->GetMeta("schema_version"), std::optional<std::string>("3"));
  ExpectConsistent();
  google::protobuf::Arena arena;
  auto n = store_->MultiGetNormalized("reg", {"R1", "R2"}, &arena);
  ASSERT_TRUE(n.ok());
  ASSERT_NE((*n)[0], nullptr);
  EXPECT_EQ((*n)[0]->birth_date().year(), 1948);
}

TEST_F(StoreTest, DatasetsAreSeparate) {
  ASSERT_TRUE(engine_->Upsert("reg", {Person("R1", "Nguyễn Thị Hòa", "1948")}).ok());
  ASSERT_TRUE(engine_->Upsert("list", {Person("R1", "Trần Văn Bình", "1950")}).ok());
  EXPECT_EQ(store_->RecordCount("reg"), 1);
  EXPECT_EQ(store_->RecordCount("list"), 1);
  EXPECT_EQ((*store_->Get("reg", "R1"))->record().full_name(), "Nguyễn Thị Hòa");
  auto stats = store_->Stats();
  EXPECT_EQ(stats.datasets.size(), 2u);
  ExpectConsistent();
}

TEST_F(StoreTest, ConcurrentUpsertsOfTheSameRecordsStayConsistent) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 50; ++i) {
        std::string name = (i + t) % 2 ? "Nguyễn Thị Hòa" : "Trần Văn Bình";
        ASSERT_TRUE(engine_
                        ->Upsert("reg", {Person("R" + std::to_string(i % 5), name,
                                                std::to_string(1940 + t))})
                        .ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(store_->RecordCount("reg"), 5);
  ExpectConsistent();
}

}  // namespace
}  // namespace linkage
