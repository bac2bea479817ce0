// The RocksDB store: person records with their normalized form, the blocking
// index, the identity-number index and term-frequency counters, each in its
// own column family. A record and all its index entries and counter changes
// are written in one WriteBatch, so a reader never sees one without the other
// and a crash leaves either the old or the new state.
#pragma once

#include <google/protobuf/arena.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "linkage/v1/record.pb.h"

namespace rocksdb {
class Env;
}

namespace linkage::index {

struct StoreOptions {
  // Create the database (and its parent directory) if the directory does
  // not exist or is empty. A directory that holds RocksDB files but no
  // CURRENT file is a damaged database, never a place for a new one: Open
  // refuses it (FailedPrecondition) whatever this says.
  bool create_if_missing = true;
  // Make every acknowledged write durable: the write-ahead log is synced
  // before Upsert, Delete or a reindex step returns. Concurrent writers
  // share one sync (group commit). Off: an acknowledged write survives a
  // crash of the process (kill -9) but not a power loss.
  bool sync_writes = true;
  // On opening a database whose write-ahead log is damaged in the middle,
  // recover what precedes the damage and drop the rest (reported by
  // Store::recovery_note()). Off (the default): Open fails with DataLoss
  // naming the log file, and nothing is dropped.
  bool accept_wal_loss = false;
  // Free space, in MiB, that writes leave on the database's volume: below
  // it, writes answer ResourceExhausted (reads go on) until space returns.
  // Keeps RocksDB from running out mid-flush or mid-compaction.
  size_t disk_reserve_mib = 256;
  // For tests: the RocksDB environment (e.g. one that injects faults);
  // null means the default.
  rocksdb::Env* env = nullptr;
  // Shared block cache for all column families, in MiB.
  size_t block_cache_mib = 256;
  // Keep a memory-resident match view of every dataset (normalized forms,
  // the current generation's blocks, identity numbers), loaded in the
  // background on open and kept in step with every write; queries read it
  // instead of RocksDB once it is ready. Costs ~400 MiB per million
  // records; makes a query against a 1M register several times cheaper.
  bool match_view = false;
};

// Index entries of one record, in the store's terms. The caller (the engine)
// derives them from the record with the linkage spec.
struct IndexEntries {
  struct Block {
    std::string rule;  // Blocking rule name: no '\0'.
    std::string key;   // Key value: no '\0'.
  };
  std::vector<Block> blocks;
  std::vector<std::string> ids;    // "c:<12 digits>" for CCCD, "m:<9>" for CMND.
  std::vector<std::string> terms;  // Term-frequency counters to increment.
};

// One record to upsert.
struct RecordWrite {
  v1::PersonRecord record;
  v1::NormalizedRecord normalized;
  IndexEntries entries;
  // While a reindex runs: the record's blocks under the new rules, written
  // into the next generation too (has_next says they were computed).
  std::vector<IndexEntries::Block> next_blocks;
  bool has_next = false;
};

// An index generation being built beside the current one.
struct ReindexState {
  uint32_t target_generation = 0;
  std::string cursor;  // Records key after which the pass continues.
  std::string model;   // Serialized v1::Model the new generation is for.
  int64_t done = 0;    // Records indexed so far.
};

// Where a write sits in the replicated change log (DESIGN §11, linkd
// --role writer/reader). With log_seq set, the store records it in meta
// (LogPosition) in the same WriteBatch as the change, so a replica killed
// at any instant resumes exactly after the last change it applied; records
// are stamped with unix_micros, the writer's clock when it published the
// change, so every replica stores the same bytes. The zero tag: no log,
// the store's own clock.
struct WriteTag {
  uint64_t log_seq = 0;
  int64_t unix_micros = 0;
};

// What an upsert did to one record.
enum class WriteOutcome { kCreated, kUpdated, kUnchanged };

// Per-dataset counts for stats.
struct DatasetStats {
  std::string dataset;
  int64_t records = 0;
};

struct StoreStats {
  std::vector<DatasetStats> datasets;
  struct ColumnFamily {
    std::string name;
    uint64_t estimated_keys = 0;
    uint64_t live_data_bytes = 0;
    uint64_t sst_bytes = 0;
    // Bytes compaction must rewrite to bring the levels back in shape; when
    // it grows past RocksDB's soft limit, writes are slowed.
    uint64_t pending_compaction_bytes = 0;
    // Times writes were slowed down or stopped for this family since open
    // (memtables full, too many level-0 files, compaction debt).
    uint64_t write_slowdowns = 0;
    uint64_t write_stops = 0;
  };
  std::vector<ColumnFamily> column_families;
  // Whole database: compactions running now, whether writes are stopped
  // now, and the time writers spent waiting on stalls since open.
  uint64_t running_compactions = 0;
  bool write_stopped = false;
  uint64_t write_stall_micros = 0;
  // Match views (StoreOptions::match_view), one per dataset.
  struct View {
    std::string dataset;
    bool ready = false;
    int64_t records = 0;
    int64_t block_keys = 0;
    int64_t bytes = 0;  // Approximate memory held.
    // Where it was loaded from at open: "file" (saved at the last clean
    // close, and matching the database) or "rocksdb".
    std::string source;
  };
  std::vector<View> views;
};

// Index entries a record must have under the rules in force, for Check().
struct CheckRules {
  // The generation the rules below are for; Check answers Aborted if the
  // store's current generation is another (a reindex switched meanwhile).
  uint32_t generation = 0;
  // The record's entries under the current generation's rules.
  std::function<IndexEntries(const v1::StoredRecord&)> current;
  // While a reindex runs: its blocks under the next generation's rules.
  std::function<std::vector<IndexEntries::Block>(const v1::StoredRecord&)> next;
};

// The store's health, for the server's health service and logs.
struct StoreCondition {
  // Writes are accepted. False while the volume is below the space reserve
  // or RocksDB stopped writes after an error (retried automatically).
  bool writable = true;
  // Data on disk was found damaged (a checksum mismatch in a read, a flush
  // or a compaction): answers may be incomplete; the node should be taken
  // out of service and restored or repaired.
  bool damaged = false;
  // Why, in words without file paths; empty when all is well.
  std::string reason;
  // RocksDB's own words for the last error (may name files): for the
  // operator's log only, never for a caller.
  std::string detail;
  int64_t background_errors = 0;  // Since open.
};

// Result of Check(): every problem found, empty if the store is consistent.
struct CheckReport {
  int64_t records = 0;
  int64_t block_entries = 0;
  int64_t id_entries = 0;
  std::vector<std::string> problems;  // At most 100 are kept.
  int64_t problem_count = 0;
};

// The audit column family as a reader sees it: rows keyed by sequence
// number (1, 2, ...) holding one serialized entry each. The chain over them
// (hashes, verification) is linkage/audit.h's; the store only keeps bytes.
// Implemented by the Store and by OpenAuditReadOnly.
class AuditReader {
 public:
  virtual ~AuditReader() = default;
  // Calls fn(seq, bytes) for every row with seq >= from, in seq order, until
  // fn returns false. A key that is not 8 bytes is reported as seq 0.
  virtual absl::Status ScanAudit(
      uint64_t from, const std::function<bool(uint64_t seq, std::string_view bytes)>& fn) const = 0;
  // The row with the highest seq, if any.
  virtual absl::StatusOr<std::optional<std::pair<uint64_t, std::string>>> LastAudit() const = 0;
};

// One backup in a backup directory (RocksDB BackupEngine's layout).
struct BackupInfo {
  uint32_t id = 0;
  int64_t unix_seconds = 0;  // When it was taken.
  uint64_t size_bytes = 0;   // Its files, shared ones included.
  uint32_t files = 0;
  std::string metadata;  // What the caller stored with it (app metadata).
};

// --- Backups. A backup directory holds any number of backups of one
// database; files unchanged since an earlier backup are shared, so a new
// backup copies only what changed. Only complete backups are listed: the
// engine writes a backup's description last, after every file is copied
// and synced, and removes a half-written backup's files when it next
// opens the directory.

// The key layout version this build reads and writes (meta
// schema_version), which a backup records and a restore requires.
std::string_view LayoutVersion();

// The backups in `dir`, oldest first. Errors: `dir` is not a backup
// directory (NotFound) or cannot be read.
absl::StatusOr<std::vector<BackupInfo>> ListBackups(const std::string& dir);
// Re-reads every file of backup `id` (0: the newest) and compares its size
// and CRC32C with those recorded when it was made. Errors: DataLoss naming
// the damaged file; NotFound for an unknown id.
absl::StatusOr<BackupInfo> VerifyBackup(const std::string& dir, uint32_t id);
// Deletes all but the newest `keep` backups (keep >= 1) and the files only
// they used. Returns how many were deleted.
absl::StatusOr<int> PurgeBackups(const std::string& dir, uint32_t keep);
// Restores backup `id` (0: the newest) into `db_dir`, which must not exist
// or be empty (FailedPrecondition otherwise). Returns the restored backup.
absl::StatusOr<BackupInfo> RestoreBackup(const std::string& dir, uint32_t id,
                                         const std::string& db_dir);

// Opens the audit column family of the database at `path` for reading only,
// as a RocksDB secondary instance (its working files in a temporary
// directory, removed on close), so it works while linkd runs on the same
// directory or is stopped; it sees the rows the primary had written when it
// was opened. Changes no file of the database.
absl::StatusOr<std::unique_ptr<AuditReader>> OpenAuditReadOnly(const std::string& path);

class Store : public AuditReader {
 public:
  // Opens (or creates) the database at `path`. Errors: the path is not a
  // database and create_if_missing is off; RocksDB cannot open it (locked by
  // another process, corrupted).
  static absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options,
                                                     const std::string& path);

  virtual ~Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Upserts records into `dataset` in one atomic batch: either every record
  // and all its index entries are written, or nothing is. A record that was
  // already stored has exactly its old index entries removed and its counters
  // decremented. When a record id appears twice in `writes`, the last wins.
  // An identical re-upsert writes nothing (kUnchanged).
  // With a log tag the batch is written even when every record is
  // unchanged, to record the log position.
  virtual absl::StatusOr<std::vector<WriteOutcome>> Upsert(std::string_view dataset,
                                                           std::vector<RecordWrite> writes,
                                                           const WriteTag& tag = {}) = 0;

  // A first load of a whole dataset (linkctl import --bulk): records are
  // written as sorted SST files and ingested, bypassing the memtable and
  // the write-ahead log, in chunks of ~500,000. The dataset must be empty
  // and no reindex or repair unfinished. Each record id may be added once
  // (a second time is INVALID_ARGUMENT, nothing of that call written).
  // Finish() writes the counters and answers the records loaded. Ingested
  // chunks are durable; a load that stops part way leaves the chunks done,
  // which an ordinary import (idempotent upserts) completes.
  class BulkLoad {
   public:
    virtual ~BulkLoad() = default;
    virtual absl::Status Add(std::vector<RecordWrite> writes) = 0;
    virtual absl::StatusOr<int64_t> Finish() = 0;
  };
  // `chunk_records`: records per ingested chunk (0: the default, 500,000).
  virtual absl::StatusOr<std::unique_ptr<BulkLoad>> StartBulkLoad(std::string_view dataset,
                                                                  size_t chunk_records = 0) = 0;

  // Deletes a record and all its index entries. Returns false if it did not exist.
  // A missing record writes nothing (not even the tag's log position).
  virtual absl::StatusOr<bool> Delete(std::string_view dataset, std::string_view record_id,
                                      const WriteTag& tag = {}) = 0;

  // Reads one record; nullopt if it does not exist.
  virtual absl::StatusOr<std::optional<v1::StoredRecord>> Get(std::string_view dataset,
                                                              std::string_view record_id) const = 0;

  // Reads several records at once into `arena` (no per-string heap
  // allocation; freed with the arena); missing ones are null.
  virtual absl::StatusOr<std::vector<const v1::StoredRecord*>> MultiGet(
      std::string_view dataset, const std::vector<std::string>& record_ids,
      google::protobuf::Arena* arena) const = 0;

  // Read hints: where the store's memory-resident match view keeps a
  // record, handed back beside its id by ScanBlock and LookupId so that
  // MultiGetNormalized reads it without looking the id up again (at 1M+
  // people that lookup is a cache miss per candidate). kNoHint where there
  // is none. A hint never changes an answer: it is checked against the id
  // it came with, and the id is looked up when they differ (the record was
  // removed or the view reloaded since).
  using ReadHints = std::vector<uint32_t>;
  static constexpr uint32_t kNoHint = ~uint32_t{0};

  // The normalized forms alone (what comparison reads), into `arena`;
  // missing ones are null. `hints`, if not null, has one entry per id.
  virtual absl::StatusOr<std::vector<const v1::NormalizedRecord*>> MultiGetNormalized(
      std::string_view dataset, const std::vector<std::string>& record_ids, const ReadHints* hints,
      google::protobuf::Arena* arena) const = 0;
  absl::StatusOr<std::vector<const v1::NormalizedRecord*>> MultiGetNormalized(
      std::string_view dataset, const std::vector<std::string>& record_ids,
      google::protobuf::Arena* arena) const {
    return MultiGetNormalized(dataset, record_ids, nullptr, arena);
  }

  // Reads several records at once; missing ones are nullopt.
  virtual absl::StatusOr<std::vector<std::optional<v1::StoredRecord>>> MultiGet(
      std::string_view dataset, const std::vector<std::string>& record_ids) const = 0;

  // Appends to `ids` the record ids in one block, reading at most
  // `max_entries` + 1 entries. Returns false (and appends nothing) if the
  // block holds more than `max_entries`: an oversized block is no use for
  // finding candidates and costly to read. `hints`, if not null, gets one
  // entry per id appended.
  virtual absl::StatusOr<bool> ScanBlock(uint32_t generation, std::string_view dataset,
                                         std::string_view rule, std::string_view key,
                                         size_t max_entries, std::vector<std::string>* ids,
                                         ReadHints* hints) const = 0;
  absl::StatusOr<bool> ScanBlock(uint32_t generation, std::string_view dataset,
                                 std::string_view rule, std::string_view key, size_t max_entries,
                                 std::vector<std::string>* ids) const {
    return ScanBlock(generation, dataset, rule, key, max_entries, ids, nullptr);
  }

  // Record ids holding an identity number ("c:..." or "m:..."), at most
  // `max`; `hints` as for ScanBlock.
  virtual absl::Status LookupId(std::string_view dataset, std::string_view id_key, size_t max,
                                std::vector<std::string>* ids, ReadHints* hints) const = 0;
  absl::Status LookupId(std::string_view dataset, std::string_view id_key, size_t max,
                        std::vector<std::string>* ids) const {
    return LookupId(dataset, id_key, max, ids, nullptr);
  }

  // Term-frequency counter; 0 if never counted.
  virtual int64_t TermCount(std::string_view dataset, std::string_view term) const = 0;
  // Number of records in a dataset.
  virtual int64_t RecordCount(std::string_view dataset) const = 0;

  // Calls `fn` for every record of a dataset in key order until it returns false.
  virtual absl::Status ForEachRecord(
      std::string_view dataset, const std::function<bool(const v1::StoredRecord&)>& fn) const = 0;

  virtual StoreStats Stats() const = 0;

  // Verifies that every index entry points to a stored record that lists it,
  // every stored record's entries exist, the match views agree with RocksDB
  // and, with `rules`, that every record has exactly the entries the rules
  // in force produce for it (no more, no fewer), in the current generation
  // and in the one a reindex is building.
  virtual absl::StatusOr<CheckReport> Check(const CheckRules* rules = nullptr) const = 0;

  // Health: whether writes are accepted, whether damage was seen.
  virtual StoreCondition Condition() const = 0;

  // What opening the database recovered or dropped (accept_wal_loss), in
  // words; empty when nothing was dropped.
  virtual std::string recovery_note() const = 0;

  // --- Repair: rebuilds every derived column family (blocks, ids, terms,
  // match) from the records, which are the truth. Offline: no other
  // writer. Resumable: the state is kept in meta, and while a repair is
  // unfinished Upsert and Delete answer FailedPrecondition.
  //
  // Begins a repair (or does nothing if one is in progress): drops every
  // derived entry and any reindex in progress.
  virtual absl::Status StartRepair() = 0;
  // Re-derives up to `max` records after the cursor: the match entry from
  // the normalized form stored with the record, index entries and counters
  // from `entries_of` (the rules in force). Returns false once every record
  // is done (the repair is then over).
  using EntriesOf = std::function<IndexEntries(const v1::StoredRecord&)>;
  virtual absl::StatusOr<bool> RepairStep(size_t max, const EntriesOf& entries_of) = 0;
  // Records repaired so far, and whether a repair is unfinished.
  virtual std::optional<int64_t> RepairProgress() const = 0;

  // Index generations. Block keys carry the generation they belong to;
  // queries read the current one.
  virtual uint32_t generation() const = 0;
  virtual absl::StatusOr<std::optional<ReindexState>> GetReindexState() const = 0;
  // Begins building generation generation()+1 for `model` (serialized).
  // Errors: a reindex is already in progress (FailedPrecondition).
  virtual absl::Status StartReindex(const std::string& model) = 0;
  // Indexes up to `max` records after the cursor into the next generation,
  // under the same lock as upserts, and saves the cursor in the same batch.
  // `blocks_of` gives a record's blocks under the new rules. Returns false
  // once every record is done.
  using BlocksOf = std::function<std::vector<IndexEntries::Block>(const v1::StoredRecord&)>;
  virtual absl::StatusOr<bool> ReindexStep(size_t max, const BlocksOf& blocks_of) = 0;
  // Makes the next generation current and stores `model_key` -> model in
  // the same batch. The old generation stays until DropGeneration.
  virtual absl::Status FinishReindex(std::string_view model_key, const WriteTag& tag = {}) = 0;
  // Deletes every block entry of a generation (one range deletion).
  virtual absl::Status DropGeneration(uint32_t generation) = 0;

  // Small values in the meta column family (models, schema version).
  virtual absl::Status PutMeta(std::string_view key, std::string_view value,
                               const WriteTag& tag = {}) = 0;
  virtual absl::StatusOr<std::optional<std::string>> GetMeta(std::string_view key) const = 0;

  // The replicated log's position this store has applied (WriteTag), and
  // the stream it came from; 0 and "" for a store never fed from a log.
  struct LogPosition {
    uint64_t seq = 0;
    std::string stream;
  };
  virtual absl::StatusOr<LogPosition> GetLogPosition() const = 0;
  // Records `position` alone (a change that wrote nothing else, or the
  // stream a new replica follows). The seq never moves back:
  // FailedPrecondition if it would.
  virtual absl::Status SetLogPosition(const LogPosition& position) = 0;

  // Blocks until every match view scheduled so far is loaded (no-op
  // without match views). For tests and tools that want the fast path.
  virtual void AwaitMatchViews() const = 0;

  // Flushes memtables to disk (used on shutdown and by tests).
  virtual absl::Status Flush() = 0;

  // Writes one audit row (seq -> bytes) and returns a token for
  // AwaitAudit; the row is not yet durable. Callers serialize their appends
  // (linkage/audit.h's AuditLog does). Refused only when RocksDB refuses
  // the write (damage, a stopped database): the disk reserve that stops
  // record writes is what lets these small rows still be written.
  virtual absl::StatusOr<uint64_t> WriteAudit(uint64_t seq, std::string_view bytes) = 0;
  // Returns once every row up to `token` is durable (with sync_writes;
  // concurrent callers share one sync of the write-ahead log).
  virtual absl::Status AwaitAudit(uint64_t token) = 0;

  // The review desk's column family (service/review_desk.h gives the keys
  // their meaning; the store keeps bytes). WriteReview puts every pair in
  // one batch, with `durable` synced before it returns (with sync_writes);
  // refused like WriteAudit, and never on the disk reserve alone, so
  // decisions can be kept while record writes are stopped.
  virtual absl::Status WriteReview(const std::vector<std::pair<std::string, std::string>>& puts,
                                   bool durable = true) = 0;
  virtual absl::StatusOr<std::optional<std::string>> GetReview(std::string_view key) const = 0;
  // Calls fn(key, value) for every row whose key starts with `prefix`, in
  // key order, until fn returns false.
  virtual absl::Status ScanReview(
      std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) const = 0;

  // Adds a backup of the database to `dir` (made if missing) and returns
  // it. Online: it takes a RocksDB checkpoint (hard links to the live SST
  // files and a copy of the write-ahead log up to one instant, taken with
  // file deletions disabled; no linkd lock is held, so queries and writes
  // go on), opens that checkpoint as a private store, asks `metadata_of`
  // for the bytes to keep with the backup (so they describe exactly the
  // state backed up), flushes it and copies it into the backup directory
  // with BackupEngine. The checkpoint (a subdirectory of the database
  // directory, so that hard links work) is removed afterwards. Setting
  // `*stop` aborts it (Cancelled): nothing is listed for an aborted or
  // failed backup. One backup at a time per store (Aborted otherwise).
  // `copied(bytes)`, if set, is called as the copy goes on with the bytes
  // copied so far (in steps of 4 MiB; files an earlier backup holds are not
  // copied, so an incremental backup reports only what it adds).
  using BackupMetadataOf = std::function<absl::StatusOr<std::string>(Store& point)>;
  virtual absl::StatusOr<BackupInfo> Backup(
      const std::string& dir, const BackupMetadataOf& metadata_of, const std::atomic<bool>* stop,
      const std::function<void(uint64_t copied)>& copied = {}) = 0;

 protected:
  Store() = default;
};

}  // namespace linkage::index
