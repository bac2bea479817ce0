// Unicode normalization and Vietnamese tone placement on top of utf8proc.
#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "linkage/text.h"
#include "text_internal.h"

namespace linkage::text {
namespace internal {

std::u32string Decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size());
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {  // Invalid byte: keep going with a replacement character.
      out.push_back(U'\uFFFD');
      n = 1;
    } else {
      out.push_back(static_cast<char32_t>(cp));
    }
    p += n;
    left -= n;
  }
  return out;
}

void AppendUtf8(char32_t c, std::string& out) {
  utf8proc_uint8_t buf[4];
  utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

std::string Encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (char32_t c : s) AppendUtf8(c, out);
  return out;
}

std::string Map(std::string_view s, int options) {
  utf8proc_uint8_t* dst = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                    static_cast<utf8proc_ssize_t>(s.size()), &dst,
                                    static_cast<utf8proc_option_t>(options));
  if (n < 0) return std::string(s);  // Invalid UTF-8: leave it to the caller's validation.
  std::string out(reinterpret_cast<char*>(dst), static_cast<size_t>(n));
  std::free(dst);
  return out;
}

bool IsToneMark(char32_t c) {
  return c == 0x0300 || c == 0x0301 || c == 0x0303 || c == 0x0309 || c == 0x0323;
}

bool IsVowel(char32_t c) {
  switch (c) {
    case U'a':
    case U'ă':
    case U'â':
    case U'e':
    case U'ê':
    case U'i':
    case U'o':
    case U'ô':
    case U'ơ':
    case U'u':
    case U'ư':
    case U'y':
      return true;
    default:
      return false;
  }
}

bool HasQualityMark(char32_t c) {
  return c == U'ă' || c == U'â' || c == U'ê' || c == U'ô' || c == U'ơ' || c == U'ư';
}

ToneSplit SplitTone(std::string_view word) {
  ToneSplit out;
  std::u32string nfd = Decode(Map(word, UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
  std::u32string rest;
  rest.reserve(nfd.size());
  for (char32_t c : nfd) {
    if (IsToneMark(c)) {
      ++out.tone_count;
      if (out.tone == 0) out.tone = c;
    } else {
      rest.push_back(c);
    }
  }
  out.base = Decode(Map(Encode(rest), UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  return out;
}

Nucleus FindNucleus(const std::u32string& w) {
  Nucleus n;
  size_t i = 0;
  while (i < w.size() && !IsVowel(w[i])) ++i;
  n.start = i;
  // "qu" and "gi" are consonants when a vowel follows them.
  if (i == 1 && w.size() > 2 && IsVowel(w[2]) &&
      ((w[0] == U'q' && w[1] == U'u') || (w[0] == U'g' && w[1] == U'i'))) {
    n.start = 2;
  }
  n.end = n.start;
  while (n.end < w.size() && IsVowel(w[n.end])) ++n.end;
  return n;
}

}  // namespace internal

using internal::Decode;
using internal::Encode;
using internal::Map;

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size());
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0 || cp == 0) return false;
    p += n;
    left -= n;
  }
  return true;
}

std::string Nfc(std::string_view s) {
  std::string out = Map(s, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  // U+00D0 (C3 90) -> U+0110 (C4 90); U+00F0 (C3 B0) -> U+0111 (C4 91).
  for (size_t i = 0; i + 1 < out.size(); ++i) {
    if (out[i] == '\xC3' && out[i + 1] == '\x90') {
      out[i] = '\xC4';
    } else if (out[i] == '\xC3' && out[i + 1] == '\xB0') {
      out[i] = '\xC4';
      out[i + 1] = '\x91';
    }
  }
  return out;
}

std::string Nfd(std::string_view s) { return Map(s, UTF8PROC_STABLE | UTF8PROC_DECOMPOSE); }

std::string ToUpper(std::string_view s) {
  std::u32string out = Decode(Nfc(s));
  for (char32_t& c : out)
    c = static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(c)));
  return Encode(out);
}

std::string FoldCase(std::string_view s) {
  return Map(Nfc(s), UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD);
}

namespace {

std::string FoldDiacriticsSlow(std::string_view s) {
  std::string stripped =
      Map(Nfc(s), UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK | UTF8PROC_CASEFOLD);
  // đ has no decomposition: fold it by hand (U+0111 = C4 91).
  std::string out;
  out.reserve(stripped.size());
  for (size_t i = 0; i < stripped.size(); ++i) {
    if (stripped[i] == '\xC4' && i + 1 < stripped.size() && stripped[i + 1] == '\x91') {
      out.push_back('d');
      ++i;
    } else {
      out.push_back(stripped[i]);
    }
  }
  return out;
}

// Folding is context-free per code point (marks fold to nothing), so the
// Latin, Vietnamese and combining ranges are folded once into a table.
constexpr char32_t kFoldTableSize = 0x2000;

const std::vector<std::string>& FoldTable() {
  static const std::vector<std::string>* table = [] {
    auto* t = new std::vector<std::string>(kFoldTableSize);
    for (char32_t c = 1; c < kFoldTableSize; ++c) {
      if (c >= 0xD800 && c <= 0xDFFF) continue;
      (*t)[c] = FoldDiacriticsSlow(Encode(std::u32string(1, c)));
    }
    return t;
  }();
  return *table;
}

// A bounded per-thread memo of a string function. Names and addresses reuse
// a few thousand syllables, so hit rates are high; the bound keeps a thread
// that sees unbounded distinct input from growing without limit.
template <typename Value>
class WordMemo {
 public:
  template <typename Fn>
  const Value& Get(std::string_view key, Fn compute) {
    auto it = map_.find(absl::string_view(key.data(), key.size()));
    if (it != map_.end()) return it->second;
    if (map_.size() >= kMaxEntries) map_.clear();
    return map_.emplace(std::string(key), compute()).first->second;
  }

 private:
  static constexpr size_t kMaxEntries = 1 << 16;
  absl::flat_hash_map<std::string, Value> map_;
};

bool IsAscii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

}  // namespace

std::string FoldDiacritics(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  if (IsAscii(s)) {
    for (char c : s) out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
    return out;
  }
  const std::vector<std::string>& table = FoldTable();
  std::u32string cps = Decode(s);
  for (char32_t c : cps) {
    if (c < kFoldTableSize) {
      out += table[c];
    } else {
      out += FoldDiacriticsSlow(Encode(std::u32string(1, c)));
    }
  }
  return out;
}

std::string CleanPunctuation(std::string_view s) {
  if (IsAscii(s)) {
    std::string out;
    out.reserve(s.size());
    bool pending_space = false;
    for (char c : s) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) {
        pending_space = !out.empty();
        continue;
      }
      if (pending_space) out.push_back(' ');
      pending_space = false;
      out.push_back(c);
    }
    return out;
  }
  std::u32string in = Decode(s);
  std::u32string out;
  out.reserve(in.size());
  bool pending_space = false;
  for (char32_t c : in) {
    utf8proc_category_t cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
    bool keep = (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
                (cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME) ||
                cat == UTF8PROC_CATEGORY_ND;
    if (!keep) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(U' ');
    pending_space = false;
    out.push_back(c);
  }
  return Encode(out);
}

std::vector<std::string> SplitWords(std::string_view s) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) words.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return words;
}

namespace {
std::string CanonicalWordUncached(std::string_view word);
}  // namespace

std::string CanonicalWord(std::string_view word) {
  thread_local WordMemo<std::string> memo;
  return memo.Get(word, [word] { return CanonicalWordUncached(word); });
}

namespace {

std::string CanonicalWordUncached(std::string_view word) {
  internal::ToneSplit split = internal::SplitTone(word);
  std::u32string& w = split.base;
  internal::Nucleus nuc = internal::FindNucleus(w);
  if (nuc.start == nuc.end) return Nfc(word);  // No vowel: not a syllable.
  // A second vowel group ("maria") means a foreign word: leave it alone.
  for (size_t i = nuc.end; i < w.size(); ++i) {
    if (internal::IsVowel(w[i])) return Nfc(word);
  }
  // i/y variants (Lý/Lí, Quý/Quí, Mỹ/Mĩ): a lone open i or y after a consonant.
  if (nuc.end - nuc.start == 1 && nuc.start > 0 && nuc.end == w.size() &&
      (w[nuc.start] == U'y' || w[nuc.start] == U'i')) {
    w[nuc.start] = U'i';
  }
  if (split.tone == 0) return Encode(w);

  size_t pos = nuc.end - 1;  // Closed syllable: the last vowel.
  bool marked = false;
  for (size_t i = nuc.start; i < nuc.end; ++i) {
    if (internal::HasQualityMark(w[i])) {
      pos = i;  // The last vowel with a quality mark (ươ -> ơ, iê -> ê).
      marked = true;
    }
  }
  if (!marked && nuc.end == w.size()) {
    size_t len = nuc.end - nuc.start;
    // Open syllable, traditional rule: "hòa", "thủy", "ngoài".
    pos = len == 3 ? nuc.start + 1 : nuc.start;
  }
  std::u32string placed = w.substr(0, pos + 1);
  placed.push_back(split.tone);
  placed.append(w.substr(pos + 1));
  return Map(Encode(placed), UTF8PROC_STABLE | UTF8PROC_COMPOSE);
}

}  // namespace

std::string CanonicalText(std::string_view s) {
  // NFC, case folding and punctuation cleanup never cross an ASCII space, so
  // each space-separated piece is canonicalized (and memoized) on its own.
  thread_local WordMemo<std::string> memo;
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r') ++j;
    if (j == i) break;
    const std::string& piece = memo.Get(s.substr(i, j - i), [&] {
      std::string canonical;
      for (const std::string& word : SplitWords(CleanPunctuation(FoldCase(s.substr(i, j - i))))) {
        if (!canonical.empty()) canonical.push_back(' ');
        canonical += CanonicalWordUncached(word);
      }
      return canonical;
    });
    if (!piece.empty()) {
      if (!out.empty()) out.push_back(' ');
      out += piece;
    }
    i = j;
  }
  return out;
}

namespace {
bool IsVietnameseSyllableUncached(std::string_view word);
}  // namespace

bool IsVietnameseSyllable(std::string_view word) {
  thread_local WordMemo<bool> memo;
  return memo.Get(word, [word] { return IsVietnameseSyllableUncached(word); });
}

namespace {

bool IsVietnameseSyllableUncached(std::string_view word) {
  internal::ToneSplit split = internal::SplitTone(FoldCase(word));
  if (split.tone_count > 1) return false;
  const std::u32string& w = split.base;
  if (w.empty()) return false;
  // Initials, longest first. f, j, w, z occur in ethnic-minority names.
  static constexpr std::u32string_view kInitials[] = {
      U"ngh", U"ng", U"nh", U"ch", U"gh", U"gi", U"kh", U"ph", U"qu", U"th", U"tr",
      U"b",   U"c",  U"d",  U"đ",  U"g",  U"h",  U"k",  U"l",  U"m",  U"n",  U"p",
      U"r",   U"s",  U"t",  U"v",  U"x",  U"f",  U"j",  U"w",  U"z"};
  size_t i = 0;
  for (std::u32string_view init : kInitials) {
    if (w.compare(0, init.size(), init) == 0 && w.size() > init.size()) {
      i = init.size();
      break;
    }
  }
  // "gi" and "qu" may be the whole initial or a consonant + vowel ("gì").
  if (i == 2 && (w.compare(0, 2, U"gi") == 0) && !internal::IsVowel(w[2])) i = 1;
  size_t v = i;
  while (v < w.size() && internal::IsVowel(w[v])) ++v;
  size_t vowels = v - i;
  if (vowels < 1 || vowels > 3) return false;
  // The vowel nuclei Vietnamese spelling allows (toneless).
  static constexpr std::u32string_view kNuclei[] = {
      U"a",   U"ă",   U"â",   U"e",   U"ê",   U"i",   U"o",   U"ô",   U"ơ",   U"u",
      U"ư",   U"y",   U"ai",  U"ao",  U"au",  U"ay",  U"âu",  U"ây",  U"eo",  U"êu",
      U"ia",  U"iê",  U"iu",  U"oa",  U"oă",  U"oe",  U"oi",  U"ôi",  U"ơi",  U"ua",
      U"uâ",  U"uê",  U"ui",  U"uô",  U"uơ",  U"ưa",  U"ưi",  U"ưu",  U"ươ",  U"uy",
      U"yê",  U"oo",  U"ôô",  U"oai", U"oay", U"oeo", U"uây", U"uôi", U"ươi", U"ươu",
      U"uya", U"uyê", U"uyu", U"iêu", U"yêu", U"uay"};
  std::u32string_view nucleus = std::u32string_view(w).substr(i, vowels);
  // Text without diacritics ("nguyen") is checked against the nuclei with
  // their quality marks removed; marked text must match exactly.
  auto unmark = [](char32_t c) -> char32_t {
    switch (c) {
      case U'ă':
      case U'â':
        return U'a';
      case U'ê':
        return U'e';
      case U'ô':
      case U'ơ':
        return U'o';
      case U'ư':
        return U'u';
      default:
        return c;
    }
  };
  bool marked = std::any_of(nucleus.begin(), nucleus.end(), internal::HasQualityMark);
  bool known = false;
  for (std::u32string_view n : kNuclei) {
    if (marked) {
      known |= (n == nucleus);
    } else if (n.size() == nucleus.size()) {
      known |= std::equal(n.begin(), n.end(), nucleus.begin(),
                          [&](char32_t a, char32_t b) { return unmark(a) == b; });
    }
  }
  if (!known) return false;
  std::u32string_view fin = std::u32string_view(w).substr(v);
  static constexpr std::u32string_view kFinals[] = {U"",   U"c",  U"ch", U"m", U"n",
                                                    U"ng", U"nh", U"p",  U"t"};
  for (std::u32string_view f : kFinals) {
    if (fin == f) return true;
  }
  return false;
}

}  // namespace
}  // namespace linkage::text
