// Field comparison levels and Fellegi-Sunter scoring.
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "levels.h"
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

using internal::AddressLevel;
using internal::Attribute;
using internal::DateLevel;
using internal::IdLevel;
using internal::NameLevel;
using internal::StringLevel;

std::string_view SexValue(v1::Sex s) {
  return s == v1::SEX_MALE ? "m" : s == v1::SEX_FEMALE ? "f" : "";
}

const std::string& IdDigits(const v1::NormalizedId& id) { return id.digits(); }

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
    case v1::LEVEL_NAME_TYPO:
      return "typo";
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

absl::Status ValidateCalibration(const v1::Calibration& c, const v1::DecisionPolicy& policy) {
  if (c.raw_size() == 0 || c.raw_size() != c.calibrated_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("calibration has ", c.raw_size(), " raw and ", c.calibrated_size(),
                     " calibrated points; it needs the same number, at least one"));
  }
  for (int i = 0; i < c.raw_size(); ++i) {
    for (const auto& [name, value] :
         {std::pair<const char*, double>{"raw", c.raw(i)}, {"calibrated", c.calibrated(i)}}) {
      if (!(value >= 0 && value <= 1)) {
        return absl::InvalidArgumentError(
            absl::StrCat("calibration.", name, "[", i, "] is ", value, "; it must be in [0, 1]"));
      }
    }
    if (i == 0) continue;
    if (!(c.raw(i) > c.raw(i - 1))) {
      return absl::InvalidArgumentError(absl::StrCat("calibration.raw[", i, "] is ", c.raw(i),
                                                     ", not above raw[", i - 1, "] (", c.raw(i - 1),
                                                     "): raw must ascend"));
    }
    if (c.calibrated(i) < c.calibrated(i - 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "calibration.calibrated[", i, "] is ", c.calibrated(i), ", below calibrated[", i - 1,
          "] (", c.calibrated(i - 1), "): a calibration must be monotone"));
    }
  }
  // The map is flat below its first point: a first point at or above the
  // match threshold would make any candidate, however unlike, a MATCH.
  if (c.calibrated(0) >= policy.match_probability()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "calibration.calibrated[0] is ", c.calibrated(0), ", at or above match_probability (",
        policy.match_probability(), "): every candidate would be a match"));
  }
  return absl::OkStatus();
}

absl::Status ValidateModel(const v1::Model& model) {
  LINKD_RETURN_IF_ERROR(ValidateSpec(model.spec()));
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
  if (model.calibrated()) LINKD_RETURN_IF_ERROR(ValidateCalibration(model.calibration(), p));
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
  LINKD_RETURN_IF_ERROR(ValidateModel(model));
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

}  // namespace linkage::model
