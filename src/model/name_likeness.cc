#include "linkage/name_likeness.h"

#include <google/protobuf/repeated_ptr_field.h>

#include <algorithm>
#include <array>
#include <string>

#include "linkage/names.h"
#include "linkage/similarity.h"
#include "linkage/text.h"

namespace linkage::model {

bool HoldsNameWords(const v1::NormalizedName& a, const v1::NormalizedName& b) {
  if (b.folded_tokens_size() == 0) return false;
  auto holds = [&a](const std::string& word) {
    return std::find(a.folded_tokens().begin(), a.folded_tokens().end(), word) !=
           a.folded_tokens().end();
  };
  for (int i = 0; i < b.family_len() && i < b.folded_tokens_size(); ++i) {
    if (!holds(b.folded_tokens(i))) return false;
  }
  return holds(b.folded_tokens(b.folded_tokens_size() - 1));
}

namespace {

using Words = google::protobuf::RepeatedPtrField<std::string>;

// A folded word with every y read as i, into a fixed buffer: the canonical
// spelling writes "Ly" as "li" but leaves a mistyped "yL" alone.
std::string_view YAsI(const std::string& word, std::array<char, kMaxFastLength>& buf) {
  const size_t n = std::min(word.size(), buf.size());
  for (size_t k = 0; k < n; ++k) buf[k] = word[k] == 'y' ? 'i' : word[k];
  return std::string_view(buf.data(), n);
}

// Matches the words of `shorter` to distinct words of `longer` (at most 8
// each) within `edits_left` letter edits in all, every unmatched word of
// `longer` a middle one. A pair of words may be two edits apart only when
// both have four letters or more ("kireu"/"khieu"); one letter for another in
// a one-letter word ("A"/"B") is another word. Backtracking over so few words
// is cheaper than anything cleverer.
bool Align(const Words& shorter, const Words& longer, int i, unsigned used, int edits_left) {
  if (i == shorter.size()) {
    for (int j = 0; j < longer.size(); ++j) {
      const bool middle = j > 0 && j + 1 < longer.size();
      if (!(used & (1u << j)) && !middle) return false;
    }
    return true;
  }
  for (int j = 0; j < longer.size(); ++j) {
    if (used & (1u << j)) continue;
    std::array<char, kMaxFastLength> ba, bb;
    const std::string_view a = YAsI(shorter[i], ba), b = YAsI(longer[j], bb);
    const bool long_words = a.size() >= 4 && b.size() >= 4;
    const int cap = std::min(edits_left, long_words ? 2 : 1);
    const int d = DamerauLevenshtein(a, b, cap);
    const bool one_letter = shorter[i].size() < 2 && longer[j].size() < 2;
    if (d <= cap && !(d > 0 && one_letter)) {
      if (Align(shorter, longer, i + 1, used | (1u << j), edits_left - d)) return true;
    }
  }
  return false;
}

}  // namespace

bool WithinTypingEdits(const v1::NormalizedName& a, const v1::NormalizedName& b, int edits) {
  const Words& wa = a.folded_tokens();
  const Words& wb = b.folded_tokens();
  if (wa.empty() || wb.empty() || wa.size() > 8 || wb.size() > 8) return false;
  const bool a_longer = wa.size() > wb.size();
  const Words& shorter = a_longer ? wb : wa;
  const Words& longer = a_longer ? wa : wb;
  if (longer.size() - shorter.size() > 1) return false;  // One middle name at most.
  if (shorter.size() < 2 && longer.size() > 1) return false;
  // The shorter name's own family and given names must be matched too: they
  // are, since every word of the shorter side is matched.
  return Align(shorter, longer, 0, 0, edits);
}

bool IsTypingVariant(const v1::NormalizedName& a, const v1::NormalizedName& b) {
  return WithinTypingEdits(a, b, 1);
}

bool TypoMakesNoOtherName(const v1::NormalizedName& claim, const v1::NormalizedName& held) {
  if (!IsTypingVariant(claim, held)) return false;
  std::array<char, kMaxFastLength> ba, bb;
  const int n = claim.folded_tokens_size();
  for (int t = 0; t < n; ++t) {
    const std::string& word = claim.folded_tokens(t);
    const std::string_view w = YAsI(word, ba);
    const bool held_word = std::any_of(held.folded_tokens().begin(), held.folded_tokens().end(),
                                       [&](const std::string& h) { return YAsI(h, bb) == w; });
    if (held_word || !text::IsVietnameseSyllable(word)) continue;
    // A real syllable where the held name has another: a sibling's given or
    // middle name could be that. In the family name's place (the given name
    // held, so it is no reordering) a syllable that is no family name is not
    // a relative's: siblings share the family name.
    const bool family_place = t == 0 && n > 1 && held.family_len() == 1;
    if (!family_place || text::IsKnownFamilyName(word)) return false;
  }
  return true;
}

bool NamesWhollyUnlike(const v1::NormalizedName& a, const v1::NormalizedName& b) {
  const std::string fa = text::FoldedFamily(a), fb = text::FoldedFamily(b);
  return fa != fb && !text::AreFamilyVariants(fa, fb) &&
         DamerauLevenshtein(text::FoldedGiven(a), text::FoldedGiven(b), 1) > 1 &&
         !HoldsNameWords(a, b) && !HoldsNameWords(b, a);
}

}  // namespace linkage::model
