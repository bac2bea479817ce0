// The list error model, error by error: over many list seeds, each error
// alone at rate 1 does what its name and synth.h say, and nothing else.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "linkage/domain.h"
#include "linkage/synth.h"
#include "linkage/text.h"

namespace linkage::synth {
namespace {

using Letters = std::vector<std::string>;

Letters LettersOf(const std::string& word) {
  Letters out;
  for (size_t i = 0; i < word.size();) {
    const unsigned char c = static_cast<unsigned char>(word[i]);
    const size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    out.push_back(word.substr(i, n));
    i += n;
  }
  return out;
}

std::vector<Letters> Words(const std::string& name) {
  std::vector<Letters> out;
  for (absl::string_view w : absl::StrSplit(name, ' ')) out.push_back(LettersOf(std::string(w)));
  return out;
}

bool IsUpper(const std::string& letter) { return text::FoldCase(letter) != letter; }
bool IsVowel(const std::string& letter) {
  const std::string base = text::FoldDiacritics(letter);
  return base.size() == 1 && std::string_view("aeiouy").find(base[0]) != std::string::npos;
}
bool IsConsonant(const std::string& letter) {
  const std::string base = text::FoldDiacritics(letter);
  return base.size() == 1 &&
         std::string_view("bcdghklmnpqrstvx").find(base[0]) != std::string::npos;
}

// `b` is `a` without one letter at or after `from`.
bool OneLetterLess(const Letters& a, const Letters& b, size_t from) {
  if (b.size() + 1 != a.size()) return false;
  for (size_t i = from; i < a.size(); ++i) {
    Letters c = a;
    c.erase(c.begin() + static_cast<std::ptrdiff_t>(i));
    if (c == b) return true;
  }
  return false;
}

bool AdjacentSwap(const Letters& a, const Letters& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i + 1 < a.size(); ++i) {
    Letters c = a;
    std::swap(c[i], c[i + 1]);
    if (c != a && c == b) return true;
  }
  return false;
}

// Positions where two words of one length differ.
std::vector<size_t> Differences(const Letters& a, const Letters& b) {
  std::vector<size_t> out;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] != b[i]) out.push_back(i);
  }
  return out;
}

// One typo apart: a swap of neighbours, one letter dropped, added or replaced.
bool OneTypo(const Letters& a, const Letters& b) {
  if (AdjacentSwap(a, b) || OneLetterLess(a, b, 0) || OneLetterLess(b, a, 0)) return true;
  return a.size() == b.size() && Differences(a, b).size() == 1;
}

// The one word that differs, for errors that edit a word in place.
bool OneWordChanged(const std::vector<Letters>& a, const std::vector<Letters>& b, size_t& word) {
  if (a.size() != b.size()) return false;
  size_t changed = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) {
      ++changed;
      word = i;
    }
  }
  return changed == 1;
}

struct WrittenDate {
  int day = 0, month = 0, year = 0;
};

// Reads dd/mm/yyyy, d/m/yyyy, yyyy-mm-dd and yyyy as the generator writes them.
WrittenDate Read(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, absl::ByAnyChar("/-"));
  WrittenDate d;
  if (parts.size() == 1) {
    d.year = std::stoi(parts[0]);
  } else if (parts[0].size() == 4) {
    d = {std::stoi(parts[2]), std::stoi(parts[1]), std::stoi(parts[0])};
  } else {
    d = {std::stoi(parts[0]), std::stoi(parts[1]), std::stoi(parts[2])};
  }
  return d;
}

ListErrorRates NoErrors() {
  ListErrorRates rates;
  for (const auto& [name, rate] : ErrorRates(rates)) EXPECT_TRUE(SetErrorRate(rates, name, 0).ok());
  return rates;
}

const Population& People() {
  static const Population* population = [] {
    PopulationOptions o;
    o.size = 6000;
    return new Population(o);
  }();
  return *population;
}

const Person& Truth(const ListEntry& e) {
  return People().people()[static_cast<size_t>(std::stoi(e.truth_register_id.substr(1)))];
}

// Lists of 150 for list seeds 1..20 with only `error`, at rate 1; `check`
// sees every entry the error was applied to, with the register person. At
// least `share` of the entries carry it.
template <typename Check>
void ForEachWith(const std::string& error, double share, Check check) {
  int64_t rows = 0, with = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    ListOptions lo;
    lo.seed = seed;
    lo.size = 150;
    lo.absent_share = 0;
    lo.errors = NoErrors();
    ASSERT_TRUE(SetErrorRate(lo.errors, error, 1.0).ok());
    for (const ListEntry& e : MakeList(People(), lo)) {
      ++rows;
      ASSERT_FALSE(e.truth_register_id.empty());
      if (e.applied.empty()) continue;
      ASSERT_EQ(e.applied, std::vector<std::string>{error});
      ++with;
      const v1::PersonRecord& truth = Truth(e).record;
      SCOPED_TRACE(truth.full_name() + " " + truth.birth_date() + " -> " + e.record.full_name() +
                   " " + e.record.birth_date());
      check(truth, e.record);
    }
  }
  EXPECT_GE(static_cast<double>(with), share * static_cast<double>(rows)) << error;
}

TEST(SynthErrors, TranspositionSwapsTwoNeighboursInOneWord) {
  ForEachWith("name_transposition", 0.99, [](const auto& truth, const auto& listed) {
    auto a = Words(truth.full_name()), b = Words(listed.full_name());
    size_t w = 0;
    ASSERT_TRUE(OneWordChanged(a, b, w));
    EXPECT_TRUE(AdjacentSwap(a[w], b[w]));
    Letters sa = a[w], sb = b[w];
    std::sort(sa.begin(), sa.end());
    std::sort(sb.begin(), sb.end());
    EXPECT_EQ(sa, sb);  // The same letters.
  });
}

TEST(SynthErrors, DeletionDropsOneLetterButTheFirst) {
  ForEachWith("name_letter_deleted", 0.99, [](const auto& truth, const auto& listed) {
    auto a = Words(truth.full_name()), b = Words(listed.full_name());
    size_t w = 0;
    ASSERT_TRUE(OneWordChanged(a, b, w));
    EXPECT_TRUE(OneLetterLess(a[w], b[w], 1));
    EXPECT_EQ(a[w][0], b[w][0]);
  });
}

TEST(SynthErrors, InsertionAddsOneLetterAfterTheFirst) {
  ForEachWith("name_letter_inserted", 0.99, [](const auto& truth, const auto& listed) {
    auto a = Words(truth.full_name()), b = Words(listed.full_name());
    size_t w = 0;
    ASSERT_TRUE(OneWordChanged(a, b, w));
    EXPECT_TRUE(OneLetterLess(b[w], a[w], 1));
    EXPECT_EQ(a[w][0], b[w][0]);
  });
}

TEST(SynthErrors, LostFirstLetterIsTheWordWithoutIt) {
  int lowercase_start = 0;
  ForEachWith("first_letter_lost", 0.99, [&](const auto& truth, const auto& listed) {
    auto a = Words(truth.full_name()), b = Words(listed.full_name());
    size_t w = 0;
    ASSERT_TRUE(OneWordChanged(a, b, w));
    EXPECT_EQ(b[w], Letters(a[w].begin() + 1, a[w].end()));
    lowercase_start += !IsUpper(b[w][0]);  // "ỗ Kim Thương": not capitalised again.
  });
  EXPECT_GT(lowercase_start, 1000);
}

TEST(SynthErrors, StrayCapitalChangesCaseOnly) {
  ForEachWith("stray_capital", 0.99, [](const auto& truth, const auto& listed) {
    EXPECT_NE(listed.full_name(), truth.full_name());
    EXPECT_EQ(text::FoldCase(listed.full_name()), text::FoldCase(truth.full_name()));
    bool misplaced = false;
    for (const Letters& w : Words(listed.full_name())) {
      misplaced |= !IsUpper(w[0]);
      for (size_t i = 1; i < w.size(); ++i) misplaced |= IsUpper(w[i]);
    }
    EXPECT_TRUE(misplaced);
  });
}

TEST(SynthErrors, VowelTypoReplacesOneVowelByAnother) {
  std::set<std::string> bases_changed;
  ForEachWith("vowel_typo", 0.99, [&](const auto& truth, const auto& listed) {
    Letters a = LettersOf(truth.full_name()), b = LettersOf(listed.full_name());
    ASSERT_EQ(a.size(), b.size());
    std::vector<size_t> d = Differences(a, b);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_TRUE(IsVowel(a[d[0]]) && IsVowel(b[d[0]])) << a[d[0]] << " " << b[d[0]];
    EXPECT_EQ(IsUpper(a[d[0]]), IsUpper(b[d[0]]));
    if (text::FoldDiacritics(a[d[0]]) != text::FoldDiacritics(b[d[0]]))
      bases_changed.insert(text::FoldDiacritics(a[d[0]]) + text::FoldDiacritics(b[d[0]]));
  });
  EXPECT_GT(bases_changed.size(), 10u);  // "Nam" -> "Nom", not only a tone.
}

TEST(SynthErrors, NameTypoReplacesOneConsonant) {
  ForEachWith("name_typo", 0.99, [](const auto& truth, const auto& listed) {
    Letters a = LettersOf(truth.full_name()), b = LettersOf(listed.full_name());
    ASSERT_EQ(a.size(), b.size());
    std::vector<size_t> d = Differences(a, b);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_TRUE(IsConsonant(a[d[0]]) && IsConsonant(b[d[0]])) << a[d[0]] << " " << b[d[0]];
  });
}

TEST(SynthErrors, MiddleDroppedAndTransposed) {
  ForEachWith("middle_dropped_transposed", 0.8, [](const auto& truth, const auto& listed) {
    auto a = Words(truth.full_name()), b = Words(listed.full_name());
    ASSERT_GE(a.size(), 3u);
    ASSERT_EQ(b.size(), 2u);
    const bool family = AdjacentSwap(a.front(), b[0]) && a.back() == b[1];
    const bool given = a.front() == b[0] && AdjacentSwap(a.back(), b[1]);
    EXPECT_TRUE(family || given);
  });
}

TEST(SynthErrors, ReorderedGivenNameFirstWithATypo) {
  ForEachWith("name_reordered_typo", 0.99, [](const auto& truth, const auto& listed) {
    auto a = Words(truth.full_name()), b = Words(listed.full_name());
    ASSERT_EQ(a.size(), b.size());
    std::rotate(a.begin(), a.end() - 1, a.end());  // Given name first.
    size_t w = 0;
    ASSERT_TRUE(OneWordChanged(a, b, w));
    EXPECT_TRUE(OneTypo(a[w], b[w]));
  });
}

TEST(SynthErrors, ImpossibleDayOrMonth) {
  ForEachWith("impossible_day", 0.99, [](const auto& truth, const auto& listed) {
    WrittenDate a = Read(truth.birth_date()), b = Read(listed.birth_date());
    EXPECT_GT(b.day, 31);
    EXPECT_EQ(b.day % 10, a.day % 10);  // The tens digit mistyped.
    EXPECT_EQ(b.month, a.month);
    EXPECT_EQ(b.year, a.year);
    EXPECT_FALSE(domain::ParsePartialDate(listed.birth_date()).ok());
  });
  ForEachWith("impossible_month", 0.99, [](const auto& truth, const auto& listed) {
    WrittenDate a = Read(truth.birth_date()), b = Read(listed.birth_date());
    EXPECT_GT(b.month, 12);
    EXPECT_EQ(b.month % 10, a.month % 10);
    EXPECT_EQ(b.day, a.day);
    EXPECT_EQ(b.year, a.year);
  });
}

TEST(SynthErrors, YearOutOfRangeByOneDigit) {
  ForEachWith("year_out_of_range", 0.99, [](const auto& truth, const auto& listed) {
    const int a = Read(truth.birth_date()).year, b = Read(listed.birth_date()).year;
    EXPECT_TRUE(b < 1880 || b > 2100) << b;
    std::string da = absl::StrFormat("%04d", a), db = absl::StrFormat("%04d", b);
    int differ = 0;
    for (size_t i = 0; i < 4; ++i) differ += da[i] != db[i];
    EXPECT_EQ(differ, 1) << da << " " << db;
  });
}

TEST(SynthErrors, DefaultRatesGiveRealisticSharesAndPairs) {
  PopulationOptions po;
  po.size = 20000;
  const Population population(po);
  ListOptions lo;
  lo.size = 5000;
  lo.max_birth_year = 2010;  // Far from drawing the pool dry.
  const std::set<std::string> letter_errors = {"name_typo",
                                               "name_transposition",
                                               "name_letter_deleted",
                                               "name_letter_inserted",
                                               "first_letter_lost",
                                               "vowel_typo",
                                               "stray_capital",
                                               "name_reordered_typo",
                                               "middle_dropped_transposed"};
  int named = 0, impossible = 0, with_other = 0;
  std::map<std::pair<std::string, std::string>, int> pairs;
  for (const ListEntry& e : MakeList(population, lo)) {
    std::set<std::string> tags(e.applied.begin(), e.applied.end());
    bool name_error = false;
    for (const std::string& t : tags) name_error |= letter_errors.count(t) > 0;
    named += name_error;
    impossible += tags.count("impossible_day") || tags.count("impossible_month");
    with_other += name_error && (tags.count("year_only") || tags.count("day_month_swap") ||
                                 tags.count("id_missing"));
    // Legacy-encoded names are never typed over.
    if (tags.count("tcvn3") || tags.count("vni")) {
      EXPECT_FALSE(name_error);
    }
    for (const std::string& a : tags) {
      for (const std::string& b : tags) {
        if (a < b) ++pairs[{a, b}];
      }
    }
  }
  const double n = static_cast<double>(lo.size);
  EXPECT_NEAR(named / n, 0.06, 0.015);
  EXPECT_NEAR(impossible / n, 0.008, 0.004);
  EXPECT_NEAR(with_other / n, 0.028, 0.01);
  // Errors are independent, so pairs occur.
  EXPECT_GT((pairs[{"id_missing", "name_transposition"}]), 0);
  EXPECT_GT((pairs[{"name_letter_deleted", "year_only"}]), 0);
  EXPECT_GT((pairs[{"diacritics_lost", "vowel_typo"}]), 0);
}

TEST(SynthErrors, ListsAreDeterministicForASeed) {
  ListOptions lo;
  lo.size = 800;
  lo.seed = 11;
  for (const char* error : {"name_transposition", "vowel_typo", "impossible_month"})
    ASSERT_TRUE(SetErrorRate(lo.errors, error, 0.2).ok());
  auto a = MakeList(People(), lo), b = MakeList(People(), lo);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].record.SerializeAsString(), b[i].record.SerializeAsString());
    EXPECT_EQ(a[i].applied, b[i].applied);
  }
  lo.seed = 12;
  auto c = MakeList(People(), lo);
  int same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i].record.full_name() == c[i].record.full_name();
  EXPECT_LT(same, 50);
}

TEST(SynthErrors, NameTypoStaysANameAndEveryErrorIsDescribed) {
  ListErrorRates rates;
  EXPECT_TRUE(SetErrorRate(rates, "name_typo", 0.5).ok());
  EXPECT_EQ(rates.name_typo, 0.5);
  std::set<std::string> names;
  for (const ErrorInfo& e : DescribeErrors(rates)) {
    EXPECT_FALSE(e.what.empty()) << e.name;
    names.insert(e.name);
  }
  EXPECT_EQ(names.size(), ErrorRates(rates).size());
  absl::Status unknown = SetErrorRate(rates, "no_such", 0.1);
  EXPECT_FALSE(unknown.ok());
  EXPECT_NE(unknown.message().find("first_letter_lost"), std::string::npos);
}

}  // namespace
}  // namespace linkage::synth
