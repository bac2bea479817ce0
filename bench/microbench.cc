// Microbenchmarks of the core library. Run:
//   build/bench/linkd_microbench --benchmark_min_time=1
// Report ratios within one run; the machine is shared and noisy.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>

#include "linkage/address.h"
#include "linkage/engine.h"
#include "linkage/model.h"
#include "linkage/names.h"
#include "linkage/normalize.h"
#include "linkage/similarity.h"
#include "linkage/synth.h"
#include "linkage/text.h"
#include "service/metrics.h"

namespace linkage {
namespace {

void BM_NormalizeName_Clean(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(text::NormalizeName("Nguyễn Thị Hòa"));
}
BENCHMARK(BM_NormalizeName_Clean);

void BM_NormalizeName_Tcvn3(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(text::NormalizeName("Lý Kim §µi"));
}
BENCHMARK(BM_NormalizeName_Tcvn3);

void BM_NormalizeRecord_ListEntry(benchmark::State& state) {
  v1::PersonRecord r;
  r.set_record_id("B1");
  r.set_full_name("NGUYEN THI HOA");
  r.set_birth_date("12/5/1948");
  r.set_national_id("006148003121");
  r.set_address("Tổ 12, P. Nguyễn Thị Minh Khai, TP. Bắc Kạn, Tỉnh Bắc Kạn");
  domain::Gazetteer::Default();
  for (auto _ : state) benchmark::DoNotOptimize(domain::NormalizeRecord(r));
}
BENCHMARK(BM_NormalizeRecord_ListEntry);

void BM_JaroWinkler(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(model::JaroWinkler("nguyen thi hoa", "nguyen thi hoan"));
}
BENCHMARK(BM_JaroWinkler);

void BM_DamerauLevenshtein(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(model::DamerauLevenshtein("006148003121", "006148003211", 1));
}
BENCHMARK(BM_DamerauLevenshtein);

// Generated list entries paired with their register records, normalized.
struct Pairs {
  std::vector<v1::NormalizedRecord> query, truth, other;
};

const Pairs& GetPairs() {
  static const Pairs* pairs = [] {
    auto* p = new Pairs();
    synth::PopulationOptions po;
    po.size = 20000;
    po.province_2025 = "19";
    synth::Population pop(po);
    std::map<std::string, const v1::PersonRecord*> by_id;
    for (const auto& person : pop.people()) by_id[person.record.record_id()] = &person.record;
    synth::ListOptions lo;
    lo.size = 2000;
    size_t k = 0;
    for (const auto& e : synth::MakeList(pop, lo)) {
      if (e.truth_register_id.empty()) continue;
      p->query.push_back(*domain::NormalizeRecord(e.record));
      p->truth.push_back(*domain::NormalizeRecord(*by_id[e.truth_register_id]));
      p->other.push_back(
          *domain::NormalizeRecord(pop.people()[k++ * 7 % pop.people().size()].record));
    }
    return p;
  }();
  return *pairs;
}

void BM_ComparePair(benchmark::State& state) {
  const Pairs& p = GetPairs();
  auto m = *model::CompiledModel::Create(model::DefaultVietnameseModel());
  std::vector<model::FieldOutcome> out(m->num_fields());
  size_t i = 0;
  const bool matches = state.range(0) == 1;
  for (auto _ : state) {
    const v1::NormalizedRecord& other = matches ? p.truth[i] : p.other[i];
    benchmark::DoNotOptimize(m->Compare(p.query[i], other, out.data()));
    if (++i == p.query.size()) i = 0;
  }
  state.SetLabel(matches ? "true pairs" : "random pairs");
}
BENCHMARK(BM_ComparePair)->Arg(1)->Arg(0);

// A register of state.range(0) people in a temporary RocksDB, built once.
struct Register {
  std::string dir;
  std::unique_ptr<index::Store> store;
  std::unique_ptr<engine::Engine> engine;
  std::vector<v1::PersonRecord> queries;
  ~Register() { std::filesystem::remove_all(dir); }
};

Register& GetRegister(int64_t size) {
  static std::map<int64_t, std::unique_ptr<Register>> registers;
  auto& slot = registers[size];
  if (slot) return *slot;
  slot = std::make_unique<Register>();
  std::string tmpl = std::filesystem::temp_directory_path().string() + "/linkd-bench-XXXXXX";
  slot->dir = mkdtemp(tmpl.data());
  slot->store = *index::Store::Open({}, slot->dir + "/db");
  slot->engine = *engine::Engine::Create({}, slot->store.get(), model::DefaultVietnameseModel());
  synth::PopulationOptions po;
  po.size = size;
  po.province_2025 = "19";
  synth::Population pop(po);
  std::vector<v1::PersonRecord> batch;
  for (const auto& person : pop.people()) {
    if (!person.in_register) continue;
    batch.push_back(person.record);
    if (batch.size() == 1000) {
      (void)slot->engine->Upsert("register", std::move(batch));
      batch.clear();
    }
  }
  (void)slot->engine->Upsert("register", std::move(batch));
  (void)slot->store->Flush();
  synth::ListOptions lo;
  lo.size = 5000;
  for (auto& e : synth::MakeList(pop, lo)) slot->queries.push_back(std::move(e.record));
  return *slot;
}

void BM_Match(benchmark::State& state) {
  Register& reg = GetRegister(state.range(0));
  engine::MatchOptions mo;
  size_t i = 0;
  int64_t candidates = 0;
  for (auto _ : state) {
    auto r = reg.engine->Match(reg.queries[i], "register", mo);
    if (r.ok()) candidates += r->candidates_scored();
    if (++i == reg.queries.size()) i = 0;
  }
  state.counters["candidates/query"] =
      benchmark::Counter(static_cast<double>(candidates) / static_cast<double>(state.iterations()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Match)->Arg(100000)->Unit(benchmark::kMicrosecond)->UseRealTime();

// What --metrics-listen adds to each answer of a bulk verification: its
// flags and its decision counted (the call interceptor runs once per
// stream, not per record). Compare with BM_Match's time per query in the
// same run; two threads show the cost of the shared counters' locks.
void BM_MetricsPerAnswer(benchmark::State& state) {
  static service::Metrics metrics;
  v1::AuditEntry entry;
  entry.set_method("MatchBatchStream");
  entry.add_items()->set_decision("VERIFIED");
  google::protobuf::RepeatedPtrField<std::string> flags;
  flags.Add("NAME_TYPO");
  flags.Add("DATE_SWAPPED");
  for (auto _ : state) {
    metrics.CountFlags("verify", flags);
    metrics.CountDecisions(entry);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MetricsPerAnswer)->Threads(1)->Threads(2)->UseRealTime();

// The store's side of one scrape (column family properties, RocksDB's
// stall statistics, the match views' sizes), on the 100k register.
void BM_ScrapeStoreStats(benchmark::State& state) {
  Register& reg = GetRegister(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(reg.store->Stats());
}
BENCHMARK(BM_ScrapeStoreStats)->Arg(100000)->Unit(benchmark::kMicrosecond);

void BM_Upsert(benchmark::State& state) {
  synth::PopulationOptions po;
  po.size = 50000;
  synth::Population pop(po);
  std::string tmpl = std::filesystem::temp_directory_path().string() + "/linkd-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl.data());
  auto store = *index::Store::Open({}, dir + "/db");
  auto engine = *engine::Engine::Create({}, store.get(), model::DefaultVietnameseModel());
  const size_t batch_size = static_cast<size_t>(state.range(0));
  size_t next = 0;
  int64_t n = 0;
  for (auto _ : state) {
    std::vector<v1::PersonRecord> batch;
    for (size_t j = 0; j < batch_size; ++j) {
      v1::PersonRecord r = pop.people()[next % pop.people().size()].record;
      r.set_record_id("R" + std::to_string(next++));
      batch.push_back(std::move(r));
    }
    auto out = engine->Upsert("register", std::move(batch));
    if (!out.ok()) state.SkipWithError(std::string(out.status().message()).c_str());
    n += static_cast<int64_t>(batch_size);
  }
  state.SetItemsProcessed(n);
  store.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_Upsert)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace linkage

BENCHMARK_MAIN();
