// Helpers the engine's files share. Internal to the engine layer.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "linkage/model.h"
#include "linkage/v1/record.pb.h"
#include "linkage/v1/spec.pb.h"

namespace linkage::engine::internal {

// The record id a query without one is normalized under.
inline constexpr std::string_view kQueryId = "(query)";

// The ids index key of an identity number: "c:<12>" (CCCD), "m:<9>" (CMND),
// or empty.
std::string IdKey(const v1::NormalizedId& id);

// The band of a probability under a policy (before margin and flags).
v1::Band BandFor(double p, const v1::DecisionPolicy& policy);

}  // namespace linkage::engine::internal
