// Quality metrics for linkage and deduplication results against known truth:
// precision, recall and F1 of MATCH decisions, wrong-person matches per
// 10,000 records, top-1 accuracy, review rate, expected calibration error
// and a reliability diagram.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace linkage::eval {

// One result row (the verify output format, DESIGN.md §6).
struct ResultRow {
  std::string record_id;
  std::string decision;  // MATCH, REVIEW, NO_MATCH
  double probability = 0;
  std::string best_record_id;
  std::string second_record_id;
  double second_probability = 0;
};

// Truth for a linkage: query record id -> the register record it is, or ""
// for someone absent from the register. `tags` are optional labels per row
// (e.g. the generator's applied errors) for per-tag recall.
struct LinkTruth {
  std::map<std::string, std::string> truth;
  std::map<std::string, std::vector<std::string>> tags;
};

struct CalibrationBin {
  double lower = 0, upper = 0;
  int64_t count = 0;
  double mean_probability = 0;  // Confidence.
  double accuracy = 0;          // Share where best_record_id was right.
};

struct LinkMetrics {
  int64_t rows = 0;
  int64_t present = 0;        // Rows whose person is in the register.
  int64_t matches = 0;        // MATCH decisions.
  int64_t true_matches = 0;   // ... naming the right person.
  int64_t wrong_matches = 0;  // ... naming someone else (incl. absent people matched).
  int64_t reviews = 0;
  int64_t top1_correct = 0;  // best_record_id right, whatever the decision.
  double precision = 0, recall = 0, f1 = 0;
  double wrong_per_10k = 0;
  double top1_accuracy = 0;  // Over present rows.
  double review_rate = 0;
  double ece = 0;  // Expected calibration error, 10 bins.
  double brier = 0;
  std::vector<CalibrationBin> bins;
  // Per tag: (present rows with the tag, of which MATCHed correctly).
  std::map<std::string, std::pair<int64_t, int64_t>> recall_by_tag;
  std::vector<std::string> missing_truth;  // Result rows absent from the truth.
};

LinkMetrics EvaluateLink(const std::vector<ResultRow>& rows, const LinkTruth& truth);

// Deduplication, pairwise: a row's best and second candidates whose
// probability is at least `threshold` are edges (a person may have several
// copies, so the one-to-one MATCH decision is not used); the edges'
// connected components are the predicted clusters, and every pair inside a
// cluster is a predicted duplicate pair, compared with the true pairs.
struct PairMetrics {
  int64_t predicted_pairs = 0, true_pairs = 0, correct_pairs = 0;
  double precision = 0, recall = 0, f1 = 0;
  int64_t clusters = 0;  // Predicted clusters of 2 or more.
};

using Pair = std::pair<std::string, std::string>;  // Ordered: first < second.
Pair MakePair(const std::string& a, const std::string& b);

PairMetrics EvaluatePairs(const std::vector<ResultRow>& rows, const std::set<Pair>& truth_pairs,
                          double threshold);

// Pairwise metrics of given clusters (e.g. `linkctl dedupe` output): every
// pair inside a cluster is a predicted pair; `counts`, if set, says which
// pairs are in scope (across two datasets: only pairs spanning both).
PairMetrics EvaluateClusters(
    const std::vector<std::vector<std::string>>& clusters, const std::set<Pair>& truth_pairs,
    const std::function<bool(const std::string&, const std::string&)>& counts);

// A reliability diagram as a self-contained SVG document.
std::string ReliabilitySvg(const std::vector<CalibrationBin>& bins, const std::string& title);

}  // namespace linkage::eval
