// The RocksDB implementation of Store. Internal to the index layer: its
// members are split over store.cc (open, write path, reads, match views),
// reindex_store.cc (index generations), repair.cc (rebuilding derived data,
// layout migration) and check.cc (the consistency check).
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <array>
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "keys.h"
#include "linkage/store.h"
#include "match_view.h"

namespace linkage::index {

// Column families, declared once. The order is the handle order.
enum class Cf : size_t {
  kDefault,
  kRecords,
  kBlocks,
  kIds,
  kTerms,
  kMeta,
  kMatch,
  kAudit,
  kReview,
  kCount
};

struct CfSpec {
  Cf id;
  const char* name;
  bool counters;     // Uses the int64 add merge operator.
  bool point_reads;  // Gets a Bloom filter.
  bool derived;      // Rebuilt from the records by a repair.
};

inline constexpr std::array<CfSpec, static_cast<size_t>(Cf::kCount)> kColumnFamilies = {{
    {Cf::kDefault, "default", false, false, false},
    {Cf::kRecords, "records", false, true, false},
    {Cf::kBlocks, "blocks", false, false, true},
    {Cf::kIds, "ids", false, false, true},
    {Cf::kTerms, "terms", true, true, true},
    {Cf::kMeta, "meta", false, true, false},
    // What comparison reads: the normalized form alone, keyed like records.
    {Cf::kMatch, "match", false, true, true},
    // The audit log: 8-byte big-endian seq -> one serialized AuditEntry.
    // Never derived, never rebuilt: a repair leaves it alone.
    {Cf::kAudit, "audit", false, false, false},
    // The review desk (service/review_desk.h): queued items and decisions.
    // Never derived: a repair leaves it alone.
    {Cf::kReview, "review", false, true, false},
}};

// Converts a RocksDB status for a caller: the code says what the caller may
// do (ResourceExhausted: the disk is full; DataLoss: damage on disk;
// Unavailable: retry later) and the message holds no file path.
absl::Status FromRocks(const rocksdb::Status& s, std::string_view what);

// What the store knows of its own health; shared with the RocksDB event
// listener, which may outlive nothing but is called from RocksDB's threads.
struct HealthState {
  absl::Mutex mu;
  rocksdb::Status background_error ABSL_GUARDED_BY(mu);  // Unresolved error.
  std::string detail ABSL_GUARDED_BY(mu);                // For the operator's log.
  int64_t background_errors ABSL_GUARDED_BY(mu) = 0;
  std::atomic<bool> damaged{false};
  std::atomic<bool> low_space{false};
};

class RocksStore final : public Store {
 public:
  RocksStore(StoreOptions options, std::string path, std::unique_ptr<rocksdb::DB> db,
             std::vector<rocksdb::ColumnFamilyHandle*> handles,
             std::shared_ptr<HealthState> health);
  ~RocksStore() override;

  // Called once by Open, in this order.
  absl::Status LoadGenerations();
  absl::Status MigrateSchema();
  absl::Status DropStaleGenerations();
  void StartMatchViews();
  void StartMonitor();
  void set_recovery_note(std::string note) { recovery_note_ = std::move(note); }

  // --- Store.
  absl::StatusOr<std::vector<WriteOutcome>> Upsert(std::string_view dataset,
                                                   std::vector<RecordWrite> writes,
                                                   const WriteTag& tag = {}) override;
  absl::StatusOr<bool> Delete(std::string_view dataset, std::string_view record_id,
                              const WriteTag& tag = {}) override;
  absl::StatusOr<std::optional<v1::StoredRecord>> Get(std::string_view dataset,
                                                      std::string_view record_id) const override;
  absl::StatusOr<std::vector<std::optional<v1::StoredRecord>>> MultiGet(
      std::string_view dataset, const std::vector<std::string>& record_ids) const override;
  absl::StatusOr<std::vector<const v1::StoredRecord*>> MultiGet(
      std::string_view dataset, const std::vector<std::string>& record_ids,
      google::protobuf::Arena* arena) const override;
  using Store::LookupId;
  using Store::MultiGetNormalized;
  using Store::ScanBlock;
  absl::StatusOr<std::vector<const v1::NormalizedRecord*>> MultiGetNormalized(
      std::string_view dataset, const std::vector<std::string>& record_ids, const ReadHints* hints,
      google::protobuf::Arena* arena) const override;
  absl::StatusOr<bool> ScanBlock(uint32_t generation, std::string_view dataset,
                                 std::string_view rule, std::string_view key, size_t max_entries,
                                 std::vector<std::string>* ids, ReadHints* hints) const override;
  absl::Status LookupId(std::string_view dataset, std::string_view id_key, size_t max,
                        std::vector<std::string>* ids, ReadHints* hints) const override;
  int64_t TermCount(std::string_view dataset, std::string_view term) const override;
  int64_t RecordCount(std::string_view dataset) const override;
  absl::Status ForEachRecord(std::string_view dataset,
                             const std::function<bool(const v1::StoredRecord&)>& fn) const override;
  StoreStats Stats() const override;
  absl::StatusOr<CheckReport> Check(const CheckRules* rules) const override;
  StoreCondition Condition() const override;
  std::string recovery_note() const override { return recovery_note_; }

  uint32_t generation() const override { return generation_.load(); }
  absl::StatusOr<std::optional<ReindexState>> GetReindexState() const override;
  absl::Status StartReindex(const std::string& model) override;
  absl::StatusOr<bool> ReindexStep(size_t max, const BlocksOf& blocks_of) override;
  absl::Status FinishReindex(std::string_view model_key, const WriteTag& tag = {}) override;
  absl::Status DropGeneration(uint32_t generation) override;

  absl::Status StartRepair() override;
  absl::StatusOr<bool> RepairStep(size_t max, const EntriesOf& entries_of) override;
  std::optional<int64_t> RepairProgress() const override;

  absl::Status PutMeta(std::string_view key, std::string_view value,
                       const WriteTag& tag = {}) override;
  absl::StatusOr<std::optional<std::string>> GetMeta(std::string_view key) const override;
  absl::StatusOr<LogPosition> GetLogPosition() const override;
  absl::Status SetLogPosition(const LogPosition& position) override;
  void AwaitMatchViews() const override;
  absl::Status Flush() override;

  absl::Status ScanAudit(
      uint64_t from,
      const std::function<bool(uint64_t seq, std::string_view bytes)>& fn) const override;
  absl::StatusOr<std::optional<std::pair<uint64_t, std::string>>> LastAudit() const override;
  absl::StatusOr<uint64_t> WriteAudit(uint64_t seq, std::string_view bytes) override;
  absl::Status AwaitAudit(uint64_t token) override;
  absl::Status WriteReview(const std::vector<std::pair<std::string, std::string>>& puts,
                           bool durable) override;
  absl::StatusOr<std::optional<std::string>> GetReview(std::string_view key) const override;
  absl::Status ScanReview(
      std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) const override;
  absl::StatusOr<BackupInfo> Backup(const std::string& dir, const BackupMetadataOf& metadata_of,
                                    const std::atomic<bool>* stop,
                                    const std::function<void(uint64_t)>& copied) override;

 private:
  rocksdb::ColumnFamilyHandle* H(Cf cf) const { return handles_[static_cast<size_t>(cf)]; }

  // FromRocks, also noting damage (a corruption seen in any read or write).
  absl::Status R(const rocksdb::Status& s, std::string_view what) const;
  // OK unless writes are refused now (space below the reserve, or RocksDB
  // stopped writing after an error): then ResourceExhausted / Unavailable.
  absl::Status Writable() const;
  // Writes `batch`; with sync_writes, returns only once it is durable.
  // Called under write_mu_; the sync itself happens after the caller
  // releases the lock (see Commit / AwaitDurable).
  absl::StatusOr<rocksdb::SequenceNumber> WriteLocked(rocksdb::WriteBatch* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Group commit: syncs the write-ahead log up to `seq` unless a sync by
  // another writer already covered it.
  absl::Status AwaitDurable(rocksdb::SequenceNumber seq) const;
  // Writes and syncs a small batch (meta changes, reindex steps) under
  // write_mu_.
  absl::Status CommitLocked(rocksdb::WriteBatch* batch, std::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  absl::StatusOr<std::unique_ptr<BulkLoad>> StartBulkLoad(std::string_view dataset,
                                                          size_t chunk_records) override;

  // Adds to `batch` the removal of everything `old` wrote.
  // Adds the tag's log position to `batch` (nothing for the zero tag).
  void TagLocked(const WriteTag& tag, rocksdb::WriteBatch& batch) const;
  void RemoveEntries(const v1::StoredRecord& old, std::string_view dataset,
                     rocksdb::WriteBatch& batch) const;
  // The stored form of a record: its keys under the current generation
  // (and the next, while a reindex runs), ids and terms.
  v1::StoredRecord StoredForm(std::string_view dataset, RecordWrite w) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  friend class RocksBulkLoad;
  template <typename M>
  absl::StatusOr<std::vector<const M*>> MultiGetInto(Cf cf, std::string_view dataset,
                                                     const std::vector<std::string>& record_ids,
                                                     google::protobuf::Arena* arena) const;

  // Match views. A view is created (under write_mu_, with a snapshot taken
  // at the same instant) before any write to its dataset, and loaded from
  // the snapshot by the loader thread; writes made meanwhile are queued in
  // the view and replayed, so it ends exactly in step.
  struct LoadJob {
    std::string dataset;
    std::shared_ptr<MatchView> view;
    const rocksdb::Snapshot* snapshot;
    bool from_file = false;  // Try the view's saved file first (at open).
  };
  // Where a dataset's view is saved at close, and the stamp that says
  // which state of the database it matches.
  std::string ViewFile(std::string_view dataset) const;
  std::string ViewStamp() const;
  void SaveViews();
  std::shared_ptr<MatchView> ViewFor(std::string_view dataset) const;
  std::shared_ptr<MatchView> EnsureViewLocked(std::string_view dataset)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Replaces every view by a new one loaded from now (after a switch of
  // generation or a repair).
  void RebuildViewsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void LoadViews();
  absl::Status LoadView(const LoadJob& job);

  // Every half second: free space against the reserve, and a resume of
  // writes once the error that stopped them is gone.
  void Monitor();

  const StoreOptions options_;
  const std::string path_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  const std::shared_ptr<HealthState> health_;
  rocksdb::WriteOptions write_options_;  // Never sync: AwaitDurable does.
  std::string recovery_note_;

  // Serializes read-modify-write of index entries; reads take no lock.
  mutable absl::Mutex write_mu_;
  std::atomic<uint32_t> generation_{1};  // Written under write_mu_.
  std::optional<ReindexState> reindex_ ABSL_GUARDED_BY(write_mu_);
  std::optional<keys::RepairRecord> repair_ ABSL_GUARDED_BY(write_mu_);

  mutable absl::Mutex sync_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  mutable rocksdb::SequenceNumber synced_seq_ ABSL_GUARDED_BY(sync_mu_) = 0;

  mutable absl::Mutex views_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  std::map<std::string, std::shared_ptr<MatchView>> views_ ABSL_GUARDED_BY(views_mu_);
  std::deque<LoadJob> load_queue_ ABSL_GUARDED_BY(views_mu_);
  bool loading_ ABSL_GUARDED_BY(views_mu_) = false;
  std::string open_stamp_;  // ViewStamp() when the views started loading.
  bool stopping_ ABSL_GUARDED_BY(views_mu_) = false;
  std::thread loader_;

  absl::Mutex backup_mu_;  // Held while a backup runs (one at a time).

  absl::Notification stop_monitor_;
  std::thread monitor_;
};

}  // namespace linkage::index
