// Pieces the generator's files share: the random source, the name tables,
// the list error model and its letter- and digit-level edits. Internal to
// linkage_synth.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "linkage/synth.h"
#include "linkage/v1/record.pb.h"

namespace linkage::synth::internal {

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  uint64_t Next() { return gen_(); }
  size_t Uniform(size_t n) { return n == 0 ? 0 : static_cast<size_t>(gen_() % n); }
  int Between(int lo, int hi) {
    return lo + static_cast<int>(Uniform(static_cast<size_t>(hi - lo + 1)));
  }
  bool Chance(double p) { return static_cast<double>(gen_() >> 11) * 0x1.0p-53 < p; }

 private:
  std::mt19937_64 gen_;
};

// Values with weights, sampled by binary search on the cumulative sum.
class Weighted {
 public:
  void Add(std::string value, double weight);
  const std::string& Sample(Rng& rng) const;

 private:
  std::vector<std::string> values_;
  std::vector<double> cumulative_;
  double total_ = 0;
};

struct NameTables {
  Weighted surnames;
  Weighted middle_male, middle_female;
  Weighted given_male, given_female;
  Weighted ethnic_surnames;
};

// Built once from data/vn.
const NameTables& Names();

// "Thành phố Hà Nội" -> "Hà Nội"; "Tỉnh Bắc Kạn" -> "Bắc Kạn".
std::string ShortProvince(const std::string& name);
// "Phường Đức Xuân" with type "Phường" -> "Đức Xuân".
std::string StripType(const std::string& name, const std::string& type);

// The list error model: a register person as a list writes them. Appends
// the name of every error applied to `applied`.
v1::PersonRecord Distort(const Person& person, const std::vector<Person>& people,
                         const ListErrorRates& rates, Rng& rng, std::vector<std::string>& applied);

// Letter-level edits of a name (space-separated tokens of UTF-8 letters).
// Each picks a token and a place at random, edits `name` in place and
// returns true, or returns false and leaves it alone when the name has no
// place for that edit.
bool TransposeLetters(std::string& name, Rng& rng);  // "Lộc" -> "Lcộ", "Ly" -> "yL".
bool DeleteLetter(std::string& name, Rng& rng);      // Not a first letter: "Hòa" -> "Hò".
bool InsertLetter(std::string& name, Rng& rng);      // After the first: "Lan" -> "Laan".
bool DropFirstLetter(std::string& name, Rng& rng);   // "Đỗ" -> "ỗ", "Thắng" -> "hắng".
bool StrayCapital(std::string& name, Rng& rng);      // "Ly" -> "LY" or "lY".
bool ChangeVowel(std::string& name, Rng& rng);       // "Nam" -> "Nom", "Thắng" -> "Thằng".
bool ChangeConsonant(std::string& name, Rng& rng);   // "Chu" -> "Thu".
// One of the edits above but the first-letter and capital ones, at random.
bool AnyTypo(std::string& name, Rng& rng);

// Digit-level edits of a date.
int ImpossibleDay(int day, Rng& rng);      // Tens digit mistyped: 16 -> 46 (always > 31).
int ImpossibleMonth(int month, Rng& rng);  // Tens digit mistyped: 05 -> 85 (always > 12).
// One digit of the year changed so that it leaves 1880..2100: 1979 -> 1879.
int YearOutOfRange(int year, Rng& rng);

}  // namespace linkage::synth::internal
