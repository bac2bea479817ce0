#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "linkage/address.h"
#include "linkage/csv.h"
#include "linkage/domain.h"
#include "linkage/synth.h"
#include "linkage/text.h"
#include "linkage_data.h"
#include "synth/internal.h"

namespace linkage::synth {
namespace internal {

void Weighted::Add(std::string value, double weight) {
  if (weight <= 0) return;
  values_.push_back(std::move(value));
  total_ += weight;
  cumulative_.push_back(total_);
}

const std::string& Weighted::Sample(Rng& rng) const {
  double x = static_cast<double>(rng.Next() >> 11) * 0x1.0p-53 * total_;
  size_t i = static_cast<size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), x) -
                                 cumulative_.begin());
  return values_[std::min(i, values_.size() - 1)];
}

const NameTables& Names() {
  static const NameTables* tables = [] {
    auto* t = new NameTables();
    std::map<std::string, double> given_weight;
    CsvHeader h;
    (void)CsvParser::ParseAll(data::k_name_component_freq_uit_sample_csv, [&](const CsvRow& row) {
      if (row.row_index == 0) {
        h = CsvHeader(row.fields);
        return true;
      }
      std::string component(h.Get(row, "component"));
      std::string value(h.Get(row, "value"));
      double count = std::atof(std::string(h.Get(row, "count")).c_str());
      if (component == "surname") t->surnames.Add(value, count);
      if (component == "middle_first" && value != "Văn" && value != "Thị") {
        t->middle_male.Add(value, count);
        t->middle_female.Add(value, count);
      }
      if (component == "given_last_syllable") given_weight[value] = count;
      return true;
    });
    // Among the elderly "Văn" and "Thị" dominate far more than in the sample.
    t->middle_male.Add("Văn", 2000);
    t->middle_female.Add("Thị", 4500);
    (void)CsvParser::ParseAll(data::k_given_names_by_gender_duyet_csv, [&](const CsvRow& row) {
      if (row.row_index == 0) {
        h = CsvHeader(row.fields);
        return true;
      }
      if (h.Get(row, "kind") != "given_name_syllable") return true;
      std::string name(h.Get(row, "name"));
      auto it = given_weight.find(name);
      double w = it == given_weight.end() ? 0.5 : it->second + 0.5;
      (h.Get(row, "gender") == "male" ? t->given_male : t->given_female).Add(name, w);
      return true;
    });
    google::protobuf::Struct groups;
    (void)google::protobuf::util::JsonStringToMessage(
        std::string(data::k_ethnic_surnames_hungnguyen18_json), &groups);
    for (const char* g : {"tay", "nung", "dao", "hmong", "thai"}) {
      auto it = groups.fields().find(g);
      if (it == groups.fields().end()) continue;
      for (const auto& v : it->second.list_value().values())
        t->ethnic_surnames.Add(v.string_value(), 1);
    }
    return t;
  }();
  return *tables;
}

std::string StripType(const std::string& name, const std::string& type) {
  if (type.empty() || name.size() <= type.size()) return name;
  if (text::FoldCase(name.substr(0, type.size())) == text::FoldCase(type) &&
      name[type.size()] == ' ') {
    return name.substr(type.size() + 1);
  }
  return name;
}

std::string ShortProvince(const std::string& name) {
  for (std::string_view prefix : {"Thành phố ", "Tỉnh "}) {
    if (name.rfind(prefix, 0) == 0) return name.substr(prefix.size());
  }
  return name;
}
}  // namespace internal

namespace {

using internal::Names;
using internal::NameTables;
using internal::Rng;
using internal::ShortProvince;

// Northern mountain provinces (2025 codes) where minority family names are common.
bool IsNorthernMountain(std::string_view p) {
  for (std::string_view c : {"04", "08", "11", "12", "14", "15", "19", "20"}) {
    if (p == c) return true;
  }
  return false;
}

int BirthYear(Rng& rng) {
  double x = static_cast<double>(rng.Uniform(1000)) / 1000.0;
  if (x < 0.15) return rng.Between(1925, 1939);
  if (x < 0.45) return rng.Between(1940, 1954);
  if (x < 0.75) return rng.Between(1955, 1969);
  if (x < 0.90) return rng.Between(1970, 1984);
  return rng.Between(1985, 2000);
}

struct Member {
  bool male;
  std::string family;
  int year, month, day;
  int64_t twin_of = -1;  // Index within the household.
};

}  // namespace

const char kPersonCsvHeader[] =
    "record_id,national_id,old_id,full_name,sex,birth_date,ethnicity,address,commune_code,district_"
    "code,"
    "province_code,phone,unit_version";

std::string ToCsvLine(const v1::PersonRecord& r) {
  auto q = [](const std::string& s) { return CsvQuote(s); };
  std::string sex = r.sex() == v1::SEX_MALE ? "Nam" : r.sex() == v1::SEX_FEMALE ? "Nữ" : "";
  std::string version = r.unit_version() == v1::UNIT_VERSION_2025      ? "2025"
                        : r.unit_version() == v1::UNIT_VERSION_PRE2025 ? "pre2025"
                                                                       : "";
  return absl::StrJoin({q(r.record_id()), q(r.national_id()), q(r.old_id()), q(r.full_name()), sex,
                        q(r.birth_date()), q(r.ethnicity()), q(r.address()), q(r.commune_code()),
                        q(r.district_code()), q(r.province_code()), q(r.phone()), version},
                       ",");
}

Population::Population(const PopulationOptions& options) : options_(options) {
  const NameTables& names = Names();
  const domain::Gazetteer& g = domain::Gazetteer::Default();
  Rng rng(options.seed * 0x9E3779B97F4A7C15ULL + 17);

  std::vector<std::string> communes;
  for (const std::string& c : g.Commune2025Codes()) {
    const domain::AdminUnit* u = g.Commune2025(c);
    if (options.province_2025.empty() || u->province_code == options.province_2025)
      communes.push_back(c);
  }
  if (communes.empty()) return;

  people_.reserve(static_cast<size_t>(options.size));
  int64_t household = 0;
  while (static_cast<int64_t>(people_.size()) < options.size) {
    const std::string commune = communes[rng.Uniform(communes.size())];
    const domain::AdminUnit* cu = g.Commune2025(commune);
    std::vector<std::string> prev = g.PreviousCommunes(commune);
    const domain::AdminUnit* old = prev.empty() ? nullptr : g.CommunePre2025(prev[0]);
    const std::string old_province = old ? old->province_code : cu->province_code;
    const std::string hamlet =
        cu->type == "Phường" ? absl::StrCat("Tổ ", rng.Between(1, 40))
                             : absl::StrCat(rng.Chance(0.5) ? "Thôn " : "Xóm ", rng.Between(1, 25));
    const bool ethnic = IsNorthernMountain(cu->province_code) && rng.Chance(0.5);
    auto family_name = [&] {
      return ethnic ? names.ethnic_surnames.Sample(rng) : names.surnames.Sample(rng);
    };

    std::vector<Member> members;
    members.push_back({rng.Chance(0.75), family_name(), BirthYear(rng), rng.Between(1, 12), 0});
    const Member head = members[0];
    if (head.year < 2000 && rng.Chance(0.8)) {
      members.push_back({!head.male, family_name(),
                         std::clamp(head.year + rng.Between(-6, 6), 1925, 2002), rng.Between(1, 12),
                         0});
    }
    const std::string father = head.male            ? head.family
                               : members.size() > 1 ? members[1].family
                                                    : head.family;
    const int children = static_cast<int>(rng.Uniform(4));
    for (int c = 0; c < children; ++c) {
      int year = head.year + rng.Between(20, 35);
      if (year > 2010) break;
      members.push_back({rng.Chance(0.5), father, year, rng.Between(1, 12), 0});
      if (rng.Chance(0.02)) {  // Twins: same date of birth, own given name.
        Member twin = members.back();
        twin.male = rng.Chance(0.5);
        twin.twin_of = static_cast<int64_t>(members.size()) - 1;
        members.push_back(twin);
      }
    }
    const int64_t first = static_cast<int64_t>(people_.size());
    std::vector<std::string> used_given;
    for (Member& mem : members) {
      mem.day = mem.twin_of >= 0 ? members[static_cast<size_t>(mem.twin_of)].day
                                 : rng.Between(1, domain::DaysInMonth(mem.year, mem.month));
      std::string given;
      do {
        given = (mem.male ? names.given_male : names.given_female).Sample(rng);
      } while (std::find(used_given.begin(), used_given.end(), given) != used_given.end());
      used_given.push_back(given);
      const std::string middle = (mem.male ? names.middle_male : names.middle_female).Sample(rng);
      const int64_t index = static_cast<int64_t>(people_.size());
      Person p;
      p.household = household;
      p.in_register = !rng.Chance(options.absent_rate);
      if (mem.twin_of >= 0) p.twin_of = first + mem.twin_of;
      v1::PersonRecord& r = p.record;
      r.set_record_id(absl::StrFormat("P%07d", index));
      r.set_dataset("register");
      r.set_full_name(absl::StrCat(mem.family, " ", middle, " ", given));
      r.set_sex(mem.male ? v1::SEX_MALE : v1::SEX_FEMALE);
      r.set_birth_date(absl::StrFormat("%02d/%02d/%04d", mem.day, mem.month, mem.year));
      const int century_code = (mem.year >= 2000 ? 2 : 0) + (mem.male ? 0 : 1);
      // A bijection of the index below 10^6, so CCCDs are unique.
      const int64_t serial =
          (index * 7919 + static_cast<int64_t>(options.seed % 1000) * 13) % 1000000;
      r.set_national_id(
          absl::StrFormat("0%s%d%02d%06d", old_province, century_code, mem.year % 100, serial));
      if (rng.Chance(options.old_id_rate)) {
        r.set_old_id(
            absl::StrFormat("0%s%06d", old_province.substr(0, 2), (serial * 31 + 7) % 1000000));
      }
      if (rng.Chance(options.phone_rate)) {
        r.set_phone(absl::StrFormat("09%08d", static_cast<int>(rng.Uniform(100000000))));
      }
      r.set_ethnicity(!ethnic           ? "Kinh"
                      : rng.Chance(0.6) ? "Tày"
                      : rng.Chance(0.5) ? "Nùng"
                                        : "Dao");
      r.set_address(absl::StrCat(hamlet, ", ", cu->name, ", ",
                                 ShortProvince(g.ProvinceName2025(cu->province_code))));
      r.set_commune_code(commune);
      r.set_province_code(cu->province_code);
      r.set_unit_version(v1::UNIT_VERSION_2025);
      people_.push_back(std::move(p));
    }
    for (int64_t i = first; i < static_cast<int64_t>(people_.size()); ++i) {
      for (int64_t j = first; j < static_cast<int64_t>(people_.size()); ++j) {
        if (i != j) people_[static_cast<size_t>(i)].relatives.push_back(j);
      }
    }
    ++household;
  }
  people_.resize(static_cast<size_t>(options.size));
  for (Person& p : people_) {  // Relatives cut off by the resize.
    std::erase_if(p.relatives, [&](int64_t j) { return j >= options.size; });
    if (p.twin_of >= options.size) p.twin_of = -1;
  }
}

}  // namespace linkage::synth
