// Domain rules for Vietnamese person data: partial dates of birth, identity
// numbers (12-digit CCCD, 9-digit CMND), and sex as lists write it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "linkage/v1/record.pb.h"

namespace linkage::domain {

// Parses a date of birth as lists write it: dd/mm/yyyy, d/m/yyyy (also with
// '-' or '.'), yyyy-mm-dd, yyyymmdd, mm/yyyy, yyyy. An empty string gives an
// all-zero (null) date. Dates that cannot have existed are kept in part:
// 29/02 in a non-leap year, 30/02 or 31/04 keep year and month with
// impossible_day set; a month above 12 with a day of at most 12 is read as
// mm/dd and flagged swapped_day_month; 01/01/yyyy is flagged
// possible_placeholder. Errors (InvalidArgument, message names the value):
// text that is no date at all, a year outside 1880..2100, a month above 12
// that is no swapped day, a day above 31.
//
// With `lenient` (what normalization does unless asked to be strict), a
// date never fails: a four-digit year outside 1880..2100 is kept as written
// and flagged year_implausible (it then compares by its digits); a month
// above 12 that is no swapped day is dropped with the day
// (impossible_month); a day above 31 is dropped (impossible_day); text in
// no date layout keeps a year in 1880..2100 (and a month of 1..12) from its
// usual place, flagged partly_read, or else is a null date.
absl::StatusOr<v1::PartialDate> ParsePartialDate(std::string_view text, bool lenient = false);

// "dd/mm/yyyy", "mm/yyyy", "yyyy" or "" for a null date.
std::string FormatPartialDate(const v1::PartialDate& date);

// True if the date has at least a year.
inline bool HasYear(const v1::PartialDate& d) { return d.year() != 0; }
// True if year, month and day are all known and the day is not a 01/01
// placeholder.
inline bool IsFullDate(const v1::PartialDate& d) {
  return d.year() != 0 && d.month() != 0 && d.day() != 0 && !d.possible_placeholder();
}

int DaysInMonth(int year, int month);

// Parses an identity number: spaces, dots and dashes are dropped, full-width
// digits (U+FF10..U+FF19) are read as ASCII digits (NFKC folding); 12
// digits are a CCCD (decoded: province prefix, sex and century, birth year),
// 9 digits a CMND. Any other digit string, and any text with letters or
// other characters (even with no digit at all), is ID_KIND_MALFORMED (digits
// kept, never compared; NormalizeRecord flags it). Empty or blank text is
// ID_KIND_UNSPECIFIED. Never fails: an unreadable number is evidence of
// nothing.
v1::NormalizedId ParseNationalId(std::string_view text);

// Adds consistency flags of a CCCD against the record's own sex and birth
// year: "CCCD_SEX_MISMATCH", "CCCD_YEAR_MISMATCH", "CCCD_UNKNOWN_PROVINCE".
void CheckIdConsistency(const v1::NormalizedId& id, v1::Sex sex, const v1::PartialDate& birth,
                        std::vector<std::string>& flags);

// Reads sex as lists write it: "Nam", "Nữ", "M", "F", "male", "female",
// "1"/"0" (male/female), "x" for unknown. Empty gives SEX_UNSPECIFIED.
// Errors: any other text (InvalidArgument naming it).
absl::StatusOr<v1::Sex> ParseSex(std::string_view text);

// Name of the province whose CCCD prefix is `prefix` ("006" -> "Bắc Kạn"),
// or "" if the prefix is not one of the 63.
std::string_view CccdProvinceName(std::string_view prefix);

}  // namespace linkage::domain
