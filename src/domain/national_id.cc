#include <map>
#include <string>

#include "absl/strings/ascii.h"
#include "linkage/csv.h"
#include "linkage/domain.h"
#include "linkage/flags.h"
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
  bool other = false;  // A character that is neither a digit nor a separator.
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (absl::ascii_isdigit(c)) {
      digits.push_back(static_cast<char>(c));
      continue;
    }
    if (c == ' ' || c == '.' || c == '-' || c == '\t') continue;
    // Full-width forms (U+FF10..U+FF19 digits, U+FF0D hyphen, U+FF0E full
    // stop: EF BC 90..99 / 8D / 8E), the ideographic space U+3000 and the
    // no-break space, folded as NFKC would: typed by East Asian input
    // methods, they are the same number.
    const std::string_view rest = text.substr(i);
    if (rest.size() >= 3 && c == 0xEF && static_cast<unsigned char>(rest[1]) == 0xBC) {
      const auto b = static_cast<unsigned char>(rest[2]);
      if (b >= 0x90 && b <= 0x99) {
        digits.push_back(static_cast<char>('0' + (b - 0x90)));
        i += 2;
        continue;
      }
      if (b == 0x8D || b == 0x8E) {
        i += 2;
        continue;
      }
    }
    if (rest.substr(0, 3) == "\xE3\x80\x80") {
      i += 2;
      continue;
    }
    if (rest.substr(0, 2) == "\xC2\xA0") {
      i += 1;
      continue;
    }
    other = true;
  }
  // Letters or other characters make the number malformed even without a
  // digit ("ABC", "chưa có"): written, but not an ID. The caller flags it,
  // so an ID that was given is never dropped without a word.
  if (digits.empty() && !other) return id;
  if (digits.empty()) {
    id.set_kind(v1::ID_KIND_MALFORMED);
    return id;
  }
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
  if (!id.province_known()) flags.emplace_back(flag::kCccdUnknownProvince);
  if (sex != v1::SEX_UNSPECIFIED && sex != id.encoded_sex())
    flags.emplace_back(flag::kCccdSexMismatch);
  // An implausible year is a typo of the year the ID encodes, not evidence
  // against the ID.
  if (birth.year() != 0 && !birth.year_implausible() && birth.year() != id.encoded_birth_year()) {
    flags.emplace_back(flag::kCccdYearMismatch);
  }
}

}  // namespace linkage::domain
