// The matching engine: normalize -> block -> compare -> score -> rank ->
// decide -> explain, over a Store. Writes go through it too, so that a
// record's index entries are always derived from the model's linkage spec.
//
// Thread-safe: any number of concurrent Match/Get calls and writes. The model
// can be replaced while queries run; each query uses one model throughout.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "linkage/model.h"
#include "linkage/normalize.h"
#include "linkage/store.h"
#include "linkage/v1/match.pb.h"

namespace linkage::engine {

namespace internal {
struct Ranked;      // decide.h: one ranked candidate with its outcomes.
struct RankExtras;  // decide.h: what ranking found besides the ranking.
}  // namespace internal

struct EngineOptions {
  // Candidates scored per query at most; beyond it the candidates found by
  // the most blocking rules are kept and CANDIDATES_CAPPED is flagged.
  size_t max_candidates = 200;
  // A block with more records than this is skipped (BLOCK_OVERSIZED): it is
  // a common name in a common year and would swamp the query.
  size_t max_block_size = 2000;
  // Records looked up per identity number at most.
  size_t max_id_holders = 32;
  domain::NormalizeOptions normalize;
};

// Called just before a change reaches the store, once every check that
// could refuse it has passed: the replicated log (linkage/replication.h)
// publishes the change there and answers where it sits, which the store
// records in the same batch. An error refuses the change: nothing is
// written. Empty: no log.
using WriteHook = std::function<absl::StatusOr<index::WriteTag>()>;

// A reindex's switch under the log: called with the model switched to and
// the switch itself, it publishes the change and then performs the switch
// with the tag, holding whatever keeps other changes out between the two.
using SwitchHook = std::function<absl::Status(
    const v1::Model& target, const std::function<absl::Status(const index::WriteTag&)>& do_switch)>;

struct UpsertOptions {
  // Write the valid records and report the invalid ones, instead of
  // rejecting the whole batch.
  bool allow_partial = false;
  // Overrides EngineOptions::normalize.default_unit_version when set.
  v1::UnitVersion default_unit_version = v1::UNIT_VERSION_UNSPECIFIED;
  bool strict_dates = false;  // See domain::NormalizeOptions.
  // Called once every record is normalized, just before the store write
  // begins; if it returns an error, nothing is written and Upsert returns
  // that error. The service uses it to refuse a call whose deadline passed
  // or that was cancelled while it normalized (after this point the write
  // runs to its end).
  std::function<absl::Status()> before_write;
  // After before_write, when a record is to be written (none: not called).
  WriteHook log;
};

// What happened to one record of an upsert.
struct UpsertResult {
  index::WriteOutcome outcome = index::WriteOutcome::kUnchanged;
  absl::Status status;  // Not OK only with allow_partial: the record was rejected.
};

// What Train() fits the model on.
struct TrainOptions {
  std::string dataset;               // The register: u is estimated on its records.
  std::string link_dataset;          // A list to link to it; empty: deduplicate `dataset`.
  int64_t u_sample_records = 20000;  // Records sampled for random pairs.
  int64_t u_pairs = 300000;          // Random pairs compared for u.
  int64_t max_queries = 5000;        // Records whose blocked pairs train m.
  int max_iterations = 40;
  double tolerance = 1e-5;  // Largest change of any m that stops EM.
  uint64_t seed = 1;
  // If it becomes true (cancelled call, shutdown), Train stops within
  // milliseconds with Cancelled; nothing was installed.
  const std::atomic<bool>* stop = nullptr;
  // Called with (steps done, steps in all) now and then: a step is a
  // random pair compared for u, a query whose blocked pairs train m, or
  // one blocking rule's EM session.
  std::function<void(int64_t, int64_t)> progress;
};

struct TrainReport {
  int64_t u_pairs = 0;
  int64_t queries = 0;
  int64_t m_pairs = 0;
  int max_iterations_run = 0;
  bool converged = true;
  // Estimated share of queries whose person is in the dataset; the model's
  // prior is this share / dataset size.
  double match_share = 1;
  // One line per EM session (a blocking rule and the fields it left free).
  std::vector<std::string> sessions;
};

// What TrainAndInstall() did: the model trained, how, and whether it is now
// the model in force.
struct TrainedModel {
  v1::Model model;
  TrainReport report;
  bool installed = false;
  std::string previous_version;  // Set when installed: the version it replaced.
};

struct ReindexReport {
  int64_t records = 0;
  uint32_t generation = 0;  // Now current.
  std::string previous_version, version;
  bool resumed = false;
};

// What FindDuplicates() looks for.
struct DedupeOptions {
  std::string dataset;  // Every record of it is a query...
  std::string against;  // ...against this dataset; empty: against itself.
  // A pair whose probability is at least this is a duplicate link; 0: the
  // model's review probability (a link is for a reviewer to confirm; on
  // generated lists this balances precision and recall, docs/QUALITY.md).
  double threshold = 0;
  int top_k = 10;  // Candidates considered per record.
  // Optional: resolve every record against this dataset (the register)
  // first. Two records that are each a MATCH for different register people
  // are never linked; two that are a MATCH for the same one are linked
  // (DuplicateLink::via_register), however unlike they look to each other.
  std::string register_dataset;
  int threads = 2;
  // Called with (records done, total) between chunks; `stop` ends the job
  // early with Cancelled.
  std::function<void(int64_t, int64_t)> progress;
  const std::atomic<bool>* stop = nullptr;
};

struct DuplicateLink {
  std::string dataset_a, record_a, dataset_b, record_b;
  double probability = 0;
  double match_weight = 0;
  // Set when the link comes from both records matching this register
  // record (DedupeOptions::register_dataset); the probability is then the
  // lower of their two match probabilities.
  std::string via_register;
};

// Records held together by links above the threshold (a connected
// component). Links are taken strongest first; `tree` holds the links that
// joined the members (a maximum spanning tree), strongest first, and
// `weakest` is the tree link the cluster hangs on, explained field by field so a
// reviewer sees why the cluster is not two.
struct DuplicateCluster {
  std::vector<std::pair<std::string, std::string>> members;  // (dataset, record_id).
  std::vector<DuplicateLink> tree;                           // members.size() - 1 links.
  DuplicateLink weakest;
  std::vector<v1::FieldContribution> weakest_explanation;
};

struct DedupeReport {
  int64_t records = 0;  // Queries made.
  int64_t links = 0;    // Distinct pairs above the threshold.
  double threshold = 0;
  std::string model_version;
  std::vector<DuplicateCluster> clusters;  // Most doubtful (weakest link) first.
};

// What FindConflicts() reports: identity conflicts of a beneficiary list
// against the register, for an officer to work through.
struct Conflict {
  enum class Kind {
    kIdHeldByOther,   // The claimed ID's register holder is someone else.
    kIdClaimedTwice,  // Two list records claim one ID and are different people.
    kMatchedTwice,    // One register person is the answer for two list records.
  };
  Kind kind;
  std::string national_id;                     // The ID in question (digits), if any.
  std::string record_id;                       // The list record.
  std::string other_dataset, other_record_id;  // Whom it conflicts with.
  double probability = 0;                      // That they are the same person.
  std::string detail;                          // One sentence.
  std::vector<v1::FieldContribution> fields;   // Field by field, values shown.
};
std::string_view ConflictKindName(Conflict::Kind kind);

struct ConflictOptions {
  std::string dataset;  // The list.
  std::string against;  // The register.
  int threads = 2;
  const std::atomic<bool>* stop = nullptr;
};

struct ConflictReport {
  int64_t records = 0;
  std::string model_version;
  std::vector<Conflict> conflicts;  // Grouped by kind, then ID / register person.
};

struct MatchOptions {
  int top_k = 5;                  // Candidates returned (1..1000).
  bool include_records = false;   // Attach each candidate's stored record.
  bool explain = true;            // Fill per-field contributions,
  bool explain_values = true;     // with the compared values displayed.
  bool include_query = true;      // Fill MatchResult.query.
  std::string exclude_record_id;  // Never a candidate (self-matching).
  bool strict_dates = false;      // See domain::NormalizeOptions.
};

// What blocking met, summed over every query since the engine was made
// (Match, Verify, the streams and the jobs' own queries alike), for
// monitoring: how many candidates queries retrieve, how often a block was
// too big to read and how often the candidate cap cut the list.
struct RetrievalStats {
  // Upper bounds (inclusive) of the candidates-per-query buckets;
  // `candidate_buckets[i]` counts the queries that retrieved at most
  // kCandidateBounds[i] candidates and more than the bound before it, the
  // last element those above every bound. Candidates are counted as
  // retrieved, before the max_candidates cap.
  static constexpr std::array<int64_t, 12> kCandidateBounds = {0,  1,   2,   5,   10,   20,
                                                               50, 100, 200, 500, 1000, 5000};
  std::array<int64_t, kCandidateBounds.size() + 1> candidate_buckets{};
  int64_t queries = 0;
  int64_t candidates = 0;  // Sum over all queries.
  // Blocks skipped because they held more records than the server's
  // max_block_size (a rule's own smaller cap skips by design, not counted).
  int64_t blocks_skipped_oversized = 0;
  // Queries whose candidates were cut to max_candidates.
  int64_t queries_capped = 0;
};

class Engine {
 public:
  // `store` must outlive the engine. Errors: the model is invalid.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(const EngineOptions& options,
                                                        index::Store* store,
                                                        const v1::Model& model);

  // Normalizes and validates every record first; if any is invalid, returns
  // InvalidArgument naming the record and field and writes nothing.
  // Otherwise writes all of them in one atomic batch.
  absl::StatusOr<std::vector<index::WriteOutcome>> Upsert(
      std::string_view dataset, std::vector<v1::PersonRecord> records) const;

  // Same with options; with allow_partial, invalid records are reported in
  // their result (status naming the field) and the valid ones written in
  // one atomic batch. One result per input record, in order.
  absl::StatusOr<std::vector<UpsertResult>> Upsert(std::string_view dataset,
                                                   std::vector<v1::PersonRecord> records,
                                                   const UpsertOptions& options) const;

  // A first load (Store::StartBulkLoad): the records normalized and
  // indexed as Upsert does, on `threads` threads, and added to `load`.
  // Always allow_partial: invalid records are reported in their result and
  // the rest added. Outcomes of the added ones are kCreated.
  absl::StatusOr<std::vector<UpsertResult>> BulkAdd(index::Store::BulkLoad* load,
                                                    std::vector<v1::PersonRecord> records,
                                                    const UpsertOptions& options,
                                                    int threads = 2) const;

  // `log` is called only when the record exists.
  absl::StatusOr<bool> Delete(std::string_view dataset, std::string_view record_id,
                              const WriteHook& log = {}) const;
  absl::StatusOr<std::optional<v1::StoredRecord>> Get(std::string_view dataset,
                                                      std::string_view record_id) const;

  // Finds the records of `dataset` that may be the person in `query` (its
  // record_id may be empty). Writes nothing. Errors: InvalidArgument for a
  // bad query (naming the field), NotFound for a dataset with no records.
  absl::StatusOr<v1::MatchResult> Match(const v1::PersonRecord& query, std::string_view dataset,
                                        const MatchOptions& options) const;

  // Same, for a query already normalized.
  absl::StatusOr<v1::MatchResult> MatchNormalized(const v1::NormalizedRecord& query,
                                                  std::string_view dataset,
                                                  const MatchOptions& options) const;

  // Checks a claimed identity: the national ID's holder in `dataset` and
  // the demographic evidence of the claim (see v1::Verification). Errors:
  // InvalidArgument if the claim has no national_id or is invalid, NotFound
  // for an empty dataset.
  absl::StatusOr<v1::Verification> Verify(const v1::PersonRecord& claim, std::string_view dataset,
                                          bool strict_dates = false) const;

  // Same, also handing back the ranking the decision was made on (so a
  // caller that wants both pays for one search).
  struct VerifyOptions {
    bool strict_dates = false;         // See domain::NormalizeOptions.
    std::string exclude_record_id;     // As in MatchOptions.
    v1::MatchResult* match = nullptr;  // If set, receives the ranking:
    int match_top_k = 5;               // this many candidates,
    bool match_explain = true;         // with per-field contributions.
  };
  absl::StatusOr<v1::Verification> Verify(const v1::PersonRecord& claim, std::string_view dataset,
                                          const VerifyOptions& options) const;

  // Fits the model's m and u to the data, as Splink does: u from random
  // pairs of `dataset` records, m by expectation-maximisation on the pairs
  // blocking produces (one EM session per blocking rule, holding out the
  // fields that rule fixes, estimates combined across sessions). Reads
  // only; returns the new model (same spec, version "trained-<time>",
  // uncalibrated) without installing it. Errors: empty datasets.
  absl::StatusOr<std::pair<v1::Model, TrainReport>> Train(const TrainOptions& options) const;

  // Train(), then (unless `dry_run`) InstallModel() of the model it
  // returns: training and installing are one step for callers that want
  // the data's own parameters in force. A stop during training ends it
  // with Cancelled and installs nothing; once training has finished the
  // install is not interrupted. Errors: Train's, then InstallModel's.
  absl::StatusOr<TrainedModel> TrainAndInstall(const TrainOptions& options, bool dry_run = false,
                                               const WriteHook& log = {});

  // Finds the records of `dataset` that are the same person as another of
  // its records (or, with `against`, as a record of that dataset): every
  // record is matched with the model in force, pairs above the threshold
  // are linked and the links clustered. Reads only. Errors: empty datasets.
  absl::StatusOr<DedupeReport> FindDuplicates(const DedupeOptions& options) const;

  // Identity conflicts of `dataset` against `against`: every record is
  // verified (or matched, without an ID) and the answers cross-checked.
  // Reads only. Errors: empty datasets.
  absl::StatusOr<ConflictReport> FindConflicts(const ConflictOptions& options) const;

  std::shared_ptr<const model::CompiledModel> model() const;
  // Replaces the model atomically; queries in flight finish on the old one.
  // Not persisted (see InstallModel).
  absl::Status SetModel(const v1::Model& model);

  // Installs `model` for good: validates it, refuses a change of blocking
  // rules while any dataset has records (FailedPrecondition: the index was
  // built with the old rules), stores it with the data and switches to it
  // atomically. Returns the previous model's version.
  absl::StatusOr<std::string> InstallModel(const v1::Model& model, const WriteHook& log = {});

  // Rebuilds the blocking index for `model` (or for the model in force when
  // null) as a new generation beside the current one, while queries keep
  // using the current one and upserts write both; then switches model and
  // generation atomically and drops the old generation once no query uses
  // it. Resumes an interrupted reindex from where it stopped (then `model`
  // must be null or the same). `progress(done, total)` is called between
  // steps. Blocks the caller until done.
  // If `stop` becomes true, the pass stops between steps with Cancelled
  // (the state is saved: calling Reindex again resumes).
  // `around_switch`, when set, wraps the final switch (the replicated log).
  absl::StatusOr<ReindexReport> Reindex(const v1::Model* model,
                                        const std::function<void(int64_t, int64_t)>& progress = {},
                                        const std::atomic<bool>* stop = nullptr,
                                        const SwitchHook& around_switch = {});

  // The store's consistency check with the rules in force: besides what
  // Store::Check verifies, every record must have exactly the index entries
  // the current rules (and a reindex's next rules) produce for it.
  absl::StatusOr<index::CheckReport> CheckIndex() const;

  // Rebuilds every derived column family (blocks, ids, terms, match) from
  // the records with the rules in force, resuming an unfinished repair.
  // Offline: nothing else may write to the store meanwhile (linkd repair).
  // If `stop` becomes true, stops between steps with Cancelled (run it
  // again to resume). Returns the number of records repaired.
  absl::StatusOr<int64_t> Repair(const std::function<void(int64_t, int64_t)>& progress = {},
                                 const std::atomic<bool>* stop = nullptr);

  // The model stored with the data by InstallModel, if any.
  static absl::StatusOr<std::optional<v1::Model>> LoadStoredModel(index::Store* store);

  const EngineOptions& options() const { return options_; }
  index::Store* store() const { return store_; }

  // A snapshot of the counters (each read on its own: a query counted
  // meanwhile may show in some and not yet in others).
  RetrievalStats retrieval_stats() const;

 private:
  Engine(const EngineOptions& options, index::Store* store,
         std::shared_ptr<const model::CompiledModel> model);

  // What queries use, swapped as one unit: rules and the index generation
  // built with them.
  struct Serving {
    std::shared_ptr<const model::CompiledModel> model;
    uint32_t generation = 1;
  };
  std::shared_ptr<const Serving> serving() const;
  static index::IndexEntries Entries(const model::CompiledModel& m, const v1::NormalizedRecord& n);

  // MatchNormalized with the model and generation `serving` (pinned by the
  // caller for its whole query or job, as leveldb's Get pins one Version),
  // also handing back the first `keep` ranked candidates.
  absl::StatusOr<v1::MatchResult> Rank(const Serving& serving, const v1::NormalizedRecord& query,
                                       std::string_view dataset, const MatchOptions& options,
                                       size_t keep, std::vector<internal::Ranked>* ranked,
                                       internal::RankExtras* extras = nullptr) const;
  // Verify of a normalized claim, every step with `serving`.
  absl::StatusOr<v1::Verification> VerifyNormalized(const Serving& serving,
                                                    const v1::NormalizedRecord& query,
                                                    const std::string& claim_record_id,
                                                    std::string_view dataset,
                                                    const VerifyOptions& options) const;

  // Blocking: candidate ids (in id order; capped, best-covered first), the
  // rules that found each, and the holders of the query's identity numbers.
  struct Retrieved {
    std::vector<std::string> ids;
    index::Store::ReadHints hints;  // One per id, for MultiGetNormalized.
    struct Found {
      std::vector<int> rules;
      uint32_t hint = index::Store::kNoHint;
    };
    absl::flat_hash_map<std::string, Found> found;
    std::vector<std::string> id_holders;  // Of either number.
    std::vector<std::string> national_holders, old_holders;
  };
  absl::StatusOr<Retrieved> Retrieve(const v1::NormalizedRecord& query, std::string_view dataset,
                                     const model::CompiledModel& m, uint32_t generation,
                                     const std::string& exclude,
                                     std::set<std::string>* flags) const;

  const EngineOptions options_;
  index::Store* const store_;
  // RetrievalStats' counters, added to by every Retrieve (relaxed: they
  // order nothing).
  struct RetrievalCounters {
    std::array<std::atomic<int64_t>, RetrievalStats::kCandidateBounds.size() + 1> buckets{};
    std::atomic<int64_t> queries{0}, candidates{0}, oversized{0}, capped{0};
  };
  mutable RetrievalCounters retrieval_counters_;
  absl::Mutex install_mu_;  // One model installation or reindex at a time.
  // Upserts hold it shared; starting and finishing a reindex exclusively,
  // so no write straddles a change of rules or generation.
  mutable absl::Mutex upsert_mu_;
  mutable absl::Mutex model_mu_;
  std::shared_ptr<const Serving> serving_ ABSL_GUARDED_BY(model_mu_);
  // The rules of the generation being built, while a reindex runs.
  std::shared_ptr<const model::CompiledModel> next_model_ ABSL_GUARDED_BY(model_mu_);
};

}  // namespace linkage::engine
