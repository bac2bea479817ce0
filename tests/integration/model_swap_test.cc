// One model per answer (issue 12): while the model is swapped continuously
// between two versions whose field order, prior and thresholds differ,
// every Verify (with its ranking, as a stream asks for it), every duplicate
// search and every conflicts report must equal exactly the answer of the
// version it names, computed by an engine that never swaps. Verify once
// ranked with one model and decided and explained with a second one read
// after it (as did duplicates and conflicts), so a swap in between gave an
// answer no single model gives.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "linkage/engine.h"
#include "linkage/model.h"
#include "linkage/synth.h"
#include "test_util.h"

namespace linkage {
namespace {

using google::protobuf::util::MessageDifferencer;

// The default model with its fields in reverse order (so a field index of
// one version points at another field in the other), a prior
// of 1e-7 (the default: 1 / register size) and a higher MATCH threshold: the versions' bands
// disagree.
v1::Model VersionB() {
  v1::Model b = model::DefaultVietnameseModel();
  b.set_version("swap-B");
  auto* fields = b.mutable_spec()->mutable_fields();
  auto* params = b.mutable_fields();
  for (int i = 0, j = fields->size() - 1; i < j; ++i, --j) {
    fields->SwapElements(i, j);
    params->SwapElements(i, j);
  }
  b.set_prior(1e-7);  // The default is 1 / register size: ~11 bits less here.
  b.mutable_policy()->set_match_probability(0.999);
  return b;
}

v1::Model VersionA() {
  v1::Model a = model::DefaultVietnameseModel();
  a.set_version("swap-A");
  return a;
}

class ModelSwapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *index::Store::Open({}, dir_.Sub("db"));
    engine_ = *engine::Engine::Create({}, store_.get(), VersionA());
    for (const v1::Model& m : {VersionA(), VersionB()}) {
      reference_[m.version()] = *engine::Engine::Create({}, store_.get(), m);
    }
    synth::PopulationOptions po;
    po.size = 3000;
    po.province_2025 = "19";
    synth::Population pop(po);
    std::vector<v1::PersonRecord> people;
    for (const auto& p : pop.people()) people.push_back(p.record);
    ASSERT_TRUE(engine_->Upsert("register", people).ok());
    // A list: claims of register people, some with a typo or a relative's ID.
    for (size_t i = 0; i < people.size() && claims_.size() < 200; i += 13) {
      v1::PersonRecord c = people[i];
      c.set_record_id(absl::StrCat("L", i));
      if (i % 3 == 1 && !c.full_name().empty()) c.set_full_name(c.full_name() + "h");
      if (i % 5 == 2) c.set_national_id(people[(i + 1) % people.size()].national_id());
      if (c.national_id().empty()) continue;
      claims_.push_back(c);
    }
    ASSERT_TRUE(engine_->Upsert("list", claims_).ok());
  }

  // Swaps A and B as fast as it can until `stop`.
  std::thread Swapper(std::atomic<bool>* stop, std::atomic<int64_t>* swaps) {
    return std::thread([this, stop, swaps] {
      const v1::Model models[] = {VersionA(), VersionB()};
      for (int64_t i = 0; !stop->load(); ++i) {
        ASSERT_TRUE(engine_->SetModel(models[i % 2]).ok());
        ++*swaps;
      }
    });
  }

  testing::TempDir dir_;
  std::unique_ptr<index::Store> store_;
  std::unique_ptr<engine::Engine> engine_;
  std::map<std::string, std::unique_ptr<engine::Engine>> reference_;
  std::vector<v1::PersonRecord> claims_;
};

TEST_F(ModelSwapTest, EveryVerifyIsTheAnswerOfTheVersionItNames) {
  // The versions do disagree on these claims (else the test shows nothing).
  int disagree = 0;
  for (const auto& c : claims_) {
    auto a = reference_["swap-A"]->Verify(c, "register");
    auto b = reference_["swap-B"]->Verify(c, "register");
    ASSERT_TRUE(a.ok() && b.ok());
    disagree += a->decision() != b->decision() || a->probability() != b->probability();
  }
  ASSERT_GT(disagree, static_cast<int>(claims_.size()) / 2);

  std::atomic<bool> stop{false};
  std::atomic<int64_t> swaps{0}, checked{0}, wrong{0};
  std::thread swapper = Swapper(&stop, &swaps);
  std::vector<std::thread> callers;
  for (int t = 0; t < 2; ++t) {
    callers.emplace_back([&, t] {
      for (int round = 0; round < 6; ++round) {
        for (size_t i = static_cast<size_t>(t); i < claims_.size(); i += 2) {
          engine::Engine::VerifyOptions vo;
          v1::MatchResult match;
          vo.match = &match;
          vo.match_top_k = 5;
          auto got = engine_->Verify(claims_[i], "register", vo);
          ASSERT_TRUE(got.ok()) << got.status();
          v1::MatchResult want_match;
          vo.match = &want_match;
          auto want = reference_.at(got->model_version())->Verify(claims_[i], "register", vo);
          ASSERT_TRUE(want.ok());
          ++checked;
          if (!MessageDifferencer::Equals(*got, *want) ||
              !MessageDifferencer::Equals(match, want_match)) {
            ++wrong;
          }
        }
      }
    });
  }
  for (auto& c : callers) c.join();
  stop = true;
  swapper.join();
  EXPECT_GT(swaps.load(), 100);
  EXPECT_EQ(wrong.load(), 0) << "of " << checked.load() << " answers, with " << swaps.load()
                             << " swaps";
}

TEST_F(ModelSwapTest, DuplicatesAndConflictsUseOneModelForTheWholeJob) {
  std::map<std::string, engine::DedupeReport> dedupe_want;
  std::map<std::string, engine::ConflictReport> conflicts_want;
  engine::DedupeOptions d;
  d.dataset = "list";
  d.register_dataset = "register";
  engine::ConflictOptions c;
  c.dataset = "list";
  c.against = "register";
  for (const char* v : {"swap-A", "swap-B"}) {
    dedupe_want[v] = *reference_[v]->FindDuplicates(d);
    conflicts_want[v] = *reference_[v]->FindConflicts(c);
  }
  auto same_dedupe = [](const engine::DedupeReport& a, const engine::DedupeReport& b) {
    if (a.links != b.links || a.clusters.size() != b.clusters.size()) return false;
    for (size_t i = 0; i < a.clusters.size(); ++i) {
      if (a.clusters[i].members != b.clusters[i].members ||
          a.clusters[i].weakest.probability != b.clusters[i].weakest.probability)
        return false;
    }
    return true;
  };
  auto same_conflicts = [](const engine::ConflictReport& a, const engine::ConflictReport& b) {
    if (a.conflicts.size() != b.conflicts.size()) return false;
    for (size_t i = 0; i < a.conflicts.size(); ++i) {
      if (a.conflicts[i].record_id != b.conflicts[i].record_id ||
          a.conflicts[i].kind != b.conflicts[i].kind ||
          a.conflicts[i].probability != b.conflicts[i].probability)
        return false;
    }
    return true;
  };
  EXPECT_FALSE(same_conflicts(conflicts_want["swap-A"], conflicts_want["swap-B"]) &&
               same_dedupe(dedupe_want["swap-A"], dedupe_want["swap-B"]))
      << "the versions must disagree for the test to show anything";

  std::atomic<bool> stop{false};
  std::atomic<int64_t> swaps{0};
  std::thread swapper = Swapper(&stop, &swaps);
  int wrong = 0;
  for (int round = 0; round < 8; ++round) {
    auto dr = engine_->FindDuplicates(d);
    ASSERT_TRUE(dr.ok()) << dr.status();
    wrong += !same_dedupe(*dr, dedupe_want.at(dr->model_version));
    auto cr = engine_->FindConflicts(c);
    ASSERT_TRUE(cr.ok()) << cr.status();
    wrong += !same_conflicts(*cr, conflicts_want.at(cr->model_version));
  }
  stop = true;
  swapper.join();
  EXPECT_GT(swaps.load(), 100);
  EXPECT_EQ(wrong, 0);
}

}  // namespace
}  // namespace linkage
