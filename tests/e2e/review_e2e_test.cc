// The review desk end to end: the real linkd and linkctl. A verification
// with --review queues exactly its REVIEW rows and a marked sample of the
// others; officers' decisions over ReviewService are new entries (never
// rewritten), an undo takes back the officer's own last one, all of it
// survives a restart, and `linkctl calibrate --from-review` installs a
// calibration fitted on the decisions.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "linkage/v1/service.grpc.pb.h"
#include "linkd_test.h"
#include "test_util.h"

namespace linkage {
namespace {

using testing::ReadFile;

// Rows of a CSV without quoted commas, as column -> value.
std::vector<std::map<std::string, std::string>> ReadCsv(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::string> header;
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    if (header.empty()) {
      header = cells;
      continue;
    }
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < header.size() && i < cells.size(); ++i) row[header[i]] = cells[i];
    rows.push_back(std::move(row));
  }
  return rows;
}

class ReviewE2ETest : public testing::LinkdBinaryTest {
 protected:
  bool Start() {
    if (!StartLinkdOn(dir_.Sub("db"), {"--workers", "2"})) return false;
    stub_ = v1::ReviewService::NewStub(
        grpc::CreateChannel(server_, grpc::InsecureChannelCredentials()));
    return true;
  }
  template <typename Req, typename Resp>
  grpc::Status Call(grpc::Status (v1::ReviewService::Stub::*m)(grpc::ClientContext*, const Req&,
                                                               Resp*),
                    const Req& req, Resp* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return (stub_.get()->*m)(&ctx, req, resp);
  }
  v1::ListReviewResponse List(const std::string& status, v1::ReviewKind kind, int limit = 1000) {
    v1::ListReviewRequest req;
    req.set_dataset("prov-19");
    req.set_status(status);
    req.set_kind(kind);
    req.set_limit(limit);
    v1::ListReviewResponse resp;
    EXPECT_TRUE(Call(&v1::ReviewService::Stub::ListReview, req, &resp).ok());
    return resp;
  }
  grpc::Status Decide(const std::string& record, v1::ReviewVerdict verdict,
                      const std::string& candidate = "", const std::string& note = "") {
    v1::DecideReviewRequest req;
    req.set_dataset("prov-19");
    req.set_record_id(record);
    req.set_verdict(verdict);
    req.set_candidate_record_id(candidate);
    req.set_note(note);
    v1::DecideReviewResponse resp;
    return Call(&v1::ReviewService::Stub::DecideReview, req, &resp);
  }
  v1::GetReviewItemResponse Item(const std::string& record) {
    v1::GetReviewItemRequest req;
    req.set_dataset("prov-19");
    req.set_record_id(record);
    v1::GetReviewItemResponse resp;
    EXPECT_TRUE(Call(&v1::ReviewService::Stub::GetReviewItem, req, &resp).ok());
    return resp;
  }
  int Verify() {
    return Linkctl({"verify", "--against", "register", "--input", dir_.Sub("list.csv"), "--output",
                    dir_.Sub("verified.csv"), "--review", "prov-19", "--review-sample", "0.1"});
  }

  std::unique_ptr<v1::ReviewService::Stub> stub_;
};

TEST_F(ReviewE2ETest, QueueDecideUndoRestartAndCalibrateFromTheDecisions) {
  ASSERT_TRUE(Start()) << ReadFile(dir_.Sub("linkd.log"));
  ASSERT_EQ(
      Linkctl({"gen", "--size", "6000", "--register", dir_.Sub("reg.csv"), "--list",
               dir_.Sub("list.csv"), "--truth", dir_.Sub("truth.csv"), "--list-size", "1500"}),
      0)
      << err_;
  ASSERT_EQ(Linkctl({"import", "--dataset", "register", dir_.Sub("reg.csv")}), 0) << err_;
  ASSERT_EQ(Verify(), 0) << err_;

  // Exactly the REVIEW rows, and a sample of the others marked as such.
  std::map<std::string, std::string> decision_of, truth;
  for (auto& r : ReadCsv(dir_.Sub("verified.csv"))) decision_of[r["record_id"]] = r["decision"];
  for (auto& r : ReadCsv(dir_.Sub("truth.csv"))) truth[r["record_id"]] = r["truth_record_id"];
  int64_t review_rows = 0;
  for (const auto& [id, d] : decision_of) review_rows += d == "REVIEW";
  ASSERT_GT(review_rows, 5);
  v1::ListReviewResponse band = List("pending", v1::REVIEW_BAND);
  EXPECT_EQ(band.matching(), review_rows);
  EXPECT_EQ(band.counts().total(), review_rows);
  for (const v1::ReviewSummary& s : band.items()) EXPECT_EQ(decision_of[s.record_id()], "REVIEW");
  v1::ListReviewResponse matches = List("all", v1::SAMPLE_MATCH);
  v1::ListReviewResponse non = List("all", v1::SAMPLE_NO_MATCH);
  for (const v1::ReviewSummary& s : matches.items()) EXPECT_EQ(decision_of[s.record_id()], "MATCH");
  for (const v1::ReviewSummary& s : non.items()) EXPECT_EQ(decision_of[s.record_id()], "NO_MATCH");
  // ~10% of ~1,400 MATCH rows.
  EXPECT_GT(matches.matching(), 80);
  EXPECT_LT(matches.matching(), 220);
  const int64_t items = band.counts().total() + band.counts().samples();

  // A rerun (a resumed job) queues nothing twice.
  ASSERT_EQ(Verify(), 0) << err_;
  EXPECT_EQ(List("all", v1::REVIEW_BAND).counts().total() +
                List("all", v1::REVIEW_BAND).counts().samples(),
            items);

  // An item holds both records and the proposed candidate's contributions.
  const std::string first = band.items(0).record_id();
  const v1::GetReviewItemResponse got = Item(first);
  EXPECT_EQ(got.item().record().record_id(), first);
  ASSERT_GT(got.item().candidates_size(), 0);
  EXPECT_EQ(got.item().candidates(0).candidate().record_id(), got.item().proposed_record_id());
  EXPECT_FALSE(got.item().candidates(0).record().full_name().empty());
  EXPECT_GT(got.item().candidates(0).candidate().contributions_size(), 3);
  EXPECT_EQ(got.item().kind(), v1::REVIEW_BAND);

  // Refusals name what is wrong.
  EXPECT_EQ(Decide("no-such-row", v1::SAME).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Decide(first, v1::REVIEW_VERDICT_UNSPECIFIED).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Decide(first, v1::SAME, "P-not-a-candidate").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Decide(first, v1::SAME, "", std::string(1001, 'x')).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // Decide every REVIEW item and every sample as the truth says.
  int64_t decided = 0;
  for (v1::ReviewKind kind : {v1::REVIEW_BAND, v1::SAMPLE_MATCH, v1::SAMPLE_NO_MATCH}) {
    const v1::ListReviewResponse all = List("all", kind);
    for (const v1::ReviewSummary& s : all.items()) {
      const bool same =
          !s.proposed_record_id().empty() && truth[s.record_id()] == s.proposed_record_id();
      const grpc::Status st = Decide(s.record_id(), same ? v1::SAME : v1::DIFFERENT);
      ASSERT_TRUE(st.ok()) << s.record_id() << " proposed " << s.proposed_record_id() << ": "
                           << st.error_message();
      ++decided;
    }
  }
  EXPECT_EQ(List("pending", v1::REVIEW_BAND).matching(), 0);

  // A change of mind is a new entry; undo takes it back, the first stands.
  const bool first_same = truth[first] == got.item().proposed_record_id();
  ASSERT_TRUE(Decide(first, v1::UNSURE, "", "ask the commune").ok());
  EXPECT_EQ(Item(first).verdict(), v1::UNSURE);
  v1::UndoReviewResponse undo;
  ASSERT_TRUE(Call(&v1::ReviewService::Stub::UndoReview, v1::UndoReviewRequest(), &undo).ok());
  EXPECT_EQ(undo.undone().record_id(), first);
  EXPECT_EQ(undo.undone().verdict(), v1::UNSURE);
  const v1::GetReviewItemResponse after = Item(first);
  EXPECT_EQ(after.verdict(), first_same ? v1::SAME : v1::DIFFERENT);
  ASSERT_EQ(after.decisions_size(), 3);  // decided, changed, undone: all kept
  EXPECT_EQ(after.decisions(1).note(), "ask the commune");
  EXPECT_EQ(after.decisions(2).undoes(), after.decisions(1).seq());
  EXPECT_EQ(after.decisions(0).officer(), "anonymous");

  // Everything survives a restart.
  const v1::ReviewCounts counts = List("all", v1::REVIEW_BAND).counts();
  ASSERT_EQ(StopLinkd(), 0);
  ASSERT_TRUE(Start()) << ReadFile(dir_.Sub("linkd.log"));
  const v1::ReviewCounts again = List("all", v1::REVIEW_BAND).counts();
  EXPECT_EQ(again.SerializeAsString(), counts.SerializeAsString());
  EXPECT_EQ(Item(first).decisions_size(), 3);
  EXPECT_EQ(again.samples_decided(), again.samples());

  // The desk's view of calibration, then the fit installed from it.
  v1::GetReviewCalibrationRequest creq;
  creq.set_dataset("prov-19");
  v1::GetReviewCalibrationResponse cal;
  ASSERT_TRUE(Call(&v1::ReviewService::Stub::GetReviewCalibration, creq, &cal).ok());
  EXPECT_GE(cal.calibration().decisions_used(), decided - 5);  // An unscored holder is left out.
  EXPECT_GT(cal.calibration().from_samples(), 80);
  EXPECT_LE(cal.calibration().ece_refit(), cal.calibration().ece_model() + 1e-9);
  ASSERT_EQ(Linkctl({"calibrate", "--from-review", "prov-19"}), 0) << out_ << err_;
  EXPECT_NE(out_.find("installed"), std::string::npos) << out_;
  ASSERT_EQ(Linkctl({"model", "show"}), 0) << err_;
  EXPECT_NE(out_.find("review:prov-19"), std::string::npos) << out_;
  // The audit log holds the decisions and the lookups, the refused ones
  // too (the unknown row, the candidate not offered; a malformed request is
  // refused before it is looked at).
  ASSERT_EQ(Linkctl({"audit", "list", "--method", "DecideReview"}), 0) << err_;
  EXPECT_EQ(std::count(out_.begin(), out_.end(), '\n'), decided + 1 + 2);
  ASSERT_EQ(Linkctl({"audit", "list", "--method", "UndoReview"}), 0) << err_;
  EXPECT_EQ(std::count(out_.begin(), out_.end(), '\n'), 1);
  ASSERT_EQ(Linkctl({"audit", "verify"}), 0) << out_;
}

}  // namespace
}  // namespace linkage
