// ParsePartialDate, strict and lenient. A parsed date is in range and
// consistent with its flags, formats back to text that parses to the same
// year/month/day, and a lenient read never fails.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "linkage/domain.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using linkage::fuzz::Check;
  std::string_view text = linkage::fuzz::AsText(data, size);
  for (bool lenient : {false, true}) {
    auto date = linkage::domain::ParsePartialDate(text, lenient);
    if (!date.ok()) {
      Check(!lenient, "a lenient read does not fail", date.status().ToString());
      Check(date.status().code() == absl::StatusCode::kInvalidArgument, "errors are invalid");
      continue;
    }
    const linkage::v1::PartialDate& d = *date;
    if (d.year() == 0) {
      Check(d.month() == 0 && d.day() == 0, "no month or day without a year");
      continue;
    }
    Check((d.year() >= 1880 && d.year() <= 2100) != d.year_implausible(),
          "a year outside 1880..2100 is flagged implausible");
    Check(!d.year_implausible() || (lenient && d.year() >= 1000 && d.year() <= 2999),
          "only a lenient read keeps a four-digit implausible year");
    Check(d.month() >= 0 && d.month() <= 12, "month in 0..12");
    Check(d.day() >= 0 && d.day() <= linkage::domain::DaysInMonth(d.year(), d.month()),
          "day fits the month");
    Check(d.day() == 0 || d.month() != 0, "no day without a month");
    Check(!d.possible_placeholder() || (d.day() == 1 && d.month() == 1), "placeholder is 01/01");

    std::string formatted = linkage::domain::FormatPartialDate(d);
    auto again = linkage::domain::ParsePartialDate(formatted, lenient);
    Check(again.ok(), "a formatted date parses", formatted);
    Check(again->year() == d.year() && again->month() == d.month() && again->day() == d.day(),
          "a formatted date reads back the same", formatted);
  }
  return 0;
}
