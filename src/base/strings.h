// Debian 12's Abseil (20220623) is built without the std::string_view alias,
// so absl::string_view and std::string_view are distinct types. linkd's APIs
// use std::string_view; these two adapters are used where Abseil's string
// functions are called.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace linkage {

inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view SV(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace linkage
