#include "linkage/name_likeness.h"

#include <algorithm>
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

bool NamesWhollyUnlike(const v1::NormalizedName& a, const v1::NormalizedName& b) {
  const std::string fa = text::FoldedFamily(a), fb = text::FoldedFamily(b);
  return fa != fb && !text::AreFamilyVariants(fa, fb) &&
         DamerauLevenshtein(text::FoldedGiven(a), text::FoldedGiven(b), 1) > 1 &&
         !HoldsNameWords(a, b) && !HoldsNameWords(b, a);
}

}  // namespace linkage::model
