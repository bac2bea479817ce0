// Comparison level predicates: whether two normalized values agree at a
// level. Internal to the model layer (scoring and blocking use them).
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "linkage/v1/record.pb.h"
#include "linkage/v1/spec.pb.h"

namespace linkage::model::internal {

bool NameLevel(v1::LevelKind kind, double threshold, const v1::NormalizedName& a,
               const v1::NormalizedName& b);
bool DateLevel(v1::LevelKind kind, double threshold, const v1::PartialDate& a,
               const v1::PartialDate& b);
bool IdLevel(v1::LevelKind kind, const std::string& a, const std::string& b);
bool AddressLevel(v1::LevelKind kind, const v1::NormalizedAddress& a,
                  const v1::NormalizedAddress& b);
bool StringLevel(v1::LevelKind kind, double threshold, std::string_view a, std::string_view b);

// yyyymmdd digits of a full date, into a fixed buffer.
std::string_view DateDigits(const v1::PartialDate& d, std::array<char, 8>& buf);
// A record attribute's value, or empty.
std::string_view Attribute(const v1::NormalizedRecord& r, const std::string& key);

}  // namespace linkage::model::internal
