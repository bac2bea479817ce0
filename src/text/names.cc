#include "linkage/names.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <array>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/strings.h"
#include "linkage/csv.h"
#include "linkage/text.h"
#include "linkage_data.h"

namespace linkage::text {
namespace {

// Double family names, folded. Only read as one family name when at least
// one more word follows for the given name.
constexpr std::array<std::string_view, 11> kDoubleFamilyNames = {
    "hoang phu", "ton that",    "ton nu",      "au duong",  "gia cat",  "tu ma",
    "cong ton",  "thuong quan", "nguyen phuc", "cong tang", "khuc thua"};

// Regional spellings of one family name: {variant, group key}.
constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kFamilyVariants = {
    {{"huynh", "hoang"}, {"hoang", "hoang"}, {"vo", "vu"}, {"vu", "vu"}}};

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// The folded one-word family names of the reference lists. They are compiled
// in, so a list that fails to parse is a build defect that
// names_test's known-name cases catch.
const absl::flat_hash_set<std::string>& KnownFamilyNames() {
  static const auto* names = [] {
    auto* set = new absl::flat_hash_set<std::string>();
    auto add = [set](std::string_view name) {
      std::string folded = FoldDiacritics(FoldCase(name));
      if (folded.empty() || folded.find(' ') != std::string::npos) return;
      // Canonical names write a lone open y as i ("Lý" is "li"); keep both.
      std::string as_i = folded;
      std::replace(as_i.begin(), as_i.end(), 'y', 'i');
      set->insert(std::move(folded));
      set->insert(std::move(as_i));
    };
    CsvHeader h;
    (void)CsvParser::ParseAll(data::k_name_component_freq_uit_sample_csv, [&](const CsvRow& row) {
      if (row.row_index == 0) {
        h = CsvHeader(row.fields);
      } else if (h.Get(row, "component") == "surname") {
        add(h.Get(row, "value"));
      }
      return true;
    });
    google::protobuf::Struct groups;
    (void)google::protobuf::util::JsonStringToMessage(
        std::string(data::k_ethnic_surnames_hungnguyen18_json), &groups);
    for (const auto& [group, list] : groups.fields()) {
      for (const auto& v : list.list_value().values()) add(v.string_value());
    }
    for (const auto& [variant, group] : kFamilyVariants) add(variant);
    return set;
  }();
  return *names;
}

}  // namespace

bool IsKnownFamilyName(std::string_view folded_family) {
  return KnownFamilyNames().contains(AV(folded_family));
}

std::string FamilyGroup(std::string_view folded_family) {
  for (const auto& [variant, group] : kFamilyVariants) {
    if (folded_family == variant) return std::string(group);
  }
  return std::string(folded_family);
}

bool AreFamilyVariants(std::string_view a, std::string_view b) {
  return a != b && FamilyGroup(a) == FamilyGroup(b);
}

std::string PhoneticKey(std::string_view w) {
  std::string out;
  size_t i = 0;
  // Initial consonant.
  if (StartsWith(w, "ngh")) {
    out = "ng", i = 3;
  } else if (StartsWith(w, "ng")) {
    out = "ng", i = 2;
  } else if (StartsWith(w, "nh")) {
    out = "nh", i = 2;
  } else if (StartsWith(w, "gh")) {
    out = "g", i = 2;
  } else if (StartsWith(w, "gi") && w.size() > 2) {
    out = "d", i = 2;
  } else if (StartsWith(w, "tr") || StartsWith(w, "ch")) {
    out = "ch", i = 2;
  } else if (StartsWith(w, "ph")) {
    out = "f", i = 2;
  } else if (StartsWith(w, "kh")) {
    out = "kh", i = 2;
  } else if (StartsWith(w, "th")) {
    out = "th", i = 2;
  } else if (StartsWith(w, "qu")) {
    out = "cu", i = 2;
  } else if (!w.empty()) {
    switch (w[0]) {
      case 'r':
      case 'd':
        out = "d", i = 1;
        break;
      case 's':
      case 'x':
        out = "x", i = 1;
        break;
      case 'l':
      case 'n':
        out = "n", i = 1;
        break;
      case 'k':
      case 'c':
      case 'q':
        out = "c", i = 1;
        break;
      case 'f':
        out = "f", i = 1;
        break;
      default:
        break;
    }
  }
  std::string rest(w.substr(i));
  for (char& c : rest) {
    if (c == 'y') c = 'i';
  }
  // Finals that southern and northern speech merge.
  auto replace_suffix = [&rest](std::string_view from, std::string_view to) {
    if (rest.size() > from.size() &&
        rest.compare(rest.size() - from.size(), from.size(), from) == 0) {
      rest.replace(rest.size() - from.size(), from.size(), to);
      return true;
    }
    return false;
  };
  if (!replace_suffix("nh", "n") && !replace_suffix("ng", "n")) {
    if (!replace_suffix("ch", "t")) replace_suffix("c", "t");
  }
  return out + rest;
}

absl::StatusOr<v1::NormalizedName> NormalizeName(std::string_view raw) {
  RepairResult repaired = RepairLegacyEncoding(raw);
  std::string canonical = CanonicalText(repaired.text);
  std::vector<std::string> tokens = SplitWords(canonical);
  if (tokens.empty()) {
    return absl::InvalidArgumentError("full_name is empty after removing punctuation");
  }
  v1::NormalizedName name;
  name.set_repaired_from(std::string(LegacyEncodingName(repaired.repaired_from)));
  for (const std::string& t : tokens) {
    name.add_tokens(t);
    std::string folded = FoldDiacritics(t);
    name.add_phonetic_tokens(PhoneticKey(folded));
    name.add_folded_tokens(std::move(folded));
  }
  int family_len = 1;
  if (tokens.size() >= 3) {
    std::string first_two = absl::StrCat(name.folded_tokens(0), " ", name.folded_tokens(1));
    for (std::string_view d : kDoubleFamilyNames) {
      if (first_two == d) family_len = 2;
    }
  }
  name.set_family_len(tokens.size() == 1 ? 0 : family_len);
  name.set_family_group(FamilyGroup(FoldedFamily(name)));
  return name;
}

std::string FoldedFamily(const v1::NormalizedName& name) {
  std::string out;
  for (int i = 0; i < name.family_len() && i < name.folded_tokens_size(); ++i) {
    if (!out.empty()) out.push_back(' ');
    out += name.folded_tokens(i);
  }
  return out;
}

std::string FoldedGiven(const v1::NormalizedName& name) {
  if (name.folded_tokens_size() == 0) return "";
  return name.folded_tokens(name.folded_tokens_size() - 1);
}

}  // namespace linkage::text
