// The engine's decisions as pure functions over ranked levels: the band of a
// Match answer and the outcome of a Verify. They read only what the ranking
// produced (per-field outcomes, probabilities, who holds the claimed ID), so
// they are unit-tested without a store (tests/unit/decide_test.cc).
// Internal to the engine layer.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "linkage/model.h"
#include "linkage/v1/match.pb.h"
#include "linkage/v1/record.pb.h"

namespace linkage::engine::internal {

// One ranked candidate with its per-field outcomes. `band` is the band the
// answer gives it: the first candidate carries the answer's band, the others
// at most REVIEW (CandidateBand).
struct Ranked {
  std::string record_id;
  double probability = 0;
  double weight = 0;  // Match weight, bits.
  v1::Band band = v1::BAND_NO_MATCH;
  std::vector<model::FieldOutcome> outcomes;
};

// What Rank found besides the ranking, so Verify need not look again: the
// holders of the query's CCCD and CMND (as the ids index lists them) and the
// normalized names of the holders among the ranked candidates.
struct RankExtras {
  std::vector<std::string> national_holders, old_holders;
  std::map<std::string, v1::NormalizedName> holder_names;
};

// The facts a Match answer's band is decided on.
struct BandFacts {
  double best_probability = 0;
  // Best minus second-best weight, bits (+inf with one candidate).
  double margin_bits = 0;
  // The best candidate's outcomes, one per model field.
  const model::FieldOutcome* best_outcomes = nullptr;
  // The query's identity number is held by someone other than the best.
  bool id_held_by_other = false;
  // The query's identity number is the best candidate's.
  bool best_holds_id = false;
  // The query's name is the best's as typing leaves it
  // (model::IsTypingVariant).
  bool name_typo = false;
  // Another candidate, not in the NO_MATCH band, has a name that agrees
  // with the query's (a level other than "typo" and "different").
  bool other_fits_name = false;
  // The query's name is the best's with up to two typing errors
  // (model::WithinTypingEdits: "Huỳn hước" for "Huỳnh Phước").
  bool name_typos = false;
  // The query's name is the best's as typing leaves it, in a way that makes
  // no other person's name (model::TypoMakesNoOtherName), so not a twin's or
  // sibling's name...
  bool typo_makes_no_other_name = false;
  // ...and no other candidate, outside the NO_MATCH band, has a name the
  // query's could be a typing variant of.
  bool other_typing_variant = false;
};

// Whether a candidate's name differs from the query's: the model's "typo"
// or "different" (ELSE) level.
bool NameDiffers(const model::CompiledModel& m, const model::FieldOutcome* outcomes);

// The answer's band: the best probability's band under the model's policy,
// capped at REVIEW (with the flag saying why) when the second candidate is
// within the policy's margin (AMBIGUOUS), the names differ (NAME_DIFFERS),
// or the claimed ID is someone else's (ID_CONFLICT). Names that differ only
// by typing (up to two letter edits), when the claimed ID is the best's
// and the name fits nobody else, are no cap (NAME_TYPO): a relative's ID
// shows itself by the name fitting the relative, and a typo alone must not
// park a payee in review. Without the ID, one typo that makes no other
// person's name ("Lcộ", a family name that is none, the words reordered) is
// no cap either when no other candidate's name is within typing reach: it
// cannot be a twin's name, and the best is the only person it can be.
v1::Band DecideBand(const model::CompiledModel& m, const BandFacts& facts,
                    std::set<std::string>* flags);

// The band a candidate at `rank` (0 = best) is given in an answer whose band
// is `answer_band`: only the best can be a MATCH.
v1::Band CandidateBand(size_t rank, v1::Band answer_band, v1::Band own);

// The facts a Verify decision is made on.
struct VerifyFacts {
  // Best first, with the answer's bands; at least the first 20.
  const std::vector<Ranked>* ranked = nullptr;
  // The register people holding the claimed identity number.
  const std::vector<std::string>* holders = nullptr;
  // Their names, for those among `ranked`.
  const std::map<std::string, v1::NormalizedName>* holder_names = nullptr;
  const v1::NormalizedName* claim_name = nullptr;
  v1::Band answer_band = v1::BAND_NO_MATCH;
  // The field of the claimed number (national_id or old_id), for ID_TYPO.
  v1::FieldSource id_field = v1::FIELD_SOURCE_NATIONAL_ID;
  // The Match answer's flags.
  std::set<std::string> flags;
};

struct VerifyVerdict {
  v1::VerifyDecision decision = v1::VERIFY_DECISION_UNSPECIFIED;
  // The candidate the decision is about (its probability and explanation
  // are the answer's), or null for NOT_FOUND / an uncompared holder.
  const Ranked* target = nullptr;
  std::string id_holder;
  std::vector<std::string> reasons;
  std::set<std::string> flags;
};

// Verify's decision tree: is the holder of the claimed number the person the
// claim describes? Cases, in order: the holder's name differs and another
// candidate fits the name (a relative's ID: REVIEW, ID_CONFLICT); the names
// are wholly unlike (REJECTED); the given name differs (REVIEW); the holder
// is the best candidate (VERIFIED / REVIEW / REJECTED by the answer's band);
// someone else is best (ID_CONFLICT); holders not compared (REVIEW); nobody
// holds the number (ID_TYPO when the best is a MATCH one digit off,
// ID_NOT_IN_REGISTER otherwise).
VerifyVerdict DecideVerification(const model::CompiledModel& m, const VerifyFacts& facts);

}  // namespace linkage::engine::internal
