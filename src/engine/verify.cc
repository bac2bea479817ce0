// Verify: is the holder of a claimed identity number the person the claim
// describes? Decided on the ranking's per-field levels, with the model that
// ranked.
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "internal.h"
#include "linkage/engine.h"
#include "linkage/flags.h"
#include "linkage/names.h"
#include "linkage/similarity.h"

namespace linkage::engine {

using internal::BandFor;
using internal::HoldsNameWords;
using internal::IdKey;
using internal::kQueryId;

absl::StatusOr<v1::Verification> Engine::Verify(const v1::PersonRecord& claim,
                                                std::string_view dataset,
                                                bool lenient_dates) const {
  VerifyOptions options;
  options.lenient_dates = lenient_dates;
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
  normalize.lenient_dates = normalize.lenient_dates || options.lenient_dates;
  auto query = domain::NormalizeRecord(copy, normalize);
  if (!query.ok()) return query.status();
  if (IdKey(query->national_id()).empty() && IdKey(query->old_id()).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("record \"", claim.record_id(), "\": national_id \"", claim.national_id(),
                     "\" is neither a 12-digit CCCD nor a 9-digit CMND"));
  }
  // One model for the ranking and every decision made on it.
  return VerifyNormalized(*serving(), *query, claim.record_id(), dataset, options);
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
  auto match = Rank(serving_now, *query, dataset, mo, 20, &ranked, &found);
  if (!match.ok()) return match.status();
  const std::shared_ptr<const model::CompiledModel>& m = serving_now.model;
  const std::vector<std::string>& holders =
      use_national ? found.national_holders : found.old_holders;

  v1::Verification v;
  v.set_model_version(match->model_version());
  v.set_uncalibrated(match->uncalibrated());
  std::set<std::string> flags(match->flags().begin(), match->flags().end());
  flags.erase(flag::kIdConflict);  // Re-derived below against the holder.

  const Ranked* best = ranked.empty() ? nullptr : &ranked[0];
  const Ranked* holder = nullptr;
  for (const Ranked& c : ranked) {
    if (std::find(holders.begin(), holders.end(), c.record_id) != holders.end()) {
      holder = &c;  // The best-scoring holder (candidates are ranked).
      break;
    }
  }
  const int name_field = m->FieldIndex(v1::FIELD_SOURCE_FULL_NAME);
  auto name_is_else = [&m, name_field](const Ranked& c) {
    return name_field >= 0 &&
           m->LevelKindOf(static_cast<size_t>(name_field),
                          c.outcomes[static_cast<size_t>(name_field)].level) == v1::LEVEL_ELSE;
  };
  const Ranked* target = nullptr;
  if (holder != nullptr) {
    v.set_id_holder(holder->record_id);
    // The ID holder's name at the "different" level. That level also takes
    // one-letter given-name differences (siblings and twins look like that),
    // so such a holder is never VERIFIED; if the names are wholly unlike
    // (other family name and given name) the claim is REJECTED; if another
    // register person fits the claim's name, the ID is probably a
    // relative's (ID_CONFLICT).
    const bool holder_name_differs = name_is_else(*holder);
    const Ranked* name_fits = nullptr;  // Best other candidate agreeing on the name.
    for (const Ranked& c : ranked) {
      if (&c != holder && !name_is_else(c) && c.band != v1::BAND_NO_MATCH) {
        name_fits = &c;
        break;
      }
    }
    bool wholly_unlike = false;
    if (holder_name_differs) {
      auto name = found.holder_names.find(holder->record_id);
      if (name != found.holder_names.end()) {
        const v1::NormalizedName& a = query->name();
        const v1::NormalizedName& b = name->second;
        std::string fa = text::FoldedFamily(a), fb = text::FoldedFamily(b);
        wholly_unlike =
            fa != fb && !text::AreFamilyVariants(fa, fb) &&
            model::DamerauLevenshtein(text::FoldedGiven(a), text::FoldedGiven(b), 1) > 1 &&
            !HoldsNameWords(a, b) && !HoldsNameWords(b, a);
      }
    }
    if (holder_name_differs && name_fits != nullptr) {
      target = name_fits;
      flags.insert(flag::kIdConflict);
      v.set_decision(v1::REVIEW);
      v.add_reasons(absl::StrCat("the ID belongs to record ", holder->record_id,
                                 ", but the claimed name fits record ", name_fits->record_id,
                                 " (a relative's ID?)"));
    } else if (holder_name_differs && wholly_unlike) {
      target = holder;
      v.set_decision(v1::REJECTED);
      v.add_reasons("the claimed name is not the ID holder's name");
    } else if (holder_name_differs && best == holder && match->band() != v1::BAND_NO_MATCH) {
      target = holder;
      v.set_decision(v1::REVIEW);
      v.add_reasons("the claimed given name differs from the ID holder's");
    } else if (best == holder) {
      target = holder;
      if (match->band() == v1::BAND_MATCH) {
        v.set_decision(v1::VERIFIED);
        v.add_reasons("the ID's holder matches the claim");
      } else if (match->band() == v1::BAND_REVIEW) {
        v.set_decision(v1::REVIEW);
        v.add_reasons(flags.count(flag::kAmbiguous)
                          ? "the ID's holder matches, but another register person is close"
                          : "the ID's holder matches the claim only in part");
      } else {
        v.set_decision(v1::REJECTED);
        v.add_reasons("the ID's holder does not match the claimed name, date of birth or address");
      }
    } else {
      flags.insert(flag::kIdConflict);
      if (best->band != v1::BAND_NO_MATCH) {
        target = best;
        v.set_decision(v1::REVIEW);
        v.add_reasons(absl::StrCat("the ID belongs to record ", holder->record_id,
                                   ", but the claim describes record ", best->record_id));
      } else {
        target = holder;
        v.set_decision(v1::REJECTED);
        v.add_reasons(absl::StrCat("the ID belongs to record ", holder->record_id,
                                   ", whom the claim does not describe"));
      }
    }
  } else if (!holders.empty()) {
    // Holders exist but were not among the scored candidates (capped).
    flags.insert(flag::kIdConflict);
    v.set_id_holder(holders[0]);
    v.set_decision(v1::REVIEW);
    v.add_reasons("the ID's holder could not be compared with the claim");
  } else {
    // The claimant's own register record, with the ID one keystroke off:
    // a typo, not another person, when everything else makes it a match.
    bool id_typo = false;
    if (best != nullptr && match->band() == v1::BAND_MATCH) {
      int f = m->FieldIndex(query->national_id().digits().empty() ? v1::FIELD_SOURCE_OLD_ID
                                                                  : v1::FIELD_SOURCE_NATIONAL_ID);
      id_typo = f >= 0 && m->LevelKindOf(static_cast<size_t>(f),
                                         best->outcomes[static_cast<size_t>(f)].level) ==
                              v1::LEVEL_ID_ONE_EDIT;
    }
    if (id_typo) {
      target = best;
      flags.insert(flag::kIdTypo);
      v.set_decision(v1::VERIFIED);
      v.add_reasons(absl::StrCat("the claim matches record ", best->record_id,
                                 ", whose ID differs from the claimed one by one digit"));
    } else if (best != nullptr && best->band != v1::BAND_NO_MATCH) {
      flags.insert(flag::kIdNotInRegister);
      target = best;
      v.set_decision(v1::REVIEW);
      v.add_reasons(absl::StrCat("no register person holds the ID; the claim describes record ",
                                 best->record_id));
    } else {
      flags.insert(flag::kIdNotInRegister);
      v.set_decision(v1::NOT_FOUND);
      v.add_reasons("neither the ID nor the person is in the register");
    }
  }
  if (flags.count(flag::kCccdSexMismatch) || flags.count(flag::kCccdYearMismatch)) {
    flags.insert(flag::kIdInconsistent);
    v.add_reasons("the ID's digits disagree with the claimed sex or birth year");
  }
  if (target != nullptr) {
    v.set_record_id(target->record_id);
    v.set_probability(target->probability);
    m->ExplainLevels(target->outcomes.data(), v.mutable_contributions());
  }
  for (const std::string& f : flags) v.add_flags(f);
  if (options.match != nullptr) *options.match = *std::move(match);
  return v;
}

}  // namespace linkage::engine
