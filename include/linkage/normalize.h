// Turns a PersonRecord as written into the NormalizedRecord the engine
// compares. Run once per record at write time (and once per query).
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "linkage/v1/record.pb.h"

namespace linkage::domain {

// Size limits on input fields, checked before any parsing.
struct RecordLimits {
  size_t max_record_id_bytes = 128;
  size_t max_name_bytes = 256;
  size_t max_address_bytes = 1024;
  size_t max_field_bytes = 256;  // Every other field.
  size_t max_attributes = 64;
  size_t max_attribute_bytes = 1024;
};

struct NormalizeOptions {
  RecordLimits limits;
  // Version assumed for unit codes when neither the record nor its address
  // text says (an import-wide default).
  v1::UnitVersion default_unit_version = v1::UNIT_VERSION_UNSPECIFIED;
  // Refuse a record whose birth_date cannot be read whole (a year outside
  // 1880..2100, a day above 31, a month above 12 that is no swapped day,
  // text that is no date). By default such a date is kept in part and
  // flagged (DATE_YEAR_IMPLAUSIBLE, DATE_IMPOSSIBLE_DAY,
  // DATE_IMPOSSIBLE_MONTH, DATE_PARTLY_READ): one mistyped date must not
  // drop a person from a payment list (DESIGN.md §2).
  bool strict_dates = false;
};

// True if `name` is a valid dataset name: 1..64 of [a-z0-9._-].
bool IsValidDatasetName(std::string_view name);

// Checks the record's shape (required fields, UTF-8, sizes) and normalizes
// it. Errors are InvalidArgument with a message that names the record and
// the field: `record "B0042": birth_date "31/13/1950": month 13 is not 1..12`.
// A bad date of a kind that lists contain (impossible day, swapped day and
// month, placeholder) is not an error; it is kept in part and flagged.
absl::StatusOr<v1::NormalizedRecord> NormalizeRecord(const v1::PersonRecord& record,
                                                     const NormalizeOptions& options = {});

}  // namespace linkage::domain
