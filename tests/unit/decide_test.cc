// The engine's decisions as pure functions: DecideBand and
// DecideVerification on hand-built rankings, without a store.
#include "decide.h"

#include <gtest/gtest.h>

#include "linkage/flags.h"
#include "linkage/model.h"
#include "linkage/names.h"

namespace linkage::engine::internal {
namespace {

class DecideTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = model::CompiledModel::Create(model::DefaultVietnameseModel());
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = *m;
  }

  // The index of the first level of `kind` in the field of `source`.
  int Level(v1::FieldSource source, v1::LevelKind kind) const {
    const int f = model_->FieldIndex(source);
    for (int l = 0; l < 32; ++l) {
      if (model_->LevelKindOf(static_cast<size_t>(f), l) == kind) return l;
    }
    ADD_FAILURE() << "no level " << v1::LevelKind_Name(kind);
    return 0;
  }

  // A candidate whose every field is null but the name (at `name_kind`) and,
  // if given, the national ID (at `id_kind`).
  Ranked Candidate(std::string id, double p, v1::Band band, v1::LevelKind name_kind,
                   v1::LevelKind id_kind = v1::LEVEL_KIND_UNSPECIFIED) const {
    Ranked r;
    r.record_id = std::move(id);
    r.probability = p;
    r.band = band;
    r.outcomes.resize(model_->num_fields());
    r.outcomes[Field(v1::FIELD_SOURCE_FULL_NAME)].level =
        Level(v1::FIELD_SOURCE_FULL_NAME, name_kind);
    if (id_kind != v1::LEVEL_KIND_UNSPECIFIED) {
      r.outcomes[Field(v1::FIELD_SOURCE_NATIONAL_ID)].level =
          Level(v1::FIELD_SOURCE_NATIONAL_ID, id_kind);
    }
    return r;
  }

  size_t Field(v1::FieldSource source) const {
    return static_cast<size_t>(model_->FieldIndex(source));
  }

  static v1::NormalizedName Name(std::string_view raw) {
    auto n = text::NormalizeName(raw);
    EXPECT_TRUE(n.ok()) << n.status();
    return *n;
  }

  VerifyVerdict Decide(const std::vector<Ranked>& ranked, const std::vector<std::string>& holders,
                       v1::Band answer_band, std::string_view claim = "Nguyễn Văn An",
                       std::string_view holder_name = "Nguyễn Văn An",
                       std::set<std::string> flags = {}) {
    claim_ = Name(claim);
    names_.clear();
    for (const std::string& h : holders) names_[h] = Name(holder_name);
    VerifyFacts facts;
    facts.ranked = &ranked;
    facts.holders = &holders;
    facts.holder_names = &names_;
    facts.claim_name = &claim_;
    facts.answer_band = answer_band;
    facts.flags = std::move(flags);
    return DecideVerification(*model_, facts);
  }

  std::shared_ptr<const model::CompiledModel> model_;
  v1::NormalizedName claim_;
  std::map<std::string, v1::NormalizedName> names_;
};

TEST_F(DecideTest, BandFollowsThePolicyAndEachCapSaysWhy) {
  Ranked exact = Candidate("a", 0.999, v1::BAND_MATCH, v1::LEVEL_NAME_EXACT);
  Ranked differs = Candidate("a", 0.999, v1::BAND_MATCH, v1::LEVEL_ELSE);
  struct Case {
    const char* what;
    double p, margin;
    const Ranked* best;
    bool held_by_other;
    v1::Band band;
    const char* flag;
  } cases[] = {
      {"strong and alone", 0.999, 1e9, &exact, false, v1::BAND_MATCH, nullptr},
      {"between the thresholds", 0.7, 1e9, &exact, false, v1::BAND_REVIEW, nullptr},
      {"below review", 0.1, 1e9, &exact, false, v1::BAND_NO_MATCH, nullptr},
      {"a close second", 0.999, 1.0, &exact, false, v1::BAND_REVIEW, flag::kAmbiguous},
      {"names differ", 0.999, 1e9, &differs, false, v1::BAND_REVIEW, flag::kNameDiffers},
      {"someone else's ID", 0.999, 1e9, &exact, true, v1::BAND_REVIEW, flag::kIdConflict},
  };
  for (const Case& c : cases) {
    BandFacts facts;
    facts.best_probability = c.p;
    facts.margin_bits = c.margin;
    facts.best_outcomes = c.best->outcomes.data();
    facts.id_held_by_other = c.held_by_other;
    std::set<std::string> flags;
    EXPECT_EQ(DecideBand(*model_, facts, &flags), c.band) << c.what;
    if (c.flag != nullptr) {
      EXPECT_EQ(flags.count(c.flag), 1u) << c.what;
    } else {
      EXPECT_TRUE(flags.empty()) << c.what;
    }
  }
}

TEST_F(DecideTest, OnlyTheBestCandidateCanBeAMatch) {
  EXPECT_EQ(CandidateBand(0, v1::BAND_MATCH, v1::BAND_MATCH), v1::BAND_MATCH);
  EXPECT_EQ(CandidateBand(0, v1::BAND_REVIEW, v1::BAND_MATCH), v1::BAND_REVIEW);
  EXPECT_EQ(CandidateBand(1, v1::BAND_MATCH, v1::BAND_MATCH), v1::BAND_REVIEW);
  EXPECT_EQ(CandidateBand(3, v1::BAND_MATCH, v1::BAND_NO_MATCH), v1::BAND_NO_MATCH);
}

TEST_F(DecideTest, TheHolderMatchingIsVerified) {
  std::vector<Ranked> ranked = {
      Candidate("h", 0.999, v1::BAND_MATCH, v1::LEVEL_NAME_EXACT, v1::LEVEL_ID_EXACT)};
  VerifyVerdict v = Decide(ranked, {"h"}, v1::BAND_MATCH);
  EXPECT_EQ(v.decision, v1::VERIFIED);
  EXPECT_EQ(v.id_holder, "h");
  ASSERT_NE(v.target, nullptr);
  EXPECT_EQ(v.target->record_id, "h");
  EXPECT_TRUE(v.flags.empty());
}

TEST_F(DecideTest, TheHoldersNameWithAnotherDateOrSexIsReviewedNotVerified) {
  // The ID, name and address outweigh a wrong date and sex in the score;
  // Verify does not let them: someone copying a document would claim so.
  for (v1::FieldSource source : {v1::FIELD_SOURCE_BIRTH_DATE, v1::FIELD_SOURCE_SEX}) {
    std::vector<Ranked> ranked = {
        Candidate("h", 0.9999, v1::BAND_MATCH, v1::LEVEL_NAME_EXACT, v1::LEVEL_ID_EXACT)};
    ranked[0].outcomes[Field(source)].level = Level(source, v1::LEVEL_ELSE);
    VerifyVerdict v = Decide(ranked, {"h"}, v1::BAND_MATCH);
    EXPECT_EQ(v.decision, v1::REVIEW) << v1::FieldSource_Name(source);
    EXPECT_EQ(v.flags.count(source == v1::FIELD_SOURCE_SEX ? flag::kHolderSexDiffers
                                                           : flag::kHolderDateDiffers),
              1u);
  }
  // A date one digit off is no "different" level: still VERIFIED.
  std::vector<Ranked> ranked = {
      Candidate("h", 0.9999, v1::BAND_MATCH, v1::LEVEL_NAME_EXACT, v1::LEVEL_ID_EXACT)};
  ranked[0].outcomes[Field(v1::FIELD_SOURCE_BIRTH_DATE)].level =
      Level(v1::FIELD_SOURCE_BIRTH_DATE, v1::LEVEL_DATE_ONE_DIGIT);
  EXPECT_EQ(Decide(ranked, {"h"}, v1::BAND_MATCH).decision, v1::VERIFIED);
}

TEST_F(DecideTest, TheHolderInPartOrWithACloseSecondIsReviewed) {
  std::vector<Ranked> ranked = {
      Candidate("h", 0.8, v1::BAND_REVIEW, v1::LEVEL_NAME_EXACT, v1::LEVEL_ID_EXACT)};
  VerifyVerdict part = Decide(ranked, {"h"}, v1::BAND_REVIEW);
  EXPECT_EQ(part.decision, v1::REVIEW);
  EXPECT_NE(part.reasons[0].find("only in part"), std::string::npos);
  VerifyVerdict close =
      Decide(ranked, {"h"}, v1::BAND_REVIEW, "Nguyễn Văn An", "Nguyễn Văn An", {flag::kAmbiguous});
  EXPECT_EQ(close.decision, v1::REVIEW);
  EXPECT_NE(close.reasons[0].find("another register person is close"), std::string::npos);
}

TEST_F(DecideTest, ARelativesIdIsAConflictAboutTheOneTheNameFits) {
  std::vector<Ranked> ranked = {
      Candidate("h", 0.9, v1::BAND_REVIEW, v1::LEVEL_ELSE, v1::LEVEL_ID_EXACT),
      Candidate("sibling", 0.8, v1::BAND_REVIEW, v1::LEVEL_NAME_EXACT, v1::LEVEL_ELSE)};
  VerifyVerdict v = Decide(ranked, {"h"}, v1::BAND_REVIEW, "Nguyễn Văn An", "Nguyễn Văn Bình");
  EXPECT_EQ(v.decision, v1::REVIEW);
  EXPECT_EQ(v.flags.count(flag::kIdConflict), 1u);
  ASSERT_NE(v.target, nullptr);
  EXPECT_EQ(v.target->record_id, "sibling");
  EXPECT_EQ(v.id_holder, "h");
}

TEST_F(DecideTest, ANameWhollyUnlikeTheHoldersIsRejected) {
  std::vector<Ranked> ranked = {
      Candidate("h", 0.9, v1::BAND_REVIEW, v1::LEVEL_ELSE, v1::LEVEL_ID_EXACT)};
  VerifyVerdict v = Decide(ranked, {"h"}, v1::BAND_REVIEW, "Trần Thị Mai", "Nguyễn Văn Bình");
  EXPECT_EQ(v.decision, v1::REJECTED);
  EXPECT_EQ(v.flags.count(flag::kIdConflict), 0u);
}

TEST_F(DecideTest, AGivenNameDifferingFromTheHoldersIsReviewed) {
  std::vector<Ranked> ranked = {
      Candidate("h", 0.9, v1::BAND_REVIEW, v1::LEVEL_ELSE, v1::LEVEL_ID_EXACT)};
  VerifyVerdict v = Decide(ranked, {"h"}, v1::BAND_REVIEW, "Nguyễn Văn Bình", "Nguyễn Văn Bính");
  EXPECT_EQ(v.decision, v1::REVIEW);
  EXPECT_NE(v.reasons[0].find("given name differs"), std::string::npos);
}

TEST_F(DecideTest, SomeoneElseBestIsAConflictOrARejection) {
  std::vector<Ranked> ranked = {
      Candidate("other", 0.9, v1::BAND_REVIEW, v1::LEVEL_NAME_EXACT),
      Candidate("h", 0.1, v1::BAND_NO_MATCH, v1::LEVEL_NAME_EXACT, v1::LEVEL_ID_EXACT)};
  VerifyVerdict v = Decide(ranked, {"h"}, v1::BAND_REVIEW);
  EXPECT_EQ(v.decision, v1::REVIEW);
  EXPECT_EQ(v.flags.count(flag::kIdConflict), 1u);
  EXPECT_EQ(v.target->record_id, "other");

  ranked[0].band = v1::BAND_NO_MATCH;
  VerifyVerdict none = Decide(ranked, {"h"}, v1::BAND_NO_MATCH);
  EXPECT_EQ(none.decision, v1::REJECTED);
  EXPECT_EQ(none.target->record_id, "h");
}

TEST_F(DecideTest, AHolderNotComparedIsReviewed) {
  std::vector<Ranked> ranked = {Candidate("other", 0.9, v1::BAND_REVIEW, v1::LEVEL_NAME_EXACT)};
  VerifyVerdict v = Decide(ranked, {"h"}, v1::BAND_REVIEW);
  EXPECT_EQ(v.decision, v1::REVIEW);
  EXPECT_EQ(v.target, nullptr);
  EXPECT_EQ(v.id_holder, "h");
  EXPECT_EQ(v.flags.count(flag::kIdConflict), 1u);
}

TEST_F(DecideTest, NobodyHoldingTheId) {
  std::vector<Ranked> typo = {
      Candidate("p", 0.999, v1::BAND_MATCH, v1::LEVEL_NAME_EXACT, v1::LEVEL_ID_ONE_EDIT)};
  VerifyVerdict t = Decide(typo, {}, v1::BAND_MATCH);
  EXPECT_EQ(t.decision, v1::VERIFIED);
  EXPECT_EQ(t.flags.count(flag::kIdTypo), 1u);

  std::vector<Ranked> review = {Candidate("p", 0.8, v1::BAND_REVIEW, v1::LEVEL_NAME_EXACT)};
  VerifyVerdict r = Decide(review, {}, v1::BAND_REVIEW);
  EXPECT_EQ(r.decision, v1::REVIEW);
  EXPECT_EQ(r.flags.count(flag::kIdNotInRegister), 1u);

  VerifyVerdict n = Decide({}, {}, v1::BAND_NO_MATCH);
  EXPECT_EQ(n.decision, v1::NOT_FOUND);
  EXPECT_EQ(n.target, nullptr);
}

TEST_F(DecideTest, IdDigitsDisagreeingWithTheClaimAreFlagged) {
  std::vector<Ranked> ranked = {
      Candidate("h", 0.999, v1::BAND_MATCH, v1::LEVEL_NAME_EXACT, v1::LEVEL_ID_EXACT)};
  VerifyVerdict v = Decide(ranked, {"h"}, v1::BAND_MATCH, "Nguyễn Văn An", "Nguyễn Văn An",
                           {flag::kCccdYearMismatch});
  EXPECT_EQ(v.decision, v1::VERIFIED);
  EXPECT_EQ(v.flags.count(flag::kIdInconsistent), 1u);
  EXPECT_EQ(v.reasons.size(), 2u);
}

// The facts of a best candidate whose name is the query's up to a typo.
BandFacts TypoFacts(const Ranked& best) {
  BandFacts facts;
  facts.best_probability = best.probability;
  facts.margin_bits = 1e9;
  facts.best_outcomes = best.outcomes.data();
  facts.name_typo = true;
  return facts;
}

// Issue 13's rules, each on records built for it.
TEST_F(DecideTest, ATypoInTheHoldersNameWithTheHeldIdIsAMatch) {
  Ranked holder = Candidate("h", 0.9995, v1::BAND_MATCH, v1::LEVEL_NAME_TYPO, v1::LEVEL_ID_EXACT);
  BandFacts facts = TypoFacts(holder);
  facts.best_holds_id = true;
  std::set<std::string> flags;
  EXPECT_EQ(DecideBand(*model_, facts, &flags), v1::BAND_MATCH);
  EXPECT_EQ(flags, std::set<std::string>{flag::kNameTypo});

  std::vector<Ranked> ranked = {holder};
  VerifyVerdict v = Decide(ranked, {"h"}, v1::BAND_MATCH, "Hoàng Thu Lcộ", "Hoàng Thu Lộc", flags);
  EXPECT_EQ(v.decision, v1::VERIFIED);
  EXPECT_EQ(v.flags.count(flag::kNameTypo), 1u);
  EXPECT_NE(v.reasons[0].find("typing error"), std::string::npos);
}

TEST_F(DecideTest, ASiblingsIdIsAConflictNotATypo) {
  // The claimed name fits another register person (the claimant, whose ID
  // it is not): the typo rule does not apply.
  Ranked holder = Candidate("h", 0.9995, v1::BAND_MATCH, v1::LEVEL_NAME_TYPO, v1::LEVEL_ID_EXACT);
  BandFacts facts = TypoFacts(holder);
  facts.best_holds_id = true;
  facts.other_fits_name = true;
  std::set<std::string> flags;
  EXPECT_EQ(DecideBand(*model_, facts, &flags), v1::BAND_REVIEW);
  EXPECT_EQ(flags, std::set<std::string>{flag::kNameDiffers});

  std::vector<Ranked> ranked = {
      Candidate("h", 0.9995, v1::BAND_REVIEW, v1::LEVEL_NAME_TYPO, v1::LEVEL_ID_EXACT),
      Candidate("twin", 0.9, v1::BAND_REVIEW, v1::LEVEL_NAME_EXACT, v1::LEVEL_ELSE)};
  VerifyVerdict v = Decide(ranked, {"h"}, v1::BAND_REVIEW, "Nông Văn Thái", "Nông Văn Toại", flags);
  EXPECT_EQ(v.decision, v1::REVIEW);
  EXPECT_EQ(v.flags.count(flag::kIdConflict), 1u);
  EXPECT_EQ(v.target->record_id, "twin");
}

TEST_F(DecideTest, WithoutAnIdAOneLetterGivenNameDifferenceStaysReview) {
  Ranked best = Candidate("p", 0.9995, v1::BAND_MATCH, v1::LEVEL_NAME_TYPO);
  BandFacts facts = TypoFacts(best);
  std::set<std::string> flags;
  EXPECT_EQ(DecideBand(*model_, facts, &flags), v1::BAND_REVIEW);
  EXPECT_EQ(flags.count(flag::kNameDiffers), 1u);
  EXPECT_EQ(flags.count(flag::kNameTypo), 0u);
  // Nor does someone else's ID make a typo a match.
  facts.best_holds_id = true;
  facts.id_held_by_other = true;
  flags.clear();
  EXPECT_EQ(DecideBand(*model_, facts, &flags), v1::BAND_REVIEW);
  EXPECT_EQ(flags.count(flag::kNameTypo), 0u);
}

TEST_F(DecideTest, WithoutAnIdATypoThatIsNobodysNameIsAMatchUnlessAnotherIsWithinReach) {
  Ranked best = Candidate("p", 0.9995, v1::BAND_MATCH, v1::LEVEL_NAME_TYPO);
  BandFacts facts = TypoFacts(best);
  facts.typo_makes_no_other_name = true;  // "Hoàng Thu Lcộ" for "Hoàng Thu Lộc".
  std::set<std::string> flags;
  EXPECT_EQ(DecideBand(*model_, facts, &flags), v1::BAND_MATCH);
  EXPECT_EQ(flags, std::set<std::string>{flag::kNameTypo});
  // A second register person the typo could also come from: review.
  facts.other_typing_variant = true;
  flags.clear();
  EXPECT_EQ(DecideBand(*model_, facts, &flags), v1::BAND_REVIEW);
  EXPECT_EQ(flags.count(flag::kNameDiffers), 1u);
  // Someone whose name agrees outright: review.
  facts.other_typing_variant = false;
  facts.other_fits_name = true;
  flags.clear();
  EXPECT_EQ(DecideBand(*model_, facts, &flags), v1::BAND_REVIEW);
}

TEST_F(DecideTest, TwoTypingErrorsAreAMatchOnlyWithTheHeldId) {
  Ranked best = Candidate("h", 0.9995, v1::BAND_MATCH, v1::LEVEL_ELSE, v1::LEVEL_ID_EXACT);
  BandFacts facts = TypoFacts(best);
  facts.name_typo = false;
  facts.name_typos = true;  // "Huỳn hước" for "Huỳnh Đình Phước".
  std::set<std::string> flags;
  EXPECT_EQ(DecideBand(*model_, facts, &flags), v1::BAND_REVIEW);
  facts.best_holds_id = true;
  flags.clear();
  EXPECT_EQ(DecideBand(*model_, facts, &flags), v1::BAND_MATCH);
  EXPECT_EQ(flags, std::set<std::string>{flag::kNameTypo});
}

}  // namespace
}  // namespace linkage::engine::internal
