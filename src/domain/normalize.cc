#include "linkage/normalize.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "linkage/address.h"
#include "linkage/domain.h"
#include "linkage/flags.h"
#include "linkage/names.h"
#include "linkage/text.h"

namespace linkage::domain {
namespace {

absl::Status FieldError(const v1::PersonRecord& r, std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("record \"", r.record_id(), "\": ", AV(field), " ", AV(why)));
}

absl::Status CheckText(const v1::PersonRecord& r, std::string_view field, std::string_view value,
                       size_t max_bytes) {
  if (value.size() > max_bytes) {
    return FieldError(
        r, field, absl::StrCat("is ", value.size(), " bytes, more than the limit of ", max_bytes));
  }
  if (!text::IsValidUtf8(value)) return FieldError(r, field, "is not valid UTF-8");
  return absl::OkStatus();
}

std::string PhoneDigits(std::string_view phone) {
  std::string digits;
  for (char c : phone) {
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  }
  if (digits.size() == 11 && digits.rfind("84", 0) == 0) digits = "0" + digits.substr(2);
  return digits;
}

}  // namespace

bool IsValidDatasetName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::StatusOr<v1::NormalizedRecord> NormalizeRecord(const v1::PersonRecord& r,
                                                     const NormalizeOptions& options) {
  const RecordLimits& lim = options.limits;
  // Every error names the record the same way: `record "ID": field ...`
  // (an ID that cannot be shown as it is, is shown C-escaped and cut).
  if (r.record_id().empty()) {
    return FieldError(r, "record_id",
                      absl::StrCat("is empty (full_name \"", r.full_name().substr(0, 64), "\")"));
  }
  const bool printable_id =
      r.record_id().size() <= lim.max_record_id_bytes && text::IsValidUtf8(r.record_id()) &&
      std::none_of(r.record_id().begin(), r.record_id().end(),
                   [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
  if (!printable_id) {
    auto id_error = [&](std::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("record \"", absl::CHexEscape(r.record_id().substr(0, 32)),
                       r.record_id().size() > 32 ? "..." : "", "\": record_id ", AV(why)));
    };
    for (char c : r.record_id()) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
        return id_error("has a control character (line break, tab...)");
    }
    if (!text::IsValidUtf8(r.record_id())) return id_error("is not valid UTF-8");
    return id_error(absl::StrCat("is ", r.record_id().size(), " bytes, more than the limit of ",
                                 lim.max_record_id_bytes));
  }
  struct Field {
    std::string_view name;
    const std::string& value;
    size_t max;
  };
  const Field fields[] = {
      {"full_name", r.full_name(), lim.max_name_bytes},
      {"national_id", r.national_id(), lim.max_field_bytes},
      {"old_id", r.old_id(), lim.max_field_bytes},
      {"birth_date", r.birth_date(), lim.max_field_bytes},
      {"ethnicity", r.ethnicity(), lim.max_field_bytes},
      {"address", r.address(), lim.max_address_bytes},
      {"commune_code", r.commune_code(), lim.max_field_bytes},
      {"district_code", r.district_code(), lim.max_field_bytes},
      {"province_code", r.province_code(), lim.max_field_bytes},
      {"phone", r.phone(), lim.max_field_bytes},
  };
  for (const Field& f : fields) {
    LINKD_RETURN_IF_ERROR(CheckText(r, f.name, f.value, f.max));
  }
  if (static_cast<size_t>(r.attributes_size()) > lim.max_attributes) {
    return FieldError(
        r, "attributes",
        absl::StrCat("has ", r.attributes_size(), " entries, more than ", lim.max_attributes));
  }
  for (const auto& [key, value] : r.attributes()) {
    LINKD_RETURN_IF_ERROR(CheckText(r, absl::StrCat("attribute \"", key, "\""),
                                    absl::StrCat(key, value), lim.max_attribute_bytes));
  }

  v1::NormalizedRecord n;
  std::vector<std::string> flags;

  auto name = text::NormalizeName(r.full_name());
  if (!name.ok())
    return FieldError(r, "full_name",
                      absl::StrCat("\"", r.full_name(), "\": ", name.status().message()));
  *n.mutable_name() = *std::move(name);
  if (!n.name().repaired_from().empty())
    flags.push_back(absl::StrCat(flag::kNameLegacyPrefix, n.name().repaired_from()));

  auto date = ParsePartialDate(r.birth_date(), /*lenient=*/!options.strict_dates);
  if (!date.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("record \"", r.record_id(), "\": ", date.status().message()));
  *n.mutable_birth_date() = *date;
  if (date->impossible_day()) flags.emplace_back(flag::kDateImpossibleDay);
  if (date->swapped_day_month()) flags.emplace_back(flag::kDateSwapped);
  if (date->possible_placeholder()) flags.emplace_back(flag::kDatePlaceholder);
  if (date->impossible_month()) flags.emplace_back(flag::kDateImpossibleMonth);
  if (date->year_implausible()) flags.emplace_back(flag::kDateYearImplausible);
  if (date->partly_read() ||
      (!options.strict_dates && date->year() == 0 && !r.birth_date().empty())) {
    flags.emplace_back(flag::kDatePartlyRead);
  }

  n.set_sex(r.sex());

  v1::NormalizedId id = ParseNationalId(r.national_id());
  v1::NormalizedId old_id = ParseNationalId(r.old_id());
  if (id.kind() == v1::ID_KIND_CMND && old_id.kind() == v1::ID_KIND_UNSPECIFIED) {
    old_id = id;  // A 9-digit CMND written in the national_id column.
    id.Clear();
    flags.emplace_back(flag::kCmndInNationalId);
  }
  if (id.kind() == v1::ID_KIND_MALFORMED) flags.emplace_back(flag::kNationalIdMalformed);
  if (old_id.kind() == v1::ID_KIND_MALFORMED) flags.emplace_back(flag::kOldIdMalformed);
  CheckIdConsistency(id, r.sex(), n.birth_date(), flags);
  *n.mutable_national_id() = id;
  *n.mutable_old_id() = old_id;

  AddressInput addr{r.address(),       r.commune_code(), r.district_code(),
                    r.province_code(), r.unit_version(), options.default_unit_version};
  if (!addr.text.empty() || !addr.commune_code.empty() || !addr.province_code.empty() ||
      !addr.district_code.empty()) {
    *n.mutable_address() = Gazetteer::Default().Resolve(addr, flags);
  }

  n.set_phone(PhoneDigits(r.phone()));
  n.set_ethnicity(text::CleanPunctuation(text::FoldDiacritics(r.ethnicity())));
  for (const auto& [key, value] : r.attributes()) {
    (*n.mutable_attributes())[key] = text::CleanPunctuation(text::FoldDiacritics(value));
  }
  std::sort(flags.begin(), flags.end());
  flags.erase(std::unique(flags.begin(), flags.end()), flags.end());
  for (auto& f : flags) n.add_flags(std::move(f));
  return n;
}

}  // namespace linkage::domain
