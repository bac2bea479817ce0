#include "decide.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "internal.h"
#include "linkage/flags.h"
#include "linkage/name_likeness.h"

namespace linkage::engine::internal {
namespace {}  // namespace

bool NameDiffers(const model::CompiledModel& m, const model::FieldOutcome* outcomes) {
  const int f = m.FieldIndex(v1::FIELD_SOURCE_FULL_NAME);
  if (f < 0) return false;
  const v1::LevelKind kind =
      m.LevelKindOf(static_cast<size_t>(f), outcomes[static_cast<size_t>(f)].level);
  return kind == v1::LEVEL_ELSE || kind == v1::LEVEL_NAME_TYPO;
}

v1::Band DecideBand(const model::CompiledModel& m, const BandFacts& facts,
                    std::set<std::string>* flags) {
  const v1::DecisionPolicy& policy = m.proto().policy();
  v1::Band band = BandFor(facts.best_probability, policy);
  if (band == v1::BAND_MATCH && facts.margin_bits < policy.min_margin_bits()) {
    band = v1::BAND_REVIEW;
    flags->insert(flag::kAmbiguous);
  }
  // Names that differ never make an automatic match on the other fields
  // alone: a twin or sibling at the same address with the same date of
  // birth looks exactly like that. The claimed ID settles it when the name
  // is the holder's as typing leaves it and fits nobody else.
  if (NameDiffers(m, facts.best_outcomes)) {
    const bool unrivalled = !facts.id_held_by_other && !facts.other_fits_name;
    const bool holder_typo = (facts.name_typo || facts.name_typos) && facts.best_holds_id;
    const bool nobodys_name = facts.typo_makes_no_other_name && !facts.other_typing_variant;
    if (unrivalled && (holder_typo || nobodys_name)) {
      flags->insert(flag::kNameTypo);
    } else {
      flags->insert(flag::kNameDiffers);
      if (band == v1::BAND_MATCH) band = v1::BAND_REVIEW;
    }
  }
  // The claimed identity number belongs to someone other than the best
  // candidate: never an automatic match.
  if (facts.id_held_by_other) {
    flags->insert(flag::kIdConflict);
    if (band == v1::BAND_MATCH) band = v1::BAND_REVIEW;
  }
  return band;
}

v1::Band CandidateBand(size_t rank, v1::Band answer_band, v1::Band own) {
  if (rank == 0) return answer_band;
  return own == v1::BAND_MATCH ? v1::BAND_REVIEW : own;
}

VerifyVerdict DecideVerification(const model::CompiledModel& m, const VerifyFacts& facts) {
  const std::vector<Ranked>& ranked = *facts.ranked;
  const std::vector<std::string>& holders = *facts.holders;
  VerifyVerdict v;
  v.flags = facts.flags;
  std::set<std::string>& flags = v.flags;
  flags.erase(flag::kIdConflict);  // Re-derived below against the holder.

  const Ranked* best = ranked.empty() ? nullptr : &ranked[0];
  const Ranked* holder = nullptr;
  for (const Ranked& c : ranked) {
    if (std::find(holders.begin(), holders.end(), c.record_id) != holders.end()) {
      holder = &c;  // The best-scoring holder (candidates are ranked).
      break;
    }
  }
  auto name_differs = [&m](const Ranked& c) { return NameDiffers(m, c.outcomes.data()); };
  // Whether a field of the claim is at its "different" level against `c`
  // (both sides known).
  auto differs = [&m](const Ranked& c, v1::FieldSource source) {
    const int f = m.FieldIndex(source);
    return f >= 0 && m.LevelKindOf(static_cast<size_t>(f),
                                   c.outcomes[static_cast<size_t>(f)].level) == v1::LEVEL_ELSE;
  };
  auto decide = [&v](const Ranked* target, v1::VerifyDecision decision, std::string reason) {
    v.target = target;
    v.decision = decision;
    v.reasons.push_back(std::move(reason));
  };
  if (holder != nullptr) {
    v.id_holder = holder->record_id;
    // The ID holder's name at the "typo" or "different" level: one-letter
    // given-name differences are siblings and twins as often as typos, so
    // such a holder is not VERIFIED on its own; if the names are wholly
    // unlike (other family name and given name) the claim is REJECTED; if
    // another register person fits the claim's name, the ID is probably a
    // relative's (ID_CONFLICT). A typing error in the holder's own name, with the ID and the other
    // fields agreeing (the answer took no cap for it: NAME_TYPO), is the
    // holder: decided on the band like a name that agrees.
    const bool typo_only = best == holder && flags.count(flag::kNameTypo) > 0;
    const bool holder_name_differs = name_differs(*holder) && !typo_only;
    const Ranked* name_fits = nullptr;  // Best other candidate agreeing on the name.
    for (const Ranked& c : ranked) {
      if (&c != holder && !name_differs(c) && c.band != v1::BAND_NO_MATCH) {
        name_fits = &c;
        break;
      }
    }
    bool wholly_unlike = false;
    if (holder_name_differs && facts.claim_name != nullptr) {
      auto name = facts.holder_names->find(holder->record_id);
      wholly_unlike = name != facts.holder_names->end() &&
                      model::NamesWhollyUnlike(*facts.claim_name, name->second);
    }
    if (holder_name_differs && name_fits != nullptr) {
      flags.insert(flag::kIdConflict);
      decide(name_fits, v1::REVIEW,
             absl::StrCat("the ID belongs to record ", holder->record_id,
                          ", but the claimed name fits record ", name_fits->record_id,
                          " (a relative's ID?)"));
    } else if (holder_name_differs && wholly_unlike) {
      decide(holder, v1::REJECTED, "the claimed name is not the ID holder's name");
    } else if (holder_name_differs && best == holder && facts.answer_band != v1::BAND_NO_MATCH) {
      decide(holder, v1::REVIEW, "the claimed given name differs from the ID holder's");
    } else if (best == holder) {
      // The ID, the name and the place are what a document copied from
      // shows; a claim that gets the holder's date of birth or sex wrong as
      // well is not the holder's own word, however heavy the rest.
      const bool date_differs = differs(*holder, v1::FIELD_SOURCE_BIRTH_DATE);
      const bool sex_differs = differs(*holder, v1::FIELD_SOURCE_SEX);
      if (date_differs) flags.insert(flag::kHolderDateDiffers);
      if (sex_differs) flags.insert(flag::kHolderSexDiffers);
      if (facts.answer_band == v1::BAND_MATCH && (date_differs || sex_differs)) {
        decide(holder, v1::REVIEW,
               "the ID's holder has the claimed name, but not the claimed date of birth or sex");
      } else if (facts.answer_band == v1::BAND_MATCH) {
        decide(holder, v1::VERIFIED,
               typo_only ? "the ID's holder matches the claim; the names differ by a typing error"
                         : "the ID's holder matches the claim");
      } else if (facts.answer_band == v1::BAND_REVIEW) {
        decide(holder, v1::REVIEW,
               flags.count(flag::kAmbiguous)
                   ? "the ID's holder matches, but another register person is close"
                   : "the ID's holder matches the claim only in part");
      } else {
        decide(holder, v1::REJECTED,
               "the ID's holder does not match the claimed name, date of birth or address");
      }
    } else {
      flags.insert(flag::kIdConflict);
      if (best->band != v1::BAND_NO_MATCH) {
        decide(best, v1::REVIEW,
               absl::StrCat("the ID belongs to record ", holder->record_id,
                            ", but the claim describes record ", best->record_id));
      } else {
        decide(holder, v1::REJECTED,
               absl::StrCat("the ID belongs to record ", holder->record_id,
                            ", whom the claim does not describe"));
      }
    }
  } else if (!holders.empty()) {
    // Holders exist but were not among the scored candidates (capped).
    flags.insert(flag::kIdConflict);
    v.id_holder = holders[0];
    decide(nullptr, v1::REVIEW, "the ID's holder could not be compared with the claim");
  } else {
    // The claimant's own register record, with the ID one keystroke off:
    // a typo, not another person, when everything else makes it a match.
    bool id_typo = false;
    if (best != nullptr && facts.answer_band == v1::BAND_MATCH) {
      const int f = m.FieldIndex(facts.id_field);
      id_typo = f >= 0 && m.LevelKindOf(static_cast<size_t>(f),
                                        best->outcomes[static_cast<size_t>(f)].level) ==
                              v1::LEVEL_ID_ONE_EDIT;
    }
    if (id_typo) {
      flags.insert(flag::kIdTypo);
      decide(best, v1::VERIFIED,
             absl::StrCat("the claim matches record ", best->record_id,
                          ", whose ID differs from the claimed one by one digit"));
    } else if (best != nullptr && best->band != v1::BAND_NO_MATCH) {
      flags.insert(flag::kIdNotInRegister);
      decide(best, v1::REVIEW,
             absl::StrCat("no register person holds the ID; the claim describes record ",
                          best->record_id));
    } else {
      flags.insert(flag::kIdNotInRegister);
      decide(nullptr, v1::NOT_FOUND, "neither the ID nor the person is in the register");
    }
  }
  if (flags.count(flag::kCccdSexMismatch) || flags.count(flag::kCccdYearMismatch)) {
    flags.insert(flag::kIdInconsistent);
    v.reasons.push_back("the ID's digits disagree with the claimed sex or birth year");
  }
  return v;
}

}  // namespace linkage::engine::internal
