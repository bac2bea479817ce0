// Field comparison levels and Fellegi-Sunter scoring.
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/strings.h"
#include "linkage/domain.h"
#include "linkage/model.h"
#include "linkage/names.h"
#include "linkage/similarity.h"
#include "linkage_models.h"

namespace linkage::model {

struct CompiledModel::Field {
  std::string name;
  v1::FieldSource source;
  std::string attribute;
  bool term_frequency = false;
  struct Level {
    v1::LevelKind kind;
    double threshold;
    std::string label;
    double bits;
    double log2_m = 0;
    double log2_u = 0;
    bool value_agrees = false;  // The level means "same value": TF applies.
  };
  std::vector<Level> levels;
};

namespace {

using Names = google::protobuf::RepeatedPtrField<std::string>;

bool SameTokens(const Names& a, const Names& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// Joins folded tokens with spaces into a fixed buffer (no allocation).
std::string_view JoinInto(const Names& tokens, std::array<char, kMaxFastLength>& buf) {
  size_t n = 0;
  for (int i = 0; i < tokens.size(); ++i) {
    if (i > 0 && n < buf.size()) buf[n++] = ' ';
    for (char c : tokens[i]) {
      if (n < buf.size()) buf[n++] = c;
    }
  }
  return std::string_view(buf.data(), n);
}

bool SortedTokensEqual(const Names& a, const Names& b) {
  if (a.size() != b.size() || a.size() < 2) return false;
  // Names have few parts: a quadratic multiset check avoids allocation.
  std::array<bool, 16> used{};
  if (a.size() > static_cast<int>(used.size())) return false;
  for (const std::string& t : a) {
    bool found = false;
    for (int j = 0; j < b.size(); ++j) {
      if (!used[static_cast<size_t>(j)] && b[j] == t) {
        used[static_cast<size_t>(j)] = true;
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

// True if the family (first family_len) and given (last) parts agree and
// one side's middle names are a proper subsequence of the other's.
bool MiddleMissing(const v1::NormalizedName& a, const v1::NormalizedName& b,
                   bool family_variant_ok) {
  const Names& ta = a.folded_tokens();
  const Names& tb = b.folded_tokens();
  if (ta.size() < 2 || tb.size() < 2 || ta.size() == tb.size()) return false;
  if (ta[ta.size() - 1] != tb[tb.size() - 1]) return false;
  if (ta[0] != tb[0] && !(family_variant_ok && text::AreFamilyVariants(ta[0], tb[0]))) return false;
  const Names& longer = ta.size() > tb.size() ? ta : tb;
  const Names& shorter = ta.size() > tb.size() ? tb : ta;
  int j = 1;
  for (int i = 1; i < longer.size() - 1 && j < shorter.size() - 1; ++i) {
    if (longer[i] == shorter[j]) ++j;
  }
  return j == shorter.size() - 1;
}

bool FamilyVariant(const v1::NormalizedName& a, const v1::NormalizedName& b) {
  const Names& ta = a.folded_tokens();
  const Names& tb = b.folded_tokens();
  if (ta.empty() || tb.empty() || !text::AreFamilyVariants(ta[0], tb[0])) return false;
  if (ta.size() == tb.size()) return std::equal(ta.begin() + 1, ta.end(), tb.begin() + 1);
  return MiddleMissing(a, b, true);
}

bool NameLevel(v1::LevelKind kind, double threshold, const v1::NormalizedName& a,
               const v1::NormalizedName& b) {
  switch (kind) {
    case v1::LEVEL_NAME_EXACT:
      return SameTokens(a.tokens(), b.tokens());
    case v1::LEVEL_NAME_FOLDED_EXACT:
      return SameTokens(a.folded_tokens(), b.folded_tokens());
    case v1::LEVEL_NAME_REORDERED:
      return SortedTokensEqual(a.folded_tokens(), b.folded_tokens());
    case v1::LEVEL_NAME_MIDDLE_MISSING:
      return MiddleMissing(a, b, false);
    case v1::LEVEL_NAME_FAMILY_VARIANT:
      return FamilyVariant(a, b);
    case v1::LEVEL_NAME_JARO_WINKLER: {
      std::array<char, kMaxFastLength> ba, bb;
      const std::string& ga = a.folded_tokens(a.folded_tokens_size() - 1);
      const std::string& gb = b.folded_tokens(b.folded_tokens_size() - 1);
      // Short Vietnamese given names one letter apart are usually different
      // people (siblings, twins: Toại/Thái): the given name must agree in
      // spelling or sound, and the similarity may only come from the rest.
      const std::string& pa = a.phonetic_tokens(a.phonetic_tokens_size() - 1);
      const std::string& pb = b.phonetic_tokens(b.phonetic_tokens_size() - 1);
      return (ga == gb || pa == pb) && JaroWinkler(JoinInto(a.folded_tokens(), ba),
                                                   JoinInto(b.folded_tokens(), bb)) >= threshold;
    }
    case v1::LEVEL_NAME_PHONETIC:
      return SameTokens(a.phonetic_tokens(), b.phonetic_tokens()) ||
             SortedTokensEqual(a.phonetic_tokens(), b.phonetic_tokens());
    case v1::LEVEL_NAME_GIVEN_AGREES:
      return a.folded_tokens(a.folded_tokens_size() - 1) ==
             b.folded_tokens(b.folded_tokens_size() - 1);
    default:
      return false;
  }
}

// yyyymmdd digits of a full date, into a fixed buffer.
std::string_view DateDigits(const v1::PartialDate& d, std::array<char, 8>& buf) {
  int v[] = {d.year(), d.month(), d.day()};
  int widths[] = {4, 2, 2};
  size_t pos = 0;
  for (int k = 0; k < 3; ++k) {
    for (int w = widths[k] - 1; w >= 0; --w) {
      buf[pos + static_cast<size_t>(w)] = static_cast<char>('0' + v[k] % 10);
      v[k] /= 10;
    }
    pos += static_cast<size_t>(widths[k]);
  }
  return std::string_view(buf.data(), 8);
}

bool DateLevel(v1::LevelKind kind, double threshold, const v1::PartialDate& a,
               const v1::PartialDate& b) {
  switch (kind) {
    case v1::LEVEL_DATE_EXACT:
      return domain::IsFullDate(a) && domain::IsFullDate(b) && a.year() == b.year() &&
             a.month() == b.month() && a.day() == b.day();
    case v1::LEVEL_DATE_YEAR_ONLY:
      return a.year() == b.year() && (a.month() == 0 || b.month() == 0 ||
                                      a.possible_placeholder() || b.possible_placeholder());
    case v1::LEVEL_DATE_YEAR_MONTH:
      return a.year() == b.year() && a.month() != 0 && a.month() == b.month();
    case v1::LEVEL_DATE_DAY_MONTH_SWAP:
      return domain::IsFullDate(a) && domain::IsFullDate(b) && a.year() == b.year() &&
             a.day() == b.month() && a.month() == b.day() && a.day() != a.month();
    case v1::LEVEL_DATE_ONE_DIGIT: {
      if (!domain::IsFullDate(a) || !domain::IsFullDate(b)) return false;
      std::array<char, 8> ba, bb;
      return DamerauLevenshtein(DateDigits(a, ba), DateDigits(b, bb), 1) <= 1;
    }
    case v1::LEVEL_DATE_YEAR_WITHIN:
      return std::abs(a.year() - b.year()) <= static_cast<int>(threshold);
    default:
      return false;
  }
}

bool IdLevel(v1::LevelKind kind, const std::string& a, const std::string& b) {
  switch (kind) {
    case v1::LEVEL_ID_EXACT:
    case v1::LEVEL_EXACT:
      return a == b;
    case v1::LEVEL_ID_ONE_EDIT:
      return DamerauLevenshtein(a, b, 1) <= 1;
    default:
      return false;
  }
}

template <typename C>
bool Intersects(const C& a, const C& b) {
  for (const auto& x : a) {
    for (const auto& y : b) {
      if (x == y) return true;
    }
  }
  return false;
}

bool AddressLevel(v1::LevelKind kind, const v1::NormalizedAddress& a,
                  const v1::NormalizedAddress& b) {
  switch (kind) {
    case v1::LEVEL_ADDR_SAME_COMMUNE:
      return Intersects(a.commune_codes_2025(), b.commune_codes_2025());
    case v1::LEVEL_ADDR_SAME_DISTRICT:
      return Intersects(a.old_district_codes(), b.old_district_codes());
    case v1::LEVEL_ADDR_SAME_PROVINCE:
      return !a.province_code_2025().empty() && a.province_code_2025() == b.province_code_2025();
    default:
      return false;
  }
}

bool StringLevel(v1::LevelKind kind, double threshold, std::string_view a, std::string_view b) {
  switch (kind) {
    case v1::LEVEL_EXACT:
      return a == b;
    case v1::LEVEL_JARO_WINKLER:
      return JaroWinkler(a, b) >= threshold;
    case v1::LEVEL_EDIT_DISTANCE:
      return DamerauLevenshtein(a, b, static_cast<int>(threshold)) <= static_cast<int>(threshold);
    default:
      return false;
  }
}

std::string_view SexValue(v1::Sex s) {
  return s == v1::SEX_MALE ? "m" : s == v1::SEX_FEMALE ? "f" : "";
}

const std::string& IdDigits(const v1::NormalizedId& id) { return id.digits(); }

std::string_view Attribute(const v1::NormalizedRecord& r, const std::string& key) {
  auto it = r.attributes().find(key);
  return it == r.attributes().end() ? std::string_view() : std::string_view(it->second);
}

// Which level kinds make sense for a source.
bool KindFitsSource(v1::LevelKind kind, v1::FieldSource source) {
  if (kind == v1::LEVEL_ELSE) return true;
  int k = static_cast<int>(kind);
  switch (source) {
    case v1::FIELD_SOURCE_FULL_NAME:
      return k >= 10 && k < 30;
    case v1::FIELD_SOURCE_BIRTH_DATE:
      return k >= 30 && k < 50;
    case v1::FIELD_SOURCE_NATIONAL_ID:
    case v1::FIELD_SOURCE_OLD_ID:
      return (k >= 50 && k < 70) || kind == v1::LEVEL_EXACT;
    case v1::FIELD_SOURCE_ADDRESS:
      return k >= 70 && k < 90;
    case v1::FIELD_SOURCE_SEX:
    case v1::FIELD_SOURCE_PHONE:
    case v1::FIELD_SOURCE_ETHNICITY:
    case v1::FIELD_SOURCE_ATTRIBUTE:
      return k >= 90;
    default:
      return false;
  }
}

bool IsNull(const CompiledModel::Field& f, const v1::NormalizedRecord& q,
            const v1::NormalizedRecord& c) {
  switch (f.source) {
    case v1::FIELD_SOURCE_FULL_NAME:
      return q.name().folded_tokens_size() == 0 || c.name().folded_tokens_size() == 0;
    case v1::FIELD_SOURCE_BIRTH_DATE:
      return q.birth_date().year() == 0 || c.birth_date().year() == 0;
    case v1::FIELD_SOURCE_SEX:
      return q.sex() == v1::SEX_UNSPECIFIED || c.sex() == v1::SEX_UNSPECIFIED;
    case v1::FIELD_SOURCE_NATIONAL_ID:
      return q.national_id().digits().empty() || c.national_id().digits().empty();
    case v1::FIELD_SOURCE_OLD_ID:
      return q.old_id().digits().empty() || c.old_id().digits().empty();
    case v1::FIELD_SOURCE_ADDRESS:
      return (q.address().commune_codes_2025_size() == 0 &&
              q.address().province_code_2025().empty()) ||
             (c.address().commune_codes_2025_size() == 0 &&
              c.address().province_code_2025().empty());
    case v1::FIELD_SOURCE_PHONE:
      return q.phone().empty() || c.phone().empty();
    case v1::FIELD_SOURCE_ETHNICITY:
      return q.ethnicity().empty() || c.ethnicity().empty();
    case v1::FIELD_SOURCE_ATTRIBUTE:
      return Attribute(q, f.attribute).empty() || Attribute(c, f.attribute).empty();
    default:
      return true;
  }
}

bool LevelHolds(const CompiledModel::Field& f, const CompiledModel::Field::Level& l,
                const v1::NormalizedRecord& q, const v1::NormalizedRecord& c) {
  if (l.kind == v1::LEVEL_ELSE) return true;
  switch (f.source) {
    case v1::FIELD_SOURCE_FULL_NAME:
      return NameLevel(l.kind, l.threshold, q.name(), c.name());
    case v1::FIELD_SOURCE_BIRTH_DATE:
      return DateLevel(l.kind, l.threshold, q.birth_date(), c.birth_date());
    case v1::FIELD_SOURCE_NATIONAL_ID:
      return IdLevel(l.kind, IdDigits(q.national_id()), IdDigits(c.national_id()));
    case v1::FIELD_SOURCE_OLD_ID:
      return IdLevel(l.kind, IdDigits(q.old_id()), IdDigits(c.old_id()));
    case v1::FIELD_SOURCE_ADDRESS:
      return AddressLevel(l.kind, q.address(), c.address());
    case v1::FIELD_SOURCE_SEX:
      return StringLevel(l.kind, l.threshold, SexValue(q.sex()), SexValue(c.sex()));
    case v1::FIELD_SOURCE_PHONE:
      return StringLevel(l.kind, l.threshold, q.phone(), c.phone());
    case v1::FIELD_SOURCE_ETHNICITY:
      return StringLevel(l.kind, l.threshold, q.ethnicity(), c.ethnicity());
    case v1::FIELD_SOURCE_ATTRIBUTE:
      return StringLevel(l.kind, l.threshold, Attribute(q, f.attribute), Attribute(c, f.attribute));
    default:
      return false;
  }
}

std::string DisplayValue(const CompiledModel::Field& f, const v1::NormalizedRecord& r) {
  switch (f.source) {
    case v1::FIELD_SOURCE_FULL_NAME:
      return absl::StrJoin(r.name().tokens(), " ");
    case v1::FIELD_SOURCE_BIRTH_DATE:
      return domain::FormatPartialDate(r.birth_date());
    case v1::FIELD_SOURCE_SEX:
      return std::string(SexValue(r.sex()));
    case v1::FIELD_SOURCE_NATIONAL_ID:
      return r.national_id().digits();
    case v1::FIELD_SOURCE_OLD_ID:
      return r.old_id().digits();
    case v1::FIELD_SOURCE_ADDRESS: {
      std::string s = absl::StrJoin(r.address().commune_codes_2025(), "/");
      if (!r.address().province_code_2025().empty())
        absl::StrAppend(&s, "@", r.address().province_code_2025());
      return s;
    }
    case v1::FIELD_SOURCE_PHONE:
      return r.phone();
    case v1::FIELD_SOURCE_ETHNICITY:
      return r.ethnicity();
    case v1::FIELD_SOURCE_ATTRIBUTE:
      return std::string(Attribute(r, f.attribute));
    default:
      return "";
  }
}

}  // namespace

std::string_view LevelKindLabel(v1::LevelKind kind) {
  switch (kind) {
    case v1::LEVEL_ELSE:
      return "else";
    case v1::LEVEL_NAME_EXACT:
      return "exact";
    case v1::LEVEL_NAME_FOLDED_EXACT:
      return "folded_exact";
    case v1::LEVEL_NAME_REORDERED:
      return "reordered";
    case v1::LEVEL_NAME_MIDDLE_MISSING:
      return "middle_missing";
    case v1::LEVEL_NAME_FAMILY_VARIANT:
      return "family_variant";
    case v1::LEVEL_NAME_JARO_WINKLER:
      return "jaro_winkler";
    case v1::LEVEL_NAME_PHONETIC:
      return "phonetic";
    case v1::LEVEL_NAME_GIVEN_AGREES:
      return "given_agrees";
    case v1::LEVEL_DATE_EXACT:
      return "exact";
    case v1::LEVEL_DATE_YEAR_ONLY:
      return "year_only";
    case v1::LEVEL_DATE_YEAR_MONTH:
      return "year_month";
    case v1::LEVEL_DATE_DAY_MONTH_SWAP:
      return "day_month_swap";
    case v1::LEVEL_DATE_ONE_DIGIT:
      return "one_digit";
    case v1::LEVEL_DATE_YEAR_WITHIN:
      return "year_within";
    case v1::LEVEL_ID_EXACT:
      return "exact";
    case v1::LEVEL_ID_ONE_EDIT:
      return "one_edit";
    case v1::LEVEL_ADDR_SAME_COMMUNE:
      return "same_commune";
    case v1::LEVEL_ADDR_SAME_DISTRICT:
      return "same_district";
    case v1::LEVEL_ADDR_SAME_PROVINCE:
      return "same_province";
    case v1::LEVEL_EXACT:
      return "exact";
    case v1::LEVEL_JARO_WINKLER:
      return "jaro_winkler";
    case v1::LEVEL_EDIT_DISTANCE:
      return "edit_distance";
    default:
      return "unknown";
  }
}

absl::Status ValidateSpec(const v1::LinkageSpec& spec) {
  if (spec.fields_size() == 0) return absl::InvalidArgumentError("spec has no fields");
  std::set<std::string> names;
  for (const v1::FieldSpec& f : spec.fields()) {
    if (f.name().empty()) return absl::InvalidArgumentError("spec field with an empty name");
    if (!names.insert(f.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec field \"", f.name(), "\" appears twice"));
    }
    if (f.source() == v1::FIELD_SOURCE_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec field \"", f.name(), "\": source is unspecified"));
    }
    if (f.source() == v1::FIELD_SOURCE_ATTRIBUTE && f.attribute().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec field \"", f.name(), "\": attribute is empty"));
    }
    if (f.levels_size() == 0 || f.levels(f.levels_size() - 1).kind() != v1::LEVEL_ELSE) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec field \"", f.name(), "\": levels must end with LEVEL_ELSE"));
    }
    for (const v1::LevelSpec& l : f.levels()) {
      if (!KindFitsSource(l.kind(), f.source())) {
        return absl::InvalidArgumentError(absl::StrCat("spec field \"", f.name(), "\": level ",
                                                       v1::LevelKind_Name(l.kind()),
                                                       " does not apply to its source"));
      }
      bool needs_unit =
          l.kind() == v1::LEVEL_JARO_WINKLER || l.kind() == v1::LEVEL_NAME_JARO_WINKLER;
      if (needs_unit && (l.threshold() <= 0 || l.threshold() > 1)) {
        return absl::InvalidArgumentError(absl::StrCat("spec field \"", f.name(),
                                                       "\": Jaro-Winkler threshold ", l.threshold(),
                                                       " is not in (0, 1]"));
      }
      if (l.threshold() < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("spec field \"", f.name(), "\": negative threshold"));
      }
    }
  }
  std::set<std::string> rules;
  for (const v1::BlockingRule& r : spec.blocking_rules()) {
    if (r.name().empty() || r.name().find('\0') != std::string::npos ||
        r.name().find('|') != std::string::npos) {
      return absl::InvalidArgumentError("blocking rule with an empty or invalid name");
    }
    if (!rules.insert(r.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("blocking rule \"", r.name(), "\" appears twice"));
    }
    if (r.parts_size() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("blocking rule \"", r.name(), "\" has no parts"));
    }
  }
  if (spec.blocking_rules_size() == 0)
    return absl::InvalidArgumentError("spec has no blocking rules");
  return absl::OkStatus();
}

absl::Status ValidateModel(const v1::Model& model) {
  absl::Status st = ValidateSpec(model.spec());
  if (!st.ok()) return st;
  if (model.fields_size() != model.spec().fields_size()) {
    return absl::InvalidArgumentError(absl::StrCat("model has parameters for ", model.fields_size(),
                                                   " fields, spec has ",
                                                   model.spec().fields_size()));
  }
  for (int i = 0; i < model.fields_size(); ++i) {
    const v1::FieldParams& p = model.fields(i);
    const v1::FieldSpec& f = model.spec().fields(i);
    if (p.field() != f.name()) {
      return absl::InvalidArgumentError(
          absl::StrCat("model field ", i, " is \"", p.field(), "\", spec says \"", f.name(), "\""));
    }
    if (p.levels_size() != f.levels_size()) {
      return absl::InvalidArgumentError(absl::StrCat("model field \"", f.name(), "\" has ",
                                                     p.levels_size(), " levels, spec has ",
                                                     f.levels_size()));
    }
    for (const v1::LevelParams& l : p.levels()) {
      if (!(l.m() > 0 && l.m() <= 1 && l.u() > 0 && l.u() <= 1)) {
        return absl::InvalidArgumentError(absl::StrCat("model field \"", f.name(), "\" level \"",
                                                       l.label(), "\": m and u must be in (0, 1]"));
      }
    }
  }
  if (model.prior() < 0 || model.prior() >= 1)
    return absl::InvalidArgumentError("model prior must be in [0, 1)");
  const v1::DecisionPolicy& p = model.policy();
  if (!(p.review_probability() > 0 && p.review_probability() <= p.match_probability() &&
        p.match_probability() < 1)) {
    return absl::InvalidArgumentError(
        "policy needs 0 < review_probability <= match_probability < 1");
  }
  return absl::OkStatus();
}

const v1::Model& DefaultVietnameseModel() {
  static const v1::Model* model = [] {
    auto* m = new v1::Model();
    std::string text(data::k_vn_default_textproto);
    if (!google::protobuf::TextFormat::ParseFromString(text, m)) m->Clear();
    return m;
  }();
  return *model;
}

CompiledModel::CompiledModel(v1::Model model) : model_(std::move(model)) {}
CompiledModel::~CompiledModel() = default;
size_t CompiledModel::num_fields() const { return fields_.size(); }

absl::StatusOr<std::shared_ptr<const CompiledModel>> CompiledModel::Create(const v1::Model& model) {
  absl::Status st = ValidateModel(model);
  if (!st.ok()) return st;
  std::shared_ptr<CompiledModel> c(new CompiledModel(model));
  for (int i = 0; i < model.spec().fields_size(); ++i) {
    const v1::FieldSpec& fs = model.spec().fields(i);
    Field f{fs.name(), fs.source(), fs.attribute(), fs.term_frequency(), {}};
    for (int j = 0; j < fs.levels_size(); ++j) {
      const v1::LevelSpec& ls = fs.levels(j);
      const v1::LevelParams& lp = model.fields(i).levels(j);
      std::string label = ls.label().empty() ? std::string(LevelKindLabel(ls.kind())) : ls.label();
      bool agrees = ls.kind() == v1::LEVEL_NAME_EXACT || ls.kind() == v1::LEVEL_NAME_FOLDED_EXACT ||
                    ls.kind() == v1::LEVEL_EXACT;
      f.levels.push_back({ls.kind(), ls.threshold(), label, std::log2(lp.m() / lp.u()),
                          std::log2(lp.m()), std::log2(lp.u()), agrees});
    }
    c->fields_.push_back(std::move(f));
  }
  return std::shared_ptr<const CompiledModel>(std::move(c));
}

double CompiledModel::Compare(const v1::NormalizedRecord& q, const v1::NormalizedRecord& c,
                              FieldOutcome* out, const QueryTermFrequencies* tf) const {
  double total = 0;
  for (size_t i = 0; i < fields_.size(); ++i) {
    const Field& f = fields_[i];
    FieldOutcome& o = out[i];
    o = FieldOutcome{};
    if (IsNull(f, q, c)) continue;
    for (size_t j = 0; j < f.levels.size(); ++j) {
      const Field::Level& level = f.levels[j];
      if (LevelHolds(f, level, q, c)) {
        o.level = static_cast<int>(j);
        o.bits = level.bits;
        if (tf != nullptr && f.term_frequency && level.value_agrees && i < tf->log2_tf.size() &&
            !std::isnan(tf->log2_tf[i])) {
          // log2(m / tf) - log2(m / u) = log2(u) - log2(tf).
          o.tf_bits = std::clamp(level.log2_u - tf->log2_tf[i], kMinTfBits, kMaxTfBits);
          o.bits += o.tf_bits;
        }
        break;
      }
    }
    total += o.bits;
  }
  return total;
}

std::string CompiledModel::TermKey(size_t field, const v1::NormalizedRecord& r) const {
  if (field >= fields_.size() || !fields_[field].term_frequency) return "";
  const Field& f = fields_[field];
  std::string value;
  switch (f.source) {
    case v1::FIELD_SOURCE_FULL_NAME:
      value = absl::StrJoin(r.name().folded_tokens(), " ");
      break;
    case v1::FIELD_SOURCE_ATTRIBUTE:
      value = std::string(Attribute(r, f.attribute));
      break;
    case v1::FIELD_SOURCE_ETHNICITY:
      value = r.ethnicity();
      break;
    default:
      break;
  }
  if (value.empty()) return "";
  return absl::StrCat("t:", f.name, ":", value);
}

void CompiledModel::Explain(const v1::NormalizedRecord& q, const v1::NormalizedRecord& c,
                            const FieldOutcome* outcomes,
                            google::protobuf::RepeatedPtrField<v1::FieldContribution>* out,
                            bool values) const {
  const int first = out->size();
  ExplainLevels(outcomes, out);
  for (size_t i = 0; i < fields_.size(); ++i) {
    v1::FieldContribution* fc = out->Mutable(first + static_cast<int>(i));
    fc->set_tf_adjustment_bits(outcomes[i].tf_bits);
    if (!values) continue;
    fc->set_query_value(DisplayValue(fields_[i], q));
    fc->set_candidate_value(DisplayValue(fields_[i], c));
  }
}

void CompiledModel::ExplainLevels(
    const FieldOutcome* outcomes,
    google::protobuf::RepeatedPtrField<v1::FieldContribution>* out) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    const Field& f = fields_[i];
    v1::FieldContribution* fc = out->Add();
    fc->set_field(f.name);
    fc->set_level(outcomes[i].level == kNullLevel
                      ? "null"
                      : f.levels[static_cast<size_t>(outcomes[i].level)].label);
    fc->set_weight_bits(outcomes[i].bits);
  }
}

int CompiledModel::FieldIndex(v1::FieldSource source) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].source == source) return static_cast<int>(i);
  }
  return -1;
}

v1::LevelKind CompiledModel::LevelKindOf(size_t field, int level) const {
  if (level == kNullLevel || field >= fields_.size()) return v1::LEVEL_KIND_UNSPECIFIED;
  return fields_[field].levels[static_cast<size_t>(level)].kind;
}

double CompiledModel::PriorBits(int64_t population_size) const {
  double lambda = model_.prior();
  if (lambda <= 0) lambda = 1.0 / static_cast<double>(std::max<int64_t>(population_size, 2));
  return std::log2(lambda / (1 - lambda));
}

double ProbabilityFromBits(double bits) { return 1.0 / (1.0 + std::exp2(-bits)); }

double CompiledModel::Probability(double bits) const {
  double p = ProbabilityFromBits(bits);
  return model_.calibrated() ? ApplyCalibration(model_.calibration(), p) : p;
}

double ApplyCalibration(const v1::Calibration& c, double p) {
  const int n = std::min(c.raw_size(), c.calibrated_size());
  if (n == 0) return p;
  if (p <= c.raw(0)) return c.calibrated(0);
  if (p >= c.raw(n - 1)) return c.calibrated(n - 1);
  int hi =
      static_cast<int>(std::upper_bound(c.raw().begin(), c.raw().begin() + n, p) - c.raw().begin());
  int lo = hi - 1;
  double span = c.raw(hi) - c.raw(lo);
  double t = span > 0 ? (p - c.raw(lo)) / span : 0;
  return c.calibrated(lo) + t * (c.calibrated(hi) - c.calibrated(lo));
}

v1::Calibration FitIsotonic(std::vector<std::pair<double, bool>> rows, size_t max_points) {
  v1::Calibration c;
  if (rows.empty()) return c;
  std::sort(rows.begin(), rows.end());
  // Pool adjacent violators: blocks of (sum of raw, sum of correct, count)
  // whose means are non-decreasing.
  struct Block {
    double raw_sum, correct_sum;
    double count;
  };
  std::vector<Block> blocks;
  for (const auto& [raw, correct] : rows) {
    blocks.push_back({raw, correct ? 1.0 : 0.0, 1});
    while (blocks.size() > 1) {
      Block& b = blocks.back();
      Block& a = blocks[blocks.size() - 2];
      if (a.correct_sum / a.count <= b.correct_sum / b.count) break;
      a.raw_sum += b.raw_sum;
      a.correct_sum += b.correct_sum;
      a.count += b.count;
      blocks.pop_back();
    }
  }
  // At most max_points: consecutive blocks regrouped into groups of about
  // equal row counts (merging neighbours keeps the means monotone).
  if (blocks.size() > max_points) {
    const double per_group = static_cast<double>(rows.size()) / static_cast<double>(max_points);
    std::vector<Block> grouped;
    Block current{0, 0, 0};
    for (const Block& b : blocks) {
      current.raw_sum += b.raw_sum;
      current.correct_sum += b.correct_sum;
      current.count += b.count;
      if (current.count >= per_group) {
        grouped.push_back(current);
        current = {0, 0, 0};
      }
    }
    if (current.count > 0) grouped.push_back(current);
    blocks = std::move(grouped);
  }
  for (const Block& b : blocks) {
    c.add_raw(b.raw_sum / b.count);
    c.add_calibrated(b.correct_sum / b.count);
  }
  c.set_labelled_rows(static_cast<int64_t>(rows.size()));
  return c;
}

std::vector<BlockingKey> ComputeBlockingKeys(const v1::LinkageSpec& spec,
                                             const v1::NormalizedRecord& r) {
  std::vector<BlockingKey> keys;
  const v1::NormalizedName& name = r.name();
  for (int ri = 0; ri < spec.blocking_rules_size(); ++ri) {
    const v1::BlockingRule& rule = spec.blocking_rules(ri);
    std::vector<std::string> partial = {""};
    int attribute_part = 0;
    for (int pi = 0; pi < rule.parts_size(); ++pi) {
      std::vector<std::string> values;
      switch (rule.parts(pi)) {
        case v1::KEY_NATIONAL_ID:
          if (r.national_id().kind() == v1::ID_KIND_CCCD)
            values.push_back(r.national_id().digits());
          break;
        case v1::KEY_OLD_ID:
          if (r.old_id().kind() == v1::ID_KIND_CMND) values.push_back(r.old_id().digits());
          break;
        case v1::KEY_FAMILY_FOLDED:
          if (name.family_len() > 0) values.push_back(text::FoldedFamily(name));
          break;
        case v1::KEY_FAMILY_GROUP:
          if (name.family_len() > 0) values.push_back(name.family_group());
          break;
        case v1::KEY_GIVEN_FOLDED:
          if (name.folded_tokens_size() > 0) values.push_back(text::FoldedGiven(name));
          break;
        case v1::KEY_GIVEN_PHONETIC:
          if (name.phonetic_tokens_size() > 0)
            values.push_back(name.phonetic_tokens(name.phonetic_tokens_size() - 1));
          break;
        case v1::KEY_FULL_NAME_FOLDED:
          if (name.folded_tokens_size() > 0)
            values.push_back(absl::StrJoin(name.folded_tokens(), " "));
          break;
        case v1::KEY_FAMILY_PHONETIC:
          if (name.family_len() > 0) values.push_back(name.phonetic_tokens(0));
          break;
        case v1::KEY_BIRTH_YEAR:
          if (r.birth_date().year() != 0) values.push_back(absl::StrCat(r.birth_date().year()));
          break;
        case v1::KEY_BIRTH_DATE:
          if (domain::IsFullDate(r.birth_date())) {
            std::array<char, 8> buf;
            values.emplace_back(DateDigits(r.birth_date(), buf));
          }
          break;
        case v1::KEY_PHONETIC_SORTED: {
          std::vector<std::string> p(name.phonetic_tokens().begin(), name.phonetic_tokens().end());
          std::sort(p.begin(), p.end());
          if (!p.empty()) values.push_back(absl::StrJoin(p, " "));
          break;
        }
        case v1::KEY_COMMUNE_2025:
          values.assign(r.address().commune_codes_2025().begin(),
                        r.address().commune_codes_2025().end());
          break;
        case v1::KEY_PROVINCE_2025:
          if (!r.address().province_code_2025().empty())
            values.push_back(r.address().province_code_2025());
          break;
        case v1::KEY_ATTRIBUTE: {
          const std::string& attribute = rule.attributes_size() > attribute_part
                                             ? rule.attributes(attribute_part)
                                             : rule.attribute();
          ++attribute_part;
          std::string_view v = Attribute(r, attribute);
          if (rule.attribute_prefix() > 0)
            v = v.substr(0, static_cast<size_t>(rule.attribute_prefix()));
          if (!v.empty()) values.emplace_back(v);
          break;
        }
        default:
          break;
      }
      std::vector<std::string> next;
      for (const std::string& p : partial) {
        for (const std::string& v : values) next.push_back(pi == 0 ? v : absl::StrCat(p, "|", v));
      }
      partial = std::move(next);
      if (partial.empty()) break;
    }
    for (std::string& k : partial) keys.push_back({ri, std::move(k)});
  }
  return keys;
}

}  // namespace linkage::model
