// Duplicate detection through the engine on a real store: a person listed
// three times forms one cluster whose weakest link is explained; namesakes
// and household members stay apart; across two datasets only cross pairs
// are linked.
#include <gtest/gtest.h>

#include <algorithm>

#include "linkage/engine.h"
#include "linkage/model.h"
#include "test_util.h"

namespace linkage {
namespace {

using testing::Person;

class DedupeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    index::StoreOptions so;
    so.match_view = true;
    store_ = *index::Store::Open(so, dir_.Sub("db"));
    engine_ = *engine::Engine::Create({}, store_.get(), model::DefaultVietnameseModel());
    const std::string addr = "Xóm 4, Xã Đức Lương, Huyện Đại Từ, Thái Nguyên";
    ASSERT_TRUE(
        engine_
            ->Upsert("list",
                     {
                         Person("A1", "Phạm Quốc Khánh", "26/05/1956", "019056904593", addr,
                                v1::SEX_MALE),
                         Person("A2", "Pham Quoc Khanh", "26/5/1956", "",
                                "Xom 4, Xa Duc Luong, H. Dai Tu", v1::SEX_MALE),
                         Person("A3", "PHẠM QUỐC KHÁNH", "1956", "019056904593", "", v1::SEX_MALE),
                         // His wife, same address; an unrelated namesake born elsewhere, later.
                         Person("B1", "Nguyễn Thị Lan", "02/03/1958", "019158123456", addr,
                                v1::SEX_FEMALE),
                         Person("C1", "Phạm Quốc Khánh", "11/11/1971", "001071765432",
                                "Phường Hàng Bạc, Hà Nội", v1::SEX_MALE),
                     })
            .ok());
    ASSERT_TRUE(
        engine_
            ->Upsert("other",
                     {
                         Person("X1", "Phạm Quốc Khánh", "26/05/1956", "019056904593", addr,
                                v1::SEX_MALE),
                         Person("X2", "Trần Văn Bình", "1950", "019050099999", addr, v1::SEX_MALE),
                     })
            .ok());
  }

  testing::TempDir dir_;
  std::unique_ptr<index::Store> store_;
  std::unique_ptr<engine::Engine> engine_;
};

TEST_F(DedupeTest, ThreeCopiesMakeOneClusterWithItsWeakestLinkExplained) {
  engine::DedupeOptions o;
  o.dataset = "list";
  auto report = engine_->FindDuplicates(o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->records, 5);
  EXPECT_DOUBLE_EQ(report->threshold, engine_->model()->proto().policy().review_probability());
  ASSERT_EQ(report->clusters.size(), 1u);
  const engine::DuplicateCluster& c = report->clusters[0];
  std::vector<std::string> ids;
  for (const auto& [dataset, id] : c.members) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"A1", "A2", "A3"}));
  ASSERT_EQ(c.tree.size(), 2u);
  EXPECT_GE(c.tree[0].probability, c.tree[1].probability);
  EXPECT_EQ(c.weakest.record_a + c.weakest.record_b, c.tree[1].record_a + c.tree[1].record_b);
  ASSERT_FALSE(c.weakest_explanation.empty());
  double bits = 0;
  for (const auto& f : c.weakest_explanation) bits += f.weight_bits();
  EXPECT_GT(bits, 0);
}

TEST_F(DedupeTest, AcrossTwoDatasetsOnlyCrossPairsAreLinked) {
  engine::DedupeOptions o;
  o.dataset = "list";
  o.against = "other";
  auto report = engine_->FindDuplicates(o);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->clusters.size(), 1u);
  for (const engine::DuplicateLink& l : report->clusters[0].tree) {
    EXPECT_EQ(l.dataset_a, "list");
    EXPECT_EQ(l.dataset_b, "other");
    EXPECT_EQ(l.record_b, "X1");
  }
  EXPECT_EQ(report->clusters[0].members.size(), 4u);  // A1, A2, A3 each link to X1.
}

// Namesakes born the same day look like one person listed twice; the
// register, where each is a different person, tells them apart.
TEST_F(DedupeTest, TheRegisterSeparatesNamesakesAndJoinsCopies) {
  ASSERT_TRUE(engine_
                  ->Upsert("reg",
                           {
                               Person("R1", "Nguyễn Văn Hùng", "01/02/1950", "019050000111",
                                      "Xóm 2, Xã Đức Lương, Thái Nguyên", v1::SEX_MALE),
                               Person("R2", "Nguyễn Văn Hùng", "01/02/1950", "001050000222",
                                      "Phường Hàng Bạc, Hà Nội", v1::SEX_MALE),
                               Person("R3", "Lý Thị Mai", "1960", "019160000333",
                                      "Xã Đức Lương, Thái Nguyên", v1::SEX_FEMALE),
                           })
                  .ok());
  ASSERT_TRUE(engine_
                  ->Upsert("lst",
                           {
                               Person("L1", "Nguyễn Văn Hùng", "01/02/1950", "",
                                      "Xã Đức Lương, Thái Nguyên", v1::SEX_MALE),
                               Person("L2", "Nguyễn Văn Hùng", "01/02/1950", "",
                                      "Phường Hàng Bạc, Hà Nội", v1::SEX_MALE),
                               Person("L3", "Nguyen Hung", "01/02/1950", "019050000111",
                                      "Xom 2, Xa Duc Luong", v1::SEX_MALE),
                           })
                  .ok());
  auto linked = [](const engine::DedupeReport& r, const std::string& a, const std::string& b) {
    for (const auto& c : r.clusters) {
      bool has_a = false, has_b = false;
      for (const auto& [dataset, id] : c.members) {
        has_a |= id == a;
        has_b |= id == b;
      }
      if (has_a && has_b) return true;
    }
    return false;
  };
  engine::DedupeOptions o;
  o.dataset = "lst";
  auto alone = engine_->FindDuplicates(o);
  ASSERT_TRUE(alone.ok()) << alone.status();
  ASSERT_TRUE(linked(*alone, "L1", "L2")) << "the namesakes should look alike without the register";
  o.register_dataset = "reg";
  auto resolved = engine_->FindDuplicates(o);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_FALSE(linked(*resolved, "L1", "L2"));
  EXPECT_TRUE(linked(*resolved, "L1", "L3"));
  o.register_dataset = "no-such";
  EXPECT_EQ(engine_->FindDuplicates(o).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DedupeTest, ErrorsNameTheProblem) {
  engine::DedupeOptions o;
  o.dataset = "nothing";
  EXPECT_EQ(engine_->FindDuplicates(o).status().code(), absl::StatusCode::kNotFound);
  o.dataset = "list";
  o.top_k = 0;
  EXPECT_EQ(engine_->FindDuplicates(o).status().code(), absl::StatusCode::kInvalidArgument);
}

// A long job asked to stop (cancelled call, deadline, shutdown) stops
// between chunks and says so; nothing is reported as found.
TEST_F(DedupeTest, DuplicatesAndConflictsStopWhenAskedTo) {
  std::atomic<bool> stop{true};
  engine::DedupeOptions o;
  o.dataset = "list";
  o.stop = &stop;
  EXPECT_EQ(engine_->FindDuplicates(o).status().code(), absl::StatusCode::kCancelled);
  engine::ConflictOptions c;
  c.dataset = "list";
  c.against = "list";
  c.stop = &stop;
  EXPECT_EQ(engine_->FindConflicts(c).status().code(), absl::StatusCode::kCancelled);
  engine::TrainOptions t;
  t.dataset = "list";
  t.stop = &stop;
  EXPECT_EQ(engine_->Train(t).status().code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace linkage
