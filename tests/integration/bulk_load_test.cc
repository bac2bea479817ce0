// linkctl import --bulk's path: records loaded as ingested SST files hold
// exactly what ordinary upserts write — every stored record, every index
// entry and counter (check finds nothing), every match answer — across
// several chunks; and the load refuses what it cannot do safely.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "linkage/engine.h"
#include "linkage/model.h"
#include "synth_people.h"
#include "test_util.h"

namespace linkage {
namespace {

struct Side {
  std::unique_ptr<index::Store> store;
  std::unique_ptr<engine::Engine> engine;
};

Side OpenSide(const std::string& dir, bool view) {
  Side s;
  index::StoreOptions so;
  so.match_view = view;
  auto store = index::Store::Open(so, dir);
  EXPECT_TRUE(store.ok()) << store.status();
  s.store = *std::move(store);
  auto e = engine::Engine::Create({}, s.store.get(), model::DefaultVietnameseModel());
  EXPECT_TRUE(e.ok()) << e.status();
  s.engine = *std::move(e);
  return s;
}

TEST(BulkLoadTest, HoldsExactlyWhatUpsertsWrite) {
  testing::TempDir dir;
  std::vector<v1::PersonRecord> people = testing::SynthPeople(2500);
  v1::PersonRecord bad;
  bad.set_record_id("bad-1");  // No name: rejected, the rest loaded.
  people.push_back(bad);

  Side upserted = OpenSide(dir.Sub("upserted"), false);
  engine::UpsertOptions uo;
  uo.allow_partial = true;
  ASSERT_TRUE(upserted.engine->Upsert("reg", people, uo).ok());

  {
    Side bulk = OpenSide(dir.Sub("bulk"), false);
    auto load = bulk.store->StartBulkLoad("reg", 700);  // Four chunks.
    ASSERT_TRUE(load.ok()) << load.status();
    int rejected = 0;
    for (size_t i = 0; i < people.size(); i += 400) {
      std::vector<v1::PersonRecord> part(
          people.begin() + static_cast<long>(i),
          people.begin() + static_cast<long>(std::min(i + 400, people.size())));
      auto results = bulk.engine->BulkAdd(load->get(), part, uo);
      ASSERT_TRUE(results.ok()) << results.status();
      for (const auto& r : *results) rejected += !r.status.ok();
    }
    EXPECT_EQ(rejected, 1);
    auto loaded = (*load)->Finish();
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(*loaded, 2500);
    // A second load of the same dataset is refused: it is not empty.
    EXPECT_EQ(bulk.store->StartBulkLoad("reg").status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
  // Reopened with the match view, as linkd serves it.
  Side bulk = OpenSide(dir.Sub("bulk"), true);
  bulk.store->AwaitMatchViews();
  auto check = bulk.store->Check();
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->problem_count, 0) << (check->problems.empty() ? "" : check->problems[0]);
  EXPECT_EQ(bulk.store->RecordCount("reg"), upserted.store->RecordCount("reg"));
  for (size_t i = 0; i + 1 < people.size(); ++i) {
    auto a = bulk.store->Get("reg", people[i].record_id());
    auto b = upserted.store->Get("reg", people[i].record_id());
    ASSERT_TRUE(a.ok() && b.ok() && a->has_value() && b->has_value()) << people[i].record_id();
    (*a)->clear_updated_unix_micros();
    (*b)->clear_updated_unix_micros();
    ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(**a, **b))
        << people[i].record_id();
  }
  for (size_t i = 0; i + 1 < people.size(); i += 25) {
    auto ra = bulk.engine->Match(people[i], "reg", {});
    auto rb = upserted.engine->Match(people[i], "reg", {});
    ASSERT_TRUE(ra.ok() && rb.ok());
    EXPECT_EQ(ra->SerializeAsString(), rb->SerializeAsString()) << people[i].record_id();
  }
}

TEST(BulkLoadTest, RefusesADuplicateIdAndAServedDatabase) {
  testing::TempDir dir;
  std::vector<v1::PersonRecord> people = testing::SynthPeople(10);
  {
    Side s = OpenSide(dir.Sub("db"), false);
    auto load = s.store->StartBulkLoad("reg");
    ASSERT_TRUE(load.ok());
    ASSERT_TRUE(s.engine->BulkAdd(load->get(), people, {}).ok());
    auto again = s.engine->BulkAdd(load->get(), {people[3]}, {});
    EXPECT_EQ(again.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(again.status().message().find(people[3].record_id()), std::string::npos);
    ASSERT_TRUE((*load)->Finish().ok());
    EXPECT_EQ(s.store->RecordCount("reg"), 10);
  }
  Side served = OpenSide(dir.Sub("db"), true);
  EXPECT_EQ(served.store->StartBulkLoad("other").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace linkage
