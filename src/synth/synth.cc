#include "linkage/synth.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/strings.h"
#include "linkage/address.h"
#include "linkage/csv.h"
#include "linkage/domain.h"
#include "linkage/text.h"
#include "linkage_data.h"

namespace linkage::synth {
namespace {

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
  void Add(std::string value, double weight) {
    if (weight <= 0) return;
    values_.push_back(std::move(value));
    total_ += weight;
    cumulative_.push_back(total_);
  }
  const std::string& Sample(Rng& rng) const {
    double x = static_cast<double>(rng.Next() >> 11) * 0x1.0p-53 * total_;
    size_t i = static_cast<size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), x) -
                                   cumulative_.begin());
    return values_[std::min(i, values_.size() - 1)];
  }

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

// Northern mountain provinces (2025 codes) where minority family names are common.
bool IsNorthernMountain(std::string_view p) {
  for (std::string_view c : {"04", "08", "11", "12", "14", "15", "19", "20"}) {
    if (p == c) return true;
  }
  return false;
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

namespace {

// "hòa" -> "hoà": the 2018 school rule puts the tone on the second vowel of
// open oa/oe/uy.
std::string NewToneStyle(const std::string& name) {
  static const std::pair<std::string_view, std::string_view> kMoves[] = {
      {"òa", "oà"}, {"óa", "oá"}, {"ỏa", "oả"}, {"õa", "oã"}, {"ọa", "oạ"},
      {"òe", "oè"}, {"óe", "oé"}, {"ỏe", "oẻ"}, {"õe", "oẽ"}, {"ọe", "oẹ"},
      {"ùy", "uỳ"}, {"úy", "uý"}, {"ủy", "uỷ"}, {"ũy", "uỹ"}, {"ụy", "uỵ"}};
  std::vector<std::string> words = absl::StrSplit(name, ' ');
  for (std::string& w : words) {
    for (const auto& [from, to] : kMoves) {
      if (w.size() >= from.size() && w.compare(w.size() - from.size(), from.size(), from) == 0) {
        w.replace(w.size() - from.size(), from.size(), to);
      }
    }
  }
  return absl::StrJoin(words, " ");
}

std::string TitleCaseAscii(const std::string& folded) {
  std::string out = folded;
  bool start = true;
  for (char& c : out) {
    if (start && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    start = c == ' ';
  }
  return out;
}

// One edit in a random ASCII letter of the name after the family name.
std::string Typo(const std::string& name, Rng& rng) {
  size_t space = name.find(' ');
  std::vector<size_t> positions;
  for (size_t i = space == std::string::npos ? 0 : space + 1; i < name.size(); ++i) {
    if (name[i] >= 'a' && name[i] <= 'z') positions.push_back(i);
  }
  if (positions.empty()) return name;
  size_t p = positions[rng.Uniform(positions.size())];
  std::string out = name;
  switch (rng.Uniform(3)) {
    case 0:
      out[p] = static_cast<char>('a' + rng.Uniform(26));
      break;
    case 1:
      out.erase(p, 1);
      break;
    default:
      if (p + 1 < out.size() && out[p + 1] >= 'a' && out[p + 1] <= 'z')
        std::swap(out[p], out[p + 1]);
      break;
  }
  return out;
}

// "Phường Đức Xuân" as lists write it: in full, "P. Đức Xuân", "P.Đức Xuân".
std::string WrittenUnit(const std::string& type, const std::string& bare, Rng& rng) {
  struct Abbrev {
    std::string_view type;
    std::string_view shorthand;
  };
  static const Abbrev kAbbrevs[] = {{"Phường", "P."}, {"Xã", "X."},   {"Thị trấn", "TT."},
                                    {"Huyện", "H."},  {"Quận", "Q."}, {"Thành phố", "TP."},
                                    {"Thị xã", "TX."}};
  for (const Abbrev& a : kAbbrevs) {
    if (text::FoldCase(type) != text::FoldCase(a.type)) continue;
    size_t form = rng.Uniform(3);
    if (form == 0) return absl::StrCat(AV(a.type), " ", bare);
    return absl::StrCat(AV(a.shorthand), form == 1 ? " " : "", bare);
  }
  return absl::StrCat(type, " ", bare);
}

std::string Pre2025Address(const v1::PersonRecord& r, const std::string& hamlet, Rng& rng) {
  const domain::Gazetteer& g = domain::Gazetteer::Default();
  std::vector<std::string> prev = g.PreviousCommunes(r.commune_code());
  if (prev.empty()) return "";
  const domain::AdminUnit* c = g.CommunePre2025(prev[rng.Uniform(prev.size())]);
  const domain::AdminUnit* d = c ? g.DistrictPre2025(c->district_code) : nullptr;
  if (c == nullptr || d == nullptr) return "";
  std::vector<std::string> parts;
  if (!hamlet.empty() && rng.Chance(0.7)) parts.push_back(hamlet);
  parts.push_back(WrittenUnit(c->type, StripType(c->name, c->type), rng));
  parts.push_back(WrittenUnit(d->type, StripType(d->name, d->type), rng));
  if (rng.Chance(0.7)) {
    std::string p = g.ProvinceNamePre2025(c->province_code);
    parts.push_back(rng.Chance(0.5) ? ShortProvince(p) : p);
  }
  std::string text = absl::StrJoin(parts, ", ");
  return rng.Chance(0.3) ? TitleCaseAscii(text::FoldDiacritics(text)) : text;
}

v1::PersonRecord Distort(const Person& person, const std::vector<Person>& people,
                         const ListErrorRates& e, Rng& rng, std::vector<std::string>& applied) {
  const v1::PersonRecord& src = person.record;
  v1::PersonRecord r;

  std::vector<std::string> tokens = absl::StrSplit(src.full_name(), ' ');
  if (tokens.size() >= 3 && rng.Chance(e.middle_dropped)) {
    tokens.erase(tokens.begin() + 1, tokens.end() - 1);
    applied.push_back("middle_dropped");
  }
  if (tokens.size() >= 2 && rng.Chance(e.name_reordered)) {
    std::rotate(tokens.begin(), tokens.begin() + 1, tokens.end());
    applied.push_back("name_reordered");
  }
  std::string name = absl::StrJoin(tokens, " ");
  if (rng.Chance(e.new_tone_style)) name = NewToneStyle(name);
  bool legacy = false;
  if (rng.Chance(e.diacritics_lost)) {
    name = TitleCaseAscii(text::FoldDiacritics(name));
    applied.push_back("diacritics_lost");
  } else if (rng.Chance(e.tcvn3)) {
    name = text::EncodeLegacy(name, text::LegacyEncoding::kTcvn3);
    legacy = true;
    applied.push_back("tcvn3");
  } else if (rng.Chance(e.vni)) {
    name = text::EncodeLegacy(name, text::LegacyEncoding::kVni);
    legacy = true;
    applied.push_back("vni");
  }
  if (!legacy && rng.Chance(e.name_typo)) {
    name = Typo(name, rng);
    applied.push_back("name_typo");
  }
  if (!legacy && rng.Chance(e.upper_case)) name = text::ToUpper(name);
  if (!legacy && rng.Chance(e.nfd)) name = text::Nfd(name);
  r.set_full_name(name);

  auto parsed = domain::ParsePartialDate(src.birth_date());
  int y = parsed->year(), m = parsed->month(), day = parsed->day();
  std::string date;
  if (rng.Chance(e.year_only)) {
    date = absl::StrCat(y);
    applied.push_back("year_only");
  } else if (rng.Chance(e.placeholder_date)) {
    date = absl::StrFormat("01/01/%04d", y);
    applied.push_back("placeholder_date");
  } else {
    if (rng.Chance(e.day_month_swap) && day <= 12 && day != m) {
      std::swap(day, m);
      applied.push_back("day_month_swap");
    } else if (rng.Chance(e.date_digit_typo)) {
      day = std::min(day >= 10 ? (day % 10 == 0 ? day + 1 : day - 1) : day + 10, 28);
      applied.push_back("date_digit_typo");
    }
    if (rng.Chance(e.year_off_by_one)) {
      y += rng.Chance(0.5) ? 1 : -1;
      applied.push_back("year_off_by_one");
    }
    size_t form = rng.Uniform(10);
    date = form < 6   ? absl::StrFormat("%02d/%02d/%04d", day, m, y)
           : form < 9 ? absl::StrFormat("%d/%d/%04d", day, m, y)
                      : absl::StrFormat("%04d-%02d-%02d", y, m, day);
  }
  r.set_birth_date(date);
  if (!rng.Chance(e.sex_missing)) r.set_sex(src.sex());

  if (rng.Chance(e.relative_id) && !person.relatives.empty()) {
    r.set_national_id(
        people[static_cast<size_t>(person.relatives[rng.Uniform(person.relatives.size())])]
            .record.national_id());
    applied.push_back("relative_id");
  } else if (rng.Chance(e.id_missing)) {
    applied.push_back("id_missing");
  } else if (!src.old_id().empty() && rng.Chance(e.cmnd_instead)) {
    (rng.Chance(0.5) ? r.mutable_national_id() : r.mutable_old_id())->assign(src.old_id());
    applied.push_back("cmnd_instead");
  } else {
    std::string id = src.national_id();
    if (rng.Chance(e.id_typo)) {
      size_t p = 6 + rng.Uniform(6);
      id[p] = static_cast<char>('0' + (id[p] - '0' + 1 + static_cast<int>(rng.Uniform(9))) % 10);
      applied.push_back("id_typo");
    }
    r.set_national_id(id);
  }

  if (rng.Chance(e.address_missing)) {
    applied.push_back("address_missing");
  } else {
    std::string hamlet = src.address().substr(0, src.address().find(','));
    std::string old = rng.Chance(e.pre2025_address) ? Pre2025Address(src, hamlet, rng) : "";
    if (!old.empty()) {
      r.set_address(old);
      applied.push_back("pre2025_address");
    } else {
      r.set_address(src.address());
      if (rng.Chance(0.5)) {
        r.set_commune_code(src.commune_code());
        if (rng.Chance(0.5)) r.set_unit_version(v1::UNIT_VERSION_2025);
      }
    }
  }
  if (!src.phone().empty() && rng.Chance(0.3)) r.set_phone(src.phone());
  return r;
}

}  // namespace

namespace {

// The named rates, in one table for setting and listing them.
std::vector<std::pair<std::string, double ListErrorRates::*>> RateFields() {
  return {{"diacritics_lost", &ListErrorRates::diacritics_lost},
          {"upper_case", &ListErrorRates::upper_case},
          {"nfd", &ListErrorRates::nfd},
          {"tcvn3", &ListErrorRates::tcvn3},
          {"vni", &ListErrorRates::vni},
          {"new_tone_style", &ListErrorRates::new_tone_style},
          {"name_typo", &ListErrorRates::name_typo},
          {"middle_dropped", &ListErrorRates::middle_dropped},
          {"name_reordered", &ListErrorRates::name_reordered},
          {"year_only", &ListErrorRates::year_only},
          {"placeholder_date", &ListErrorRates::placeholder_date},
          {"day_month_swap", &ListErrorRates::day_month_swap},
          {"date_digit_typo", &ListErrorRates::date_digit_typo},
          {"year_off_by_one", &ListErrorRates::year_off_by_one},
          {"id_missing", &ListErrorRates::id_missing},
          {"cmnd_instead", &ListErrorRates::cmnd_instead},
          {"id_typo", &ListErrorRates::id_typo},
          {"relative_id", &ListErrorRates::relative_id},
          {"pre2025_address", &ListErrorRates::pre2025_address},
          {"address_missing", &ListErrorRates::address_missing},
          {"sex_missing", &ListErrorRates::sex_missing},
          {"duplicate", &ListErrorRates::duplicate},
          {"absent_namesake", &ListErrorRates::absent_namesake},
          {"absent_twin", &ListErrorRates::absent_twin}};
}

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

absl::Status SetErrorRate(ListErrorRates& rates, std::string_view name, double rate) {
  if (!(rate >= 0 && rate <= 1))
    return absl::InvalidArgumentError(absl::StrCat("rate for ", AV(name), " must be in [0, 1]"));
  std::vector<std::string> known;
  for (const auto& [field, member] : RateFields()) {
    if (field == name) {
      rates.*member = rate;
      return absl::OkStatus();
    }
    known.push_back(field);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown error \"", AV(name), "\"; known: ", absl::StrJoin(known, ", ")));
}

std::vector<std::pair<std::string, double>> ErrorRates(const ListErrorRates& rates) {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& [field, member] : RateFields()) out.emplace_back(field, rates.*member);
  return out;
}

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
