#include <cctype>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/strings.h"
#include "linkage/domain.h"
#include "linkage/text.h"

namespace linkage::domain {
namespace {

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// The value of a digit string, saturating at kIntCap: callers only check a
// range, and a lenient read takes a digit run of any length as the month
// ("2332-22121232 33.121"), which must not overflow an int.
constexpr int kIntCap = 1000000;
int ToInt(std::string_view s) {
  int v = 0;
  for (char c : s) {
    v = v * 10 + (c - '0');
    if (v >= kIntCap) return kIntCap;
  }
  return v;
}

absl::Status Bad(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("birth_date \"", AV(text), "\": ", AV(why)));
}

}  // namespace

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12) return 0;
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

namespace {

absl::StatusOr<v1::PartialDate> ParseParts(std::string_view text, bool lenient);

// What a lenient read keeps of an unreadable date: the year where dates keep
// it (first four of eight digits, or a four-digit last or first part) and
// the month next to it when it is 1..12.
v1::PartialDate Salvage(std::string_view text) {
  v1::PartialDate date;
  std::string_view s = SV(absl::StripAsciiWhitespace(AV(text)));
  std::vector<absl::string_view> parts =
      absl::StrSplit(AV(s), absl::ByAnyChar("/-. "), absl::SkipEmpty());
  int year = 0, month = 0;
  if (parts.size() == 1 && parts[0].size() == 8 && AllDigits(SV(parts[0]))) {
    year = ToInt(SV(parts[0]).substr(0, 4));
    month = ToInt(SV(parts[0]).substr(4, 2));
  } else if (parts.size() >= 2 && parts.back().size() == 4 && AllDigits(SV(parts.back()))) {
    year = ToInt(SV(parts.back()));
    if (parts.size() >= 2 && AllDigits(SV(parts[parts.size() - 2])))
      month = ToInt(SV(parts[parts.size() - 2]));
  } else if (parts.size() >= 2 && parts.front().size() == 4 && AllDigits(SV(parts.front()))) {
    year = ToInt(SV(parts.front()));
    if (AllDigits(SV(parts[1]))) month = ToInt(SV(parts[1]));
  }
  if (year < 1880 || year > 2100) return date;
  date.set_year(year);
  if (month >= 1 && month <= 12) date.set_month(month);
  date.set_partly_read(true);
  return date;
}

}  // namespace

absl::StatusOr<v1::PartialDate> ParsePartialDate(std::string_view text, bool lenient) {
  auto parsed = ParseParts(text, lenient);
  if (parsed.ok() || !lenient) return parsed;
  return Salvage(text);
}

namespace {

// The date's parts in one of the accepted layouts. A part out of range is an
// error, or with `lenient` is dropped (a day above 31, a month above 12 that
// is no swapped day) or kept and flagged (a four-digit year outside
// 1880..2100, which compares by its digits); text in no layout is an error
// either way (the lenient caller then salvages what it can).
absl::StatusOr<v1::PartialDate> ParseParts(std::string_view text, bool lenient) {
  v1::PartialDate date;
  std::string_view s = SV(absl::StripAsciiWhitespace(AV(text)));
  if (s.empty()) return date;
  if (s.size() > 32) return Bad(text.substr(0, 32), "too long to be a date");

  int year = 0, month = 0, day = 0;
  std::vector<absl::string_view> parts =
      absl::StrSplit(AV(s), absl::ByAnyChar("/-. "), absl::SkipEmpty());
  for (absl::string_view p : parts) {
    if (!AllDigits(SV(p))) return Bad(text, "not a date (expected dd/mm/yyyy, mm/yyyy or yyyy)");
  }
  if (parts.size() == 1 && parts[0].size() == 8) {  // yyyymmdd
    year = ToInt(SV(parts[0]).substr(0, 4));
    month = ToInt(SV(parts[0]).substr(4, 2));
    day = ToInt(SV(parts[0]).substr(6, 2));
  } else if (parts.size() == 1 && parts[0].size() == 4) {
    year = ToInt(SV(parts[0]));
  } else if (parts.size() == 2 && parts[1].size() == 4 && parts[0].size() <= 2) {
    month = ToInt(SV(parts[0]));
    year = ToInt(SV(parts[1]));
  } else if (parts.size() == 3 && parts[0].size() == 4 && parts[1].size() <= 2 &&
             parts[2].size() <= 2) {
    year = ToInt(SV(parts[0]));
    month = ToInt(SV(parts[1]));
    day = ToInt(SV(parts[2]));
  } else if (parts.size() == 3 && parts[2].size() == 4 && parts[0].size() <= 2 &&
             parts[1].size() <= 2) {
    day = ToInt(SV(parts[0]));
    month = ToInt(SV(parts[1]));
    year = ToInt(SV(parts[2]));
  } else {
    return Bad(text, "not a date (expected dd/mm/yyyy, mm/yyyy or yyyy)");
  }

  if (year < 1880 || year > 2100) {
    if (!lenient || year < 1000 || year > 2999)
      return Bad(text, absl::StrCat("year ", year, " is outside 1880..2100"));
    date.set_year_implausible(true);  // "1879" for 1979, "1557" for 1957.
  }
  if (month > 12) {
    if (day >= 1 && day <= 12 && month <= 31) {
      std::swap(day, month);
      date.set_swapped_day_month(true);
    } else if (lenient) {
      month = 0;  // "23/42/1988", "12/85/1932": the year alone is sure.
      day = 0;
      date.set_impossible_month(true);
    } else {
      return Bad(text, absl::StrCat("month ", month, " is not 1..12"));
    }
  }
  if (day > 31) {
    if (!lenient) return Bad(text, absl::StrCat("day ", day, " is not 1..31"));
    day = 0;  // "46/04/1939": month and year kept.
    date.set_impossible_day(true);
  }
  date.set_year(year);
  date.set_month(month);
  if (day != 0 && month != 0 && day > DaysInMonth(year, month)) {
    date.set_impossible_day(true);  // 30/02, 31/04, 29/02 in a non-leap year.
  } else if (month != 0) {
    date.set_day(day);
  }
  date.set_possible_placeholder(date.day() == 1 && date.month() == 1);
  return date;
}

}  // namespace

std::string FormatPartialDate(const v1::PartialDate& d) {
  if (d.year() == 0) return "";
  if (d.month() == 0) return absl::StrCat(d.year());
  if (d.day() == 0) return absl::StrFormat("%02d/%04d", d.month(), d.year());
  return absl::StrFormat("%02d/%02d/%04d", d.day(), d.month(), d.year());
}

absl::StatusOr<v1::Sex> ParseSex(std::string_view text) {
  std::string s = text::FoldDiacritics(SV(absl::StripAsciiWhitespace(AV(text))));
  if (s.empty() || s == "x" || s == "u" || s == "unknown") return v1::SEX_UNSPECIFIED;
  if (s == "nam" || s == "m" || s == "male" || s == "1" || s == "trai") return v1::SEX_MALE;
  if (s == "nu" || s == "f" || s == "female" || s == "0" || s == "gai") return v1::SEX_FEMALE;
  return absl::InvalidArgumentError(
      absl::StrCat("sex \"", AV(text), "\": expected Nam/N\xE1\xBB\xAF, M/F, male/female or 1/0"));
}

}  // namespace linkage::domain
