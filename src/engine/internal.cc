#include "internal.h"

#include <algorithm>

namespace linkage::engine::internal {

std::string IdKey(const v1::NormalizedId& id) {
  if (id.kind() == v1::ID_KIND_CCCD) return "c:" + id.digits();
  if (id.kind() == v1::ID_KIND_CMND) return "m:" + id.digits();
  return "";
}

v1::Band BandFor(double p, const v1::DecisionPolicy& policy) {
  if (p >= policy.match_probability()) return v1::BAND_MATCH;
  if (p >= policy.review_probability()) return v1::BAND_REVIEW;
  return v1::BAND_NO_MATCH;
}

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

}  // namespace linkage::engine::internal
