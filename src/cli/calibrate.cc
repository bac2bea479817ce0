// linkctl calibrate: fit probabilities to observed match rates on labelled
// rows (isotonic regression on the raw probability) and install the
// calibrated model; optionally choose the MATCH threshold from a target
// wrong-match rate.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>

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
};

absl::Status Calibrate(CommandContext& ctx, const CalibrateOptions& o) {
  // Labelled rows: the raw probability of each row's best candidate (from
  // its match_weight, so an already calibrated model is not calibrated
  // twice) and whether that candidate was the person.
  LINKD_ASSIGN_OR_RETURN(auto results, ReadCsvTable(o.results));
  LINKD_ASSIGN_OR_RETURN(auto truth_rows, ReadCsvTable(o.truth));
  if (results.empty() || truth_rows.empty())
    return absl::InvalidArgumentError("no rows in " + o.results + " or " + o.truth);
  // Labels: record_id,truth_record_id (generator truth or clerical labels),
  // or a review file from `linkctl review export` with officer decisions.
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
  std::vector<std::pair<double, bool>> labelled;
  for (auto& r : results) {
    if (r["best_record_id"].empty() || !truth.count(r["record_id"])) continue;
    double raw = model::ProbabilityFromBits(std::stod(r["match_weight"]));
    labelled.emplace_back(raw, r["best_record_id"] == truth[r["record_id"]]);
  }
  if (labelled.size() < 100)
    return absl::FailedPreconditionError("fewer than 100 labelled rows: too few to calibrate on");
  v1::Calibration cal = model::FitIsotonic(labelled);
  auto ece = [&labelled](const std::function<double(double)>& f) {
    double sum_p[10] = {}, sum_y[10] = {};
    int64_t n[10] = {};
    for (const auto& [raw, y] : labelled) {
      double p = f(raw);
      int b = std::min(9, static_cast<int>(p * 10));
      sum_p[b] += p;
      sum_y[b] += y;
      ++n[b];
    }
    double e = 0;
    for (int b = 0; b < 10; ++b) {
      if (n[b])
        e += static_cast<double>(n[b]) / static_cast<double>(labelled.size()) *
             std::abs(sum_p[b] - sum_y[b]) / static_cast<double>(n[b]);
    }
    return e;
  };
  cal.set_ece_before(ece([](double p) { return p; }));
  cal.set_ece_after(ece([&cal](double p) { return model::ApplyCalibration(cal, p); }));
  cal.set_fitted_on(absl::StrCat(o.results, " + ", o.truth));
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
    std::vector<std::pair<double, bool>> calibrated;
    for (const auto& [raw, y] : labelled)
      calibrated.emplace_back(model::ApplyCalibration(cal, raw), y);
    std::sort(calibrated.begin(), calibrated.end(), std::greater<>());
    const double allowed = o.max_false_match * static_cast<double>(results.size());
    double threshold = 0.999999;
    int64_t wrong = 0;
    for (size_t i = 0; i < calibrated.size(); ++i) {
      wrong += !calibrated[i].second;
      if (static_cast<double>(wrong) > allowed) break;
      if (i + 1 == calibrated.size() || calibrated[i + 1].first < calibrated[i].first)
        threshold = calibrated[i].first;
    }
    threshold = std::max(threshold, m.policy().review_probability());
    if (static_cast<double>(results.size()) * o.max_false_match < 10) {
      std::printf(
          "warning: %s rows can show a wrong-match rate of %.2g only roughly (want >= %s rows): "
          "the "
          "threshold sits just above the highest-scoring wrong row\n",
          FormatCount(static_cast<int64_t>(results.size())).c_str(), o.max_false_match,
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
  cmd->add_option("--results", o->results, "verify output made with the model in force")
      ->required();
  cmd->add_option("--truth", o->truth, "Labels: record_id,truth_record_id")->required();
  cmd->add_option(
      "--max-false-match", o->max_false_match,
      "Choose the MATCH threshold so wrong matches per record stay below this, e.g. 1e-4");
  cmd->add_flag("--dry-run", o->dry_run, "Report without installing");
  ctx.OnRun(cmd, [&ctx, o] { return Calibrate(ctx, *o); });
}

}  // namespace

LINKCTL_COMMAND(150, RegisterCalibrate);

}  // namespace linkage::cli
