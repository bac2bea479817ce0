// Reading person records from the interchange formats of DESIGN.md §6: CSV
// (UTF-8, RFC 4180, header row) and JSON Lines, with the same field names:
// record_id, national_id, old_id, full_name, sex, birth_date, ethnicity,
// address, commune_code, district_code, province_code, phone, unit_version.
// Unknown columns become attributes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "linkage/csv.h"
#include "linkage/v1/record.pb.h"

namespace linkage::domain {

// Maps a CSV header to PersonRecord fields. Create() fails if record_id or
// full_name is missing or a column name repeats.
class PersonCsvSchema {
 public:
  static absl::StatusOr<PersonCsvSchema> Create(const std::vector<std::string>& header);

  // Builds a record from a data row. Errors name the line and the field:
  // `line 17: sex "abc": expected ...`. Only shape is checked here; the
  // record's content is checked by NormalizeRecord.
  absl::StatusOr<v1::PersonRecord> ToRecord(const CsvRow& row) const;

  const std::vector<std::string>& columns() const { return columns_; }

 private:
  std::vector<std::string> columns_;
  std::vector<int> field_of_column_;  // Index into kFields, or -1 for attributes.
};

// Bounds on one JSON Lines line: its length, and its nesting (the person
// object is flat: a value that is an object or an array is refused at its
// opening bracket, so nesting depth is 1).
inline constexpr size_t kMaxJsonLineBytes = size_t{1} << 20;  // 1 MiB.

// Parses one JSON Lines object with the same field names. Values are
// strings; a number is taken as the text written (`"national_id":
// 19128007932` is "19128007932", never reformatted; a number with a leading
// zero is refused: write such IDs as strings); true/false become "true" /
// "false", null an absent field; sex as in CSV. Refused: an object or array
// value, a field named twice, a line over kMaxJsonLineBytes, anything that
// is not one JSON object. Errors name the line and the field:
// `line 3: field "x" is an array; ...`.
absl::StatusOr<v1::PersonRecord> PersonFromJson(std::string_view line, int64_t line_number);

// "2025", "pre2025" (also "pre-2025", "old", "new"), or "" -> unspecified.
absl::StatusOr<v1::UnitVersion> ParseUnitVersion(std::string_view text);

}  // namespace linkage::domain
