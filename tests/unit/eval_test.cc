#include "linkage/eval.h"

#include <gtest/gtest.h>

namespace linkage::eval {
namespace {

ResultRow Row(std::string id, std::string decision, double p, std::string best,
              std::string second = "", double second_p = 0) {
  ResultRow r;
  r.record_id = std::move(id);
  r.decision = std::move(decision);
  r.probability = p;
  r.best_record_id = std::move(best);
  r.second_record_id = std::move(second);
  r.second_probability = second_p;
  return r;
}

TEST(EvaluateLink, CountsAndRates) {
  LinkTruth truth;
  truth.truth = {{"a", "R1"}, {"b", "R2"}, {"c", ""}, {"d", "R4"}, {"e", "R5"}};
  truth.tags = {{"a", {"year_only"}}, {"d", {"year_only"}}};
  std::vector<ResultRow> rows = {
      Row("a", "MATCH", 0.99, "R1"),     // right
      Row("b", "MATCH", 0.95, "R9"),     // wrong person
      Row("c", "MATCH", 0.97, "R3"),     // absent person matched: wrong
      Row("d", "REVIEW", 0.6, "R4"),     // right person, reviewed
      Row("e", "NO_MATCH", 0.01, "R7"),  // missed
  };
  LinkMetrics m = EvaluateLink(rows, truth);
  EXPECT_EQ(m.rows, 5);
  EXPECT_EQ(m.present, 4);
  EXPECT_EQ(m.true_matches, 1);
  EXPECT_EQ(m.wrong_matches, 2);
  EXPECT_DOUBLE_EQ(m.precision, 1.0 / 3);
  EXPECT_DOUBLE_EQ(m.recall, 1.0 / 4);
  EXPECT_DOUBLE_EQ(m.wrong_per_10k, 4000.0);
  EXPECT_DOUBLE_EQ(m.top1_accuracy, 2.0 / 4);
  EXPECT_DOUBLE_EQ(m.review_rate, 1.0 / 5);
  EXPECT_EQ(m.by_tag["year_only"].rows, 2);
  EXPECT_EQ(m.by_tag["year_only"].matched, 1);
  EXPECT_EQ(m.by_tag["year_only"].retrieved, 2);  // d's person was best, though reviewed.
}

// Five rows with tags; "x" is absent from the register and counts nowhere.
struct Tagged {
  LinkTruth truth;
  std::vector<ResultRow> rows;
  Tagged() {
    truth.truth = {{"a", "R1"}, {"b", "R2"}, {"c", "R3"}, {"d", "R4"}, {"x", ""}};
    truth.tags = {{"a", {"id_missing", "vowel_typo", "year_only"}},
                  {"b", {"vowel_typo", "id_missing"}},
                  {"c", {"year_only"}},
                  {"d", {"vowel_typo", "vowel_typo"}},  // A tag twice is one tag.
                  {"x", {"vowel_typo", "id_missing"}}};
    rows = {Row("a", "MATCH", 0.99, "R1"), Row("b", "REVIEW", 0.7, "R9", "R2", 0.2),
            Row("c", "NO_MATCH", 0.1, "R8"), Row("d", "NO_MATCH", 0.0, ""),
            Row("x", "MATCH", 0.99, "R5")};
  }
};

TEST(EvaluateLink, RecallByPairOfErrorsCountsEveryUnorderedPairOnARow) {
  Tagged t;
  LinkMetrics m = EvaluateLink(t.rows, t.truth);
  ASSERT_EQ(m.by_pair.size(), 3u);  // a gives three pairs, b one of them again.
  const TagRecall& both = m.by_pair[{"id_missing", "vowel_typo"}];
  EXPECT_EQ(both.rows, 2);       // a, b (x is absent from the register)
  EXPECT_EQ(both.matched, 1);    // a
  EXPECT_EQ(both.retrieved, 2);  // b's person was second
  EXPECT_DOUBLE_EQ(both.match_recall(), 0.5);
  EXPECT_DOUBLE_EQ(both.retrieval_recall(), 1.0);
  EXPECT_EQ((m.by_pair[{"id_missing", "year_only"}].rows), 1);
  EXPECT_EQ((m.by_pair[{"vowel_typo", "year_only"}].rows), 1);
  EXPECT_EQ(m.by_pair.count({"vowel_typo", "id_missing"}), 0u);  // Ordered: first < second.
  EXPECT_EQ(m.by_tag["vowel_typo"].rows, 3);                     // a, b, d once each
  EXPECT_EQ(m.by_tag["vowel_typo"].retrieved, 2);
  EXPECT_EQ(m.rows_with_candidates, 0);
  EXPECT_EQ(m.retrieved, 2);
  EXPECT_DOUBLE_EQ(m.retrieval_recall, 2.0 / 4);
}

TEST(EvaluateLink, RetrievalCountsEveryCandidateReturned) {
  Tagged t;
  // Blocking found c's and d's person too, though neither was best or second.
  Candidates returned = {{"a", {"R1"}}, {"c", {"R7", "R3"}}, {"d", {"R4"}}, {"x", {"R1"}}};
  LinkMetrics m = EvaluateLink(t.rows, t.truth, &returned);
  EXPECT_EQ(m.rows_with_candidates, 4);
  EXPECT_EQ(m.retrieved, 4);  // b still counts: its person was second.
  EXPECT_EQ(m.by_tag["year_only"].retrieved, 2);
  EXPECT_EQ(m.by_tag["year_only"].matched, 1);
  EXPECT_EQ(m.by_tag["vowel_typo"].retrieved, 3);
}

TEST(RecallByErrorTable, ListsTagsThenPairsWorstFirstAndLeavesOutSmallPairs) {
  Tagged t;
  LinkMetrics m = EvaluateLink(t.rows, t.truth);
  RecallTableOptions o;
  o.min_pair_rows = 1;
  std::string table = RecallByErrorTable(m, o);
  EXPECT_NE(table.find("best or second in the results"), std::string::npos) << table;
  EXPECT_NE(table.find("vowel_typo         3   0.3333     0.6667"), std::string::npos) << table;
  // Lowest MATCH recall first: vowel_typo + year_only and id_missing + year_only (both a, MATCHed)
  // come after id_missing + vowel_typo (0.5).
  const size_t match_list = table.find("lowest MATCH recall first");
  ASSERT_NE(match_list, std::string::npos);
  const size_t worst = table.find("id_missing + vowel_typo", match_list);
  EXPECT_LT(worst, table.find("id_missing + year_only", match_list)) << table;
  EXPECT_NE(table.find("(3 shown of 3 pairs with at least 1 rows; 3 pairs in all)"),
            std::string::npos)
      << table;
  o.min_pair_rows = 2;
  o.max_pairs = 1;
  table = RecallByErrorTable(m, o);
  EXPECT_NE(table.find("(1 shown of 1 pairs with at least 2 rows; 3 pairs in all)"),
            std::string::npos)
      << table;
  EXPECT_EQ(table.find("id_missing + year_only"), std::string::npos) << table;
  Candidates returned = {{"a", {"R1"}}};
  EXPECT_NE(RecallByErrorTable(EvaluateLink(t.rows, t.truth, &returned)).find("all the candidates"),
            std::string::npos);
  EXPECT_EQ(RecallByErrorTable(EvaluateLink(t.rows, LinkTruth{t.truth.truth, {}})), "");
}

TEST(EvaluateLink, PerfectCalibrationHasZeroEce) {
  LinkTruth truth;
  std::vector<ResultRow> rows;
  // In the 0.9-1.0 bin, 95% right at stated 0.95; in 0.0-0.1, 5% right at 0.05.
  for (int i = 0; i < 100; ++i) {
    std::string id = "q" + std::to_string(i);
    truth.truth[id] = "R" + std::to_string(i);
    rows.push_back(Row(id, "MATCH", 0.95, i < 95 ? truth.truth[id] : "X"));
  }
  for (int i = 100; i < 200; ++i) {
    std::string id = "q" + std::to_string(i);
    truth.truth[id] = "R" + std::to_string(i);
    rows.push_back(Row(id, "NO_MATCH", 0.05, i < 105 ? truth.truth[id] : "X"));
  }
  LinkMetrics m = EvaluateLink(rows, truth);
  EXPECT_NEAR(m.ece, 0.0, 1e-12);
  // Overconfidence shows up.
  for (auto& r : rows) r.probability = r.probability > 0.5 ? 0.999 : 0.001;
  EXPECT_NEAR(EvaluateLink(rows, truth).ece, 0.049, 1e-9);
}

TEST(EvaluatePairs, ClustersByConnectedComponents) {
  std::set<Pair> truth = {MakePair("a", "b"), MakePair("a", "c"), MakePair("b", "c"),
                          MakePair("x", "y")};
  std::vector<ResultRow> rows = {
      Row("a", "REVIEW", 0.995, "b", "", 0), Row("c", "MATCH", 0.99, "b", "x", 0.2),
      Row("x", "REVIEW", 0.7, "y", "", 0), Row("p", "MATCH", 0.99, "q", "", 0)};
  PairMetrics m = EvaluatePairs(rows, truth, 0.99);
  EXPECT_EQ(m.clusters, 2);         // {a,b,c} and {p,q}
  EXPECT_EQ(m.predicted_pairs, 4);  // ab ac bc pq
  EXPECT_EQ(m.correct_pairs, 3);
  EXPECT_DOUBLE_EQ(m.precision, 0.75);
  EXPECT_DOUBLE_EQ(m.recall, 0.75);
}

TEST(EvaluateClusters, EveryPairInAClusterCountsAndScopeFilters) {
  std::set<Pair> truth = {MakePair("1/a", "2/a"), MakePair("1/b", "2/b"), MakePair("1/c", "2/c")};
  // {1/a, 2/a, 1/x}: 1/a-2/a right, 1/x-2/a wrong, 1/a-1/x out of scope
  // (same list); {1/b, 2/b} right; 1/c-2/c missed; a singleton is no pair.
  std::vector<std::vector<std::string>> clusters = {{"1/a", "2/a", "1/x"}, {"1/b", "2/b"}, {"1/z"}};
  auto cross = [](const std::string& p, const std::string& q) {
    return p.substr(0, 2) != q.substr(0, 2);
  };
  PairMetrics m = EvaluateClusters(clusters, truth, cross);
  EXPECT_EQ(m.clusters, 2);
  EXPECT_EQ(m.predicted_pairs, 3);
  EXPECT_EQ(m.correct_pairs, 2);
  EXPECT_DOUBLE_EQ(m.precision, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.recall, 2.0 / 3.0);
  // Without a scope every pair inside a cluster is predicted.
  EXPECT_EQ(EvaluateClusters(clusters, truth, nullptr).predicted_pairs, 4);
}

TEST(Reliability, SvgIsWellFormedEnough) {
  LinkMetrics m = EvaluateLink({Row("a", "MATCH", 0.9, "R1")}, LinkTruth{{{"a", "R1"}}, {}});
  std::string svg = ReliabilitySvg(m.bins, "t");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("<circle"), std::string::npos);
}

}  // namespace
}  // namespace linkage::eval
