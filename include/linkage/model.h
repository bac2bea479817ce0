// The scoring model: a linkage spec (which fields, compared how, blocked how)
// with Fellegi-Sunter parameters, compiled for fast pair comparison.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "linkage/v1/match.pb.h"
#include "linkage/v1/record.pb.h"
#include "linkage/v1/spec.pb.h"

namespace linkage::model {

// Checks a spec: unique non-empty field and rule names, every field has
// levels ending in LEVEL_ELSE, levels fit the field's source, thresholds in
// range, every blocking rule has parts. Errors name the field or rule.
absl::Status ValidateSpec(const v1::LinkageSpec& spec);

// Checks a model: a valid spec, one FieldParams per field with one m/u per
// level, m and u in (0, 1], prior in [0, 1), policy thresholds ordered, and,
// when calibrated, a valid calibration (ValidateCalibration). Every model
// installed (SetModel, training, calibration, a model file) passes here.
absl::Status ValidateModel(const v1::Model& model);

// Checks a calibration map against the policy it serves: as many raw as
// calibrated points (at least one), all in [0, 1], raw strictly ascending,
// calibrated non-decreasing (monotone), and the first calibrated point below
// policy.match_probability (the map is flat below its first point, so a
// higher one would make every candidate a MATCH). Errors name the point
// ("calibration.calibrated[2] ...").
absl::Status ValidateCalibration(const v1::Calibration& calibration,
                                 const v1::DecisionPolicy& policy);

// The Vietnamese profile shipped with linkd (data/models/vn_default.textproto):
// full name, date of birth, sex, CCCD, CMND, address, phone; hand-set m/u
// until `linkctl train` fits them to the data.
const v1::Model& DefaultVietnameseModel();

// Parses protobuf text format; the error names the line and column.
absl::Status ParseTextFormat(const std::string& text, google::protobuf::Message* message);

// Reads a model file: JSON if the name ends in .json, else text format.
// Errors name the file and the line. The model is not validated here.
absl::StatusOr<v1::Model> LoadModelFile(const std::string& path);

// Readable label of a level kind: "exact", "folded_exact", "jaro_winkler", ...
std::string_view LevelKindLabel(v1::LevelKind kind);

// Outcome of one field for one pair: the level index in the field's spec,
// or kNullLevel when either side lacks the value.
inline constexpr int kNullLevel = -1;
struct FieldOutcome {
  int level = kNullLevel;
  double bits = 0.0;     // Including tf_bits.
  double tf_bits = 0.0;  // Term-frequency adjustment.
};

// Term-frequency information of one query, per field of the model: log2 of
// the share of the searched dataset holding the query's value, or NaN for
// fields without term-frequency adjustment (or without a value).
struct QueryTermFrequencies {
  std::vector<double> log2_tf;
};

// The bounds of a term-frequency adjustment, in bits: a very rare value can
// add at most kMaxTfBits to an agreement, a very common one take away at
// most -kMinTfBits.
inline constexpr double kMaxTfBits = 4.0;
inline constexpr double kMinTfBits = -6.0;

// Immutable and thread-safe once created. Compare() does not allocate.
class CompiledModel {
 public:
  static absl::StatusOr<std::shared_ptr<const CompiledModel>> Create(const v1::Model& model);

  const v1::Model& proto() const { return model_; }
  size_t num_fields() const;

  // Compares every field; `out` must have num_fields() entries. Returns the
  // sum of the fields' weights in bits (the prior not included). With `tf`,
  // an agreement on a field with term_frequency weighs log2(m / tf) instead
  // of log2(m / u), as in Splink: agreeing on a common name is weaker
  // evidence than agreeing on a rare one (bounded by kMinTfBits..kMaxTfBits).
  double Compare(const v1::NormalizedRecord& query, const v1::NormalizedRecord& candidate,
                 FieldOutcome* out, const QueryTermFrequencies* tf = nullptr) const;

  // The term-frequency counter key of a record's value for field `i`, or ""
  // if the field has no term-frequency adjustment or the record no value.
  std::string TermKey(size_t field, const v1::NormalizedRecord& record) const;

  // Human-readable per-field contributions for outcomes from Compare();
  // without `values`, only field, level and weights (no display values).
  void Explain(const v1::NormalizedRecord& query, const v1::NormalizedRecord& candidate,
               const FieldOutcome* outcomes,
               google::protobuf::RepeatedPtrField<v1::FieldContribution>* out,
               bool values = true) const;
  // Field, level and weights alone, from the outcomes.
  void ExplainLevels(const FieldOutcome* outcomes,
                     google::protobuf::RepeatedPtrField<v1::FieldContribution>* out) const;

  // The probability stated for a weight: 1 / (1 + 2^-bits), passed through
  // the model's calibration map when it has one.
  double Probability(double bits) const;

  // Index of the field with this source, or -1.
  int FieldIndex(v1::FieldSource source) const;
  // The level kind of a field's level index (LEVEL_KIND_UNSPECIFIED for null).
  v1::LevelKind LevelKindOf(size_t field, int level) const;
  // Log2 of the prior odds lambda / (1 - lambda) for a candidate pair. When
  // the model's prior is 0 ("auto") it is 1 / population_size.
  double PriorBits(int64_t population_size) const;

  struct Field;  // Defined in scoring.cc.
  ~CompiledModel();

 private:
  explicit CompiledModel(v1::Model model);
  v1::Model model_;
  std::vector<Field> fields_;
};

// Blocking keys of a record under a spec: one entry per rule and key value.
// Records lacking a part get no key for that rule.
struct BlockingKey {
  int rule = 0;     // Index into spec.blocking_rules.
  std::string key;  // Parts joined with '|'.
};
std::vector<BlockingKey> ComputeBlockingKeys(const v1::LinkageSpec& spec,
                                             const v1::NormalizedRecord& record);

// Probability from log2 odds.
double ProbabilityFromBits(double bits);

// Piecewise-linear interpolation through a calibration's points (flat
// beyond the ends); `p` itself when the calibration has no points.
double ApplyCalibration(const v1::Calibration& calibration, double p);

// Fits a calibration by isotonic regression (pool adjacent violators) of
// `correct` on `raw` probabilities, kept to at most `max_points` points.
// `weights` (one per row, else 1 each) say how many rows each stands for,
// e.g. the inverse of the rate a row was sampled at.
v1::Calibration FitIsotonic(std::vector<std::pair<double, bool>> raw_and_correct,
                            size_t max_points = 200, const std::vector<double>* weights = nullptr);

// Expected calibration error of `calibration` (none: the raw
// probabilities) on labelled rows: over 10 equal-width bins of the
// probability told, the share-weighted mean of |mean probability -
// observed rate|. `weights` (one per row, else 1 each) say how many rows
// each stands for, e.g. the inverse of a sampling rate. 0 for no rows.
double CalibrationError(const std::vector<std::pair<double, bool>>& raw_and_correct,
                        const v1::Calibration* calibration,
                        const std::vector<double>* weights = nullptr);

}  // namespace linkage::model
