#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/strings.h"
#include "linkage/address.h"
#include "linkage/domain.h"
#include "linkage/synth.h"
#include "linkage/text.h"
#include "synth/internal.h"

namespace linkage::synth {
namespace {

using internal::Rng;
using internal::ShortProvince;
using internal::StripType;

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

}  // namespace

namespace internal {

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

}  // namespace internal

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

}  // namespace linkage::synth
