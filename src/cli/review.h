// The clerical review file's decisions, shared by `review labels` and
// `calibrate` (which reads a review file as labels).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace linkage::cli {

// The label of one review-file row: the candidate's id ("same"), a label
// matching no record ("different"), nullopt (not decided yet). Errors: any
// other decision, naming the record.
absl::StatusOr<std::optional<std::string>> ReviewLabel(std::map<std::string, std::string>& row);

}  // namespace linkage::cli
