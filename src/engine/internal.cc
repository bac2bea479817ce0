#include "internal.h"

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

}  // namespace linkage::engine::internal
