#include "convert.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace linkage::service {
namespace {

// Bounds of the TrainModel request (documented in service.proto).
constexpr int64_t kMaxTrainQueries = 1000000;
constexpr int64_t kMaxTrainUPairs = 100000000;

engine::MatchOptions MatchOptionsOf(int32_t top_k, bool include_records, bool omit_explanation,
                                    const std::string& exclude_record_id, bool strict_dates) {
  engine::MatchOptions mo;
  mo.top_k = top_k == 0 ? 5 : top_k;
  mo.include_records = include_records;
  mo.explain = !omit_explanation;
  mo.include_query = !omit_explanation;
  mo.exclude_record_id = exclude_record_id;
  mo.strict_dates = strict_dates;
  return mo;
}

v1::WriteOutcome OutcomeOf(index::WriteOutcome outcome) {
  switch (outcome) {
    case index::WriteOutcome::kCreated:
      return v1::CREATED;
    case index::WriteOutcome::kUpdated:
      return v1::UPDATED;
    case index::WriteOutcome::kUnchanged:
      break;
  }
  return v1::UNCHANGED;
}

void ToProto(const engine::DuplicateLink& link, v1::DuplicateLink* out) {
  out->set_dataset_a(link.dataset_a);
  out->set_record_a(link.record_a);
  out->set_dataset_b(link.dataset_b);
  out->set_record_b(link.record_b);
  out->set_probability(link.probability);
  out->set_match_weight(link.match_weight);
  out->set_via_register(link.via_register);
}

}  // namespace

engine::MatchOptions MatchOptionsFrom(const v1::MatchRequest& request) {
  return MatchOptionsOf(request.top_k(), request.include_records(), request.omit_explanation(),
                        request.exclude_record_id(), request.strict_dates());
}

engine::MatchOptions MatchOptionsFrom(const v1::MatchStreamRequest& request) {
  return MatchOptionsOf(request.top_k(), /*include_records=*/false, request.omit_explanation(),
                        request.exclude_record_id(), request.strict_dates());
}

engine::Engine::VerifyOptions VerifyOptionsFrom(const v1::MatchStreamRequest& request,
                                                v1::MatchResult* match) {
  engine::Engine::VerifyOptions vo;
  vo.strict_dates = request.strict_dates();
  vo.exclude_record_id = request.exclude_record_id();
  vo.match = match;
  vo.match_top_k = request.top_k() == 0 ? 5 : request.top_k();
  vo.match_explain = !request.omit_explanation();
  return vo;
}

engine::UpsertOptions UpsertOptionsFrom(const v1::UpsertRecordsRequest& request) {
  engine::UpsertOptions uo;
  uo.allow_partial = request.allow_partial();
  uo.default_unit_version = request.default_unit_version();
  uo.strict_dates = request.strict_dates();
  return uo;
}

absl::StatusOr<engine::TrainOptions> TrainOptionsFrom(const v1::TrainModelRequest& request) {
  if (request.max_queries() < 0 || request.max_queries() > kMaxTrainQueries) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_queries must be 0..", kMaxTrainQueries, " (0: default)"));
  }
  if (request.u_pairs() < 0 || request.u_pairs() > kMaxTrainUPairs) {
    return absl::InvalidArgumentError(
        absl::StrCat("u_pairs must be 0..", kMaxTrainUPairs, " (0: default)"));
  }
  engine::TrainOptions o;
  o.dataset = request.dataset();
  o.link_dataset = request.link_dataset();
  if (request.max_queries() > 0) o.max_queries = request.max_queries();
  if (request.u_pairs() > 0) o.u_pairs = request.u_pairs();
  if (request.seed() > 0) o.seed = request.seed();
  return o;
}

engine::DedupeOptions DedupeOptionsFrom(const v1::FindDuplicatesRequest& request) {
  engine::DedupeOptions o;
  o.dataset = request.dataset();
  o.against = request.against();
  o.register_dataset = request.register_dataset();
  o.threshold = request.threshold();
  if (request.top_k() != 0) o.top_k = request.top_k();
  return o;
}

engine::ConflictOptions ConflictOptionsFrom(const v1::FindConflictsRequest& request) {
  engine::ConflictOptions o;
  o.dataset = request.dataset();
  o.against = request.against();
  return o;
}

void ToResponse(const std::vector<engine::UpsertResult>& results,
                const v1::UpsertRecordsRequest& request, v1::UpsertRecordsResponse* response) {
  for (size_t i = 0; i < results.size(); ++i) {
    const engine::UpsertResult& r = results[i];
    v1::RecordWriteResult* out = response->add_results();
    out->set_index(static_cast<int32_t>(i));
    out->set_record_id(request.records(static_cast<int>(i)).record_id());
    if (!r.status.ok()) {
      out->set_outcome(v1::REJECTED_INVALID);
      out->set_error(std::string(r.status.message()));
    } else {
      out->set_outcome(OutcomeOf(r.outcome));
    }
  }
}

void ToResponse(const v1::StoredRecord& stored, bool include_normalized,
                v1::GetRecordResponse* response) {
  *response->mutable_record() = stored.record();
  if (include_normalized) *response->mutable_normalized() = stored.normalized();
  response->set_updated_unix_micros(stored.updated_unix_micros());
}

void ToResponse(const index::StoreStats& stats, v1::GetStatsResponse* response) {
  for (const auto& d : stats.datasets) {
    auto* out = response->add_datasets();
    out->set_name(d.dataset);
    out->set_records(d.records);
  }
  for (const auto& cf : stats.column_families) {
    auto* out = response->add_column_families();
    out->set_name(cf.name);
    out->set_estimated_keys(cf.estimated_keys);
    out->set_live_data_bytes(cf.live_data_bytes);
    out->set_sst_bytes(cf.sst_bytes);
  }
  for (const auto& v : stats.views) {
    auto* out = response->add_match_views();
    out->set_dataset(v.dataset);
    out->set_ready(v.ready);
    out->set_records(v.records);
    out->set_block_keys(v.block_keys);
    out->set_bytes(v.bytes);
    out->set_source(v.source);
  }
}

void ToResponse(const index::ReindexState& state, int64_t total, v1::GetStatsResponse* response) {
  response->set_reindex_in_progress(true);
  response->set_reindex_done(state.done);
  response->set_reindex_total(total);
}

void ToResponse(const index::CheckReport& report, v1::CheckIndexResponse* response) {
  response->set_records(report.records);
  response->set_block_entries(report.block_entries);
  response->set_id_entries(report.id_entries);
  response->set_problem_count(report.problem_count);
  for (const auto& p : report.problems) response->add_problems(p);
}

void ToResponse(const engine::TrainedModel& trained, v1::TrainModelResponse* response) {
  const engine::TrainReport& r = trained.report;
  *response->mutable_model() = trained.model;
  response->set_u_pairs(r.u_pairs);
  response->set_m_pairs(r.m_pairs);
  response->set_queries(r.queries);
  response->set_iterations(r.max_iterations_run);
  response->set_converged(r.converged);
  response->set_match_share(r.match_share);
  for (const auto& line : r.sessions) response->add_sessions(line);
  if (trained.installed) {
    response->set_installed(true);
    response->set_previous_version(trained.previous_version);
  }
}

void ToResponse(const engine::ReindexReport& report, v1::ReindexResponse* response) {
  response->set_records(report.records);
  response->set_generation(report.generation);
  response->set_previous_version(report.previous_version);
  response->set_version(report.version);
  response->set_resumed(report.resumed);
}

void ToResponse(const engine::DedupeReport& report, v1::FindDuplicatesResponse* response) {
  response->set_records(report.records);
  response->set_links(report.links);
  response->set_threshold(report.threshold);
  response->set_model_version(report.model_version);
  for (const engine::DuplicateCluster& c : report.clusters) {
    v1::DuplicateCluster* out = response->add_clusters();
    for (const auto& [dataset, id] : c.members) {
      v1::DuplicateCluster::Member* m = out->add_members();
      m->set_dataset(dataset);
      m->set_record_id(id);
    }
    for (const engine::DuplicateLink& l : c.tree) ToProto(l, out->add_tree());
    ToProto(c.weakest, out->mutable_weakest());
    for (const v1::FieldContribution& f : c.weakest_explanation) {
      *out->add_weakest_contributions() = f;
    }
  }
}

void ToResponse(const engine::ConflictReport& report, v1::FindConflictsResponse* response) {
  response->set_records(report.records);
  response->set_model_version(report.model_version);
  for (const engine::Conflict& c : report.conflicts) {
    v1::IdentityConflict* out = response->add_conflicts();
    out->set_kind(std::string(engine::ConflictKindName(c.kind)));
    out->set_national_id(c.national_id);
    out->set_record_id(c.record_id);
    out->set_other_dataset(c.other_dataset);
    out->set_other_record_id(c.other_record_id);
    out->set_probability(c.probability);
    out->set_detail(c.detail);
    for (const v1::FieldContribution& f : c.fields) *out->add_fields() = f;
  }
}

void SetError(const absl::Status& status, v1::MatchStreamResponse* response) {
  if (status.ok()) return;
  response->set_error_code(static_cast<int32_t>(status.code()));
  response->set_error_message(std::string(status.message()));
}

void RedactForVerifyOnly(v1::Verification* v) {
  std::vector<std::string> flags;
  for (const std::string& f : v->flags()) {
    if (f == "ID_NOT_IN_REGISTER" || f == "ID_INCONSISTENT" || f.rfind("DATE_", 0) == 0)
      flags.push_back(f);
  }
  const char* code = "CLAIM_UNCERTAIN";
  switch (v->decision()) {
    case v1::VERIFIED:
      code = "CLAIM_MATCHES";
      break;
    case v1::REJECTED:
      code = "CLAIM_DIFFERS";
      break;
    case v1::NOT_FOUND:
      code = "NOT_IN_REGISTER";
      break;
    default:
      break;
  }
  const double probability = std::floor(v->probability() * 10 + 1e-9) / 10;
  v1::Verification out;
  out.set_decision(v->decision());
  out.set_probability(std::clamp(probability, 0.0, 1.0));
  out.set_model_version(v->model_version());
  out.set_uncalibrated(v->uncalibrated());
  out.add_reasons(code);
  for (const std::string& f : flags) {
    if (f.rfind("ID_", 0) == 0) out.add_reasons(f);
    out.add_flags(f);
  }
  *v = std::move(out);
}

}  // namespace linkage::service
