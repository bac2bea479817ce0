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

// The name as the list writes it. How it is written (diacritics lost, a
// legacy encoding) is decided first: a legacy-encoded name is not typed over.
std::string DistortName(const std::string& full_name, const ListErrorRates& e, Rng& rng,
                        std::vector<std::string>& applied) {
  enum class Script { kUnicode, kPlain, kTcvn3, kVni };
  const Script script = rng.Chance(e.diacritics_lost) ? Script::kPlain
                        : rng.Chance(e.tcvn3)         ? Script::kTcvn3
                        : rng.Chance(e.vni)           ? Script::kVni
                                                      : Script::kUnicode;
  const bool typed = script == Script::kUnicode || script == Script::kPlain;

  std::vector<std::string> tokens = absl::StrSplit(full_name, ' ');
  bool transpose = false, typo = false;  // Halves of the combined errors, done after encoding.
  if (tokens.size() >= 3 && rng.Chance(e.middle_dropped)) {
    tokens.erase(tokens.begin() + 1, tokens.end() - 1);
    applied.push_back("middle_dropped");
  }
  if (typed && tokens.size() >= 3 && rng.Chance(e.middle_dropped_transposed)) {
    tokens.erase(tokens.begin() + 1, tokens.end() - 1);
    transpose = true;
  }
  if (tokens.size() >= 2 && rng.Chance(e.name_reordered)) {  // Family name last.
    std::rotate(tokens.begin(), tokens.begin() + 1, tokens.end());
    applied.push_back("name_reordered");
  } else if (typed && tokens.size() >= 2 && rng.Chance(e.name_reordered_typo)) {
    std::rotate(tokens.begin(), tokens.end() - 1, tokens.end());  // Given name first.
    typo = true;
  }
  std::string name = absl::StrJoin(tokens, " ");
  if (rng.Chance(e.new_tone_style)) name = NewToneStyle(name);
  switch (script) {
    case Script::kPlain:
      name = TitleCaseAscii(text::FoldDiacritics(name));
      applied.push_back("diacritics_lost");
      break;
    case Script::kTcvn3:
      name = text::EncodeLegacy(name, text::LegacyEncoding::kTcvn3);
      applied.push_back("tcvn3");
      break;
    case Script::kVni:
      name = text::EncodeLegacy(name, text::LegacyEncoding::kVni);
      applied.push_back("vni");
      break;
    case Script::kUnicode:
      break;
  }
  if (!typed) return name;

  if (transpose)
    applied.push_back(internal::TransposeLetters(name, rng) ? "middle_dropped_transposed"
                                                            : "middle_dropped");
  if (typo && internal::AnyTypo(name, rng)) applied.push_back("name_reordered_typo");
  struct Typo {
    double rate;
    bool (*edit)(std::string&, Rng&);
    const char* name;
  };
  const Typo typos[] = {{e.name_typo, internal::ChangeConsonant, "name_typo"},
                        {e.name_transposition, internal::TransposeLetters, "name_transposition"},
                        {e.name_letter_deleted, internal::DeleteLetter, "name_letter_deleted"},
                        {e.name_letter_inserted, internal::InsertLetter, "name_letter_inserted"},
                        {e.first_letter_lost, internal::DropFirstLetter, "first_letter_lost"},
                        {e.vowel_typo, internal::ChangeVowel, "vowel_typo"},
                        {e.stray_capital, internal::StrayCapital, "stray_capital"}};
  for (const Typo& t : typos) {
    if (rng.Chance(t.rate) && t.edit(name, rng)) applied.push_back(t.name);
  }
  if (rng.Chance(e.upper_case)) {
    name = text::ToUpper(name);
    std::erase(applied, "stray_capital");  // No longer to be seen.
  }
  if (rng.Chance(e.nfd)) name = text::Nfd(name);
  return name;
}

// The date of birth as the list writes it.
std::string DistortDate(const std::string& birth_date, const ListErrorRates& e, Rng& rng,
                        std::vector<std::string>& applied) {
  auto parsed = domain::ParsePartialDate(birth_date);
  int y = parsed->year(), m = parsed->month(), day = parsed->day();
  enum class Form { kYear, kPlaceholder, kFull } form = Form::kFull;
  size_t layout = 0;
  if (rng.Chance(e.year_only)) {
    form = Form::kYear;
    applied.push_back("year_only");
  } else if (rng.Chance(e.placeholder_date)) {
    form = Form::kPlaceholder;
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
    if (rng.Chance(e.impossible_day)) {
      day = internal::ImpossibleDay(day, rng);
      applied.push_back("impossible_day");
    }
    if (rng.Chance(e.impossible_month)) {
      m = internal::ImpossibleMonth(m, rng);
      applied.push_back("impossible_month");
    }
    layout = rng.Uniform(10);
  }
  if (rng.Chance(e.year_out_of_range)) {
    y = internal::YearOutOfRange(y, rng);
    applied.push_back("year_out_of_range");
  }
  switch (form) {
    case Form::kYear:
      return absl::StrFormat("%04d", y);
    case Form::kPlaceholder:
      return absl::StrFormat("01/01/%04d", y);
    case Form::kFull:
      break;
  }
  return layout < 6   ? absl::StrFormat("%02d/%02d/%04d", day, m, y)
         : layout < 9 ? absl::StrFormat("%d/%d/%04d", day, m, y)
                      : absl::StrFormat("%04d-%02d-%02d", y, m, day);
}

}  // namespace

namespace internal {

v1::PersonRecord Distort(const Person& person, const std::vector<Person>& people,
                         const ListErrorRates& e, Rng& rng, std::vector<std::string>& applied) {
  const v1::PersonRecord& src = person.record;
  v1::PersonRecord r;

  r.set_full_name(DistortName(src.full_name(), e, rng, applied));
  r.set_birth_date(DistortDate(src.birth_date(), e, rng, applied));
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

// The named rates, in one table for setting, listing and describing them.
struct RateField {
  std::string_view name;
  double ListErrorRates::*member;
  std::string_view what;
};

constexpr RateField kRateFields[] = {
    {"diacritics_lost", &ListErrorRates::diacritics_lost, "name without diacritics"},
    {"upper_case", &ListErrorRates::upper_case, "name in capitals"},
    {"nfd", &ListErrorRates::nfd, "name in decomposed Unicode (NFD)"},
    {"tcvn3", &ListErrorRates::tcvn3, "name in TCVN3 bytes read as Windows-1252"},
    {"vni", &ListErrorRates::vni, "name in VNI bytes read as Windows-1252"},
    {"new_tone_style", &ListErrorRates::new_tone_style,
     "2018 tone placement: hoà for hòa (not in applied)"},
    {"name_typo", &ListErrorRates::name_typo, "a consonant replaced: Thu for Chu"},
    {"name_transposition", &ListErrorRates::name_transposition,
     "two adjacent letters swapped: Lcộ for Lộc, yL for Ly"},
    {"name_letter_deleted", &ListErrorRates::name_letter_deleted,
     "a letter after a word's first dropped: Hưng for Hương"},
    {"name_letter_inserted", &ListErrorRates::name_letter_inserted,
     "a letter added after a word's first: Laan for Lan"},
    {"first_letter_lost", &ListErrorRates::first_letter_lost,
     "a word's first letter lost: ỗ Kim Thương for Đỗ Kim Thương"},
    {"vowel_typo", &ListErrorRates::vowel_typo,
     "a vowel, its hat/breve or its tone mistyped: Nom for Nam"},
    {"stray_capital", &ListErrorRates::stray_capital,
     "a capital inside a word or moved off its start: NguyỄn, lY"},
    {"middle_dropped", &ListErrorRates::middle_dropped, "middle names left out"},
    {"middle_dropped_transposed", &ListErrorRates::middle_dropped_transposed,
     "middle names left out and two letters swapped: Ma yL for Ma Thị Ly"},
    {"name_reordered", &ListErrorRates::name_reordered, "family name written last"},
    {"name_reordered_typo", &ListErrorRates::name_reordered_typo,
     "given name written first, with a typo: Seng Ma Thị for Ma Thị Song"},
    {"year_only", &ListErrorRates::year_only, "birth year only"},
    {"placeholder_date", &ListErrorRates::placeholder_date, "01/01/yyyy"},
    {"day_month_swap", &ListErrorRates::day_month_swap, "day and month swapped"},
    {"date_digit_typo", &ListErrorRates::date_digit_typo, "a digit of the day wrong"},
    {"year_off_by_one", &ListErrorRates::year_off_by_one, "year one off"},
    {"impossible_day", &ListErrorRates::impossible_day,
     "day's tens digit mistyped, day > 31: 46/04/1939"},
    {"impossible_month", &ListErrorRates::impossible_month,
     "month's tens digit mistyped, month > 12: 23/42/1988"},
    {"year_out_of_range", &ListErrorRates::year_out_of_range,
     "a year digit wrong, outside 1880..2100: 1879 for 1979"},
    {"id_missing", &ListErrorRates::id_missing, "no CCCD"},
    {"cmnd_instead", &ListErrorRates::cmnd_instead, "the old CMND instead of the CCCD"},
    {"id_typo", &ListErrorRates::id_typo, "a digit of the CCCD wrong"},
    {"relative_id", &ListErrorRates::relative_id, "a household member's CCCD"},
    {"pre2025_address", &ListErrorRates::pre2025_address, "address in pre-2025 units"},
    {"address_missing", &ListErrorRates::address_missing, "no address"},
    {"sex_missing", &ListErrorRates::sex_missing, "sex left blank (not in applied)"},
    {"duplicate", &ListErrorRates::duplicate, "listed twice"},
    {"absent_namesake", &ListErrorRates::absent_namesake,
     "absent person with a registered person's name and birth year"},
    {"absent_twin", &ListErrorRates::absent_twin, "absent twin of a registered person"}};

}  // namespace

absl::Status SetErrorRate(ListErrorRates& rates, std::string_view name, double rate) {
  if (!(rate >= 0 && rate <= 1))
    return absl::InvalidArgumentError(absl::StrCat("rate for ", AV(name), " must be in [0, 1]"));
  std::vector<std::string> known;
  for (const RateField& f : kRateFields) {
    if (f.name == name) {
      rates.*f.member = rate;
      return absl::OkStatus();
    }
    known.emplace_back(f.name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown error \"", AV(name), "\"; known: ", absl::StrJoin(known, ", ")));
}

std::vector<std::pair<std::string, double>> ErrorRates(const ListErrorRates& rates) {
  std::vector<std::pair<std::string, double>> out;
  for (const RateField& f : kRateFields) out.emplace_back(f.name, rates.*f.member);
  return out;
}

std::vector<ErrorInfo> DescribeErrors(const ListErrorRates& rates) {
  std::vector<ErrorInfo> out;
  for (const RateField& f : kRateFields)
    out.push_back({std::string(f.name), rates.*f.member, std::string(f.what)});
  return out;
}

}  // namespace linkage::synth
