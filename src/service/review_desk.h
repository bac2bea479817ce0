// The review desk (docs/DESIGN.md §12, review.proto): the REVIEW answers of
// verification jobs, and a calibration sample of their MATCH / NO_MATCH
// answers, kept in the store's `review` column family for officers to
// decide. Internal to the service layer; ReviewService (gRPC) and the
// page's HTTP API (review_http.h) are thin wrappers over it, so both audit
// and refuse alike.
//
// Rows of the column family:
//   "i" dataset '\0' record_id -> ReviewItem (written once; a record queued
//                                 again under the same list is left alone)
//   "d" seq (8 bytes, big-endian) -> ReviewDecision (appended, never
//                                 rewritten; an undo is one more row)
// The desk keeps a summary of every item and every decision in memory
// (read at open), so listing and filtering touch no disk; an item's
// records and contributions are read from RocksDB when it is fetched.
// max_review_items bounds that memory: beyond it new items are not queued
// (counted in linkd_review_refused_total, the answer itself unaffected).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "linkage/v1/review.pb.h"
#include "linkage/v1/service.pb.h"

namespace linkage::service {

struct ServiceContext;

class ReviewDesk {
 public:
  // Reads the queue's summaries from `ctx->engine->store()`.
  // A damaged item row is skipped (logged); damaged or missing decision
  // rows fail the open (DataLoss): linkd then serves without the desk.
  static absl::StatusOr<std::unique_ptr<ReviewDesk>> Open(ServiceContext* ctx, int64_t max_items);

  // Called for every answered stream request: queues it when
  // req.review_dataset is set and the answer is REVIEW, or drawn into the
  // sample. The item is built from a second, explained search (the job's
  // own answers may omit explanations) with the candidates' register
  // records. Call it only for a request CheckRequest passed. A full desk or
  // a failed write is logged and counted (linkd_review_refused_total),
  // never the answer's error; it returns OK.
  absl::Status Offer(const v1::MatchStreamRequest& req, const v1::MatchStreamResponse& resp,
                     const std::string& principal);
  // Checks a stream request's review fields before it is answered: a
  // valid list name and rate, a node that keeps the desk (not a read
  // replica), and, under an access policy, the READ role besides MATCH
  // (the queue keeps the candidates' register records for the officers).
  static absl::Status CheckRequest(const ServiceContext& ctx, const v1::MatchStreamRequest& req,
                                   const std::string& principal);

  // The RPCs, audited under `principal` (the caller), except the ones that
  // show no personal data (datasets, calibration, labels).
  absl::StatusOr<v1::ListReviewDatasetsResponse> Datasets() const;
  absl::StatusOr<v1::ListReviewResponse> List(const v1::ListReviewRequest& req,
                                              const std::string& principal);
  absl::StatusOr<v1::GetReviewItemResponse> Get(const v1::GetReviewItemRequest& req,
                                                const std::string& principal);
  absl::StatusOr<v1::DecideReviewResponse> Decide(const v1::DecideReviewRequest& req,
                                                  const std::string& principal);
  absl::StatusOr<v1::UndoReviewResponse> Undo(const v1::UndoReviewRequest& req,
                                              const std::string& principal);
  absl::StatusOr<v1::GetReviewCalibrationResponse> Calibration(
      const v1::GetReviewCalibrationRequest& req);
  // No personal data: not audited.
  absl::StatusOr<v1::GetReviewLabelsResponse> Labels(const v1::GetReviewLabelsRequest& req);

  // `unresolved`: REVIEW items with no decision in force, or UNSURE.
  struct Stats {
    int64_t items = 0, unresolved = 0, decisions = 0, refused = 0;
  };
  Stats stats() const;

 private:
  // What the desk keeps of an item in memory.
  struct ItemState {
    v1::ReviewKind kind = v1::REVIEW_KIND_UNSPECIFIED;
    double probability = 0, match_weight = 0, sample_weight = 1;
    bool weight_known = false;  // The proposed candidate was scored.
    std::vector<std::string> flags;
    std::string proposed;
    std::string model_version;
    std::vector<std::string> candidates;  // Ids a SAME may name.
    int64_t queued = 0;
    std::vector<uint64_t> decisions;  // Seqs of every entry about it.
    // In force: the last decision not undone.
    v1::ReviewVerdict verdict = v1::REVIEW_VERDICT_UNSPECIFIED;
    uint64_t decided_seq = 0;
    std::string decided_candidate, decided_by;
  };
  using Queue = std::map<std::string, ItemState>;  // record_id -> state

  explicit ReviewDesk(ServiceContext* ctx, int64_t max_items) : ctx_(ctx), max_items_(max_items) {}
  absl::Status Load();
  // The item, or null.
  const ItemState* FindLocked(const std::string& dataset, const std::string& record_id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void Recompute(ItemState* item) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::ReviewCounts CountsLocked(const std::string& dataset) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void Remember(const v1::ReviewItem& item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives `d` the next seq, writes it durably (no lock but append_mu_
  // held), then adds it to memory. A failed write stops every later
  // decision (the row may have reached the disk: its seq must not be given
  // again) until linkd restarts and reads back what is there.
  absl::StatusOr<v1::ReviewDecision> AppendDecision(v1::ReviewDecision d)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<v1::DecideReviewResponse> DecideUnaudited(const v1::DecideReviewRequest& req,
                                                           const std::string& principal);
  absl::StatusOr<v1::UndoReviewResponse> UndoUnaudited(const v1::UndoReviewRequest& req,
                                                       const std::string& principal);
  static absl::Status CheckNode(const ServiceContext& ctx);
  // Labelled (raw probability, same, weight) of the decided items.
  void LabelsLocked(const std::string& dataset, v1::GetReviewLabelsResponse* out) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  ServiceContext* const ctx_;
  const int64_t max_items_;
  // Serializes decision appends (seq order) without holding mu_ across
  // their fsync; taken before mu_.
  absl::Mutex append_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  bool broken_ ABSL_GUARDED_BY(append_mu_) = false;
  mutable absl::Mutex mu_;
  std::map<std::string, Queue> queues_ ABSL_GUARDED_BY(mu_);        // dataset -> queue
  std::vector<v1::ReviewDecision> decisions_ ABSL_GUARDED_BY(mu_);  // seq - 1
  int64_t items_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<int64_t> refused_{0};
};

// The decision names a caller may send ("same", "different", "unsure",
// case-insensitive) as a verdict; UNSPECIFIED for anything else.
v1::ReviewVerdict ParseVerdict(std::string_view name);

}  // namespace linkage::service
