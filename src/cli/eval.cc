// linkctl eval: precision, recall, F1, wrong matches and calibration of a
// verify result (or a dedupe clusters file) against the generator's truth,
// and with --input the blocking recall, measured through the server.
#include "linkage/eval.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "bulk_match.h"
#include "command.h"
#include "linkage/csv.h"
#include "person_reader.h"

namespace linkage::cli {
namespace {

struct EvalOptions {
  std::string results;  // verify output
  std::string truth;    // generator truth, or true pairs (rec_id_a, rec_id_b)
  std::string mode = "link";
  std::string svg;    // reliability diagram to write
  std::string input;  // with --against: measure blocking recall through the server
  std::string against = "register";
  double threshold = 0.99;    // dedup: edge probability
  std::string other_truth;    // clusters across two lists: the second list's truth
  std::string other_dataset;  // and its dataset name
};

using Table = std::vector<std::map<std::string, std::string>>;

// Blocking recall: every candidate the server scores, for every input row.
struct BlockingStats {
  int64_t queries = 0, candidates = 0, true_links = 0, retrieved = 0;
  eval::Candidates returned;  // Per row; a row the server refused has none.
};

absl::StatusOr<BlockingStats> MeasureBlocking(CommandContext& ctx, const EvalOptions& o,
                                              const eval::LinkTruth& truth,
                                              const std::set<eval::Pair>& pairs) {
  LINKD_ASSIGN_OR_RETURN(std::vector<v1::PersonRecord> records, ReadAllRecords(o.input));
  BlockingStats stats;
  eval::Candidates& candidates = stats.returned;
  auto fill = [&o](const ReadRow& row, v1::MatchStreamRequest* req) {
    req->set_dataset(o.against);
    req->set_top_k(1000);
    req->set_omit_explanation(true);
    if (o.mode == "dedup") req->set_exclude_record_id(row.record.record_id());
  };
  auto count = [&](BulkResult result) {
    auto& set = candidates[result.row.record.record_id()];  // A refused row retrieves no one.
    if (result.response->error_code() != 0) return absl::OkStatus();
    ++stats.queries;
    stats.candidates += result.response->result().candidates_scored();
    for (const auto& c : result.response->result().candidates()) set.insert(c.record_id());
    return absl::OkStatus();
  };
  LINKD_RETURN_IF_ERROR(
      BulkMatch(ctx.channel(), BulkMatchOptions(), RecordSource(std::move(records)), fill, count)
          .status());
  if (o.mode == "dedup") {
    for (const auto& [a, b] : pairs) {
      ++stats.true_links;
      stats.retrieved += candidates[a].count(b) || candidates[b].count(a);
    }
  } else {
    for (const auto& [id, want] : truth.truth) {
      if (want.empty() || !candidates.count(id)) continue;
      ++stats.true_links;
      stats.retrieved += candidates[id].count(want);
    }
  }
  return stats;
}

// A clusters file from `linkctl dedupe`: pairs inside its clusters against
// the generator's truth. Within one list the true pairs are the copies of
// one person (duplicate_of); across two lists (--other-truth), records of
// the two datasets that are the same register person (pairs with a person
// absent from the register are out of scope: the truth cannot tell them).
absl::Status EvalClusters(const EvalOptions& o, Table& rows, Table& truth_rows) {
  const bool cross = !o.other_truth.empty();
  if (cross && o.other_dataset.empty())
    return absl::InvalidArgumentError("--other-truth needs --other-dataset (its dataset's name)");
  std::set<eval::Pair> pairs;
  std::map<std::string, std::string> person;  // Key -> register id, across two lists.
  auto key = [&](const std::string& dataset, const std::string& id) {
    if (!cross) return id;
    return (dataset == o.other_dataset ? "2/" : "1/") + id;
  };
  if (!cross) {
    std::map<std::string, std::vector<std::string>> copies;  // First copy -> all copies.
    for (auto& t : truth_rows)
      copies[t["duplicate_of"].empty() ? t["record_id"] : t["duplicate_of"]].push_back(
          t["record_id"]);
    for (const auto& [first, all] : copies) {
      for (size_t i = 0; i < all.size(); ++i) {
        for (size_t j = i + 1; j < all.size(); ++j) pairs.insert(eval::MakePair(all[i], all[j]));
      }
    }
  } else {
    LINKD_ASSIGN_OR_RETURN(Table other, ReadCsvTable(o.other_truth));
    std::map<std::string, std::vector<std::string>> by_person[2];
    for (int side = 0; side < 2; ++side) {
      for (auto& t : side == 0 ? truth_rows : other) {
        if (t["truth_record_id"].empty()) continue;
        std::string k = (side == 0 ? "1/" : "2/") + t["record_id"];
        person[k] = t["truth_record_id"];
        by_person[side][t["truth_record_id"]].push_back(k);
      }
    }
    for (const auto& [p, a_keys] : by_person[0]) {
      auto it = by_person[1].find(p);
      if (it == by_person[1].end()) continue;
      for (const auto& a : a_keys) {
        for (const auto& b : it->second) pairs.insert(eval::MakePair(a, b));
      }
    }
  }
  std::map<std::string, std::vector<std::string>> clusters;
  for (auto& r : rows) clusters[r["cluster_id"]].push_back(key(r["dataset"], r["record_id"]));
  std::vector<std::vector<std::string>> list;
  for (auto& [id, members] : clusters) list.push_back(std::move(members));
  std::function<bool(const std::string&, const std::string&)> in_scope;
  if (cross) {
    in_scope = [&person](const std::string& a, const std::string& b) {
      return a.substr(0, 2) != b.substr(0, 2) && person.count(a) && person.count(b);
    };
  }
  eval::PairMetrics p = eval::EvaluateClusters(list, pairs, in_scope);
  std::printf("eval %s against %s%s (clusters)\n", o.results.c_str(), o.truth.c_str(),
              cross ? (" and " + o.other_truth).c_str() : "");
  std::printf("  %s pairs: %s predicted (in %s clusters), %s true, %s right\n",
              cross ? "cross-list" : "duplicate", FormatCount(p.predicted_pairs).c_str(),
              FormatCount(p.clusters).c_str(), FormatCount(p.true_pairs).c_str(),
              FormatCount(p.correct_pairs).c_str());
  std::printf("  precision %.4f  recall %.4f  F1 %.4f\n", p.precision, p.recall, p.f1);
  return absl::OkStatus();
}

// The report of --mode link.
void PrintLinkMetrics(const EvalOptions& o, const eval::LinkMetrics& m) {
  std::printf("  rows %s, in the register %s\n", FormatCount(m.rows).c_str(),
              FormatCount(m.present).c_str());
  std::printf("  MATCH decisions: %s right, %s wrong person\n", FormatCount(m.true_matches).c_str(),
              FormatCount(m.wrong_matches).c_str());
  std::printf("  precision %.4f  recall %.4f  F1 %.4f\n", m.precision, m.recall, m.f1);
  std::printf("  wrong-person MATCHes per 10,000 records: %.2f\n", m.wrong_per_10k);
  std::printf("  top-1 accuracy %.4f   review rate %.4f\n", m.top1_accuracy, m.review_rate);
  std::printf("  calibration: ECE %.4f, Brier %.4f\n", m.ece, m.brier);
  std::printf("    bin         rows  stated  correct\n");
  for (const auto& b : m.bins) {
    if (b.count == 0) continue;
    std::printf("    %.1f-%.1f %8s  %6.3f   %6.3f\n", b.lower, b.upper,
                FormatCount(b.count).c_str(), b.mean_probability, b.accuracy);
  }
  if (!m.missing_truth.empty())
    std::printf("  %zu result rows have no truth row (ignored)\n", m.missing_truth.size());
  if (!o.svg.empty()) {
    std::ofstream(o.svg, std::ios::trunc)
        << eval::ReliabilitySvg(m.bins, "Reliability: " + o.results);
    std::printf("  reliability diagram: %s\n", o.svg.c_str());
  }
}

// The report of --mode dedup.
void PrintPairMetrics(const EvalOptions& o, const eval::PairMetrics& p) {
  std::printf("  edges: best and second candidates with probability >= %.3g\n", o.threshold);
  std::printf("  duplicate pairs: %s predicted (in %s clusters), %s true, %s right\n",
              FormatCount(p.predicted_pairs).c_str(), FormatCount(p.clusters).c_str(),
              FormatCount(p.true_pairs).c_str(), FormatCount(p.correct_pairs).c_str());
  std::printf("  precision %.4f  recall %.4f  F1 %.4f\n", p.precision, p.recall, p.f1);
}

absl::Status Eval(CommandContext& ctx, const EvalOptions& o) {
  if (o.mode != "link" && o.mode != "dedup")
    return absl::InvalidArgumentError("--mode is link or dedup");
  LINKD_ASSIGN_OR_RETURN(Table results, ReadCsvTable(o.results));
  LINKD_ASSIGN_OR_RETURN(Table truth_rows, ReadCsvTable(o.truth));
  if (!results.empty() && results.front().count("cluster_id"))
    return EvalClusters(o, results, truth_rows);

  std::vector<eval::ResultRow> rows;
  for (auto& r : results) {
    eval::ResultRow row;
    row.record_id = r["record_id"];
    row.decision = r["decision"];
    row.probability = r["probability"].empty() ? 0 : std::stod(r["probability"]);
    row.best_record_id = r["best_record_id"];
    row.second_record_id = r["second_record_id"];
    row.second_probability =
        r["second_probability"].empty() ? 0 : std::stod(r["second_probability"]);
    rows.push_back(std::move(row));
  }
  // Truth: the generator's (record_id, truth_record_id, duplicate_of,
  // applied_errors) or a list of true pairs (rec_id_a, rec_id_b).
  eval::LinkTruth truth;
  std::set<eval::Pair> pairs;
  // A file of true pairs has two columns, whatever they are called.
  const bool pair_file = !truth_rows.empty() && truth_rows.front().size() == 2 &&
                         !truth_rows.front().count("truth_record_id");
  if (pair_file) {
    std::map<std::string, std::string> partner;
    for (auto& t : truth_rows) {
      const std::string& a = t.begin()->second;
      const std::string& b = std::next(t.begin())->second;
      pairs.insert(eval::MakePair(a, b));
      partner[a] = b;
      partner[b] = a;
    }
    for (const auto& r : rows)
      truth.truth[r.record_id] = partner.count(r.record_id) ? partner[r.record_id] : "";
  } else {
    for (auto& t : truth_rows) {
      truth.truth[t["record_id"]] = t["truth_record_id"];
      if (!t["duplicate_of"].empty())
        pairs.insert(eval::MakePair(t["record_id"], t["duplicate_of"]));
      for (absl::string_view tag : absl::StrSplit(t["applied_errors"], ';', absl::SkipEmpty())) {
        truth.tags[t["record_id"]].emplace_back(tag);
      }
    }
  }

  std::printf("eval %s against %s (%s)\n", o.results.c_str(), o.truth.c_str(), o.mode.c_str());
  if (o.mode == "link") {
    PrintLinkMetrics(o, eval::EvaluateLink(rows, truth));
  } else {
    PrintPairMetrics(o, eval::EvaluatePairs(rows, pairs, o.threshold));
  }
  eval::Candidates returned;
  if (!o.input.empty()) {
    auto b = MeasureBlocking(ctx, o, truth, pairs);
    if (!b.ok()) {
      return absl::Status(b.status().code(),
                          "blocking recall: " + std::string(b.status().message()));
    }
    std::printf(
        "  blocking: recall %.4f (%s of %s true links retrieved), %.1f candidates scored per "
        "query\n",
        b->true_links ? static_cast<double>(b->retrieved) / static_cast<double>(b->true_links)
                      : 0.0,
        FormatCount(b->retrieved).c_str(), FormatCount(b->true_links).c_str(),
        b->queries ? static_cast<double>(b->candidates) / static_cast<double>(b->queries) : 0.0);
    returned = std::move(b->returned);
  }
  if (o.mode == "link")  // By applied error and pair of errors: MATCH and retrieval recall.
    std::printf("%s", eval::RecallByErrorTable(
                          eval::EvaluateLink(rows, truth, o.input.empty() ? nullptr : &returned))
                          .c_str());
  return absl::OkStatus();
}

void RegisterEval(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Precision, recall, F1, wrong matches, calibration of a verify result");
  cmd->add_option("--results", o->results, "verify output CSV, or a dedupe clusters CSV")
      ->required();
  cmd->add_option("--other-truth", o->other_truth,
                  "Clusters across two lists: the second list's truth CSV");
  cmd->add_option("--other-dataset", o->other_dataset,
                  "Clusters across two lists: the second list's dataset");
  cmd->add_option("--truth", o->truth, "Truth CSV (from gen) or true pairs (rec_id_a,rec_id_b)")
      ->required();
  cmd->add_option("--mode", o->mode,
                  "link (list against register) or dedup (a dataset against itself)")
      ->capture_default_str();
  cmd->add_option("--svg", o->svg, "Write a reliability diagram (SVG)");
  cmd->add_option("--input", o->input, "Also measure blocking recall: the list that was verified");
  cmd->add_option("--against", o->against, "Dataset it was verified against")
      ->capture_default_str();
  cmd->add_option("--threshold", o->threshold,
                  "dedup: probability that makes a candidate a duplicate")
      ->capture_default_str();
  ctx.OnRun(cmd, [&ctx, o] { return Eval(ctx, *o); });
}

}  // namespace

LINKCTL_COMMAND(100, RegisterEval);

}  // namespace linkage::cli
