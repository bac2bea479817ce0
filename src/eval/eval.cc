#include "linkage/eval.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iterator>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace linkage::eval {
namespace {

double F1(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0; }
double Ratio(int64_t a, int64_t b) {
  return b > 0 ? static_cast<double>(a) / static_cast<double>(b) : 0;
}

// 12345 -> "12,345".
std::string Count(int64_t n) {
  std::string digits = absl::StrCat(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

void Add(TagRecall& t, bool matched, bool retrieved) {
  ++t.rows;
  t.matched += matched;
  t.retrieved += retrieved;
}

}  // namespace

double TagRecall::match_recall() const { return Ratio(matched, rows); }
double TagRecall::retrieval_recall() const { return Ratio(retrieved, rows); }

LinkMetrics EvaluateLink(const std::vector<ResultRow>& rows, const LinkTruth& truth,
                         const Candidates* candidates) {
  LinkMetrics m;
  constexpr int kBins = 10;
  std::vector<double> sum_p(kBins, 0), sum_ok(kBins, 0);
  std::vector<int64_t> n(kBins, 0);
  int64_t calibrated_rows = 0;
  for (const ResultRow& r : rows) {
    auto t = truth.truth.find(r.record_id);
    if (t == truth.truth.end()) {
      m.missing_truth.push_back(r.record_id);
      continue;
    }
    ++m.rows;
    const std::string& want = t->second;
    const bool present = !want.empty();
    const bool right = present && r.best_record_id == want;
    m.present += present;
    m.top1_correct += right;
    if (r.decision == "MATCH") {
      ++m.matches;
      (right ? m.true_matches : m.wrong_matches)++;
    } else if (r.decision == "REVIEW") {
      ++m.reviews;
    }
    const std::set<std::string>* returned = nullptr;
    if (candidates != nullptr) {
      auto c = candidates->find(r.record_id);
      if (c != candidates->end()) returned = &c->second;
    }
    m.rows_with_candidates += returned != nullptr;
    const bool retrieved = present && (r.best_record_id == want || r.second_record_id == want ||
                                       (returned != nullptr && returned->count(want) > 0));
    m.retrieved += retrieved;
    auto tags = truth.tags.find(r.record_id);
    if (present && tags != truth.tags.end()) {
      const bool matched = r.decision == "MATCH" && right;
      const std::set<std::string> distinct(tags->second.begin(), tags->second.end());
      for (auto a = distinct.begin(); a != distinct.end(); ++a) {
        Add(m.by_tag[*a], matched, retrieved);
        for (auto b = std::next(a); b != distinct.end(); ++b)
          Add(m.by_pair[{*a, *b}], matched, retrieved);
      }
    }
    // Calibration: is the stated probability the chance that the best
    // candidate is the person?
    if (!r.best_record_id.empty()) {
      int b = std::min(kBins - 1, static_cast<int>(r.probability * kBins));
      sum_p[b] += r.probability;
      sum_ok[b] += right;
      ++n[b];
      ++calibrated_rows;
      m.brier += (r.probability - (right ? 1.0 : 0.0)) * (r.probability - (right ? 1.0 : 0.0));
    }
  }
  m.precision = Ratio(m.true_matches, m.matches);
  m.recall = Ratio(m.true_matches, m.present);
  m.f1 = F1(m.precision, m.recall);
  m.wrong_per_10k = 10000.0 * Ratio(m.wrong_matches, m.rows);
  m.top1_accuracy = Ratio(m.top1_correct, m.present);
  m.retrieval_recall = Ratio(m.retrieved, m.present);
  m.review_rate = Ratio(m.reviews, m.rows);
  m.brier = calibrated_rows > 0 ? m.brier / static_cast<double>(calibrated_rows) : 0;
  for (int b = 0; b < kBins; ++b) {
    CalibrationBin bin;
    bin.lower = static_cast<double>(b) / kBins;
    bin.upper = static_cast<double>(b + 1) / kBins;
    bin.count = n[b];
    if (n[b] > 0) {
      bin.mean_probability = sum_p[b] / static_cast<double>(n[b]);
      bin.accuracy = sum_ok[b] / static_cast<double>(n[b]);
      m.ece += static_cast<double>(n[b]) / static_cast<double>(calibrated_rows) *
               std::abs(bin.accuracy - bin.mean_probability);
    }
    m.bins.push_back(bin);
  }
  return m;
}

std::string RecallByErrorTable(const LinkMetrics& m, const RecallTableOptions& options) {
  if (m.by_tag.empty()) return "";
  std::string out = absl::StrFormat(
      "  recall by generator error (rows in the register with it; retrieved: the true person %s)\n",
      m.rows_with_candidates > 0 ? "among all the candidates matching returned"
                                 : "best or second in the results");
  size_t width = 5;
  for (const auto& [tag, t] : m.by_tag) width = std::max(width, tag.size());
  const int w = static_cast<int>(width);
  absl::StrAppendFormat(&out, "    %-*s %9s %8s %10s\n", w, "error", "rows", "MATCH", "retrieved");
  for (const auto& [tag, t] : m.by_tag) {
    absl::StrAppendFormat(&out, "    %-*s %9s %8.4f %10.4f\n", w, tag, Count(t.rows),
                          t.match_recall(), t.retrieval_recall());
  }
  using Entry = std::pair<std::string, const TagRecall*>;
  std::vector<Entry> pairs;
  for (const auto& [p, t] : m.by_pair) {
    if (t.rows >= options.min_pair_rows) pairs.emplace_back(p.first + " + " + p.second, &t);
  }
  size_t pair_width = 5;
  for (const Entry& e : pairs) pair_width = std::max(pair_width, e.first.size());
  const int pw = static_cast<int>(pair_width);
  auto list = [&](const char* what, double (TagRecall::*recall)() const) {
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Entry& a, const Entry& b) {
      const double ra = (a.second->*recall)(), rb = (b.second->*recall)();
      if (ra != rb) return ra < rb;
      return a.second->rows > b.second->rows;
    });
    const size_t shown =
        options.max_pairs == 0 ? pairs.size() : std::min(options.max_pairs, pairs.size());
    absl::StrAppendFormat(
        &out,
        "  pairs of errors, lowest %s recall first (%d shown of %d pairs with at least %d "
        "rows; %d pairs in all)\n",
        what, shown, pairs.size(), options.min_pair_rows, m.by_pair.size());
    absl::StrAppendFormat(&out, "    %-*s %9s %8s %10s\n", pw, "errors", "rows", "MATCH",
                          "retrieved");
    for (size_t i = 0; i < shown; ++i) {
      const TagRecall& t = *pairs[i].second;
      absl::StrAppendFormat(&out, "    %-*s %9s %8.4f %10.4f\n", pw, pairs[i].first, Count(t.rows),
                            t.match_recall(), t.retrieval_recall());
    }
  };
  std::sort(pairs.begin(), pairs.end(),
            [](const Entry& a, const Entry& b) { return a.first < b.first; });
  list("MATCH", &TagRecall::match_recall);
  std::sort(pairs.begin(), pairs.end(),
            [](const Entry& a, const Entry& b) { return a.first < b.first; });
  list("retrieval", &TagRecall::retrieval_recall);
  return out;
}

Pair MakePair(const std::string& a, const std::string& b) {
  return a < b ? Pair(a, b) : Pair(b, a);
}

PairMetrics EvaluatePairs(const std::vector<ResultRow>& rows, const std::set<Pair>& truth_pairs,
                          double threshold) {
  // Union-find over MATCH edges.
  std::map<std::string, std::string> parent;
  std::function<std::string(const std::string&)> find = [&](const std::string& x) -> std::string {
    auto it = parent.find(x);
    if (it == parent.end()) {
      parent[x] = x;
      return x;
    }
    if (it->second == x) return x;
    std::string root = find(it->second);
    parent[x] = root;
    return root;
  };
  auto link = [&](const std::string& x, const std::string& y) {
    std::string a = find(x), b = find(y);
    if (a != b) parent[a] = b;
  };
  for (const ResultRow& r : rows) {
    if (!r.best_record_id.empty() && r.best_record_id != r.record_id &&
        r.probability >= threshold) {
      link(r.record_id, r.best_record_id);
    }
    if (!r.second_record_id.empty() && r.second_record_id != r.record_id &&
        r.second_probability >= threshold) {
      link(r.record_id, r.second_record_id);
    }
  }
  std::map<std::string, std::vector<std::string>> clusters;
  for (const auto& [x, p] : parent) clusters[find(x)].push_back(x);
  std::vector<std::vector<std::string>> list;
  for (auto& [root, members] : clusters) list.push_back(std::move(members));
  return EvaluateClusters(list, truth_pairs, nullptr);
}

PairMetrics EvaluateClusters(
    const std::vector<std::vector<std::string>>& clusters, const std::set<Pair>& truth_pairs,
    const std::function<bool(const std::string&, const std::string&)>& counts) {
  PairMetrics m;
  m.true_pairs = static_cast<int64_t>(truth_pairs.size());
  for (const std::vector<std::string>& members : clusters) {
    if (members.size() < 2) continue;
    ++m.clusters;
    for (size_t i = 0; i < members.size(); ++i) {
      for (size_t j = i + 1; j < members.size(); ++j) {
        if (counts && !counts(members[i], members[j])) continue;
        ++m.predicted_pairs;
        m.correct_pairs += truth_pairs.count(MakePair(members[i], members[j]));
      }
    }
  }
  m.precision = Ratio(m.correct_pairs, m.predicted_pairs);
  m.recall = Ratio(m.correct_pairs, m.true_pairs);
  m.f1 = F1(m.precision, m.recall);
  return m;
}

std::string ReliabilitySvg(const std::vector<CalibrationBin>& bins, const std::string& title) {
  const double w = 480, h = 480, pad = 60, plot = w - 2 * pad;
  auto x = [&](double v) { return pad + v * plot; };
  auto y = [&](double v) { return h - pad - v * plot; };
  int64_t max_count = 1;
  for (const auto& b : bins) max_count = std::max(max_count, b.count);
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"%.0f\" y=\"24\" text-anchor=\"middle\" font-size=\"14\">%s</text>\n",
      w, h, w / 2, title);
  // Axes and grid.
  for (int i = 0; i <= 10; ++i) {
    double v = i / 10.0;
    absl::StrAppendFormat(
        &svg,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n",
        x(v), y(0), x(v), y(1), x(0), y(v), x(1), y(v));
    if (i % 2 == 0) {
      absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.1f</text>",
                            x(v), y(0) + 16, v);
      absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n",
                            x(0) - 6, y(v) + 4, v);
    }
  }
  absl::StrAppendFormat(&svg,
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                        "stroke=\"#333\"/>\n",
                        x(0), y(1), plot, plot);
  absl::StrAppendFormat(&svg,
                        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" "
                        "stroke-dasharray=\"4 4\"/>\n",
                        x(0), y(0), x(1), y(1));
  // Bars: share of rows per bin (light), points: accuracy vs confidence.
  for (const auto& b : bins) {
    double bar = 0.25 * static_cast<double>(b.count) / static_cast<double>(max_count);
    absl::StrAppendFormat(
        &svg, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#cfe0f5\"/>\n",
        x(b.lower) + 1, y(bar), x(b.upper) - x(b.lower) - 2, y(0) - y(bar));
  }
  std::string path;
  for (const auto& b : bins) {
    if (b.count == 0) continue;
    absl::StrAppendFormat(&path, "%s%.1f,%.1f", path.empty() ? "M" : " L", x(b.mean_probability),
                          y(b.accuracy));
    absl::StrAppendFormat(&svg,
                          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#1f5fa8\"><title>%d "
                          "rows: confidence %.3f, accuracy %.3f</title></circle>\n",
                          x(b.mean_probability), y(b.accuracy), b.count, b.mean_probability,
                          b.accuracy);
  }
  if (!path.empty())
    absl::StrAppendFormat(&svg, "<path d=\"%s\" fill=\"none\" stroke=\"#1f5fa8\"/>\n", path);
  absl::StrAppendFormat(
      &svg, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">stated probability</text>\n", w / 2,
      h - 16);
  absl::StrAppendFormat(
      &svg,
      "<text x=\"16\" y=\"%.0f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.0f)\">share "
      "correct</text>\n</svg>\n",
      h / 2, h / 2);
  return svg;
}

}  // namespace linkage::eval
