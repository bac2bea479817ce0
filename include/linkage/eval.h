// Quality metrics for linkage and deduplication results against known truth:
// precision, recall and F1 of MATCH decisions, wrong-person matches per
// 10,000 records, top-1 accuracy, review rate, expected calibration error
// and a reliability diagram; recall of MATCH and of retrieval by applied
// error and by pair of applied errors.
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

// Every candidate returned for a row (e.g. all of a Match call's answer),
// by the row's record id.
using Candidates = std::map<std::string, std::set<std::string>>;

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

// The rows (in the register) that carry a tag or a pair of tags.
struct TagRecall {
  int64_t rows = 0;
  int64_t matched = 0;    // MATCHed to the right person.
  int64_t retrieved = 0;  // The right person among what was returned.
  double match_recall() const;
  double retrieval_recall() const;
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
  // The true person retrieved: among the row's candidates (when given) or
  // its best or second; over present rows.
  int64_t retrieved = 0;
  double retrieval_recall = 0;
  int64_t rows_with_candidates = 0;  // Rows that came with a candidate list.
  // Per tag, and per unordered pair of distinct tags on one row (the
  // generator's applied errors): present rows only.
  std::map<std::string, TagRecall> by_tag;
  std::map<std::pair<std::string, std::string>, TagRecall> by_pair;  // first < second.
  std::vector<std::string> missing_truth;  // Result rows absent from the truth.
};

// `candidates`, if set, holds every candidate returned per row, so that
// retrieval is blocking recall; without it a row's best and second stand
// for what was returned.
LinkMetrics EvaluateLink(const std::vector<ResultRow>& rows, const LinkTruth& truth,
                         const Candidates* candidates = nullptr);

struct RecallTableOptions {
  size_t max_pairs = 20;       // Pairs listed in each of the two lists; 0: all.
  int64_t min_pair_rows = 20;  // Pairs on fewer rows are left out: too few to tell.
};

// The recall table by applied error, as `linkctl eval` prints it: a line
// per tag (rows, MATCH recall, retrieval recall), then the pairs of tags
// with at least min_pair_rows rows, lowest MATCH recall first, and again
// lowest retrieval recall first (ties: more rows first). Empty when no row
// has a tag.
std::string RecallByErrorTable(const LinkMetrics& m, const RecallTableOptions& options = {});

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
