#include "linkage/person_io.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <array>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "linkage/domain.h"
#include "linkage/strings.h"

namespace linkage::domain {
namespace {

enum Field {
  kRecordId,
  kNationalId,
  kOldId,
  kFullName,
  kSex,
  kBirthDate,
  kEthnicity,
  kAddress,
  kCommuneCode,
  kDistrictCode,
  kProvinceCode,
  kPhone,
  kUnitVersion,
  kNumFields
};

constexpr std::array<std::string_view, kNumFields> kFieldNames = {
    "record_id",     "national_id", "old_id",      "full_name",    "sex",
    "birth_date",    "ethnicity",   "address",     "commune_code", "district_code",
    "province_code", "phone",       "unit_version"};

int FieldIndex(std::string_view name) {
  for (size_t i = 0; i < kFieldNames.size(); ++i) {
    if (kFieldNames[i] == name) return static_cast<int>(i);
  }
  return -1;
}

// Sets one field from text; errors carry no location (the caller adds it).
absl::Status SetField(v1::PersonRecord& r, int field, std::string_view name, std::string value) {
  switch (field) {
    case kRecordId:
      r.set_record_id(std::move(value));
      break;
    case kNationalId:
      r.set_national_id(std::move(value));
      break;
    case kOldId:
      r.set_old_id(std::move(value));
      break;
    case kFullName:
      r.set_full_name(std::move(value));
      break;
    case kSex: {
      auto sex = ParseSex(value);
      if (!sex.ok()) return sex.status();
      r.set_sex(*sex);
      break;
    }
    case kBirthDate:
      r.set_birth_date(std::move(value));
      break;
    case kEthnicity:
      r.set_ethnicity(std::move(value));
      break;
    case kAddress:
      r.set_address(std::move(value));
      break;
    case kCommuneCode:
      r.set_commune_code(std::move(value));
      break;
    case kDistrictCode:
      r.set_district_code(std::move(value));
      break;
    case kProvinceCode:
      r.set_province_code(std::move(value));
      break;
    case kPhone:
      r.set_phone(std::move(value));
      break;
    case kUnitVersion: {
      auto v = ParseUnitVersion(value);
      if (!v.ok()) return v.status();
      r.set_unit_version(*v);
      break;
    }
    default:
      if (!value.empty()) (*r.mutable_attributes())[std::string(name)] = std::move(value);
      break;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::UnitVersion> ParseUnitVersion(std::string_view text) {
  std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(AV(text)));
  if (s.empty()) return v1::UNIT_VERSION_UNSPECIFIED;
  if (s == "2025" || s == "new") return v1::UNIT_VERSION_2025;
  if (s == "pre2025" || s == "pre-2025" || s == "old") return v1::UNIT_VERSION_PRE2025;
  return absl::InvalidArgumentError(
      absl::StrCat("unit_version \"", AV(text), "\": expected 2025 or pre2025"));
}

absl::StatusOr<PersonCsvSchema> PersonCsvSchema::Create(const std::vector<std::string>& header) {
  PersonCsvSchema schema;
  CsvHeader h(header);  // Strips a byte-order mark.
  std::set<std::string> seen;
  for (const std::string& raw : h.names()) {
    std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(raw));
    if (name.empty()) return absl::InvalidArgumentError("header has an empty column name");
    if (!seen.insert(name).second)
      return absl::InvalidArgumentError(absl::StrCat("header repeats column \"", name, "\""));
    schema.columns_.push_back(name);
    schema.field_of_column_.push_back(FieldIndex(name));
  }
  for (int required : {kRecordId, kFullName}) {
    if (!seen.count(std::string(kFieldNames[static_cast<size_t>(required)]))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "header has no ", AV(kFieldNames[static_cast<size_t>(required)]), " column"));
    }
  }
  return schema;
}

absl::StatusOr<v1::PersonRecord> PersonCsvSchema::ToRecord(const CsvRow& row) const {
  if (row.fields.size() != columns_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("line ", row.line_number, ": has ",
                                                   row.fields.size(), " fields, the header has ",
                                                   columns_.size()));
  }
  v1::PersonRecord r;
  for (size_t i = 0; i < columns_.size(); ++i) {
    absl::Status st = SetField(r, field_of_column_[i], columns_[i], row.fields[i]);
    if (!st.ok())
      return absl::InvalidArgumentError(absl::StrCat("line ", row.line_number, ": ", st.message()));
  }
  return r;
}

absl::StatusOr<v1::PersonRecord> PersonFromJson(std::string_view line, int64_t line_number) {
  google::protobuf::Struct obj;
  auto st = google::protobuf::util::JsonStringToMessage(std::string(line), &obj);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line_number, ": not a JSON object: ", st.message().as_string()));
  }
  v1::PersonRecord r;
  for (const auto& [key, value] : obj.fields()) {
    std::string text;
    switch (value.kind_case()) {
      case google::protobuf::Value::kStringValue:
        text = value.string_value();
        break;
      case google::protobuf::Value::kNumberValue:
        text = absl::StrCat(value.number_value());
        break;
      case google::protobuf::Value::kNullValue:
        break;
      case google::protobuf::Value::kBoolValue:
        text = value.bool_value() ? "true" : "false";
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("line ", line_number, ": field \"", key, "\" is not a string"));
    }
    absl::Status fs = SetField(r, FieldIndex(key), key, std::move(text));
    if (!fs.ok())
      return absl::InvalidArgumentError(absl::StrCat("line ", line_number, ": ", fs.message()));
  }
  return r;
}

}  // namespace linkage::domain
