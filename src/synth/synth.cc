#include "linkage/synth.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "linkage/address.h"
#include "linkage/domain.h"
#include "synth/internal.h"

namespace linkage::synth {
namespace {

using internal::Distort;
using internal::Names;
using internal::NameTables;
using internal::Rng;
using internal::ShortProvince;

// A person absent from the register who resembles `like`: a namesake born
// the same year elsewhere, or a twin at the same address.
Person Resembling(const Person& like, bool twin, Rng& rng) {
  const domain::Gazetteer& g = domain::Gazetteer::Default();
  Person p;
  p.in_register = false;
  p.record = like.record;
  v1::PersonRecord& r = p.record;
  auto date = domain::ParsePartialDate(like.record.birth_date());
  int year = date->year(), month = date->month(), day = date->day();
  if (twin) {
    const NameTables& names = Names();
    std::vector<std::string> tokens = absl::StrSplit(r.full_name(), ' ');
    bool male = rng.Chance(0.5);
    std::string given;
    do {
      given = (male ? names.given_male : names.given_female).Sample(rng);
    } while (given == tokens.back());
    tokens.back() = given;
    r.set_full_name(absl::StrJoin(tokens, " "));
    r.set_sex(male ? v1::SEX_MALE : v1::SEX_FEMALE);
  } else {
    int m2 = rng.Between(1, 12), d2 = rng.Between(1, 28);
    if (m2 == month && d2 == day) d2 = day % 28 + 1;
    month = m2;
    day = d2;
    std::vector<std::string> same_province;
    for (const std::string& c : g.Commune2025Codes()) {
      const domain::AdminUnit* u = g.Commune2025(c);
      if (u->province_code == like.record.province_code() && c != like.record.commune_code())
        same_province.push_back(c);
    }
    if (!same_province.empty()) {
      const domain::AdminUnit* u = g.Commune2025(same_province[rng.Uniform(same_province.size())]);
      r.set_commune_code(u->code);
      r.set_address(absl::StrCat("Thôn ", rng.Between(1, 25), ", ", u->name, ", ",
                                 ShortProvince(g.ProvinceName2025(u->province_code))));
    }
  }
  r.set_birth_date(absl::StrFormat("%02d/%02d/%04d", day, month, year));
  // Their own CCCD, which the register does not hold.
  std::string id = r.national_id();
  id[3] = static_cast<char>('0' + (year >= 2000 ? 2 : 0) + (r.sex() == v1::SEX_MALE ? 0 : 1));
  for (size_t k = 6; k < 12; ++k) id[k] = static_cast<char>('0' + rng.Uniform(10));
  r.set_national_id(id);
  r.clear_old_id();
  // A namesake elsewhere has a phone of their own (a twin at the same
  // address may share the household's).
  if (!twin && !r.phone().empty())
    r.set_phone(absl::StrFormat("09%08d", static_cast<int>(rng.Uniform(100000000))));
  r.set_record_id(absl::StrCat(like.record.record_id(), twin ? "-twin" : "-namesake"));
  return p;
}

}  // namespace

std::vector<ListEntry> MakeList(const Population& population, const ListOptions& options) {
  const std::vector<Person>& people = population.people();
  Rng rng(options.seed * 0xD1B54A32D192ED03ULL + 5);
  std::vector<size_t> present, absent;
  for (size_t i = 0; i < people.size(); ++i) {
    auto d = domain::ParsePartialDate(people[i].record.birth_date());
    if (d->year() > options.max_birth_year) continue;
    (people[i].in_register ? present : absent).push_back(i);
  }
  std::vector<ListEntry> out;
  if (present.empty()) return out;
  // Each person at most once (but for planted duplicates), while the pool lasts.
  std::vector<bool> used(people.size(), false);
  int64_t next_id = 1;
  int64_t misses = 0;
  while (static_cast<int64_t>(out.size()) < options.size) {
    // Hard cases first: absent people who resemble a registered one.
    Person resembling;
    const Person* chosen = nullptr;
    if (rng.Chance(options.errors.absent_namesake) || rng.Chance(options.errors.absent_twin)) {
      bool twin = rng.Chance(options.errors.absent_twin /
                             (options.errors.absent_twin + options.errors.absent_namesake));
      resembling = Resembling(people[present[rng.Uniform(present.size())]], twin, rng);
      chosen = &resembling;
    } else {
      bool from_absent = !absent.empty() && rng.Chance(options.absent_share);
      const std::vector<size_t>& pool = from_absent ? absent : present;
      size_t idx = pool[rng.Uniform(pool.size())];
      if (used[idx] && ++misses < 50 * options.size) continue;
      used[idx] = true;
      chosen = &people[idx];
    }
    const Person& person = *chosen;
    const int copies = rng.Chance(options.errors.duplicate) ? 2 : 1;
    std::string first_id;
    for (int c = 0; c < copies && static_cast<int64_t>(out.size()) < options.size; ++c) {
      ListEntry entry;
      entry.record = Distort(person, people, options.errors, rng, entry.applied);
      entry.record.set_record_id(absl::StrFormat("%s%07d", options.id_prefix, next_id++));
      entry.truth_register_id = person.in_register ? person.record.record_id() : "";
      if (chosen == &resembling)
        entry.applied.push_back(resembling.record.record_id().find("-twin") != std::string::npos
                                    ? "absent_twin"
                                    : "absent_namesake");
      if (c == 0) {
        first_id = entry.record.record_id();
      } else {
        entry.duplicate_of = first_id;
        entry.applied.push_back("duplicate");
      }
      out.push_back(std::move(entry));
    }
  }
  return out;
}

}  // namespace linkage::synth
