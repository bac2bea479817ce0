// linkctl calibrate: fit probabilities to observed match rates on labelled
// rows (isotonic regression on the raw probability) and install the
// calibrated model; optionally choose the MATCH threshold from a target
// wrong-match rate.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "command.h"
#include "linkage/model.h"
#include "review.h"

namespace linkage::cli {
namespace {

struct CalibrateOptions {
  std::string results;         // verify output with the model to calibrate
  std::string truth;           // generator truth or clerical labels (record_id,truth_record_id)
  double max_false_match = 0;  // > 0: choose the MATCH threshold from it
  bool dry_run = false;
  std::string from_review;  // Labels from the review desk's decisions on this list.
  int min_labels = 100;
};

// Rows labelled for calibration: the raw probability of each row's best
// candidate (from its match_weight, so an already calibrated model is not
// calibrated twice), whether that candidate was the person, and how many
// rows of the list each stands for.
struct Labelled {
  std::vector<std::pair<double, bool>> rows;
  std::vector<double> weights;
  double population = 0;  // Rows of the list the labels describe.
  std::string source;     // For the model's fitted_on.
};

// From a verify output and labels (generator truth, clerical labels, or a
// review file from `linkctl review export` with officer decisions).
absl::StatusOr<Labelled> FromFiles(const CalibrateOptions& o) {
  if (o.results.empty() || o.truth.empty())
    return absl::InvalidArgumentError("give --results and --truth, or --from-review DATASET");
  LINKD_ASSIGN_OR_RETURN(auto results, ReadCsvTable(o.results));
  LINKD_ASSIGN_OR_RETURN(auto truth_rows, ReadCsvTable(o.truth));
  if (results.empty() || truth_rows.empty())
    return absl::InvalidArgumentError("no rows in " + o.results + " or " + o.truth);
  std::map<std::string, std::string> truth;
  const bool review_file = truth_rows.front().count("officer_decision") > 0;
  for (auto& t : truth_rows) {
    if (!review_file) {
      truth[t["record_id"]] = t["truth_record_id"];
      continue;
    }
    LINKD_ASSIGN_OR_RETURN(const std::optional<std::string> label, ReviewLabel(t));
    if (label.has_value()) truth[t["record_id"]] = *label;
  }
  Labelled out;
  for (auto& r : results) {
    if (r["best_record_id"].empty() || !truth.count(r["record_id"])) continue;
    double raw = model::ProbabilityFromBits(std::stod(r["match_weight"]));
    out.rows.emplace_back(raw, r["best_record_id"] == truth[r["record_id"]]);
    out.weights.push_back(1);
  }
  out.population = static_cast<double>(results.size());
  out.source = absl::StrCat(o.results, " + ", o.truth);
  return out;
}

// From the review desk's decisions (SAME / DIFFERENT on REVIEW items and on
// the sampled MATCH / NO_MATCH items, each weighted by its sampling rate).
absl::StatusOr<Labelled> FromReview(CommandContext& ctx, const CalibrateOptions& o) {
  v1::GetReviewLabelsRequest req;
  req.set_dataset(o.from_review);
  LINKD_ASSIGN_OR_RETURN(const v1::GetReviewLabelsResponse resp,
                         Call(ctx, "GetReviewLabels", &AdminStub::GetReviewLabels, req));
  // Raw weights of another model (trained since) are on another scale.
  LINKD_ASSIGN_OR_RETURN(const v1::Model in_force, FetchModel(ctx));
  auto base = [](const std::string& v) { return v.substr(0, v.find("+cal")); };
  Labelled out;
  int64_t band = 0, samples = 0, other_model = 0;
  for (const v1::ReviewLabel& l : resp.labels()) {
    if (base(l.model_version()) != base(in_force.version())) {
      ++other_model;
      continue;
    }
    out.rows.emplace_back(model::ProbabilityFromBits(l.match_weight()), l.same());
    out.weights.push_back(l.sample_weight() > 0 ? l.sample_weight() : 1);
    out.population += out.weights.back();
    (l.kind() == v1::REVIEW_BAND ? band : samples) += 1;
  }
  std::printf("review desk %s: %s decisions (%s on REVIEW items, %s on sampled MATCH/NO_MATCH)\n",
              o.from_review.c_str(), FormatCount(band + samples).c_str(), FormatCount(band).c_str(),
              FormatCount(samples).c_str());
  if (other_model > 0) {
    std::printf("left out: %s decisions on items scored by another model than %s\n",
                FormatCount(other_model).c_str(), in_force.version().c_str());
  }
  if (samples == 0) {
    std::printf(
        "warning: no sampled MATCH/NO_MATCH item is decided: the fit sees only the REVIEW band's "
        "range (verify with --review-sample, decide some samples)\n");
  }
  out.source = absl::StrCat("review:", o.from_review, " (", band + samples, " decisions)");
  return out;
}

absl::Status Calibrate(CommandContext& ctx, const CalibrateOptions& o) {
  absl::StatusOr<Labelled> got = o.from_review.empty() ? FromFiles(o) : FromReview(ctx, o);
  LINKD_RETURN_IF_ERROR(got.status());
  const std::vector<std::pair<double, bool>>& labelled = got->rows;
  if (labelled.size() < static_cast<size_t>(o.min_labels)) {
    return absl::FailedPreconditionError(absl::StrCat("only ", labelled.size(),
                                                      " labelled rows, fewer than --min-labels ",
                                                      o.min_labels, ": too few to calibrate on"));
  }
  v1::Calibration cal = model::FitIsotonic(labelled, 200, &got->weights);
  cal.set_ece_before(model::CalibrationError(labelled, nullptr, &got->weights));
  cal.set_ece_after(model::CalibrationError(labelled, &cal, &got->weights));
  cal.set_fitted_on(got->source);
  std::printf(
      "calibration fitted on %s labelled rows (%d points): ECE %.4f before, %.4f after (on the "
      "same rows)\n",
      FormatCount(static_cast<int64_t>(labelled.size())).c_str(), cal.raw_size(), cal.ece_before(),
      cal.ece_after());

  LINKD_ASSIGN_OR_RETURN(v1::Model m, FetchModel(ctx));
  *m.mutable_calibration() = cal;
  m.set_calibrated(true);
  std::string base = m.version().substr(0, m.version().find("+cal"));
  m.set_version(base + "+cal");
  if (o.max_false_match > 0) {
    // The lowest MATCH threshold at which wrong best candidates above it
    // stay within the target share of all rows.
    // (calibrated p, correct, rows it stands for), highest p first.
    std::vector<std::tuple<double, bool, double>> calibrated;
    for (size_t i = 0; i < labelled.size(); ++i) {
      calibrated.emplace_back(model::ApplyCalibration(cal, labelled[i].first), labelled[i].second,
                              got->weights[i]);
    }
    std::sort(calibrated.begin(), calibrated.end(), std::greater<>());
    const double allowed = o.max_false_match * got->population;
    double threshold = 0.999999;
    double wrong = 0;
    for (size_t i = 0; i < calibrated.size(); ++i) {
      if (!std::get<1>(calibrated[i])) wrong += std::get<2>(calibrated[i]);
      if (wrong > allowed) break;
      if (i + 1 == calibrated.size() || std::get<0>(calibrated[i + 1]) < std::get<0>(calibrated[i]))
        threshold = std::get<0>(calibrated[i]);
    }
    threshold = std::max(threshold, m.policy().review_probability());
    if (got->population * o.max_false_match < 10) {
      std::printf(
          "warning: %s rows can show a wrong-match rate of %.2g only roughly (want >= %s rows): "
          "the "
          "threshold sits just above the highest-scoring wrong row\n",
          FormatCount(static_cast<int64_t>(got->population)).c_str(), o.max_false_match,
          FormatCount(static_cast<int64_t>(10 / o.max_false_match)).c_str());
    }
    std::printf("MATCH threshold for at most %.2g wrong matches per record: p >= %.6f (was %.6f)\n",
                o.max_false_match, threshold, m.policy().match_probability());
    m.mutable_policy()->set_match_probability(threshold);
  }
  if (o.dry_run) {
    std::printf("dry run: not installed\n");
    return absl::OkStatus();
  }
  v1::SetModelRequest req;
  *req.mutable_model() = m;
  LINKD_ASSIGN_OR_RETURN(const v1::SetModelResponse resp,
                         Call(ctx, "SetModel", &AdminStub::SetModel, req));
  std::printf("installed %s (was %s)\n", m.version().c_str(), resp.previous_version().c_str());
  return absl::OkStatus();
}

void RegisterCalibrate(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<CalibrateOptions>();
  CLI::App* cmd =
      app.add_subcommand("calibrate", "Fit probabilities to observed match rates on labelled rows");
  CLI::Option* results =
      cmd->add_option("--results", o->results, "verify output made with the model in force");
  CLI::Option* truth = cmd->add_option("--truth", o->truth, "Labels: record_id,truth_record_id");
  CLI::Option* review = cmd->add_option(
      "--from-review", o->from_review,
      "Labels from the review desk's decisions on this list (verify --review DATASET)");
  review->excludes(results)->excludes(truth);
  cmd->add_option("--min-labels", o->min_labels, "Labelled rows needed to fit")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000000));
  cmd->add_option(
      "--max-false-match", o->max_false_match,
      "Choose the MATCH threshold so wrong matches per record stay below this, e.g. 1e-4");
  cmd->add_flag("--dry-run", o->dry_run, "Report without installing");
  ctx.OnRun(cmd, [&ctx, o] { return Calibrate(ctx, *o); });
}

}  // namespace

LINKCTL_COMMAND(150, RegisterCalibrate);

}  // namespace linkage::cli
