// Comparison level predicates (levels.h).
#include "levels.h"

#include <algorithm>
#include <cmath>

#include "linkage/domain.h"
#include "linkage/name_likeness.h"
#include "linkage/names.h"
#include "linkage/similarity.h"

namespace linkage::model::internal {

namespace {

using Names = google::protobuf::RepeatedPtrField<std::string>;

bool SameTokens(const Names& a, const Names& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// Joins folded tokens with spaces into a fixed buffer (no allocation).
std::string_view JoinInto(const Names& tokens, std::array<char, kMaxFastLength>& buf) {
  size_t n = 0;
  for (int i = 0; i < tokens.size(); ++i) {
    if (i > 0 && n < buf.size()) buf[n++] = ' ';
    for (char c : tokens[i]) {
      if (n < buf.size()) buf[n++] = c;
    }
  }
  return std::string_view(buf.data(), n);
}

bool SortedTokensEqual(const Names& a, const Names& b) {
  if (a.size() != b.size() || a.size() < 2) return false;
  // Names have few parts: a quadratic multiset check avoids allocation.
  std::array<bool, 16> used{};
  if (a.size() > static_cast<int>(used.size())) return false;
  for (const std::string& t : a) {
    bool found = false;
    for (int j = 0; j < b.size(); ++j) {
      if (!used[static_cast<size_t>(j)] && b[j] == t) {
        used[static_cast<size_t>(j)] = true;
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

// True if the family (first family_len) and given (last) parts agree and
// one side's middle names are a proper subsequence of the other's.
bool MiddleMissing(const v1::NormalizedName& a, const v1::NormalizedName& b,
                   bool family_variant_ok) {
  const Names& ta = a.folded_tokens();
  const Names& tb = b.folded_tokens();
  if (ta.size() < 2 || tb.size() < 2 || ta.size() == tb.size()) return false;
  if (ta[ta.size() - 1] != tb[tb.size() - 1]) return false;
  if (ta[0] != tb[0] && !(family_variant_ok && text::AreFamilyVariants(ta[0], tb[0]))) return false;
  const Names& longer = ta.size() > tb.size() ? ta : tb;
  const Names& shorter = ta.size() > tb.size() ? tb : ta;
  int j = 1;
  for (int i = 1; i < longer.size() - 1 && j < shorter.size() - 1; ++i) {
    if (longer[i] == shorter[j]) ++j;
  }
  return j == shorter.size() - 1;
}

bool FamilyVariant(const v1::NormalizedName& a, const v1::NormalizedName& b) {
  const Names& ta = a.folded_tokens();
  const Names& tb = b.folded_tokens();
  if (ta.empty() || tb.empty() || !text::AreFamilyVariants(ta[0], tb[0])) return false;
  if (ta.size() == tb.size()) return std::equal(ta.begin() + 1, ta.end(), tb.begin() + 1);
  return MiddleMissing(a, b, true);
}

}  // namespace

bool NameLevel(v1::LevelKind kind, double threshold, const v1::NormalizedName& a,
               const v1::NormalizedName& b) {
  switch (kind) {
    case v1::LEVEL_NAME_EXACT:
      return SameTokens(a.tokens(), b.tokens());
    case v1::LEVEL_NAME_FOLDED_EXACT:
      return SameTokens(a.folded_tokens(), b.folded_tokens());
    case v1::LEVEL_NAME_REORDERED:
      return SortedTokensEqual(a.folded_tokens(), b.folded_tokens());
    case v1::LEVEL_NAME_MIDDLE_MISSING:
      return MiddleMissing(a, b, false);
    case v1::LEVEL_NAME_FAMILY_VARIANT:
      return FamilyVariant(a, b);
    case v1::LEVEL_NAME_JARO_WINKLER: {
      std::array<char, kMaxFastLength> ba, bb;
      const std::string& ga = a.folded_tokens(a.folded_tokens_size() - 1);
      const std::string& gb = b.folded_tokens(b.folded_tokens_size() - 1);
      // Short Vietnamese given names one letter apart are usually different
      // people (siblings, twins: Toại/Thái): the given name must agree in
      // spelling or sound, and the similarity may only come from the rest.
      const std::string& pa = a.phonetic_tokens(a.phonetic_tokens_size() - 1);
      const std::string& pb = b.phonetic_tokens(b.phonetic_tokens_size() - 1);
      return (ga == gb || pa == pb) && JaroWinkler(JoinInto(a.folded_tokens(), ba),
                                                   JoinInto(b.folded_tokens(), bb)) >= threshold;
    }
    case v1::LEVEL_NAME_PHONETIC:
      return SameTokens(a.phonetic_tokens(), b.phonetic_tokens()) ||
             SortedTokensEqual(a.phonetic_tokens(), b.phonetic_tokens());
    case v1::LEVEL_NAME_TYPO:
      return IsTypingVariant(a, b);
    case v1::LEVEL_NAME_GIVEN_AGREES:
      return a.folded_tokens(a.folded_tokens_size() - 1) ==
             b.folded_tokens(b.folded_tokens_size() - 1);
    default:
      return false;
  }
}

std::string_view DateDigits(const v1::PartialDate& d, std::array<char, 8>& buf) {
  int v[] = {d.year(), d.month(), d.day()};
  int widths[] = {4, 2, 2};
  size_t pos = 0;
  for (int k = 0; k < 3; ++k) {
    for (int w = widths[k] - 1; w >= 0; --w) {
      buf[pos + static_cast<size_t>(w)] = static_cast<char>('0' + v[k] % 10);
      v[k] /= 10;
    }
    pos += static_cast<size_t>(widths[k]);
  }
  return std::string_view(buf.data(), 8);
}

bool DateLevel(v1::LevelKind kind, double threshold, const v1::PartialDate& a,
               const v1::PartialDate& b) {
  switch (kind) {
    case v1::LEVEL_DATE_EXACT:
      return domain::IsFullDate(a) && domain::IsFullDate(b) && a.year() == b.year() &&
             a.month() == b.month() && a.day() == b.day();
    case v1::LEVEL_DATE_YEAR_ONLY:
      return a.year() == b.year() && (a.month() == 0 || b.month() == 0 ||
                                      a.possible_placeholder() || b.possible_placeholder());
    case v1::LEVEL_DATE_YEAR_MONTH:
      return a.year() == b.year() && a.month() != 0 && a.month() == b.month();
    case v1::LEVEL_DATE_DAY_MONTH_SWAP:
      return domain::IsFullDate(a) && domain::IsFullDate(b) && a.year() == b.year() &&
             a.day() == b.month() && a.month() == b.day() && a.day() != a.month();
    case v1::LEVEL_DATE_ONE_DIGIT: {
      if (!domain::IsFullDate(a) || !domain::IsFullDate(b)) return false;
      std::array<char, 8> ba, bb;
      return DamerauLevenshtein(DateDigits(a, ba), DateDigits(b, bb), 1) <= 1;
    }
    case v1::LEVEL_DATE_YEAR_WITHIN:
      return std::abs(a.year() - b.year()) <= static_cast<int>(threshold);
    default:
      return false;
  }
}

bool IdLevel(v1::LevelKind kind, const std::string& a, const std::string& b) {
  switch (kind) {
    case v1::LEVEL_ID_EXACT:
    case v1::LEVEL_EXACT:
      return a == b;
    case v1::LEVEL_ID_ONE_EDIT:
      return DamerauLevenshtein(a, b, 1) <= 1;
    default:
      return false;
  }
}

template <typename C>
bool Intersects(const C& a, const C& b) {
  for (const auto& x : a) {
    for (const auto& y : b) {
      if (x == y) return true;
    }
  }
  return false;
}

bool AddressLevel(v1::LevelKind kind, const v1::NormalizedAddress& a,
                  const v1::NormalizedAddress& b) {
  switch (kind) {
    case v1::LEVEL_ADDR_SAME_COMMUNE:
      return Intersects(a.commune_codes_2025(), b.commune_codes_2025());
    case v1::LEVEL_ADDR_SAME_DISTRICT:
      return Intersects(a.old_district_codes(), b.old_district_codes());
    case v1::LEVEL_ADDR_SAME_PROVINCE:
      return !a.province_code_2025().empty() && a.province_code_2025() == b.province_code_2025();
    default:
      return false;
  }
}

bool StringLevel(v1::LevelKind kind, double threshold, std::string_view a, std::string_view b) {
  switch (kind) {
    case v1::LEVEL_EXACT:
      return a == b;
    case v1::LEVEL_JARO_WINKLER:
      return JaroWinkler(a, b) >= threshold;
    case v1::LEVEL_EDIT_DISTANCE:
      return DamerauLevenshtein(a, b, static_cast<int>(threshold)) <= static_cast<int>(threshold);
    default:
      return false;
  }
}

std::string_view Attribute(const v1::NormalizedRecord& r, const std::string& key) {
  auto it = r.attributes().find(key);
  return it == r.attributes().end() ? std::string_view() : std::string_view(it->second);
}

}  // namespace linkage::model::internal
