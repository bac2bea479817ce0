// The memory-resident match view answers exactly as RocksDB does: two
// stores get the same writes, one with the view and one without, and every
// block, identity lookup, normalized form and match result must agree —
// after random updates and deletions, after a reopen with writes racing the
// background load, and after a reindex to other blocking rules.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "linkage/engine.h"
#include "linkage/model.h"
#include "linkage/normalize.h"
#include "linkage/synth.h"
#include "test_util.h"

namespace linkage {
namespace {

class MatchViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Open(true);
    Open(false);
    synth::PopulationOptions po;
    po.size = 3000;
    po.province_2025 = "19";
    synth::Population pop(po);
    for (const auto& p : pop.people()) people_.push_back(p.record);
    Both([&](engine::Engine& e) { ASSERT_TRUE(e.Upsert("reg", people_).ok()); });
  }

  void Open(bool view) {
    Side& s = side_[view ? 0 : 1];
    s.engine.reset();
    s.store.reset();
    index::StoreOptions so;
    so.match_view = view;
    auto store = index::Store::Open(so, dir_.Sub(view ? "with-view" : "without"));
    ASSERT_TRUE(store.ok()) << store.status();
    s.store = *std::move(store);
    auto stored = engine::Engine::LoadStoredModel(s.store.get());
    ASSERT_TRUE(stored.ok());
    auto e = engine::Engine::Create({}, s.store.get(),
                                    stored->value_or(model::DefaultVietnameseModel()));
    ASSERT_TRUE(e.ok()) << e.status();
    s.engine = *std::move(e);
  }

  void Close() {
    side_[0].engine.reset();
    side_[0].store.reset();
  }
  // The view's saved file: the one file of that name in the database.
  std::string SavedView() {
    for (const auto& e : std::filesystem::directory_iterator(dir_.Sub("with-view"))) {
      if (e.path().filename().string().rfind("linkd-view-", 0) == 0 &&
          e.path().extension() == ".bin")
        return e.path().string();
    }
    ADD_FAILURE() << "no saved view";
    return "";
  }
  void RemoveSavedView() { std::filesystem::remove(SavedView()); }
  std::string Source() {
    side_[0].store->AwaitMatchViews();
    auto views = side_[0].store->Stats().views;
    return views.empty() ? "" : views[0].source;
  }

  template <typename Fn>
  void Both(Fn fn) {
    for (Side& s : side_) fn(*s.engine);
  }

  // Random changes: a person gets another's name or birth date or ID, or
  // is deleted, or comes back.
  void Mutate(int n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto pick = [&] { return people_[rng() % people_.size()]; };
    for (int i = 0; i < n; ++i) {
      v1::PersonRecord p = pick();
      switch (rng() % 4) {
        case 0:
          p.set_full_name(pick().full_name());
          break;
        case 1:
          p.set_birth_date(pick().birth_date());
          break;
        case 2:
          p.set_national_id(pick().national_id());
          break;
        default:
          Both([&](engine::Engine& e) { ASSERT_TRUE(e.Delete("reg", p.record_id()).ok()); });
          continue;
      }
      Both([&](engine::Engine& e) { ASSERT_TRUE(e.Upsert("reg", {p}).ok()); });
    }
  }

  void ExpectSameAnswers() {
    side_[0].store->AwaitMatchViews();
    index::StoreStats stats = side_[0].store->Stats();
    ASSERT_EQ(stats.views.size(), 1u);
    EXPECT_TRUE(stats.views[0].ready);
    EXPECT_EQ(stats.views[0].records, side_[1].store->RecordCount("reg"));
    EXPECT_TRUE(side_[1].store->Stats().views.empty());
    auto check = side_[0].store->Check();  // Compares the view's counts too.
    ASSERT_TRUE(check.ok());
    EXPECT_EQ(check->problem_count, 0) << (check->problems.empty() ? "" : check->problems[0]);

    const v1::Model& model = side_[0].engine->model()->proto();
    std::vector<std::string> ids;
    for (const v1::PersonRecord& p : people_) {
      ids.push_back(p.record_id());
      auto n = domain::NormalizeRecord(p, {});
      ASSERT_TRUE(n.ok());
      for (const model::BlockingKey& k : model::ComputeBlockingKeys(model.spec(), *n)) {
        const std::string& rule = model.spec().blocking_rules(k.rule).name();
        std::vector<std::string> got[2];
        bool complete[2];
        for (int s = 0; s < 2; ++s) {
          auto c = side_[s].store->ScanBlock(side_[s].store->generation(), "reg", rule, k.key, 50,
                                             &got[s]);
          ASSERT_TRUE(c.ok());
          complete[s] = *c;
          std::sort(got[s].begin(), got[s].end());
        }
        EXPECT_EQ(complete[0], complete[1]) << rule << " " << k.key;
        EXPECT_EQ(got[0], got[1]) << rule << " " << k.key;
      }
      if (n->national_id().digits().size() == 12) {
        std::vector<std::string> got[2];
        for (int s = 0; s < 2; ++s) {
          ASSERT_TRUE(
              side_[s].store->LookupId("reg", "c:" + n->national_id().digits(), 3, &got[s]).ok());
        }
        EXPECT_EQ(got[0], got[1]) << n->national_id().digits();
      }
    }
    google::protobuf::Arena arena;
    auto a = side_[0].store->MultiGetNormalized("reg", ids, &arena);
    auto b = side_[1].store->MultiGetNormalized("reg", ids, &arena);
    ASSERT_TRUE(a.ok() && b.ok());
    for (size_t i = 0; i < ids.size(); ++i) {
      ASSERT_EQ((*a)[i] == nullptr, (*b)[i] == nullptr) << ids[i];
      if ((*a)[i] != nullptr) {
        EXPECT_EQ((*a)[i]->SerializeAsString(), (*b)[i]->SerializeAsString()) << ids[i];
      }
    }
    for (size_t i = 0; i < people_.size(); i += 15) {
      auto ra = side_[0].engine->Match(people_[i], "reg", {});
      auto rb = side_[1].engine->Match(people_[i], "reg", {});
      ASSERT_TRUE(ra.ok() && rb.ok());
      EXPECT_EQ(ra->SerializeAsString(), rb->SerializeAsString()) << people_[i].record_id();
    }
  }

  struct Side {
    std::unique_ptr<index::Store> store;
    std::unique_ptr<engine::Engine> engine;
  };
  testing::TempDir dir_;
  Side side_[2];  // [0] with the view, [1] without.
  std::vector<v1::PersonRecord> people_;
};

TEST_F(MatchViewTest, AgreesWithRocksDbAfterUpdatesAndDeletes) {
  ExpectSameAnswers();
  Mutate(600, 1);
  ExpectSameAnswers();
}

TEST_F(MatchViewTest, WritesDuringTheBackgroundLoadAreNotLost) {
  Close();
  RemoveSavedView();  // So that the view loads from RocksDB, slowly...
  Open(true);         // ...in the background...
  Mutate(400, 2);     // ...while these land (some before, some during, some after).
  ExpectSameAnswers();
}

TEST_F(MatchViewTest, RestartLoadsTheViewSavedAtClose) {
  Mutate(300, 4);
  Open(true);
  EXPECT_EQ(Source(), "file");
  ExpectSameAnswers();
  Mutate(300, 5);  // Writes after a load from the file.
  ExpectSameAnswers();
  Open(true);
  EXPECT_EQ(Source(), "file");
  ExpectSameAnswers();
}

TEST_F(MatchViewTest, AStaleOrDamagedSavedViewIsNotUsed) {
  Close();
  const std::string saved = SavedView();
  std::filesystem::copy_file(saved, saved + ".old");
  Open(true);
  Mutate(100, 6);  // The database moves on...
  Close();
  std::filesystem::rename(saved + ".old", saved);  // ...and the file is from before.
  Open(true);
  EXPECT_EQ(Source(), "rocksdb");
  ExpectSameAnswers();

  Close();
  {  // One byte changed in the middle.
    std::fstream f(saved, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(saved) / 2));
    f.put('\x5a');
  }
  Open(true);
  EXPECT_EQ(Source(), "rocksdb");
  ExpectSameAnswers();
}

TEST_F(MatchViewTest, FollowsAReindexToOtherRules) {
  v1::Model other = model::DefaultVietnameseModel();
  other.set_version("other-rules");
  v1::BlockingRule* gy = other.mutable_spec()->add_blocking_rules();
  gy->set_name("gy");
  gy->add_parts(v1::KEY_GIVEN_FOLDED);
  gy->add_parts(v1::KEY_BIRTH_YEAR);
  Both([&](engine::Engine& e) {
    auto r = e.Reindex(&other);
    ASSERT_TRUE(r.ok()) << r.status();
  });
  ExpectSameAnswers();
  Mutate(200, 3);
  ExpectSameAnswers();
}

}  // namespace
}  // namespace linkage
