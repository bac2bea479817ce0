// A whole UpsertRecords and Match request decoded from bytes and run as
// the service runs them (dataset check, batch limit, options), against a
// real store in a per-process temporary directory holding a small register
// (generated people of Thái Nguyên plus tests/fixtures/tricky_register.csv).
//
// Input: one mode byte, a 2-byte little-endian length N, N bytes of a
// serialized linkage.v1.UpsertRecordsRequest, the rest a serialized
// linkage.v1.MatchRequest. The upsert runs first, then the match (also as a
// Verify when the query has a national ID), then every record the upsert
// wrote is deleted and any register record it replaced restored, so each
// input starts from the same store.
#include <google/protobuf/stubs/logging.h>
#include <stdlib.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "linkage/csv.h"
#include "linkage/engine.h"
#include "linkage/model.h"
#include "linkage/normalize.h"
#include "linkage/person_io.h"
#include "linkage/store.h"
#include "linkage/synth.h"
#include "linkage/v1/service.pb.h"

namespace {

using linkage::fuzz::Check;
using linkage::fuzz::Fail;
namespace v1 = linkage::v1;

constexpr char kRegister[] = "register";
// The server's default is 10,000; a smaller limit keeps each input fast.
constexpr int kMaxBatchRecords = 64;

struct World {
  std::string dir;
  std::unique_ptr<linkage::index::Store> store;
  std::unique_ptr<linkage::engine::Engine> engine;
  std::map<std::string, v1::PersonRecord> register_records;  // By record_id.
};

std::vector<v1::PersonRecord> FixtureRegister() {
  std::ifstream in(std::string(LINKD_FIXTURE_DIR) + "/tricky_register.csv");
  std::stringstream ss;
  ss << in.rdbuf();
  std::vector<v1::PersonRecord> out;
  std::optional<linkage::domain::PersonCsvSchema> schema;
  absl::Status st = linkage::CsvParser::ParseAll(ss.str(), [&](const linkage::CsvRow& row) {
    if (row.row_index == 0) {
      auto s = linkage::domain::PersonCsvSchema::Create(row.fields);
      if (!s.ok()) Fail("fixture header", s.status().ToString());
      schema = *std::move(s);
    } else {
      auto r = schema->ToRecord(row);
      if (!r.ok()) Fail("fixture row", r.status().ToString());
      out.push_back(*std::move(r));
    }
    return true;
  });
  if (!st.ok() || out.empty()) Fail("fixture register", st.ToString());
  return out;
}

void RemoveDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

World& TheWorld() {
  static World* world = [] {
    auto* w = new World;
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/linkd-fuzz-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) Fail("mkdtemp");
    w->dir = tmpl;
    static std::string dir_to_remove = w->dir;
    atexit([] { RemoveDir(dir_to_remove); });

    linkage::index::StoreOptions so;
    so.block_cache_mib = 16;
    auto store = linkage::index::Store::Open(so, w->dir + "/db");
    if (!store.ok()) Fail("store opens", store.status().ToString());
    w->store = *std::move(store);
    auto engine = linkage::engine::Engine::Create({}, w->store.get(),
                                                  linkage::model::DefaultVietnameseModel());
    if (!engine.ok()) Fail("engine starts", engine.status().ToString());
    w->engine = *std::move(engine);

    std::vector<v1::PersonRecord> records = FixtureRegister();
    linkage::synth::PopulationOptions po;
    po.seed = 11;
    po.size = 300;
    po.province_2025 = "19";
    const linkage::synth::Population population(po);
    for (const auto& p : population.people()) {
      if (p.in_register) records.push_back(p.record);
    }
    for (const auto& r : records) w->register_records[r.record_id()] = r;
    auto written = w->engine->Upsert(kRegister, records);
    if (!written.ok()) Fail("register upserts", written.status().ToString());
    return w;
  }();
  return *world;
}

bool ValidDataset(const std::string& name) { return linkage::domain::IsValidDatasetName(name); }

void CheckMatch(const v1::MatchResult& result, int top_k) {
  Check(result.candidates_size() <= top_k, "at most top_k candidates");
  double previous = INFINITY;
  for (const v1::Candidate& c : result.candidates()) {
    Check(c.probability() >= 0.0 && c.probability() <= 1.0, "probability in [0, 1]");
    Check(!std::isnan(c.match_weight()), "match weight is a number");
    Check(c.match_weight() <= previous, "candidates ranked by weight");
    previous = c.match_weight();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Requests with invalid UTF-8 in string fields fail to parse, as in the
  // server; protobuf's log line for each would drown the fuzzer's output.
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  (void)TheWorld();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = TheWorld();
  if (size < 3) return 0;
  const uint8_t mode = data[0];
  const size_t upsert_size = std::min<size_t>(data[1] | (size_t{data[2]} << 8), size - 3);
  const uint8_t* upsert_bytes = data + 3;
  const uint8_t* match_bytes = upsert_bytes + upsert_size;
  const size_t match_size = size - 3 - upsert_size;

  // 1. UpsertRecords.
  v1::UpsertRecordsRequest upsert;
  std::string written_dataset;
  std::vector<std::string> written_ids;
  if (upsert_size > 0 && upsert.ParseFromArray(upsert_bytes, static_cast<int>(upsert_size)) &&
      ValidDataset(upsert.dataset()) && upsert.records_size() <= kMaxBatchRecords) {
    linkage::engine::UpsertOptions uo;
    uo.allow_partial = upsert.allow_partial();
    uo.default_unit_version = upsert.default_unit_version();
    uo.strict_dates = upsert.strict_dates();
    std::vector<v1::PersonRecord> records(upsert.records().begin(), upsert.records().end());
    auto results = w.engine->Upsert(upsert.dataset(), std::move(records), uo);
    if (results.ok()) {
      Check(results->size() == static_cast<size_t>(upsert.records_size()), "one result per record");
      written_dataset = upsert.dataset();
      for (size_t i = 0; i < results->size(); ++i) {
        if ((*results)[i].status.ok()) {
          written_ids.push_back(upsert.records(static_cast<int>(i)).record_id());
        }
      }
      for (const std::string& id : written_ids) {
        auto got = w.engine->Get(written_dataset, id);
        Check(got.ok() && got->has_value(), "a written record can be read back",
              got.ok() ? id : got.status().ToString());
      }
    } else {
      Check(results.status().code() == absl::StatusCode::kInvalidArgument,
            "upsert errors are invalid", results.status().ToString());
    }
  }

  // 2. Match (and Verify, for a claimed identity).
  v1::MatchRequest match;
  if (match.ParseFromArray(match_bytes, static_cast<int>(match_size)) &&
      ValidDataset(match.dataset())) {
    linkage::engine::MatchOptions mo;
    mo.top_k = match.top_k() == 0 ? 5 : match.top_k();
    mo.include_records = match.include_records();
    mo.explain = !match.omit_explanation();
    mo.include_query = !match.omit_explanation();
    mo.exclude_record_id = match.exclude_record_id();
    mo.strict_dates = match.strict_dates();
    auto result = w.engine->Match(match.record(), match.dataset(), mo);
    if (result.ok()) {
      CheckMatch(*result, mo.top_k);
    } else {
      Check(result.status().code() == absl::StatusCode::kInvalidArgument ||
                result.status().code() == absl::StatusCode::kNotFound,
            "match errors are invalid or not found", result.status().ToString());
    }
    if ((mode & 1) && !match.record().national_id().empty()) {
      v1::MatchResult ranking;
      linkage::engine::Engine::VerifyOptions vo;
      vo.strict_dates = match.strict_dates();
      vo.match = &ranking;
      vo.match_top_k = mo.top_k;
      auto verified = w.engine->Verify(match.record(), match.dataset(), vo);
      if (verified.ok()) CheckMatch(ranking, std::max(1, std::min(mo.top_k, 1000)));
    }
  }

  // 3. Back to the starting store.
  for (const std::string& id : written_ids) {
    auto deleted = w.engine->Delete(written_dataset, id);
    Check(deleted.ok(), "delete succeeds", deleted.ok() ? id : deleted.status().ToString());
  }
  if (written_dataset == kRegister) {
    std::vector<v1::PersonRecord> restore;
    for (const std::string& id : written_ids) {
      auto it = w.register_records.find(id);
      if (it != w.register_records.end()) restore.push_back(it->second);
    }
    if (!restore.empty()) {
      auto restored = w.engine->Upsert(kRegister, std::move(restore));
      Check(restored.ok(), "register restored", restored.status().ToString());
    }
  }
  return 0;
}
