// Conversions between linkage::v1 messages and the engine's structs, in
// both directions: requests decoded into engine options, engine reports
// encoded into responses. The handlers call these and copy nothing field
// by field themselves. Internal to the service layer.
#pragma once

#include <cstdint>
#include <string>

#include "linkage/engine.h"

namespace linkage::service {

engine::MatchOptions MatchOptionsFrom(int32_t top_k, bool include_records, bool omit_explanation,
                                      const std::string& exclude_record_id, bool lenient_dates);

}  // namespace linkage::service
