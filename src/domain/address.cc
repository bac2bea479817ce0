#include "linkage/address.h"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/strings.h"
#include "linkage/csv.h"
#include "linkage/flags.h"
#include "linkage/text.h"
#include "linkage_data.h"

namespace linkage::domain {

using Codes = std::vector<std::string>;
using CodeIndex = std::unordered_map<std::string, Codes>;

struct Gazetteer::Tables {
  std::map<std::string, AdminUnit, std::less<>> communes_2025;
  std::map<std::string, AdminUnit, std::less<>> communes_old;
  std::map<std::string, AdminUnit, std::less<>> districts_old;
  std::map<std::string, std::string, std::less<>> provinces_2025;  // code -> name
  std::map<std::string, std::string, std::less<>> provinces_old;   // code -> name
  std::map<std::string, std::string, std::less<>> old_to_new_province;
  std::map<std::string, Codes, std::less<>> crosswalk;  // old commune -> new
  std::map<std::string, std::set<std::string>, std::less<>> new_to_old_districts;
  std::map<std::string, Codes, std::less<>> new_to_old_communes;
  CodeIndex province_2025_by_key, province_old_by_key, district_by_key;
  CodeIndex commune_2025_by_key, commune_old_by_key;
  Codes commune_2025_order, commune_old_order;
  // Toned (canonical) name keys, to tell apart names that fold alike
  // ("Nghi Văn" / "Nghi Vạn").
  std::unordered_map<std::string, std::string> canonical_key;  // "o:"/"n:"/"d:" + code
};

namespace {

// Type words, folded, longest first within each level.
enum class Level { kUnknown, kHamlet, kCommune, kDistrict, kCity, kProvince };

struct TypeWord {
  std::string_view words;
  Level level;
  std::string_view type;  // Folded GSO unit type it stands for ("" for hamlets).
};
constexpr std::array<TypeWord, 27> kTypeWords = {{
    {"to dan pho", Level::kHamlet, ""},
    {"khu pho", Level::kHamlet, ""},
    {"so nha", Level::kHamlet, ""},
    {"thi tran", Level::kCommune, "thi tran"},
    {"dac khu", Level::kCommune, "dac khu"},
    {"thi xa", Level::kDistrict, "thi xa"},
    {"thanh pho", Level::kCity, "thanh pho"},
    {"to", Level::kHamlet, ""},
    {"thon", Level::kHamlet, ""},
    {"ban", Level::kHamlet, ""},
    {"ap", Level::kHamlet, ""},
    {"xom", Level::kHamlet, ""},
    {"kp", Level::kHamlet, ""},
    {"khom", Level::kHamlet, ""},
    {"khu", Level::kHamlet, ""},
    {"xa", Level::kCommune, "xa"},
    {"x", Level::kCommune, "xa"},
    {"phuong", Level::kCommune, "phuong"},
    {"p", Level::kCommune, "phuong"},
    {"tt", Level::kCommune, "thi tran"},
    {"huyen", Level::kDistrict, "huyen"},
    {"h", Level::kDistrict, "huyen"},
    {"quan", Level::kDistrict, "quan"},
    {"q", Level::kDistrict, "quan"},
    {"tx", Level::kDistrict, "thi xa"},
    {"tp", Level::kCity, "thanh pho"},
    {"tinh", Level::kProvince, "tinh"},
}};

// Province-level cities, old and new codes: "TP. X" is the province for these.
constexpr std::array<std::string_view, 6> kProvinceCities = {"01", "79", "31", "48", "92", "46"};

std::string FoldedClean(std::string_view s) {
  return text::CleanPunctuation(text::FoldDiacritics(s));
}

struct Typed {
  Level level = Level::kUnknown;
  std::string type;  // Folded GSO type, "" if none was written.
  std::string rest;
};

// Splits "p duc xuan" into (kCommune, "phuong", "duc xuan").
Typed SplitType(const std::string& folded) {
  for (const TypeWord& tw : kTypeWords) {
    if (folded.size() > tw.words.size() && folded.compare(0, tw.words.size(), tw.words) == 0 &&
        folded[tw.words.size()] == ' ') {
      return {tw.level, std::string(tw.type), folded.substr(tw.words.size() + 1)};
    }
  }
  return {Level::kUnknown, "", folded};
}

// Lists often omit the commas: "p duc xuan tp bac kan". Splits a folded
// part before every commune/district/province type word that is not its
// first word (hamlet words are left alone: "ban" is also a name syllable).
std::vector<std::string> SplitAtTypeWords(const std::string& folded) {
  std::vector<std::string> words;
  for (absl::string_view w : absl::StrSplit(folded, ' ', absl::SkipEmpty())) words.emplace_back(w);
  static const std::vector<std::vector<std::string>>* unit_type_words = [] {
    auto* v = new std::vector<std::vector<std::string>>();
    for (const TypeWord& tw : kTypeWords) {
      if (tw.level != Level::kHamlet) v->push_back(absl::StrSplit(AV(tw.words), ' '));
    }
    return v;
  }();
  // Length in words of the non-hamlet type word starting at i, or 0.
  auto type_at = [&words](size_t i) -> size_t {
    for (const std::vector<std::string>& tw_words : *unit_type_words) {
      if (i + tw_words.size() >= words.size()) continue;  // A type word needs a name after it.
      if (std::equal(tw_words.begin(), tw_words.end(), words.begin() + static_cast<long>(i)))
        return tw_words.size();
    }
    return 0;
  };
  std::vector<std::string> out;
  std::string current;
  size_t next_split = 0;  // A unit's name has at least one word: "xã Xà Phiên".
  for (size_t i = 0; i < words.size(); ++i) {
    if (i >= next_split) {
      if (size_t len = type_at(i); len > 0) {
        if (!current.empty()) out.push_back(std::move(current));
        current.clear();
        next_split = i + len + 1;
      }
    }
    if (!current.empty()) current.push_back(' ');
    current += words[i];
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

std::string NormalizeNumbers(const std::string& key) {
  std::vector<std::string> out;
  for (absl::string_view w : absl::StrSplit(key, ' ', absl::SkipEmpty())) {
    bool digits = std::all_of(w.begin(), w.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits) {
      while (w.size() > 1 && w[0] == '0') w.remove_prefix(1);
    }
    out.emplace_back(w);
  }
  return absl::StrJoin(out, " ");
}

void AddUnique(Codes& codes, const std::string& code) {
  if (std::find(codes.begin(), codes.end(), code) == codes.end()) codes.push_back(code);
}

template <typename Fn>
void ForEachRow(std::string_view csv, Fn fn) {
  CsvHeader header;
  (void)CsvParser::ParseAll(csv, [&](const CsvRow& row) {
    if (row.row_index == 0) {
      header = CsvHeader(row.fields);
    } else {
      fn(header, row);
    }
    return true;
  });
}

}  // namespace

std::string UnitNameKey(std::string_view name) {
  return NormalizeNumbers(SplitType(FoldedClean(name)).rest);
}

namespace {

// The toned key of a unit name or address part: canonical text without the
// type words that SplitType removed from its folded form.
std::string CanonicalKey(std::string_view text, const std::string& folded_rest) {
  std::vector<std::string> words = text::SplitWords(text::CanonicalText(text));
  size_t keep = text::SplitWords(folded_rest).size();
  if (keep > words.size()) return "";
  words.erase(words.begin(), words.end() - static_cast<long>(keep));
  return NormalizeNumbers(absl::StrJoin(words, " "));
}

}  // namespace

Gazetteer::Gazetteer(std::unique_ptr<Tables> tables) : t_(std::move(tables)) {}
Gazetteer::~Gazetteer() = default;

const Gazetteer& Gazetteer::Default() {
  static const Gazetteer* g = [] {
    auto t = std::make_unique<Tables>();
    ForEachRow(data::k_admin_2025_provinces_csv, [&](const CsvHeader& h, const CsvRow& r) {
      std::string code(h.Get(r, "province_code"));
      t->provinces_2025[code] = std::string(h.Get(r, "province_name"));
      t->province_2025_by_key[UnitNameKey(h.Get(r, "province_name"))].push_back(code);
    });
    ForEachRow(data::k_cccd_province_codes_csv, [&](const CsvHeader& h, const CsvRow& r) {
      std::string code(h.Get(r, "gso_province_code_pre2025"));
      t->provinces_old[code] = std::string(h.Get(r, "gso_province_name_pre2025"));
      t->old_to_new_province[code] = std::string(h.Get(r, "province_2025_code"));
      t->province_old_by_key[UnitNameKey(h.Get(r, "gso_province_name_pre2025"))].push_back(code);
    });
    // Common short forms of province names.
    t->province_old_by_key["hcm"].push_back("79");
    t->province_2025_by_key["hcm"].push_back("79");
    t->province_old_by_key["hue"].push_back("46");
    ForEachRow(data::k_admin_2025_communes_csv, [&](const CsvHeader& h, const CsvRow& r) {
      AdminUnit u{std::string(h.Get(r, "ward_code")), std::string(h.Get(r, "ward_name")),
                  std::string(h.Get(r, "ward_type")), "", std::string(h.Get(r, "province_code"))};
      t->commune_2025_by_key[UnitNameKey(u.name)].push_back(u.code);
      t->canonical_key["n:" + u.code] = CanonicalKey(u.name, SplitType(FoldedClean(u.name)).rest);
      t->commune_2025_order.push_back(u.code);
      t->communes_2025.emplace(u.code, std::move(u));
    });
    ForEachRow(data::k_admin_pre2025_districts_gso_csv, [&](const CsvHeader& h, const CsvRow& r) {
      AdminUnit u{std::string(h.Get(r, "district_code")), std::string(h.Get(r, "district_name")),
                  std::string(h.Get(r, "district_type")), "",
                  std::string(h.Get(r, "province_code"))};
      t->district_by_key[UnitNameKey(u.name)].push_back(u.code);
      t->canonical_key["d:" + u.code] = CanonicalKey(u.name, SplitType(FoldedClean(u.name)).rest);
      t->districts_old.emplace(u.code, std::move(u));
    });
    ForEachRow(data::k_admin_pre2025_wards_gso_csv, [&](const CsvHeader& h, const CsvRow& r) {
      AdminUnit u{std::string(h.Get(r, "ward_code")), std::string(h.Get(r, "ward_name")),
                  std::string(h.Get(r, "ward_type")), std::string(h.Get(r, "district_code")),
                  std::string(h.Get(r, "province_code"))};
      t->commune_old_by_key[UnitNameKey(u.name)].push_back(u.code);
      t->canonical_key["o:" + u.code] = CanonicalKey(u.name, SplitType(FoldedClean(u.name)).rest);
      t->commune_old_order.push_back(u.code);
      t->communes_old.emplace(u.code, std::move(u));
    });
    ForEachRow(data::k_admin_map_old_to_new_tnmh_csv, [&](const CsvHeader& h, const CsvRow& r) {
      std::string old_code(h.Get(r, "old_ward_code"));
      std::string new_code(h.Get(r, "new_ward_code"));
      std::string old_district(h.Get(r, "old_district_code"));
      if (new_code.empty()) return;
      if (!old_code.empty()) {
        AddUnique(t->crosswalk[old_code], new_code);
        AddUnique(t->new_to_old_communes[new_code], old_code);
      }
      if (!old_district.empty()) t->new_to_old_districts[new_code].insert(old_district);
    });
    return new Gazetteer(std::move(t));
  }();
  return *g;
}

std::vector<std::string> Gazetteer::CurrentCommunes(std::string_view old_code) const {
  auto it = t_->crosswalk.find(old_code);
  return it == t_->crosswalk.end() ? Codes{} : it->second;
}

std::vector<std::string> Gazetteer::PreviousCommunes(std::string_view code) const {
  auto it = t_->new_to_old_communes.find(code);
  return it == t_->new_to_old_communes.end() ? Codes{} : it->second;
}
std::string Gazetteer::ProvinceName2025(std::string_view code) const {
  auto it = t_->provinces_2025.find(code);
  return it == t_->provinces_2025.end() ? "" : it->second;
}
std::string Gazetteer::ProvinceNamePre2025(std::string_view code) const {
  auto it = t_->provinces_old.find(code);
  return it == t_->provinces_old.end() ? "" : it->second;
}

const AdminUnit* Gazetteer::Commune2025(std::string_view code) const {
  auto it = t_->communes_2025.find(code);
  return it == t_->communes_2025.end() ? nullptr : &it->second;
}
const AdminUnit* Gazetteer::CommunePre2025(std::string_view code) const {
  auto it = t_->communes_old.find(code);
  return it == t_->communes_old.end() ? nullptr : &it->second;
}
const AdminUnit* Gazetteer::DistrictPre2025(std::string_view code) const {
  auto it = t_->districts_old.find(code);
  return it == t_->districts_old.end() ? nullptr : &it->second;
}
std::string Gazetteer::CurrentProvince(std::string_view old_code) const {
  auto it = t_->old_to_new_province.find(old_code);
  return it == t_->old_to_new_province.end() ? "" : it->second;
}
const std::vector<std::string>& Gazetteer::Commune2025Codes() const {
  return t_->commune_2025_order;
}
const std::vector<std::string>& Gazetteer::CommunePre2025Codes() const {
  return t_->commune_old_order;
}

namespace {

struct ParsedPart {
  Level level;
  std::string type;  // Folded GSO type written in the text, or "".
  std::string key;
  std::string canonical;  // Toned key, "" when written without diacritics.
  bool used = false;
};

// Among same-folded names, keeps those whose toned name is the one written.
void FilterByToned(std::vector<std::string>& codes, const ParsedPart& p, std::string_view list,
                   const std::unordered_map<std::string, std::string>& canonical) {
  if (p.canonical.empty() || codes.size() < 2) return;
  std::vector<std::string> kept;
  for (const auto& c : codes) {
    auto it = canonical.find(absl::StrCat(AV(list), c));
    if (it != canonical.end() && it->second == p.canonical) kept.push_back(c);
  }
  if (!kept.empty()) codes = std::move(kept);
}

// Keeps the codes whose unit type matches the written one, unless that
// would keep none (lists write types loosely).
void FilterByType(std::vector<std::string>& codes, const std::string& written_type,
                  const std::function<const AdminUnit&(const std::string&)>& unit) {
  if (written_type.empty() || codes.size() < 2) return;
  std::vector<std::string> kept;
  for (const auto& c : codes) {
    if (FoldedClean(unit(c).type) == written_type) kept.push_back(c);
  }
  if (!kept.empty()) codes = std::move(kept);
}

const Codes* Find(const CodeIndex& index, const std::string& key) {
  auto it = index.find(key);
  return it == index.end() ? nullptr : &it->second;
}

bool Contains(std::string_view code, const std::set<std::string>& allowed) {
  return allowed.empty() || allowed.count(std::string(code)) > 0;
}

}  // namespace

v1::NormalizedAddress Gazetteer::Resolve(const AddressInput& in,
                                         std::vector<std::string>& flags) const {
  v1::NormalizedAddress out;
  const Tables& t = *t_;

  // Text parts, right to left (province first).
  std::vector<ParsedPart> parts;
  for (absl::string_view piece :
       absl::StrSplit(AV(in.text), absl::ByAnyChar(",;"), absl::SkipWhitespace())) {
    // Diacritics tell apart names that fold alike; folding preserves word
    // boundaries, so the toned words line up with the folded ones.
    std::vector<std::string> toned = text::SplitWords(text::CanonicalText(SV(piece)));
    // Non-ASCII letters in Vietnamese text are the diacritics and đ.
    bool has_tones = std::any_of(piece.begin(), piece.end(),
                                 [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
    size_t word = 0;
    for (const std::string& sub : SplitAtTypeWords(FoldedClean(SV(piece)))) {
      Typed typed = SplitType(sub);
      size_t n_sub = text::SplitWords(sub).size();
      size_t n_rest = text::SplitWords(typed.rest).size();
      std::string canonical;
      if (has_tones && word + n_sub <= toned.size()) {
        canonical =
            NormalizeNumbers(absl::StrJoin(toned.begin() + static_cast<long>(word + n_sub - n_rest),
                                           toned.begin() + static_cast<long>(word + n_sub), " "));
      }
      word += n_sub;
      parts.push_back({typed.level, typed.type, NormalizeNumbers(typed.rest), canonical});
    }
  }
  std::reverse(parts.begin(), parts.end());

  std::set<std::string> old_provinces, new_provinces, districts;
  if (!in.province_code.empty()) {
    // A province code is read in the record's version; unknown version: both.
    if (in.version != v1::UNIT_VERSION_2025 && t.provinces_old.count(in.province_code)) {
      old_provinces.insert(std::string(in.province_code));
    }
    if (in.version != v1::UNIT_VERSION_PRE2025 && t.provinces_2025.count(in.province_code)) {
      new_provinces.insert(std::string(in.province_code));
    }
  }
  if (!in.district_code.empty() && t.districts_old.count(in.district_code)) {
    districts.insert(std::string(in.district_code));
  }
  bool text_says_old = false;
  std::string hamlet;

  for (ParsedPart& p : parts) {  // Province.
    if (p.level != Level::kProvince && p.level != Level::kCity && p.level != Level::kUnknown)
      continue;
    const Codes* olds = Find(t.province_old_by_key, p.key);
    const Codes* news = Find(t.province_2025_by_key, p.key);
    if (!olds && !news) continue;
    if (p.level == Level::kCity) {
      bool city = false;
      for (const Codes* c : {olds, news}) {
        if (!c) continue;
        for (const auto& code : *c) {
          city |= std::find(kProvinceCities.begin(), kProvinceCities.end(), code) !=
                  kProvinceCities.end();
        }
      }
      if (!city) continue;  // "TP. Bắc Kạn" is a district-level city.
    }
    if (olds) old_provinces.insert(olds->begin(), olds->end());
    if (news) new_provinces.insert(news->begin(), news->end());
    if (olds && !news) text_says_old = true;
    p.used = true;
    break;
  }
  for (ParsedPart& p : parts) {  // District (pre-2025 only).
    if (p.used ||
        (p.level != Level::kDistrict && p.level != Level::kCity && p.level != Level::kUnknown)) {
      continue;
    }
    const Codes* ds = Find(t.district_by_key, p.key);
    if (!ds) continue;
    std::vector<std::string> candidates;
    for (const auto& d : *ds) {
      if (Contains(t.districts_old.at(d).province_code, old_provinces)) candidates.push_back(d);
    }
    FilterByType(candidates, p.type,
                 [&t](const std::string& c) -> const AdminUnit& { return t.districts_old.at(c); });
    FilterByToned(candidates, p, "d:", t.canonical_key);
    std::set<std::string> found(candidates.begin(), candidates.end());
    if (found.empty() || (found.size() > 1 && p.level == Level::kUnknown)) continue;
    // Several districts of that name ("H. Châu Thành"): the commune may
    // still settle which one.
    districts = found;
    text_says_old = true;
    p.used = true;
    break;
  }
  for (const auto& d : districts) old_provinces.insert(t.districts_old.at(d).province_code);
  for (const auto& op : old_provinces) new_provinces.insert(CurrentProvince(op));

  // Commune from text: candidates in both lists, filtered by context.
  Codes old_hits, new_hits;
  for (const ParsedPart& p : parts) {
    if (p.level == Level::kHamlet && hamlet.empty()) hamlet = p.key;
  }
  for (ParsedPart& p : parts) {
    if (p.used || (p.level != Level::kCommune && p.level != Level::kUnknown)) continue;
    if (const Codes* os = Find(t.commune_old_by_key, p.key)) {
      for (const auto& c : *os) {
        const AdminUnit& u = t.communes_old.at(c);
        if (Contains(u.district_code, districts) && Contains(u.province_code, old_provinces)) {
          old_hits.push_back(c);
        }
      }
    }
    if (const Codes* ns = Find(t.commune_2025_by_key, p.key)) {
      for (const auto& c : *ns) {
        if (Contains(t.communes_2025.at(c).province_code, new_provinces)) new_hits.push_back(c);
      }
    }
    FilterByType(old_hits, p.type,
                 [&t](const std::string& c) -> const AdminUnit& { return t.communes_old.at(c); });
    FilterByType(new_hits, p.type,
                 [&t](const std::string& c) -> const AdminUnit& { return t.communes_2025.at(c); });
    FilterByToned(old_hits, p, "o:", t.canonical_key);
    FilterByToned(new_hits, p, "n:", t.canonical_key);
    if (!old_hits.empty() || !new_hits.empty()) {
      p.used = true;
      break;
    }
  }
  out.set_hamlet(hamlet);

  // Decide the version of the codes and text.
  v1::UnitVersion version = in.version;
  std::string resolved_by;
  if (!in.commune_code.empty()) {
    const AdminUnit* as_new = Commune2025(in.commune_code);
    const AdminUnit* as_old = CommunePre2025(in.commune_code);
    if (version == v1::UNIT_VERSION_UNSPECIFIED) {
      bool text_new = as_new && std::count(new_hits.begin(), new_hits.end(), as_new->code);
      bool text_old = as_old && std::count(old_hits.begin(), old_hits.end(), as_old->code);
      if (text_new != text_old) {
        version = text_new ? v1::UNIT_VERSION_2025 : v1::UNIT_VERSION_PRE2025;
      } else if (!in.district_code.empty() || text_says_old) {
        version = v1::UNIT_VERSION_PRE2025;
      } else if (as_new && !as_old) {
        version = v1::UNIT_VERSION_2025;
      } else if (as_old && !as_new) {
        version = v1::UNIT_VERSION_PRE2025;
      } else if (as_new && as_old && [&] {
                   auto targets = CurrentCommunes(as_old->code);
                   return targets.size() == 1 && targets[0] == as_new->code;
                 }()) {
        version = v1::UNIT_VERSION_2025;  // Both readings are the same place today.
      } else {
        version = in.default_version != v1::UNIT_VERSION_UNSPECIFIED ? in.default_version
                                                                     : v1::UNIT_VERSION_2025;
        flags.emplace_back(flag::kUnitVersionGuessed);
      }
    }
    const AdminUnit* unit = version == v1::UNIT_VERSION_2025 ? as_new : as_old;
    if (unit == nullptr) {
      flags.emplace_back(flag::kUnknownCommuneCode);
    } else {
      resolved_by = parts.empty() ? "code" : "code+text";
      (version == v1::UNIT_VERSION_2025 ? new_hits : old_hits).assign(1, unit->code);
      (version == v1::UNIT_VERSION_2025 ? old_hits : new_hits).clear();
    }
  }
  if (resolved_by.empty() && (!old_hits.empty() || !new_hits.empty())) {
    resolved_by = "text";
    if (version == v1::UNIT_VERSION_UNSPECIFIED) {
      if (old_hits.empty()) {
        version = v1::UNIT_VERSION_2025;
      } else if (new_hits.empty() || text_says_old) {
        version = v1::UNIT_VERSION_PRE2025;
      } else {
        version = in.default_version != v1::UNIT_VERSION_UNSPECIFIED ? in.default_version
                                                                     : v1::UNIT_VERSION_2025;
      }
    }
    (version == v1::UNIT_VERSION_2025 ? old_hits : new_hits).clear();
  }

  // Map to current communes.
  Codes current;
  std::set<std::string> old_districts;
  if (districts.size() == 1) old_districts = districts;
  if (version == v1::UNIT_VERSION_PRE2025 && !old_hits.empty()) {
    for (const auto& c : old_hits) {
      for (const auto& n : CurrentCommunes(c)) AddUnique(current, n);
      old_districts.insert(t.communes_old.at(c).district_code);
    }
    if (old_hits.size() == 1) out.set_old_commune_code(old_hits[0]);
  } else if (!new_hits.empty()) {
    current = new_hits;
    for (const auto& c : new_hits) {
      auto it = t.new_to_old_districts.find(c);
      if (it != t.new_to_old_districts.end())
        old_districts.insert(it->second.begin(), it->second.end());
    }
  }
  // Several unrelated hits (same name in different places) cannot be told
  // apart: keep only what they share.
  if (current.size() > 1 && ((version == v1::UNIT_VERSION_PRE2025 && old_hits.size() > 1) ||
                             (version != v1::UNIT_VERSION_PRE2025 && new_hits.size() > 1))) {
    flags.emplace_back(flag::kAddressAmbiguous);
    current.clear();
    old_districts.clear();
    if (districts.size() == 1) old_districts = districts;
  }
  if (current.empty() && districts.size() > 1) flags.emplace_back(flag::kAddressAmbiguous);
  for (const auto& c : current) out.add_commune_codes_2025(c);
  for (const auto& d : old_districts) out.add_old_district_codes(d);
  std::set<std::string> provinces;
  for (const auto& c : current)
    provinces.insert(t.communes_2025.count(c) ? t.communes_2025.at(c).province_code : "");
  provinces.erase("");
  if (provinces.empty()) provinces = new_provinces;
  if (provinces.size() == 1) out.set_province_code_2025(*provinces.begin());
  out.set_source_version(version);
  if (resolved_by.empty() && !out.province_code_2025().empty()) resolved_by = "text";
  out.set_resolved_by(resolved_by);
  if (out.commune_codes_2025_size() == 0 && out.province_code_2025().empty() &&
      (!in.text.empty() || !in.commune_code.empty())) {
    flags.emplace_back(flag::kAddressUnresolved);
  }
  return out;
}

}  // namespace linkage::domain
