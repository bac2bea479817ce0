#include "linkage/model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <random>
#include <set>

#include "absl/strings/str_join.h"
#include "linkage/name_likeness.h"
#include "linkage/names.h"
#include "linkage/normalize.h"
#include "linkage/similarity.h"

namespace linkage::model {
namespace {

TEST(Similarity, JaroWinklerKnownValues) {
  EXPECT_NEAR(JaroWinkler("martha", "marhta"), 0.961, 0.001);
  EXPECT_NEAR(JaroWinkler("dixon", "dicksonx"), 0.813, 0.001);
  EXPECT_DOUBLE_EQ(JaroWinkler("", ""), 1.0);
  EXPECT_DOUBLE_EQ(JaroWinkler("abc", ""), 0.0);
  EXPECT_DOUBLE_EQ(JaroWinkler("nguyen", "nguyen"), 1.0);
}

TEST(Similarity, DamerauLevenshtein) {
  EXPECT_EQ(DamerauLevenshtein("", ""), 0);
  EXPECT_EQ(DamerauLevenshtein("abc", ""), 3);
  EXPECT_EQ(DamerauLevenshtein("001148012345", "001148012354"), 1);  // Transposition.
  EXPECT_EQ(DamerauLevenshtein("001148012345", "001148012346"), 1);
  EXPECT_EQ(DamerauLevenshtein("kitten", "sitting"), 3);
  EXPECT_EQ(DamerauLevenshtein("kitten", "sitting", 1), 2);  // Capped at max + 1.
}

TEST(Similarity, PropertiesOnRandomStrings) {
  std::mt19937 rng(1);
  auto random_string = [&rng] {
    std::string s;
    for (int i = 0, n = static_cast<int>(rng() % 12); i < n; ++i)
      s.push_back(static_cast<char>('a' + rng() % 4));
    return s;
  };
  for (int i = 0; i < 2000; ++i) {
    std::string a = random_string(), b = random_string();
    double jw = JaroWinkler(a, b);
    EXPECT_GE(jw, 0.0);
    EXPECT_LE(jw, 1.0);
    EXPECT_NEAR(Jaro(a, b), Jaro(b, a), 1e-12);
    int d = DamerauLevenshtein(a, b);
    EXPECT_EQ(d, DamerauLevenshtein(b, a));
    EXPECT_EQ(d == 0, a == b);
    EXPECT_LE(d, static_cast<int>(std::max(a.size(), b.size())));
  }
}

TEST(DefaultModel, IsValid) {
  const v1::Model& m = DefaultVietnameseModel();
  ASSERT_GT(m.fields_size(), 0) << "default model textproto did not parse";
  EXPECT_TRUE(ValidateModel(m).ok()) << ValidateModel(m);
}

TEST(Validation, RejectsBadSpecsWithClearErrors) {
  v1::Model m = DefaultVietnameseModel();
  m.mutable_spec()->mutable_fields(0)->mutable_levels()->RemoveLast();
  absl::Status st = ValidateModel(m);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("full_name"), std::string::npos) << st;

  v1::Model m2 = DefaultVietnameseModel();
  m2.mutable_fields(1)->mutable_levels(0)->set_m(0);
  EXPECT_FALSE(ValidateModel(m2).ok());

  v1::Model m3 = DefaultVietnameseModel();
  m3.mutable_spec()->mutable_fields(1)->mutable_levels(0)->set_kind(v1::LEVEL_ADDR_SAME_COMMUNE);
  EXPECT_NE(ValidateModel(m3).message().find("does not apply"), std::string::npos);
}

class LevelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = CompiledModel::Create(DefaultVietnameseModel());
    ASSERT_TRUE(c.ok()) << c.status();
    model_ = *c;
  }
  v1::NormalizedRecord N(const std::string& name, const std::string& dob = "",
                         const std::string& address = "") {
    v1::PersonRecord r;
    r.set_record_id("x");
    r.set_full_name(name);
    r.set_birth_date(dob);
    r.set_address(address);
    auto n = domain::NormalizeRecord(r);
    EXPECT_TRUE(n.ok()) << n.status();
    return *n;
  }
  std::string Level(const v1::NormalizedRecord& a, const v1::NormalizedRecord& b,
                    v1::FieldSource source) {
    std::vector<FieldOutcome> out(model_->num_fields());
    model_->Compare(a, b, out.data());
    google::protobuf::RepeatedPtrField<v1::FieldContribution> ex;
    model_->Explain(a, b, out.data(), &ex);
    return ex[model_->FieldIndex(source)].level();
  }
  std::string NameLevel(const std::string& a, const std::string& b) {
    return Level(N(a), N(b), v1::FIELD_SOURCE_FULL_NAME);
  }
  std::string DateLevel(const std::string& a, const std::string& b) {
    return Level(N("A", a), N("A", b), v1::FIELD_SOURCE_BIRTH_DATE);
  }
  std::shared_ptr<const CompiledModel> model_;
};

TEST_F(LevelsTest, NameLevels) {
  EXPECT_EQ(NameLevel("Nguyễn Thị Hòa", "NGUYỄN THỊ HOÀ"), "exact");
  EXPECT_EQ(NameLevel("Nguyễn Thị Hòa", "Nguyen Thi Hoa"), "folded_exact");
  EXPECT_EQ(NameLevel("Nguyễn Thị Hòa", "Thị Hòa Nguyễn"), "reordered");
  EXPECT_EQ(NameLevel("Nguyễn Thị Lan", "Nguyễn Lan"), "middle_missing");
  EXPECT_EQ(NameLevel("Huỳnh Văn Ba", "Hoàng Văn Ba"), "family_variant");
  EXPECT_EQ(NameLevel("Võ Thị Sáu", "Vũ Thị Sáu"), "family_variant");
  EXPECT_EQ(NameLevel("Nguyễn Văn Trung", "Nguyễn Văn Chung"), "jaro_winkler_0.92");
  EXPECT_EQ(NameLevel("Trần Văn Sang", "Chần Văn Xang"), "phonetic");
  EXPECT_EQ(NameLevel("Nguyễn Văn Hùng", "Nguyễn Vn Hùng"), "jaro_winkler_0.92");
  // One letter apart: a typo or a twin; the level says only "typo" (what a
  // decision makes of it depends on the ID: decide_test).
  EXPECT_EQ(NameLevel("Nông Văn Toại", "Nông Văn Thái"), "typo");
  EXPECT_EQ(NameLevel("Hoàng Thu Lcộ", "Hoàng Thu Lộc"), "typo");
  EXPECT_EQ(NameLevel("Ma yL", "Ma Thị Ly"), "typo");
  EXPECT_EQ(NameLevel("Lường hKiêm", "Lường Văn Khiêm"), "typo");
  EXPECT_EQ(NameLevel("Vi Ngoc hang", "Vi Ngọc Thắng"), "typo");
  EXPECT_EQ(NameLevel("Seng Ma Thị", "Ma Thị Song"), "typo");
  EXPECT_EQ(NameLevel("Nguyễn Văn Toại", "Nguyễn Thị Thái"), "else");  // Two words differ.
  EXPECT_EQ(NameLevel("Trần Văn An", "Lê Thị Bình"), "else");
}

TEST_F(LevelsTest, DateLevels) {
  EXPECT_EQ(DateLevel("05/03/1948", "1948-03-05"), "exact");
  EXPECT_EQ(DateLevel("05/03/1948", "03/05/1948"), "day_month_swap");
  EXPECT_EQ(DateLevel("05/03/1948", "06/03/1948"), "one_digit");
  EXPECT_EQ(DateLevel("05/03/1948", "1948"), "year_only");
  EXPECT_EQ(DateLevel("05/03/1948", "01/01/1948"), "year_only");  // Placeholder.
  EXPECT_EQ(DateLevel("05/03/1948", "20/03/1948"), "year_month");
  EXPECT_EQ(DateLevel("05/03/1948", "1949"), "year_within_1");
  EXPECT_EQ(DateLevel("05/03/1948", "1960"), "else");
  EXPECT_EQ(DateLevel("05/03/1948", ""), "null");
}

TEST_F(LevelsTest, AddressAcrossTheReform) {
  auto old_addr = N("A", "", "Tổ 12, P. Nguyễn Thị Minh Khai, TP. Bắc Kạn");
  auto new_addr = N("A", "", "Phường Đức Xuân, Thái Nguyên");
  auto other = N("A", "", "Phường Phan Đình Phùng, Thái Nguyên");
  EXPECT_EQ(Level(old_addr, new_addr, v1::FIELD_SOURCE_ADDRESS), "same_commune");
  EXPECT_EQ(Level(old_addr, other, v1::FIELD_SOURCE_ADDRESS), "same_province");
}

TEST_F(LevelsTest, WeightsAreLog2MOverU) {
  auto a = N("Nguyễn Thị Hòa", "05/03/1948");
  std::vector<FieldOutcome> out(model_->num_fields());
  double total = model_->Compare(a, a, out.data());
  const v1::Model& m = model_->proto();
  double expected = std::log2(m.fields(0).levels(0).m() / m.fields(0).levels(0).u()) +
                    std::log2(m.fields(1).levels(0).m() / m.fields(1).levels(0).u());
  EXPECT_NEAR(total, expected, 1e-9);
}

TEST(Calibration, TiedRawProbabilitiesMakeOnePoint) {
  // Scores that saturate: many rows at the same raw probability, with both
  // labels, as near-certain candidates give. The fit must still be a model
  // ValidateModel accepts (raw strictly ascending).
  std::vector<std::pair<double, bool>> rows;
  for (int i = 0; i < 300; ++i) rows.emplace_back(0.2 + 0.001 * (i % 50), i % 3 == 0);
  for (int i = 0; i < 500; ++i) rows.emplace_back(0.999996, i % 97 != 0);
  for (int i = 0; i < 200; ++i) rows.emplace_back(0.999996, true);
  v1::Calibration c = FitIsotonic(rows, 197);
  ASSERT_GT(c.raw_size(), 1);
  for (int i = 1; i < c.raw_size(); ++i) {
    EXPECT_GT(c.raw(i), c.raw(i - 1)) << i;
    EXPECT_GE(c.calibrated(i), c.calibrated(i - 1)) << i;
  }
  v1::Model m = DefaultVietnameseModel();
  *m.mutable_calibration() = c;
  m.set_calibrated(true);
  EXPECT_TRUE(ValidateModel(m).ok()) << ValidateModel(m);
}

// A row of weight k counts as k copies (the review desk's samples stand for
// 1/rate rows each), and the calibration error weighs rows the same way.
TEST(Calibration, AWeightCountsAsThatManyRows) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<std::pair<double, bool>> weighted, copied;
  std::vector<double> weights;
  for (int i = 0; i < 600; ++i) {
    const double p = unit(rng);
    const bool y = unit(rng) < p * p;
    const int k = 1 + i % 4;
    weighted.emplace_back(p, y);
    weights.push_back(k);
    for (int j = 0; j < k; ++j) copied.emplace_back(p, y);
  }
  const v1::Calibration a = FitIsotonic(weighted, 1000, &weights);
  const v1::Calibration b = FitIsotonic(copied, 1000);
  // The same curve (the points may differ where rounding ties two means).
  for (const auto& [p, y] : weighted)
    EXPECT_NEAR(ApplyCalibration(a, p), ApplyCalibration(b, p), 1e-9) << p;
  EXPECT_NEAR(CalibrationError(weighted, nullptr, &weights), CalibrationError(copied, nullptr),
              1e-12);
  EXPECT_NEAR(CalibrationError(weighted, &a, &weights), CalibrationError(copied, &b), 1e-9);
  // Unweighted, the fit differs: the weights were used.
  const v1::Calibration plain = FitIsotonic(weighted, 1000);
  bool differs = plain.raw_size() != a.raw_size();
  for (int i = 0; !differs && i < a.raw_size(); ++i)
    differs = std::abs(plain.calibrated(i) - a.calibrated(i)) > 1e-9;
  EXPECT_TRUE(differs);
}

TEST(Calibration, IsotonicFitIsMonotone) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<std::pair<double, bool>> rows;
  // Overconfident scores: the true chance is p^3.
  for (int i = 0; i < 20000; ++i) {
    double p = unit(rng);
    rows.emplace_back(p, unit(rng) < p * p * p);
  }
  v1::Calibration c = FitIsotonic(rows, 50);
  ASSERT_GT(c.raw_size(), 2);
  EXPECT_LE(c.raw_size(), 50);
  for (int i = 1; i < c.raw_size(); ++i) {
    EXPECT_GT(c.raw(i), c.raw(i - 1));
    EXPECT_GE(c.calibrated(i), c.calibrated(i - 1));
  }
  double previous = -1;
  for (double p = 0; p <= 1.0; p += 0.001) {
    double q = ApplyCalibration(c, p);
    EXPECT_GE(q, previous);
    EXPECT_GE(q, 0.0);
    EXPECT_LE(q, 1.0);
    previous = q;
  }
  // It learned the distortion: 0.5 raw is about 0.125 true.
  EXPECT_NEAR(ApplyCalibration(c, 0.5), 0.125, 0.04);
  EXPECT_NEAR(ApplyCalibration(c, 0.9), 0.729, 0.05);
}

TEST(Blocking, KeysPerRule) {
  v1::PersonRecord r;
  r.set_record_id("x");
  r.set_full_name("Huỳnh Văn Ba");
  r.set_birth_date("1950");
  r.set_national_id("006050012345");
  r.set_address("Phường Đức Xuân, Thái Nguyên");
  auto n = domain::NormalizeRecord(r);
  ASSERT_TRUE(n.ok());
  const v1::LinkageSpec& spec = DefaultVietnameseModel().spec();
  std::vector<BlockingKey> keys = ComputeBlockingKeys(spec, *n);
  std::map<std::string, std::string> by_rule;
  for (const auto& k : keys) by_rule[spec.blocking_rules(k.rule).name()] = k.key;
  EXPECT_EQ(by_rule["id"], "006050012345");
  EXPECT_EQ(by_rule["fgy"], "hoang|ba|1950");  // Variant group, not the spelling.
  EXPECT_EQ(by_rule.count("gdob"), 0u);        // Year-only: no full-date key.
  EXPECT_EQ(by_rule.count("oid"), 0u);
  EXPECT_EQ(by_rule["phc"], "ba huin van|01840");
  EXPECT_EQ(by_rule["name"], "huynh van ba");
  EXPECT_EQ(by_rule["ecy"], "ba huynh|01840|1950");  // Family and given, sorted.
  EXPECT_EQ(by_rule.count("edmp"), 0u);              // Year-only: no day and month.
}

TEST(Blocking, ANameGivenFirstWithTheMiddleDroppedAndAYearOffShareAKey) {
  auto keys_of = [](const char* name, const char* date) {
    v1::PersonRecord r;
    r.set_record_id("x");
    r.set_full_name(name);
    r.set_birth_date(date);
    r.set_address("Phường Đức Xuân, Thái Nguyên");
    auto n = domain::NormalizeRecord(r);
    EXPECT_TRUE(n.ok()) << n.status();
    const v1::LinkageSpec& spec = DefaultVietnameseModel().spec();
    std::set<std::string> keys;
    for (const auto& k : ComputeBlockingKeys(spec, *n))
      keys.insert(spec.blocking_rules(k.rule).name() + ":" + k.key);
    return keys;
  };
  std::set<std::string> held = keys_of("Hồ Hồng Hùng", "18/08/1936");
  std::set<std::string> claim = keys_of("Hùng Hồ", "18/08/1937");
  std::vector<std::string> shared;
  std::set_intersection(held.begin(), held.end(), claim.begin(), claim.end(),
                        std::back_inserter(shared));
  EXPECT_EQ(shared, std::vector<std::string>{"edmp:ho hung|0818|19"}) << absl::StrJoin(held, " ");
}

v1::NormalizedName LikenessName(std::string_view raw) {
  auto n = text::NormalizeName(raw);
  EXPECT_TRUE(n.ok()) << n.status();
  return *n;
}

TEST(NameLikeness, HoldsNameWordsInAnyOrderWithTheMiddleDropped) {
  EXPECT_TRUE(HoldsNameWords(LikenessName("Hoa Nguyen"), LikenessName("Nguyễn Thị Hòa")));
  EXPECT_TRUE(HoldsNameWords(LikenessName("Nguyễn Thị Hòa"), LikenessName("Nguyễn Hòa")));
  EXPECT_FALSE(HoldsNameWords(LikenessName("Nguyễn Thị Mai"), LikenessName("Nguyễn Thị Hòa")));
  EXPECT_FALSE(HoldsNameWords(LikenessName("Trần Hòa"), LikenessName("Nguyễn Thị Hòa")));
}

TEST(NameLikeness, WhollyUnlikeOnlyWhenNothingExplainsTheDifference) {
  EXPECT_TRUE(NamesWhollyUnlike(LikenessName("Trần Thị Mai"), LikenessName("Nguyễn Văn Bình")));
  // Same family name, or a regional variant of it: not wholly unlike.
  EXPECT_FALSE(NamesWhollyUnlike(LikenessName("Nguyễn Thị Mai"), LikenessName("Nguyễn Văn Bình")));
  EXPECT_FALSE(NamesWhollyUnlike(LikenessName("Võ Thị Mai"), LikenessName("Vũ Văn Bình")));
  // Given names one edit apart.
  EXPECT_FALSE(NamesWhollyUnlike(LikenessName("Trần Văn Binh"), LikenessName("Lê Văn Bính")));
  // The same words in another order.
  EXPECT_FALSE(NamesWhollyUnlike(LikenessName("Bình Nguyễn"), LikenessName("Nguyễn Văn Bình")));
}

TEST(NameLikeness, TypingVariantsAreWhatTypingDoes) {
  EXPECT_EQ(DamerauLevenshtein("yl", "ly", 1), 1);
  struct Case {
    const char* a;
    const char* b;
    bool variant;
  } cases[] = {
      {"Hoàng Thu Lcộ", "Hoàng Thu Lộc", true},       // Transposed letters.
      {"Ma yL", "Ma Thị Ly", true},                   // Middle dropped, letters swapped.
      {"Lường hKiêm", "Lường Văn Khiêm", true},       // The same, a stray capital.
      {"Vi Ngoc hang", "Vi Ngọc Thắng", true},        // First letter lost.
      {"Luc Cong Nom", "Lục Công Nam", true},         // A vowel changed.
      {"Seng Ma Thị", "Ma Thị Song", true},           // Reordered, a vowel changed.
      {"ỗ Kim Thương", "Đỗ Kim Thương", true},        // The family name's first letter lost.
      {"Nguyễn Văn An", "Nguyễn Văn An", true},       // Equal.
      {"Nguyễn Văn Toại", "Nguyễn Thị Thái", false},  // Two words differ.
      {"Lê Văn A", "Lê Văn B", false},                // One-letter words.
      {"Trần Văn Bình", "Nguyễn Văn Bình", false},    // Another family name.
      {"Ma Ly", "Ma Thị Văn Ly", false},              // Two middle names missing.
      {"Nguyễn Bình", "Nguyễn Văn Binh", true},       // Middle dropped, diacritics.
      {"Nguyễn Văn Bình", "Nguyễn Văn", false},       // The given name missing.
  };
  for (const Case& c : cases) {
    EXPECT_EQ(IsTypingVariant(LikenessName(c.a), LikenessName(c.b)), c.variant)
        << c.a << " / " << c.b;
    EXPECT_EQ(IsTypingVariant(LikenessName(c.b), LikenessName(c.a)), c.variant)
        << c.b << " / " << c.a;
  }
}

TEST(NameLikeness, TwoTypingErrorsOnlyWhenAllowed) {
  EXPECT_FALSE(IsTypingVariant(LikenessName("Huỳn hước"), LikenessName("Huỳnh Đình Phước")));
  EXPECT_TRUE(WithinTypingEdits(LikenessName("Huỳn hước"), LikenessName("Huỳnh Đình Phước"), 2));
  EXPECT_TRUE(WithinTypingEdits(LikenessName("Lưu Anh Kirếu"), LikenessName("Lưu Anh Khiếu"), 2));
  // Two edits in one short word make another word.
  EXPECT_FALSE(WithinTypingEdits(LikenessName("Lê Văn An"), LikenessName("Lê Văn Ông"), 2));
  EXPECT_FALSE(WithinTypingEdits(LikenessName("Trần Thị Mai"), LikenessName("Trần Thị Mai"), -1));
  EXPECT_FALSE(
      WithinTypingEdits(LikenessName("Nguyễn Văn Toại"), LikenessName("Nguyễn Thị Thái"), 2));
}

TEST(NameLikeness, ATypoThatMakesNoOtherNameIsTold) {
  struct Case {
    const char* claim;
    const char* held;
    bool no_other_name;
  } cases[] = {
      {"Hoàng Thu Lcộ", "Hoàng Thu Lộc", true},       // "lco" is no syllable.
      {"Ma yL", "Ma Thị Ly", true},                   // Nor is "yl".
      {"Lường hKiêm", "Lường Văn Khiêm", true},       // Nor "hkiem".
      {"hạm Phong", "Phạm Đình Phong", true},         // "Hạm" is no family name.
      {"Hùng Hồ", "Hồ Hồng Hùng", true},              // The holder's own words.
      {"Luc Cong Nom", "Lục Công Nam", false},        // "Nôm" could be a name.
      {"Vi Ngoc hang", "Vi Ngọc Thắng", false},       // "Hằng" is a name.
      {"Lê Văn Linh", "Lê Văn Lênh", false},          // A vowel: a sibling's name?
      {"Lý Văn Nam", "Lê Văn Nam", false},            // Another real family name.
      {"Nguyễn Văn Toại", "Nguyễn Thị Thái", false},  // Not a typing variant.
  };
  for (const Case& c : cases) {
    EXPECT_EQ(TypoMakesNoOtherName(LikenessName(c.claim), LikenessName(c.held)), c.no_other_name)
        << c.claim << " / " << c.held;
  }
  EXPECT_TRUE(text::IsKnownFamilyName("nguyen"));
  EXPECT_TRUE(text::IsKnownFamilyName("giang"));  // Hmong, from the ethnic lists.
  EXPECT_FALSE(text::IsKnownFamilyName("ham"));
}

}  // namespace
}  // namespace linkage::model
