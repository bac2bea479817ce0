#include <map>
#include <string>

#include "absl/strings/ascii.h"
#include "linkage/csv.h"
#include "linkage/domain.h"
#include "linkage_data.h"

namespace linkage::domain {
namespace {

// CCCD prefix ("001") -> province name, from the shipped table.
const std::map<std::string, std::string, std::less<>>& CccdProvinces() {
  static const auto* table = [] {
    auto* m = new std::map<std::string, std::string, std::less<>>();
    CsvHeader header;
    (void)CsvParser::ParseAll(data::k_cccd_province_codes_csv, [&](const CsvRow& row) {
      if (row.row_index == 0) {
        header = CsvHeader(row.fields);
      } else {
        m->emplace(header.Get(row, "cccd_prefix"), header.Get(row, "province_name_tt07_2016"));
      }
      return true;
    });
    return m;
  }();
  return *table;
}

}  // namespace

std::string_view CccdProvinceName(std::string_view prefix) {
  const auto& table = CccdProvinces();
  auto it = table.find(prefix);
  return it == table.end() ? std::string_view() : std::string_view(it->second);
}

v1::NormalizedId ParseNationalId(std::string_view text) {
  v1::NormalizedId id;
  std::string digits;
  bool other = false;
  for (char c : text) {
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      digits.push_back(c);
    } else if (c != ' ' && c != '.' && c != '-' && c != '\t') {
      other = true;
    }
  }
  if (digits.empty()) return id;
  id.set_digits(digits);
  if (other) {
    id.set_kind(v1::ID_KIND_MALFORMED);
  } else if (digits.size() == 12) {
    id.set_kind(v1::ID_KIND_CCCD);
    std::string prefix = digits.substr(0, 3);
    id.set_province_code(prefix.substr(1));
    id.set_province_known(!CccdProvinceName(prefix).empty());
    int code = digits[3] - '0';
    // 0/1: 1900s, 2/3: 2000s, 4/5: 2100s, 6/7: 2200s, 8/9: 1800s; even male.
    static constexpr int kCentury[] = {1900, 1900, 2000, 2000, 2100, 2100, 2200, 2200, 1800, 1800};
    id.set_encoded_sex(code % 2 == 0 ? v1::SEX_MALE : v1::SEX_FEMALE);
    id.set_encoded_birth_year(kCentury[code] + (digits[4] - '0') * 10 + (digits[5] - '0'));
  } else if (digits.size() == 9) {
    id.set_kind(v1::ID_KIND_CMND);
  } else {
    id.set_kind(v1::ID_KIND_MALFORMED);
  }
  return id;
}

void CheckIdConsistency(const v1::NormalizedId& id, v1::Sex sex, const v1::PartialDate& birth,
                        std::vector<std::string>& flags) {
  if (id.kind() != v1::ID_KIND_CCCD) return;
  if (!id.province_known()) flags.emplace_back("CCCD_UNKNOWN_PROVINCE");
  if (sex != v1::SEX_UNSPECIFIED && sex != id.encoded_sex())
    flags.emplace_back("CCCD_SEX_MISMATCH");
  if (birth.year() != 0 && birth.year() != id.encoded_birth_year()) {
    flags.emplace_back("CCCD_YEAR_MISMATCH");
  }
}

}  // namespace linkage::domain
