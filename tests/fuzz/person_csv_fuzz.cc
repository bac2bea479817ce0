// The CSV person-file path: CsvParser rows -> PersonCsvSchema (header) ->
// ToRecord (data rows) -> NormalizeRecord, as an import reads a file. The
// first input byte picks options and whether a standard header is put in
// front, so most inputs reach the row and normalization code.
#include <cstdint>
#include <optional>
#include <string>

#include "fuzz_util.h"
#include "linkage/csv.h"
#include "linkage/normalize.h"
#include "linkage/person_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using linkage::fuzz::Check;
  std::string_view text = linkage::fuzz::AsText(data, size);
  const unsigned char mode = linkage::fuzz::TakeByte(text);
  std::string content;
  if (mode & 1) {
    content =
        "record_id,national_id,old_id,full_name,sex,birth_date,ethnicity,address,commune_code,"
        "district_code,province_code,phone,unit_version,note\n";
  }
  content.append(text);
  linkage::domain::NormalizeOptions options;
  options.strict_dates = (mode & 2) == 0;
  options.default_unit_version = static_cast<linkage::v1::UnitVersion>((mode >> 2) % 3);

  std::optional<linkage::domain::PersonCsvSchema> schema;
  absl::Status st = linkage::CsvParser::ParseAll(content, [&](const linkage::CsvRow& row) {
    if (row.row_index == 0) {
      auto s = linkage::domain::PersonCsvSchema::Create(row.fields);
      if (!s.ok()) return false;
      schema = *std::move(s);
      Check(schema->columns().size() == row.fields.size(), "one column per header field");
      return true;
    }
    auto record = schema->ToRecord(row);
    if (!record.ok()) {
      Check(record.status().code() == absl::StatusCode::kInvalidArgument, "row errors are invalid",
            record.status().ToString());
      return true;
    }
    auto normalized = linkage::domain::NormalizeRecord(*record, options);
    if (normalized.ok()) {
      Check(normalized->name().tokens_size() > 0, "a normalized name has tokens");
    } else {
      Check(normalized.status().code() == absl::StatusCode::kInvalidArgument,
            "record errors are invalid", normalized.status().ToString());
    }
    return true;
  });
  (void)st;
  return 0;
}
