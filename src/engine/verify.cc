// Verify: is the holder of a claimed identity number the person the claim
// describes? Decided on the ranking's per-field levels, with the model that
// ranked.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "decide.h"
#include "internal.h"
#include "linkage/engine.h"

namespace linkage::engine {

using internal::DecideVerification;
using internal::IdKey;
using internal::kQueryId;
using internal::Ranked;
using internal::RankExtras;
using internal::VerifyFacts;
using internal::VerifyVerdict;

absl::StatusOr<v1::Verification> Engine::Verify(const v1::PersonRecord& claim,
                                                std::string_view dataset, bool strict_dates) const {
  VerifyOptions options;
  options.strict_dates = strict_dates;
  return Verify(claim, dataset, options);
}

absl::StatusOr<v1::Verification> Engine::Verify(const v1::PersonRecord& claim,
                                                std::string_view dataset,
                                                const VerifyOptions& options) const {
  if (claim.national_id().empty() && claim.old_id().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("record \"", claim.record_id(),
                     "\": national_id is required to verify a claimed identity"));
  }
  v1::PersonRecord copy = claim;
  if (copy.record_id().empty()) copy.set_record_id(std::string(kQueryId));
  domain::NormalizeOptions normalize = options_.normalize;
  normalize.strict_dates = normalize.strict_dates || options.strict_dates;
  LINKD_ASSIGN_OR_RETURN(auto query, domain::NormalizeRecord(copy, normalize));
  if (IdKey(query.national_id()).empty() && IdKey(query.old_id()).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("record \"", claim.record_id(), "\": national_id \"", claim.national_id(),
                     "\" is neither a 12-digit CCCD nor a 9-digit CMND"));
  }
  // One model for the ranking and every decision made on it.
  return VerifyNormalized(*serving(), query, claim.record_id(), dataset, options);
}

absl::StatusOr<v1::Verification> Engine::VerifyNormalized(const Serving& serving_now,
                                                          const v1::NormalizedRecord& normalized,
                                                          const std::string& claim_record_id,
                                                          std::string_view dataset,
                                                          const VerifyOptions& options) const {
  const v1::NormalizedRecord* query = &normalized;
  const bool use_national = !IdKey(query->national_id()).empty();
  if (!use_national && IdKey(query->old_id()).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "record \"", claim_record_id, "\": national_id is required to verify a claimed identity"));
  }
  // The decision reads the first 20 candidates' levels; explanations are
  // built only for the candidates handed back.
  MatchOptions mo;
  mo.top_k = std::max(1, std::min(options.match_top_k, 1000));
  mo.exclude_record_id = options.exclude_record_id;
  mo.explain = options.match != nullptr && options.match_explain;
  mo.include_query = options.match != nullptr && options.match_explain;
  std::vector<Ranked> ranked;
  RankExtras found;
  LINKD_ASSIGN_OR_RETURN(auto match, Rank(serving_now, *query, dataset, mo, 20, &ranked, &found));
  const std::shared_ptr<const model::CompiledModel>& m = serving_now.model;

  VerifyFacts facts;
  facts.ranked = &ranked;
  facts.holders = use_national ? &found.national_holders : &found.old_holders;
  facts.holder_names = &found.holder_names;
  facts.claim_name = &query->name();
  facts.answer_band = match.band();
  facts.id_field = query->national_id().digits().empty() ? v1::FIELD_SOURCE_OLD_ID
                                                         : v1::FIELD_SOURCE_NATIONAL_ID;
  facts.flags.insert(match.flags().begin(), match.flags().end());
  VerifyVerdict verdict = DecideVerification(*m, facts);

  v1::Verification v;
  v.set_model_version(match.model_version());
  v.set_uncalibrated(match.uncalibrated());
  v.set_decision(verdict.decision);
  v.set_id_holder(verdict.id_holder);
  for (std::string& r : verdict.reasons) v.add_reasons(std::move(r));
  if (verdict.target != nullptr) {
    v.set_record_id(verdict.target->record_id);
    v.set_probability(verdict.target->probability);
    m->ExplainLevels(verdict.target->outcomes.data(), v.mutable_contributions());
  }
  for (const std::string& f : verdict.flags) v.add_flags(f);
  if (options.match != nullptr) *options.match = std::move(match);
  return v;
}

}  // namespace linkage::engine
