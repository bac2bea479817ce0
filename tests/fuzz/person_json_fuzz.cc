// The JSON Lines person-file path: each line -> PersonFromJson ->
// NormalizeRecord. The first input byte picks the normalization options.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "linkage/normalize.h"
#include "linkage/person_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using linkage::fuzz::Check;
  std::string_view text = linkage::fuzz::AsText(data, size);
  const unsigned char mode = linkage::fuzz::TakeByte(text);
  linkage::domain::NormalizeOptions options;
  options.strict_dates = (mode & 1) == 0;
  options.default_unit_version = static_cast<linkage::v1::UnitVersion>((mode >> 1) % 3);

  int64_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    auto record = linkage::domain::PersonFromJson(line, line_number);
    if (!record.ok()) {
      Check(record.status().code() == absl::StatusCode::kInvalidArgument, "line errors are invalid",
            record.status().ToString());
      continue;
    }
    auto normalized = linkage::domain::NormalizeRecord(*record, options);
    if (!normalized.ok()) {
      Check(normalized.status().code() == absl::StatusCode::kInvalidArgument,
            "record errors are invalid", normalized.status().ToString());
    }
  }
  return 0;
}
