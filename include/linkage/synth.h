// Synthetic Vietnamese population registers and beneficiary lists with known
// truth, for tests, benchmarks, the demo and quality evaluation. Everything
// is deterministic for a seed.
//
// Population: households (a head, a spouse with his or her own family name,
// children with the father's family name, born 20-35 years later, about 2%
// twins); family names by the frequencies in data/vn (plus Tày, Nùng, Dao
// and Mông family names in the northern mountain provinces); middle names by
// sex ("Văn", "Thị" most common among the old); an age distribution skewed
// old; 2025 communes; CCCD numbers consistent with sex, birth year and the
// province of birth registration; an old CMND for some.
//
// Beneficiary lists draw elderly people and apply the error model of
// ListErrorRates (every quirk of DESIGN.md §2), plus hard cases: people absent
// from the register whose relatives are in it (twins among them), a
// relative's ID written on the form, the same person listed twice.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "linkage/v1/record.pb.h"

namespace linkage::synth {

struct PopulationOptions {
  uint64_t seed = 1;
  int64_t size = 10000;
  // Current (2025) province to live in; empty spreads people over the whole
  // country weighted by commune count. "19" is Thái Nguyên (with Bắc Kạn).
  std::string province_2025;
  // Share of people left out of the register (absent, but their relatives
  // are in it): the population's "not in register" cases.
  double absent_rate = 0.03;
  double old_id_rate = 0.4;  // Also hold a 9-digit CMND.
  double phone_rate = 0.3;
};

// One generated person with the truth about them.
struct Person {
  v1::PersonRecord record;  // As in the register (2025 units, full date).
  int64_t household = 0;
  bool in_register = true;
  std::vector<int64_t> relatives;  // Indexes of household members.
  int64_t twin_of = -1;
};

// Generates the population in order; calls `fn` for each person.
class Population {
 public:
  explicit Population(const PopulationOptions& options);
  // Generates all people; they stay in memory (about 1 KiB each).
  const std::vector<Person>& people() const { return people_; }
  const PopulationOptions& options() const { return options_; }

 private:
  PopulationOptions options_;
  std::vector<Person> people_;
};

// Per-record error rates for beneficiary lists. Each applies independently
// (so pairs of errors occur at about the product of their rates), and each
// one applied is named in ListEntry::applied by its field name (all but
// new_tone_style and sex_missing).
//
// Names: the letter-level errors (name_typo to stray_capital, and the
// typing halves of the two combined errors) act on a random place of any
// word, after diacritics are lost or not, and never on a name written in a
// legacy encoding (tcvn3, vni); a letter is a Unicode character. Together
// they touch about 6% of records, as on the lists outside testers brought
// (6% of rows with an exact CCCD had a name error; 2.5% of all rows a name
// error beside another error).
struct ListErrorRates {
  double diacritics_lost = 0.30;
  double upper_case = 0.25;
  double nfd = 0.05;
  double tcvn3 = 0.04;
  double vni = 0.03;
  double new_tone_style = 0.10;  // "hoà" instead of "hòa".
  // A consonant replaced by another ("Chu" -> "Thu"). Until the letter
  // errors were split this also dropped or swapped letters, which are now
  // name_letter_deleted and name_transposition.
  double name_typo = 0.008;
  double name_transposition = 0.012;    // Adjacent letters swapped: "Lcộ", "yL", "hKiêm".
  double name_letter_deleted = 0.010;   // Not a word's first: "Hương" -> "Hưng".
  double name_letter_inserted = 0.006;  // After a word's first, doubled or any: "Laan".
  double first_letter_lost = 0.006;     // "Đỗ Kim Thương" -> "ỗ Kim Thương".
  // A vowel mistyped: another vowel ("Nam" -> "Nom"); in a name with
  // diacritics also another hat or breve ("Thắng" -> "Thấng") or tone.
  double vowel_typo = 0.008;
  // A letter's case flipped inside a word ("NguyỄn") or the capital moved
  // off the word's start ("Ly" -> "lY"); not recorded when upper_case then
  // hides it.
  double stray_capital = 0.006;
  double middle_dropped = 0.05;
  // Middle names left out and two letters swapped: "Ma yL" for "Ma Thị Ly"
  // (not on a name already without its middle names).
  double middle_dropped_transposed = 0.003;
  double name_reordered = 0.01;  // Family name last: "Thị Song Ma".
  // Given name first, and one typo (swap, drop, insert, vowel or consonant):
  // "Seng Ma Thị" for "Ma Thị Song" (not on a name already reordered).
  double name_reordered_typo = 0.003;
  double year_only = 0.20;
  double placeholder_date = 0.05;  // 01/01/yyyy.
  // The rest of the date errors but year_out_of_range apply to full dates
  // only (not year-only or placeholder dates).
  double day_month_swap = 0.03;
  double date_digit_typo = 0.02;
  double year_off_by_one = 0.02;
  double impossible_day = 0.005;    // The day's tens digit mistyped: "46/04/1939".
  double impossible_month = 0.005;  // The month's tens digit: "23/42/1988", "12/85/1932".
  // One digit of the year (the hundreds, else the thousands) wrong, so that
  // it leaves 1880..2100: "26/11/1879" for 1979, "18/10/1557" for 1957.
  double year_out_of_range = 0.003;
  double id_missing = 0.35;
  double cmnd_instead = 0.15;  // Old CMND written instead of the CCCD.
  double id_typo = 0.03;
  double relative_id = 0.01;      // A household member's CCCD.
  double pre2025_address = 0.70;  // Written in old units, abbreviated.
  double address_missing = 0.05;
  double sex_missing = 0.10;
  double duplicate = 0.01;  // Listed twice (second copy, own errors).
  // Hard cases: people absent from the register who resemble someone in it.
  double absent_namesake = 0.005;  // Same full name and birth year, other date and commune.
  double absent_twin = 0.003;      // A registered person's twin: same date and address.
};

// Sets one rate by its field name ("diacritics_lost", "year_only", ...).
// Errors: unknown name (the message lists the known ones), rate outside [0, 1].
absl::Status SetErrorRate(ListErrorRates& rates, std::string_view name, double rate);

// Every rate with its name, for documentation and --help.
std::vector<std::pair<std::string, double>> ErrorRates(const ListErrorRates& rates);

// Every error with its rate and a line on what it does ("two adjacent
// letters swapped: Lcộ for Lộc"), names as SetErrorRate takes them.
struct ErrorInfo {
  std::string name;
  double rate = 0;
  std::string what;
};
std::vector<ErrorInfo> DescribeErrors(const ListErrorRates& rates);

struct ListOptions {
  uint64_t seed = 2;
  int64_t size = 1000;
  std::string id_prefix = "B";
  int max_birth_year = 1965;  // Allowance lists are mostly the elderly.
  // Share of list people absent from the register (drawn from the absent).
  double absent_share = 0.03;
  ListErrorRates errors;
};

// A beneficiary record with its truth: the register record id it is, or ""
// if the person is absent from the register; `duplicate_of` names the first
// copy for a person listed twice.
struct ListEntry {
  v1::PersonRecord record;
  std::string truth_register_id;
  std::string duplicate_of;
  std::vector<std::string> applied;  // Which errors were applied, for debugging.
};

std::vector<ListEntry> MakeList(const Population& population, const ListOptions& options);

// Renders a record in the person CSV format (DESIGN.md §6); the header line
// is kPersonCsvHeader.
extern const char kPersonCsvHeader[];
std::string ToCsvLine(const v1::PersonRecord& record);

}  // namespace linkage::synth
