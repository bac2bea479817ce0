// EM training on generated data with known truth: the fitted m must be
// close to the share of each level among the true pairs, and a model
// switch under concurrent queries must be atomic.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>

#include "linkage/engine.h"
#include "linkage/model.h"
#include "linkage/normalize.h"
#include "linkage/synth.h"
#include "test_util.h"

namespace linkage {
namespace {

class TrainingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    store_ = index::Store::Open({}, dir_->Sub("db"))->release();
    engine_ = engine::Engine::Create({}, store_, model::DefaultVietnameseModel())->release();
    synth::PopulationOptions po;
    po.size = 8000;
    po.province_2025 = "19";
    population_ = new synth::Population(po);
    std::vector<v1::PersonRecord> reg;
    for (const auto& p : population_->people()) {
      if (p.in_register) reg.push_back(p.record);
    }
    ASSERT_TRUE(engine_->Upsert("register", reg).ok());
    synth::ListOptions lo;
    lo.size = 2500;
    list_ = new std::vector<synth::ListEntry>(synth::MakeList(*population_, lo));
    std::vector<v1::PersonRecord> records;
    for (const auto& e : *list_) records.push_back(e.record);
    engine::UpsertOptions uo;
    uo.allow_partial = true;
    ASSERT_TRUE(engine_->Upsert("list", records, uo).ok());
  }
  static void TearDownTestSuite() {
    delete engine_;
    delete store_;
    delete dir_;
    delete population_;
    delete list_;
  }

  static testing::TempDir* dir_;
  static index::Store* store_;
  static engine::Engine* engine_;
  static synth::Population* population_;
  static std::vector<synth::ListEntry>* list_;
};
testing::TempDir* TrainingTest::dir_ = nullptr;
index::Store* TrainingTest::store_ = nullptr;
engine::Engine* TrainingTest::engine_ = nullptr;
synth::Population* TrainingTest::population_ = nullptr;
std::vector<synth::ListEntry>* TrainingTest::list_ = nullptr;

TEST_F(TrainingTest, EmRecoversTheLevelSharesOfTruePairs) {
  engine::TrainOptions o;
  o.dataset = "register";
  o.link_dataset = "list";
  o.max_queries = 2500;
  o.u_pairs = 100000;
  auto trained = engine_->Train(o);
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_TRUE(trained->second.converged);
  EXPECT_GT(trained->second.m_pairs, 2500);

  // The truth: each level's share among list entries and their true
  // register records (null levels left out, as in m).
  auto m = engine_->model();
  std::map<std::string, const v1::PersonRecord*> reg;
  for (const auto& p : population_->people()) reg[p.record.record_id()] = &p.record;
  const size_t nf = m->num_fields();
  std::vector<std::vector<double>> count(nf);
  std::vector<double> total(nf, 0);
  for (size_t f = 0; f < nf; ++f)
    count[f].assign(
        static_cast<size_t>(m->proto().spec().fields(static_cast<int>(f)).levels_size()), 0);
  std::vector<model::FieldOutcome> out(nf);
  domain::NormalizeOptions lenient;
  lenient.strict_dates = false;
  for (const auto& e : *list_) {
    if (e.truth_register_id.empty()) continue;
    auto a = domain::NormalizeRecord(e.record, lenient);
    auto b = domain::NormalizeRecord(*reg[e.truth_register_id]);
    if (!a.ok() || !b.ok()) continue;
    m->Compare(*a, *b, out.data());
    for (size_t f = 0; f < nf; ++f) {
      if (out[f].level < 0) continue;
      ++count[f][static_cast<size_t>(out[f].level)];
      ++total[f];
    }
  }
  const v1::Model& fitted = trained->first;
  for (const char* field : {"full_name", "birth_date", "address", "national_id"}) {
    int f = 0;
    while (fitted.fields(f).field() != field) ++f;
    for (int l = 0; l < fitted.fields(f).levels_size(); ++l) {
      double truth =
          count[static_cast<size_t>(f)][static_cast<size_t>(l)] / total[static_cast<size_t>(f)];
      double fit = fitted.fields(f).levels(l).m();
      SCOPED_TRACE(std::string(field) + " " + fitted.fields(f).levels(l).label());
      EXPECT_NEAR(fit, truth, 0.05) << "true share " << truth;
    }
  }
  // The prior: the share of list records whose person is in the register.
  double present = 0;
  for (const auto& e : *list_) present += !e.truth_register_id.empty();
  EXPECT_NEAR(trained->second.match_share, present / static_cast<double>(list_->size()), 0.03);
  EXPECT_NEAR(fitted.prior(),
              trained->second.match_share / static_cast<double>(store_->RecordCount("register")),
              1e-12);
  // u of an exact agreement is small; of a disagreement near 1.
  EXPECT_LT(fitted.fields(0).levels(0).u(), 0.001);
  EXPECT_GT(fitted.fields(0).levels(fitted.fields(0).levels_size() - 1).u(), 0.9);
}

TEST_F(TrainingTest, TrainAndInstallInstallsUnlessDryRunOrStopped) {
  engine::TrainOptions o;
  o.dataset = "register";
  o.link_dataset = "list";
  o.max_queries = 500;
  o.u_pairs = 20000;
  const std::string before = engine_->model()->proto().version();

  auto dry = engine_->TrainAndInstall(o, /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_FALSE(dry->installed);
  EXPECT_TRUE(dry->previous_version.empty());
  EXPECT_GT(dry->report.m_pairs, 0);
  EXPECT_EQ(engine_->model()->proto().version(), before);

  std::atomic<bool> stop{true};
  o.stop = &stop;
  auto stopped = engine_->TrainAndInstall(o);
  EXPECT_EQ(stopped.status().code(), absl::StatusCode::kCancelled) << stopped.status();
  EXPECT_EQ(engine_->model()->proto().version(), before);

  o.stop = nullptr;
  auto installed = engine_->TrainAndInstall(o);
  ASSERT_TRUE(installed.ok()) << installed.status();
  EXPECT_TRUE(installed->installed);
  EXPECT_EQ(installed->previous_version, before);
  EXPECT_EQ(engine_->model()->proto().version(), installed->model.version());
}

TEST_F(TrainingTest, ModelSwitchIsAtomicUnderConcurrentQueries) {
  v1::Model a = engine_->model()->proto();
  a.set_version("A");
  v1::Model b = a;
  b.set_version("B");
  b.mutable_fields(1)->mutable_levels(0)->set_u(a.fields(1).levels(0).u() *
                                                8);  // birth_date exact: 3 bits less
  const double bits_a = std::log2(a.fields(1).levels(0).m() / a.fields(1).levels(0).u());
  const double bits_b = std::log2(b.fields(1).levels(0).m() / b.fields(1).levels(0).u());
  v1::PersonRecord q = (*list_)[0].record;
  q.set_birth_date(population_->people()[0].record.birth_date());
  q.set_full_name(population_->people()[0].record.full_name());
  std::atomic<bool> stop{false};
  std::atomic<int> mixed{0}, answered{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto r = engine_->Match(q, "register", {});
        if (!r.ok() || r->candidates_size() == 0) continue;
        // Answers from before the first switch carry the original version.
        if (r->model_version() != "A" && r->model_version() != "B") continue;
        ++answered;
        const double want = r->model_version() == "A" ? bits_a : bits_b;
        for (const auto& c : r->candidates()) {
          for (const auto& fc : c.contributions()) {
            if (fc.field() == "birth_date" && fc.level() == "exact" &&
                std::abs(fc.weight_bits() - want) > 1e-9)
              ++mixed;
          }
        }
      }
    });
  }
  for (int i = 0; i < 5000 && (i < 200 || answered.load() < 300); ++i) {
    ASSERT_TRUE(engine_->InstallModel(i % 2 ? a : b).ok());
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_GE(answered.load(), 300);
  EXPECT_EQ(mixed.load(), 0);
}

}  // namespace
}  // namespace linkage
