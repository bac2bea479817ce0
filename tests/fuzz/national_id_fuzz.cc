// ParseNationalId and CheckIdConsistency on arbitrary text: the kind agrees
// with the digits kept, and a CCCD's decoded fields are in range.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "linkage/domain.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using linkage::fuzz::Check;
  std::string_view text = linkage::fuzz::AsText(data, size);
  linkage::v1::NormalizedId id = linkage::domain::ParseNationalId(text);
  for (char c : id.digits()) Check(c >= '0' && c <= '9', "digits are digits");
  Check(id.digits().size() <= text.size(), "no digits invented");
  if (id.digits().empty()) {
    // Nothing given, or something that is not an ID number (flagged).
    Check(id.kind() == linkage::v1::ID_KIND_UNSPECIFIED ||
              id.kind() == linkage::v1::ID_KIND_MALFORMED,
          "no digits: no kind, or malformed");
  } else if (id.kind() == linkage::v1::ID_KIND_CCCD) {
    Check(id.digits().size() == 12, "a CCCD has 12 digits");
    Check(id.encoded_birth_year() >= 1800 && id.encoded_birth_year() <= 2299, "CCCD year range");
    Check(id.province_code().size() == 2, "province code is 2 digits");
    Check(
        id.province_known() == !linkage::domain::CccdProvinceName(id.digits().substr(0, 3)).empty(),
        "province_known agrees with the table");
  } else if (id.kind() == linkage::v1::ID_KIND_CMND) {
    Check(id.digits().size() == 9, "a CMND has 9 digits");
  } else {
    Check(id.kind() == linkage::v1::ID_KIND_MALFORMED, "other digit strings are malformed");
  }
  std::vector<std::string> flags;
  linkage::v1::PartialDate birth;
  birth.set_year(1950);
  for (linkage::v1::Sex sex :
       {linkage::v1::SEX_UNSPECIFIED, linkage::v1::SEX_MALE, linkage::v1::SEX_FEMALE}) {
    linkage::domain::CheckIdConsistency(id, sex, birth, flags);
  }
  (void)linkage::domain::CccdProvinceName(text);
  return 0;
}
