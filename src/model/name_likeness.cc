#include "linkage/name_likeness.h"

#include <google/protobuf/repeated_ptr_field.h>

#include <algorithm>
#include <array>
#include <string>

#include "linkage/names.h"
#include "linkage/similarity.h"

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
// each), at most one pair one edit apart, every unmatched word of `longer`
// a middle one. Backtracking over so few words is cheaper than anything
// cleverer.
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
    const int d = DamerauLevenshtein(YAsI(shorter[i], ba), YAsI(longer[j], bb), 1);
    // One letter for another in a one-letter word ("A"/"B") is another word.
    const bool one_letter = shorter[i].size() < 2 && longer[j].size() < 2;
    if (d == 0 || (d == 1 && edits_left > 0 && !one_letter)) {
      if (Align(shorter, longer, i + 1, used | (1u << j), edits_left - d)) return true;
    }
  }
  return false;
}

}  // namespace

bool IsTypingVariant(const v1::NormalizedName& a, const v1::NormalizedName& b) {
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
  return Align(shorter, longer, 0, 0, 1);
}

bool NamesWhollyUnlike(const v1::NormalizedName& a, const v1::NormalizedName& b) {
  const std::string fa = text::FoldedFamily(a), fb = text::FoldedFamily(b);
  return fa != fb && !text::AreFamilyVariants(fa, fb) &&
         DamerauLevenshtein(text::FoldedGiven(a), text::FoldedGiven(b), 1) > 1 &&
         !HoldsNameWords(a, b) && !HoldsNameWords(b, a);
}

}  // namespace linkage::model
