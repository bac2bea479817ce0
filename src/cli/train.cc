#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "commands.h"
#include "linkage/csv.h"
#include "linkage/eval.h"
#include "linkage/model.h"
#include "linkage/v1/service.grpc.pb.h"

namespace linkage::cli {
namespace {

void PrintParams(const v1::Model& before, const v1::Model& after) {
  for (int f = 0; f < after.fields_size(); ++f) {
    std::printf("\n%-20s %9s %9s %8s   (before: m, u, bits)\n", after.fields(f).field().c_str(),
                "m", "u", "bits");
    for (int l = 0; l < after.fields(f).levels_size(); ++l) {
      const auto& a = after.fields(f).levels(l);
      const auto& b = before.fields(f).levels(l);
      std::printf("  %-18s %9.4g %9.3g %+8.2f   (%.4g, %.3g, %+.2f)\n", a.label().c_str(), a.m(),
                  a.u(), std::log2(a.m() / a.u()), b.m(), b.u(), std::log2(b.m() / b.u()));
    }
  }
}

}  // namespace

int RunTrain(const GlobalOptions& global, const TrainCommandOptions& o) {
  std::optional<v1::Model> before = FetchModel(global);
  if (!before) return kFailure;
  auto stub = v1::AdminService::NewStub(Connect(global));
  v1::TrainModelRequest req;
  req.set_dataset(o.dataset);
  req.set_link_dataset(o.link);
  req.set_max_queries(o.queries);
  req.set_u_pairs(o.u_pairs);
  req.set_seed(o.seed);
  req.set_dry_run(o.dry_run);
  v1::TrainModelResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(ctx, std::max(global.timeout_seconds, 3600.0));
  grpc::Status st = stub->TrainModel(&ctx, req, &resp);
  if (!st.ok()) return FailRpc("TrainModel", st);
  std::printf(
      "trained %s on %s: u from %s random pairs; m by EM on %s blocked pairs of %s records "
      "(at most %d iterations, %s)\n",
      resp.model().version().c_str(),
      o.link.empty() ? ("\"" + o.dataset + "\" against itself").c_str()
                     : ("\"" + o.link + "\" against \"" + o.dataset + "\"").c_str(),
      FormatCount(resp.u_pairs()).c_str(), FormatCount(resp.m_pairs()).c_str(),
      FormatCount(resp.queries()).c_str(), resp.iterations(),
      resp.converged() ? "converged" : "NOT converged");
  for (const auto& s : resp.sessions()) std::printf("  %s\n", s.c_str());
  std::printf("estimated share of records whose person is there: %.4f (prior %.3g per pair)\n",
              resp.match_share(), resp.model().prior());
  PrintParams(*before, resp.model());
  if (resp.installed()) {
    std::printf("\ninstalled (was %s); probabilities are uncalibrated until `linkctl calibrate`\n",
                resp.previous_version().c_str());
  } else {
    std::printf("\ndry run: not installed\n");
  }
  if (!o.output.empty()) {
    std::ofstream(o.output, std::ios::trunc) << ToJson(resp.model()) << "\n";
    std::printf("written to %s\n", o.output.c_str());
  }
  return kOk;
}

int RunCalibrate(const GlobalOptions& global, const CalibrateOptions& o) {
  // Labelled rows: the raw probability of each row's best candidate (from
  // its match_weight, so an already calibrated model is not calibrated
  // twice) and whether that candidate was the person.
  auto results_or = ReadCsvTable(o.results);
  if (!results_or.ok()) return Fail(std::string(results_or.status().message()));
  auto truth_or = ReadCsvTable(o.truth);
  if (!truth_or.ok()) return Fail(std::string(truth_or.status().message()));
  auto& results = *results_or;
  auto& truth_rows = *truth_or;
  if (results.empty() || truth_rows.empty())
    return Fail("no rows in " + o.results + " or " + o.truth);
  // Labels: record_id,truth_record_id (generator truth or clerical labels),
  // or a review file from `linkctl review export` with officer decisions.
  std::map<std::string, std::string> truth;
  const bool review_file = truth_rows.front().count("officer_decision") > 0;
  for (auto& t : truth_rows) {
    if (!review_file) {
      truth[t["record_id"]] = t["truth_record_id"];
      continue;
    }
    auto label = ReviewLabel(t);
    if (!label.ok()) return Fail(std::string(label.status().message()));
    if (label->has_value()) truth[t["record_id"]] = **label;
  }
  std::vector<std::pair<double, bool>> labelled;
  for (auto& r : results) {
    if (r["best_record_id"].empty() || !truth.count(r["record_id"])) continue;
    double raw = model::ProbabilityFromBits(std::stod(r["match_weight"]));
    labelled.emplace_back(raw, r["best_record_id"] == truth[r["record_id"]]);
  }
  if (labelled.size() < 100) return Fail("fewer than 100 labelled rows: too few to calibrate on");
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

  std::optional<v1::Model> current = FetchModel(global);
  if (!current) return kFailure;
  auto stub = v1::AdminService::NewStub(Connect(global));
  v1::Model m = *current;
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
    return kOk;
  }
  v1::SetModelRequest req;
  *req.mutable_model() = m;
  v1::SetModelResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(ctx, global.timeout_seconds);
  grpc::Status st = stub->SetModel(&ctx, req, &resp);
  if (!st.ok()) return FailRpc("SetModel", st);
  std::printf("installed %s (was %s)\n", m.version().c_str(), resp.previous_version().c_str());
  return kOk;
}

}  // namespace linkage::cli
