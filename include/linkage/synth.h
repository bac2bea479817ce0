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

// Per-record error rates for beneficiary lists. Each applies independently.
struct ListErrorRates {
  double diacritics_lost = 0.30;
  double upper_case = 0.25;
  double nfd = 0.05;
  double tcvn3 = 0.04;
  double vni = 0.03;
  double new_tone_style = 0.10;  // "hoà" instead of "hòa".
  double name_typo = 0.03;       // One letter changed, dropped or swapped.
  double middle_dropped = 0.05;
  double name_reordered = 0.01;
  double year_only = 0.20;
  double placeholder_date = 0.05;  // 01/01/yyyy.
  double day_month_swap = 0.03;
  double date_digit_typo = 0.02;
  double year_off_by_one = 0.02;
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
