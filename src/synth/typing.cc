// What typing and scanning do to names and dates: one letter or digit at a
// time, at a random place. Names are UTF-8 NFC here (legacy-encoded names are
// never edited), so a letter is one code point.

#include <algorithm>
#include <array>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "linkage/text.h"
#include "synth/internal.h"

namespace linkage::synth::internal {
namespace {

// A name token as its letters.
using Token = std::vector<std::string>;

// Splits on every space (so joining with one space gives the name back).
std::vector<Token> Split(const std::string& name) {
  std::vector<Token> tokens(1);
  for (size_t i = 0; i < name.size();) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    if (c == ' ') {
      tokens.emplace_back();
      ++i;
      continue;
    }
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    n = std::min(n, name.size() - i);
    tokens.back().push_back(name.substr(i, n));
    i += n;
  }
  return tokens;
}

std::string Join(const std::vector<Token>& tokens) {
  std::string out;
  for (size_t t = 0; t < tokens.size(); ++t) {
    if (t > 0) out += ' ';
    for (const std::string& letter : tokens[t]) out += letter;
  }
  return out;
}

bool IsUpper(const std::string& letter) { return text::FoldCase(letter) != letter; }
std::string WithCase(const std::string& letter, bool upper) {
  return upper ? text::ToUpper(letter) : text::FoldCase(letter);
}

struct Place {
  size_t token, letter;
};

// Every (token, letter) for which `ok` holds; one of them at random.
template <typename Ok>
bool Pick(const std::vector<Token>& tokens, Rng& rng, Ok ok, Place& place) {
  std::vector<Place> places;
  for (size_t t = 0; t < tokens.size(); ++t) {
    for (size_t i = 0; i <= tokens[t].size(); ++i) {
      if (ok(tokens[t], i)) places.push_back({t, i});
    }
  }
  if (places.empty()) return false;
  place = places[rng.Uniform(places.size())];
  return true;
}

// The twelve Vietnamese vowel letters, each with its five tones.
constexpr std::array<std::string_view, 12> kVowelRows = {"aàáảãạ", "ăằắẳẵặ", "âầấẩẫậ", "eèéẻẽẹ",
                                                         "êềếểễệ", "iìíỉĩị", "oòóỏõọ", "ôồốổỗộ",
                                                         "ơờớởỡợ", "uùúủũụ", "ưừứửữự", "yỳýỷỹỵ"};
// Letters one hat or breve apart share a family: a ă â, e ê, i, o ô ơ, u ư, y.
constexpr std::array<int, 12> kFamily = {0, 0, 0, 1, 1, 2, 3, 3, 3, 4, 4, 5};
constexpr std::array<size_t, 6> kAsciiVowels = {0, 3, 5, 6, 9, 11};

std::string Vowel(size_t base, size_t tone) {
  return Split(std::string(kVowelRows[base]))[0][tone];
}

// Lower-case vowel letter -> (base row, tone).
const std::map<std::string, std::pair<size_t, size_t>>& VowelIndex() {
  static const auto* index = [] {
    auto* m = new std::map<std::string, std::pair<size_t, size_t>>();
    for (size_t b = 0; b < kVowelRows.size(); ++b) {
      for (size_t t = 0; t < 6; ++t) (*m)[Vowel(b, t)] = {b, t};
    }
    return m;
  }();
  return *index;
}

bool IsVowel(const std::string& letter) { return VowelIndex().count(text::FoldCase(letter)) > 0; }

constexpr std::string_view kConsonants = "bcdghklmnpqrstvx";

bool IsConsonant(const std::string& letter) {
  const std::string lower = text::FoldCase(letter);
  return lower == "đ" || (lower.size() == 1 && kConsonants.find(lower[0]) != std::string::npos);
}

bool IsAscii(const std::string& s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

}  // namespace

bool TransposeLetters(std::string& name, Rng& rng) {
  std::vector<Token> tokens = Split(name);
  Place p;
  if (!Pick(
          tokens, rng,
          [](const Token& t, size_t i) { return i + 1 < t.size() && t[i] != t[i + 1]; }, p))
    return false;
  std::swap(tokens[p.token][p.letter], tokens[p.token][p.letter + 1]);
  name = Join(tokens);
  return true;
}

bool DeleteLetter(std::string& name, Rng& rng) {
  std::vector<Token> tokens = Split(name);
  Place p;
  if (!Pick(
          tokens, rng, [](const Token& t, size_t i) { return i >= 1 && i < t.size(); }, p))
    return false;
  Token& t = tokens[p.token];
  t.erase(t.begin() + static_cast<std::ptrdiff_t>(p.letter));
  name = Join(tokens);
  return true;
}

bool InsertLetter(std::string& name, Rng& rng) {
  std::vector<Token> tokens = Split(name);
  Place p;
  if (!Pick(
          tokens, rng, [](const Token& t, size_t i) { return i >= 1 && i <= t.size(); }, p))
    return false;
  Token& t = tokens[p.token];
  // A key held too long doubles the letter before; a slip adds any letter.
  std::string letter = rng.Chance(0.5) ? text::FoldCase(t[p.letter - 1])
                                       : std::string(1, static_cast<char>('a' + rng.Uniform(26)));
  t.insert(t.begin() + static_cast<std::ptrdiff_t>(p.letter), letter);
  name = Join(tokens);
  return true;
}

bool DropFirstLetter(std::string& name, Rng& rng) {
  std::vector<Token> tokens = Split(name);
  Place p;
  if (!Pick(
          tokens, rng, [](const Token& t, size_t i) { return i == 0 && t.size() >= 2; }, p))
    return false;
  tokens[p.token].erase(tokens[p.token].begin());
  name = Join(tokens);
  return true;
}

bool StrayCapital(std::string& name, Rng& rng) {
  std::vector<Token> tokens = Split(name);
  auto cased = [](const std::string& l) { return text::FoldCase(l) != text::ToUpper(l); };
  Place p;
  if (!Pick(
          tokens, rng,
          [&](const Token& t, size_t i) { return i >= 1 && i < t.size() && cased(t[i]); }, p))
    return false;
  Token& t = tokens[p.token];
  if (rng.Chance(0.5)) {  // One letter's case flipped: "NguyỄn".
    t[p.letter] = WithCase(t[p.letter], !IsUpper(t[p.letter]));
  } else {  // The capital moved off the first letter: "lY", "tHắng".
    t[0] = WithCase(t[0], false);
    t[p.letter] = WithCase(t[p.letter], true);
  }
  std::string out = Join(tokens);
  if (out == name) return false;
  name = std::move(out);
  return true;
}

bool ChangeVowel(std::string& name, Rng& rng) {
  std::vector<Token> tokens = Split(name);
  Place p;
  if (!Pick(
          tokens, rng, [](const Token& t, size_t i) { return i < t.size() && IsVowel(t[i]); }, p))
    return false;
  std::string& letter = tokens[p.token][p.letter];
  const bool upper = IsUpper(letter);
  auto [base, tone] = VowelIndex().at(text::FoldCase(letter));
  // Without diacritics in the name a typo does not add any: a plain vowel
  // for a plain vowel ("Nam" -> "Nom"). Otherwise also a hat or breve
  // ("Thắng" -> "Thấng") or a tone ("Thắng" -> "Thằng") mistyped.
  const bool plain = IsAscii(name);
  std::vector<std::pair<size_t, size_t>> choices;
  for (size_t b = 0; b < kVowelRows.size(); ++b) {
    if (kFamily[b] == kFamily[base]) continue;
    if (plain && std::find(kAsciiVowels.begin(), kAsciiVowels.end(), b) == kAsciiVowels.end())
      continue;
    choices.emplace_back(b, tone);
  }
  if (!plain) {
    const size_t other_letters = choices.size();
    for (size_t b = 0; b < kVowelRows.size(); ++b) {
      if (b != base && kFamily[b] == kFamily[base]) choices.emplace_back(b, tone);
    }
    for (size_t t = 0; t < 6; ++t) {
      if (t != tone) choices.emplace_back(base, t);
    }
    // A third each: another vowel, another hat or breve, another tone.
    const size_t kind = rng.Uniform(3);
    const size_t hats = choices.size() - other_letters - 5;
    if (kind == 1 && hats > 0) {
      choices.erase(choices.begin(), choices.begin() + static_cast<std::ptrdiff_t>(other_letters));
      choices.resize(hats);
    } else if (kind == 2) {
      choices.erase(choices.begin(), choices.end() - 5);
    } else {
      choices.resize(other_letters);
    }
  }
  auto [b, t] = choices[rng.Uniform(choices.size())];
  letter = WithCase(Vowel(b, t), upper);
  name = Join(tokens);
  return true;
}

bool ChangeConsonant(std::string& name, Rng& rng) {
  std::vector<Token> tokens = Split(name);
  Place p;
  if (!Pick(
          tokens, rng, [](const Token& t, size_t i) { return i < t.size() && IsConsonant(t[i]); },
          p))
    return false;
  std::string& letter = tokens[p.token][p.letter];
  const std::string lower = text::FoldCase(letter);
  std::string other;
  do {
    other = std::string(1, kConsonants[rng.Uniform(kConsonants.size())]);
  } while (other == lower);
  letter = WithCase(other, IsUpper(letter));
  name = Join(tokens);
  return true;
}

bool AnyTypo(std::string& name, Rng& rng) {
  static constexpr bool (*kTypos[])(std::string&, Rng&) = {
      TransposeLetters, DeleteLetter, InsertLetter, ChangeVowel, ChangeConsonant};
  constexpr size_t n = sizeof(kTypos) / sizeof(kTypos[0]);
  const size_t first = rng.Uniform(n);
  for (size_t k = 0; k < n; ++k) {
    if (kTypos[(first + k) % n](name, rng)) return true;
  }
  return false;
}

int ImpossibleDay(int day, Rng& rng) { return rng.Between(4, 9) * 10 + day % 10; }

int ImpossibleMonth(int month, Rng& rng) { return rng.Between(2, 9) * 10 + month % 10; }

int YearOutOfRange(int year, Rng& rng) {
  // The hundreds digit, as scans and tired hands get it wrong ("1979" ->
  // "1879", "1957" -> "1557"); the thousands digit if no hundreds will do.
  for (int unit : {100, 1000}) {
    const int digit = year / unit % 10;
    std::vector<int> out;
    for (int d = 0; d <= 9; ++d) {
      const int y = year + (d - digit) * unit;
      if (d != digit && (y < 1880 || y > 2100)) out.push_back(y);
    }
    if (!out.empty()) return out[rng.Uniform(out.size())];
  }
  return year;
}

}  // namespace linkage::synth::internal
