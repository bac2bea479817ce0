// Store::Open, the write path, reads and the match views. See rocks_store.h
// for where the rest lives.
#include <google/protobuf/util/message_differencer.h>
#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/table.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/strings.h"
#include "rocks_store.h"

namespace linkage::index {

using namespace keys;  // NOLINT(build/namespaces): the key layout, used throughout.

namespace {

// Counters: values are little-endian int64, merges add.
class Int64AddOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    int64_t base = existing ? DecodeInt64(std::string_view(existing->data(), existing->size())) : 0;
    *new_value = EncodeInt64(base + DecodeInt64(std::string_view(value.data(), value.size())));
    return true;
  }
  const char* Name() const override { return "linkd.Int64Add"; }
};

// Background errors (a failed flush, compaction or WAL write) stop RocksDB's
// writes; they are recorded for health and the log, and cleared when
// RocksDB (or the store's monitor, via Resume) recovers.
class HealthListener : public rocksdb::EventListener {
 public:
  explicit HealthListener(std::shared_ptr<HealthState> health) : health_(std::move(health)) {}
  void OnBackgroundError(rocksdb::BackgroundErrorReason /*reason*/,
                         rocksdb::Status* error) override {
    absl::MutexLock lock(&health_->mu);
    ++health_->background_errors;
    health_->background_error = *error;
    health_->detail = error->ToString();
    if (error->IsCorruption()) health_->damaged.store(true);
  }
  void OnErrorRecoveryEnd(const rocksdb::BackgroundErrorRecoveryInfo& info) override {
    if (!info.new_bg_error.ok()) return;
    absl::MutexLock lock(&health_->mu);
    health_->background_error = rocksdb::Status::OK();
    health_->detail.clear();
  }

 private:
  std::shared_ptr<HealthState> health_;
};

// A directory that holds RocksDB files but no CURRENT is a damaged
// database; opening it with create_if_missing would write an empty one
// over it and then delete its files as obsolete.
absl::Status RefuseDamagedDirectory(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec) || fs::exists(fs::path(path) / "CURRENT", ec))
    return absl::OkStatus();
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == "IDENTITY" || absl::StartsWith(name, "MANIFEST-") || absl::EndsWith(name, ".sst") ||
        absl::EndsWith(name, ".log") || absl::EndsWith(name, ".blob")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database directory ", path, " holds RocksDB files (", name,
          ") but no CURRENT file: it is a damaged database, and linkd will not create a new "
          "one over it. Restore it from a backup into an empty directory (linkd restore), or "
          "rebuild CURRENT with RocksDB's `ldb repair --db=",
          path, "` and then run `linkd repair --db ", path, "`"));
    }
  }
  return absl::OkStatus();
}

// What a point-in-time recovery dropped, from RocksDB's own LOG of this
// open (RocksDB reports it nowhere else).
std::string DroppedByRecovery(const std::string& path) {
  std::ifstream log(std::filesystem::path(path) / "LOG");
  std::string line;
  int64_t bytes = 0, places = 0;
  while (std::getline(log, line)) {
    size_t at = line.find("dropping ");
    if (at == std::string::npos) continue;
    ++places;
    bytes += std::atoll(line.c_str() + at + 9);
  }
  if (places == 0) return "";
  return absl::StrCat("the write-ahead log was damaged: ", bytes, " bytes in ", places,
                      " place(s) were dropped (acknowledged writes after the damage are lost)");
}

std::vector<std::string> WalFiles(const std::string& path) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    if (entry.path().extension() == ".log") out.push_back(entry.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// After an open refused for corruption: whether the write-ahead log is the
// damaged part, i.e. a read-only open that stops replaying at the damage
// succeeds (it changes no file).
bool WalIsWhatIsDamaged(rocksdb::Options options, const std::string& path,
                        const std::vector<rocksdb::ColumnFamilyDescriptor>& descriptors) {
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  options.listeners.clear();
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::OpenForReadOnly(options, path, descriptors, &handles, &raw).ok()) return false;
  for (auto* h : handles) (void)raw->DestroyColumnFamilyHandle(h);
  delete raw;
  return true;
}

}  // namespace

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsNotFound()) return absl::NotFoundError(absl::StrCat(AV(what), ": not found"));
  if (s.IsNoSpace() || (s.IsIOError() && absl::StrContains(s.ToString(), "No space left"))) {
    return absl::ResourceExhaustedError(
        absl::StrCat(AV(what),
                     ": the database volume is full; writes resume by themselves "
                     "once space is freed (reads go on)"));
  }
  if (s.IsCorruption()) {
    return absl::DataLossError(
        absl::StrCat(AV(what),
                     ": data on disk is damaged (checksum mismatch); see linkd's log, and restore "
                     "or repair the database"));
  }
  if (s.IsIOError()) {
    return absl::UnavailableError(absl::StrCat(AV(what), ": storage I/O error; see linkd's log"));
  }
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain())
    return absl::UnavailableError(absl::StrCat(AV(what), ": the database is busy; retry"));
  if (s.IsInvalidArgument())
    return absl::InvalidArgumentError(absl::StrCat(AV(what), ": ", s.getState()));
  return absl::InternalError(absl::StrCat(AV(what), ": storage error; see linkd's log"));
}

RocksStore::RocksStore(StoreOptions options, std::string path, std::unique_ptr<rocksdb::DB> db,
                       std::vector<rocksdb::ColumnFamilyHandle*> handles,
                       std::shared_ptr<HealthState> health)
    : options_(options),
      path_(std::move(path)),
      db_(std::move(db)),
      handles_(std::move(handles)),
      health_(std::move(health)) {
  write_options_.sync = false;
}

RocksStore::~RocksStore() {
  {
    absl::MutexLock lock(&views_mu_);
    stopping_ = true;
  }
  if (loader_.joinable()) loader_.join();
  stop_monitor_.Notify();
  if (monitor_.joinable()) monitor_.join();
  for (LoadJob& job : load_queue_) db_->ReleaseSnapshot(job.snapshot);
  // A full disk or a stopped database may refuse these: close anyway (what
  // was acknowledged is in the synced write-ahead log).
  (void)db_->FlushWAL(true);
  for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
  (void)db_->Close();
}

absl::Status RocksStore::LoadGenerations() {
  auto g = GetMeta(kGenerationKey);
  if (!g.ok()) return g.status();
  generation_.store(g->has_value() ? static_cast<uint32_t>(std::stoul(**g)) : 1);
  auto r = GetMeta(kReindexKey);
  if (!r.ok()) return r.status();
  absl::MutexLock lock(&write_mu_);
  if (r->has_value()) {
    ReindexState state;
    if (!ParseReindex(**r, &state)) return absl::DataLossError("the reindex state is unreadable");
    reindex_ = state;
  }
  auto repair = GetMeta(kRepairKey);
  if (!repair.ok()) return repair.status();
  if (repair->has_value()) {
    RepairRecord state;
    if (!ParseRepair(**repair, &state))
      return absl::DataLossError("the repair state is unreadable");
    repair_ = state;
  }
  return absl::OkStatus();
}

absl::Status RocksStore::DropStaleGenerations() {
  // Generations below the current one are left over when linkd stopped
  // between a reindex's switch and its drop of the old generation.
  const uint32_t current = generation_.load();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), H(Cf::kBlocks)));
  it->SeekToFirst();
  if (!it->status().ok()) return R(it->status(), "read the blocking index");
  if (!it->Valid() || GenerationOf(std::string_view(it->key().data(), it->key().size())) >= current)
    return absl::OkStatus();
  return DropGeneration(current - 1);
}

absl::Status RocksStore::DropGeneration(uint32_t generation) {
  // Everything below the next one: older leftovers go too.
  absl::MutexLock lock(&write_mu_);
  rocksdb::WriteBatch drop;
  (void)drop.DeleteRange(H(Cf::kBlocks), GenerationPrefix(0), GenerationPrefix(generation + 1));
  return CommitLocked(&drop, "drop index generation");
}

void RocksStore::StartMatchViews() {
  if (!options_.match_view) return;
  absl::MutexLock lock(&write_mu_);
  for (const DatasetStats& d : Stats().datasets) EnsureViewLocked(d.dataset);
  loader_ = std::thread([this] { LoadViews(); });
}

void RocksStore::StartMonitor() {
  monitor_ = std::thread([this] { Monitor(); });
}

void RocksStore::Monitor() {
  do {
    struct statvfs fs {};
    if (statvfs(path_.c_str(), &fs) == 0) {
      const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
      health_->low_space.store(free_bytes < (options_.disk_reserve_mib << 20));
    }
    bool stopped;
    {
      absl::MutexLock lock(&health_->mu);
      stopped = !health_->background_error.ok() && !health_->damaged.load();
    }
    // Writes stopped on an error that may have passed (a full disk): try
    // to resume once there is room again. Damage is not retried.
    if (stopped && !health_->low_space.load() && db_->Resume().ok()) {
      absl::MutexLock lock(&health_->mu);
      health_->background_error = rocksdb::Status::OK();
      health_->detail.clear();
    }
  } while (!stop_monitor_.WaitForNotificationWithTimeout(absl::Milliseconds(500)));
}

StoreCondition RocksStore::Condition() const {
  StoreCondition c;
  absl::MutexLock lock(&health_->mu);
  c.background_errors = health_->background_errors;
  c.damaged = health_->damaged.load();
  const bool stopped = !health_->background_error.ok();
  c.writable = !stopped && !health_->low_space.load() && !c.damaged;
  if (c.damaged) {
    c.reason = "data on disk is damaged (a checksum mismatch)";
  } else if (health_->low_space.load()) {
    c.reason = absl::StrCat("less than the reserve of ", options_.disk_reserve_mib,
                            " MiB is free on the database volume");
  } else if (stopped) {
    c.reason =
        absl::StrCat("writes stopped after a storage error: ",
                     health_->background_error.IsNoSpace() ? "the volume is full" : "see detail");
  }
  c.detail = health_->detail;
  return c;
}

absl::Status RocksStore::R(const rocksdb::Status& s, std::string_view what) const {
  if (s.IsCorruption()) {
    health_->damaged.store(true);
    absl::MutexLock lock(&health_->mu);
    health_->detail = s.ToString();
  }
  return FromRocks(s, what);
}

absl::Status RocksStore::Writable() const {
  if (health_->damaged.load()) {
    return absl::DataLossError(
        "data on disk is damaged: writes are refused until the database is restored or "
        "repaired (see linkd's log)");
  }
  if (health_->low_space.load()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the database volume has less than the reserve of ", options_.disk_reserve_mib,
                     " MiB free: writes are refused until space is freed (reads go on)"));
  }
  absl::MutexLock lock(&health_->mu);
  if (!health_->background_error.ok()) return FromRocks(health_->background_error, "write");
  return absl::OkStatus();
}

absl::StatusOr<rocksdb::SequenceNumber> RocksStore::WriteLocked(rocksdb::WriteBatch* batch) {
  absl::Status st = R(db_->Write(write_options_, batch), "write");
  if (!st.ok()) return st;
  return db_->GetLatestSequenceNumber();
}

absl::Status RocksStore::AwaitDurable(rocksdb::SequenceNumber seq) const {
  if (!options_.sync_writes) return absl::OkStatus();
  absl::MutexLock lock(&sync_mu_);
  if (synced_seq_ >= seq) return absl::OkStatus();  // Another writer's sync covered it.
  const rocksdb::SequenceNumber upto = db_->GetLatestSequenceNumber();
  absl::Status st = R(db_->SyncWAL(), "sync the write-ahead log");
  if (!st.ok()) return st;
  synced_seq_ = upto;
  return absl::OkStatus();
}

absl::Status RocksStore::CommitLocked(rocksdb::WriteBatch* batch, std::string_view what) {
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  return R(db_->Write(wo, batch), what);
}

void RocksStore::RemoveEntries(const v1::StoredRecord& old, std::string_view dataset,
                               rocksdb::WriteBatch& batch) const {
  for (const std::string& k : old.block_keys()) (void)batch.Delete(H(Cf::kBlocks), k);
  for (const std::string& k : old.next_block_keys()) (void)batch.Delete(H(Cf::kBlocks), k);
  for (const std::string& k : old.id_keys()) (void)batch.Delete(H(Cf::kIds), k);
  for (const std::string& t : old.tf_keys())
    (void)batch.Merge(H(Cf::kTerms), TermKey(dataset, t), EncodeInt64(-1));
}

v1::StoredRecord RocksStore::StoredForm(std::string_view dataset, RecordWrite w) const {
  v1::StoredRecord s;
  std::set<std::string> seen;
  for (const auto& b : w.entries.blocks) {
    std::string k =
        absl::StrCat(BlockPrefix(generation_, dataset, b.rule, b.key), w.record.record_id());
    if (seen.insert(k).second) s.add_block_keys(std::move(k));
  }
  if (reindex_.has_value()) {
    for (const auto& b : w.next_blocks) {
      std::string k = absl::StrCat(BlockPrefix(reindex_->target_generation, dataset, b.rule, b.key),
                                   w.record.record_id());
      if (seen.insert(k).second) s.add_next_block_keys(std::move(k));
    }
  }
  for (const auto& id : w.entries.ids) {
    std::string k = absl::StrCat(IdPrefix(dataset, id), w.record.record_id());
    if (seen.insert(k).second) s.add_id_keys(std::move(k));
  }
  std::set<std::string> terms(w.entries.terms.begin(), w.entries.terms.end());
  for (const auto& t : terms) s.add_tf_keys(t);
  w.record.set_dataset(std::string(dataset));
  *s.mutable_record() = std::move(w.record);
  *s.mutable_normalized() = std::move(w.normalized);
  return s;
}

absl::StatusOr<std::vector<WriteOutcome>> RocksStore::Upsert(std::string_view dataset,
                                                             std::vector<RecordWrite> writes) {
  // Validate before touching anything.
  for (const RecordWrite& w : writes) {
    if (w.record.record_id().empty() || ContainsNul(w.record.record_id())) {
      return absl::InvalidArgumentError(
          absl::StrCat("record \"", w.record.record_id(), "\": record_id is empty or has NUL"));
    }
    for (const auto* blocks : {&w.entries.blocks, &w.next_blocks}) {
      for (const auto& b : *blocks) {
        if (ContainsNul(b.rule) || ContainsNul(b.key)) {
          return absl::InvalidArgumentError(
              absl::StrCat("record \"", w.record.record_id(), "\": blocking key has NUL"));
        }
      }
    }
  }
  if (absl::Status st = Writable(); !st.ok()) return st;

  rocksdb::SequenceNumber seq = 0;
  std::vector<WriteOutcome> outcomes(writes.size());
  {
    absl::MutexLock lock(&write_mu_);
    if (repair_.has_value())
      return absl::FailedPreconditionError("a repair of the database is unfinished");
    if (reindex_.has_value()) {
      for (const RecordWrite& w : writes) {
        if (!w.has_next) {
          return absl::InternalError(
              "upsert during a reindex without the next generation's entries");
        }
      }
    }
    std::vector<v1::StoredRecord> fresh;
    fresh.reserve(writes.size());
    for (RecordWrite& w : writes) fresh.push_back(StoredForm(dataset, std::move(w)));

    // Current state of every id in the batch: stored, or written earlier in it.
    std::map<std::string, std::optional<v1::StoredRecord>> current;
    {
      std::vector<std::string> keys;
      for (const auto& s : fresh) keys.push_back(RecordKey(dataset, s.record().record_id()));
      std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
      std::vector<std::string> values(keys.size());
      std::vector<rocksdb::Status> statuses = db_->MultiGet(
          rocksdb::ReadOptions(),
          std::vector<rocksdb::ColumnFamilyHandle*>(keys.size(), H(Cf::kRecords)), slices, &values);
      for (size_t i = 0; i < keys.size(); ++i) {
        if (current.count(keys[i])) continue;
        if (statuses[i].IsNotFound()) {
          current[keys[i]] = std::nullopt;
        } else if (!statuses[i].ok()) {
          return R(statuses[i], "read record before upsert");
        } else {
          v1::StoredRecord old;
          if (!old.ParseFromString(values[i])) {
            return absl::DataLossError(absl::StrCat(
                "stored record \"", fresh[i].record().record_id(), "\" is unreadable"));
          }
          current[keys[i]] = std::move(old);
        }
      }
    }

    rocksdb::WriteBatch batch;
    int64_t delta_records = 0;
    // What the match view applies once the batch is written.
    struct ViewPut {
      std::string record_id;
      MatchView::RecordKeys old, keys;
      std::string normalized;
    };
    std::shared_ptr<MatchView> view = EnsureViewLocked(dataset);
    std::vector<ViewPut> view_puts;
    auto keys_of = [&](const v1::StoredRecord& r) {
      MatchView::RecordKeys k;
      view->AddBlockKeys(dataset, r.block_keys(), &k);
      view->AddBlockKeys(dataset, r.next_block_keys(), &k);
      view->AddIdKeys(dataset, r.id_keys(), &k);
      return k;
    };
    const int64_t now = absl::ToUnixMicros(absl::Now());
    for (size_t i = 0; i < fresh.size(); ++i) {
      v1::StoredRecord& s = fresh[i];
      std::string key = RecordKey(dataset, s.record().record_id());
      std::optional<v1::StoredRecord>& old = current[key];
      if (old.has_value()) {
        v1::StoredRecord cmp = *old;
        cmp.set_updated_unix_micros(0);
        if (google::protobuf::util::MessageDifferencer::Equals(cmp, s)) {
          outcomes[i] = WriteOutcome::kUnchanged;
          continue;
        }
        RemoveEntries(*old, dataset, batch);
        outcomes[i] = WriteOutcome::kUpdated;
      } else {
        outcomes[i] = WriteOutcome::kCreated;
        ++delta_records;
      }
      for (const std::string& k : s.block_keys())
        (void)batch.Put(H(Cf::kBlocks), k, rocksdb::Slice());
      for (const std::string& k : s.next_block_keys())
        (void)batch.Put(H(Cf::kBlocks), k, rocksdb::Slice());
      for (const std::string& k : s.id_keys()) (void)batch.Put(H(Cf::kIds), k, rocksdb::Slice());
      for (const std::string& t : s.tf_keys())
        (void)batch.Merge(H(Cf::kTerms), TermKey(dataset, t), EncodeInt64(1));
      v1::StoredRecord cmp_form = s;  // Compared without the timestamp next time.
      s.set_updated_unix_micros(now);
      (void)batch.Put(H(Cf::kRecords), key, s.SerializeAsString());
      std::string normalized = s.normalized().SerializeAsString();
      (void)batch.Put(H(Cf::kMatch), key, normalized);
      if (view != nullptr) {
        view_puts.push_back({s.record().record_id(),
                             old.has_value() ? keys_of(*old) : MatchView::RecordKeys{}, keys_of(s),
                             std::move(normalized)});
      }
      s.set_updated_unix_micros(0);
      old = std::move(cmp_form);
    }
    if (delta_records != 0) {
      (void)batch.Merge(H(Cf::kTerms), CountKey(dataset), EncodeInt64(delta_records));
    }
    if (batch.Count() == 0) return outcomes;
    auto written = WriteLocked(&batch);
    if (!written.ok()) return written.status();
    seq = *written;
    for (ViewPut& p : view_puts) view->Put(p.record_id, p.old, p.keys, std::move(p.normalized));
  }
  if (absl::Status st = AwaitDurable(seq); !st.ok()) return st;
  return outcomes;
}

absl::StatusOr<bool> RocksStore::Delete(std::string_view dataset, std::string_view record_id) {
  if (absl::Status st = Writable(); !st.ok()) return st;
  rocksdb::SequenceNumber seq = 0;
  {
    absl::MutexLock lock(&write_mu_);
    if (repair_.has_value())
      return absl::FailedPreconditionError("a repair of the database is unfinished");
    std::string key = RecordKey(dataset, record_id);
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), H(Cf::kRecords), key, &value);
    if (s.IsNotFound()) return false;
    if (!s.ok()) return R(s, "read record before delete");
    v1::StoredRecord old;
    if (!old.ParseFromString(value)) {
      return absl::DataLossError(
          absl::StrCat("stored record \"", AV(record_id), "\" is unreadable"));
    }
    std::shared_ptr<MatchView> view = EnsureViewLocked(dataset);
    rocksdb::WriteBatch batch;
    RemoveEntries(old, dataset, batch);
    (void)batch.Delete(H(Cf::kRecords), key);
    (void)batch.Delete(H(Cf::kMatch), key);
    (void)batch.Merge(H(Cf::kTerms), CountKey(dataset), EncodeInt64(-1));
    auto written = WriteLocked(&batch);
    if (!written.ok()) return written.status();
    seq = *written;
    if (view != nullptr) {
      MatchView::RecordKeys keys;
      view->AddBlockKeys(dataset, old.block_keys(), &keys);
      view->AddBlockKeys(dataset, old.next_block_keys(), &keys);
      view->AddIdKeys(dataset, old.id_keys(), &keys);
      view->Remove(record_id, keys);
    }
  }
  if (absl::Status st = AwaitDurable(seq); !st.ok()) return st;
  return true;
}

absl::StatusOr<std::optional<v1::StoredRecord>> RocksStore::Get(std::string_view dataset,
                                                                std::string_view record_id) const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), H(Cf::kRecords), RecordKey(dataset, record_id), &value);
  if (s.IsNotFound()) return std::optional<v1::StoredRecord>();
  if (!s.ok()) return R(s, "get record");
  v1::StoredRecord r;
  if (!r.ParseFromString(value))
    return absl::DataLossError(absl::StrCat("stored record \"", AV(record_id), "\" is unreadable"));
  return std::optional<v1::StoredRecord>(std::move(r));
}

absl::StatusOr<std::vector<std::optional<v1::StoredRecord>>> RocksStore::MultiGet(
    std::string_view dataset, const std::vector<std::string>& record_ids) const {
  std::vector<std::string> keys;
  keys.reserve(record_ids.size());
  for (const auto& id : record_ids) keys.push_back(RecordKey(dataset, id));
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<std::string> values(keys.size());
  std::vector<rocksdb::Status> statuses = db_->MultiGet(
      rocksdb::ReadOptions(),
      std::vector<rocksdb::ColumnFamilyHandle*>(keys.size(), H(Cf::kRecords)), slices, &values);
  std::vector<std::optional<v1::StoredRecord>> out(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    if (!statuses[i].ok()) return R(statuses[i], "multiget records");
    v1::StoredRecord r;
    if (!r.ParseFromString(values[i]))
      return absl::DataLossError(
          absl::StrCat("stored record \"", record_ids[i], "\" is unreadable"));
    out[i] = std::move(r);
  }
  return out;
}

// Reads `record_ids` of one column family into arena messages of type M.
template <typename M>
absl::StatusOr<std::vector<const M*>> RocksStore::MultiGetInto(
    Cf cf, std::string_view dataset, const std::vector<std::string>& record_ids,
    google::protobuf::Arena* arena) const {
  std::vector<std::string> keys;
  keys.reserve(record_ids.size());
  for (const auto& id : record_ids) keys.push_back(RecordKey(dataset, id));
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  db_->MultiGet(rocksdb::ReadOptions(), H(cf), keys.size(), slices.data(), values.data(),
                statuses.data());
  std::vector<const M*> out(keys.size(), nullptr);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    if (!statuses[i].ok()) return R(statuses[i], "multiget");
    auto* r = google::protobuf::Arena::CreateMessage<M>(arena);
    if (!r->ParseFromArray(values[i].data(), static_cast<int>(values[i].size()))) {
      return absl::DataLossError(
          absl::StrCat("stored record \"", record_ids[i], "\" is unreadable"));
    }
    out[i] = r;
  }
  return out;
}

absl::StatusOr<std::vector<const v1::StoredRecord*>> RocksStore::MultiGet(
    std::string_view dataset, const std::vector<std::string>& record_ids,
    google::protobuf::Arena* arena) const {
  return MultiGetInto<v1::StoredRecord>(Cf::kRecords, dataset, record_ids, arena);
}

absl::StatusOr<std::vector<const v1::NormalizedRecord*>> RocksStore::MultiGetNormalized(
    std::string_view dataset, const std::vector<std::string>& record_ids,
    google::protobuf::Arena* arena) const {
  if (auto view = ViewFor(dataset); view != nullptr) {
    std::vector<const v1::NormalizedRecord*> out(record_ids.size(), nullptr);
    bool parsed = true;
    if (view->ForEachNormalized(record_ids, [&](size_t i, std::string_view bytes) {
          auto* r = google::protobuf::Arena::CreateMessage<v1::NormalizedRecord>(arena);
          if (r->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
            out[i] = r;
          } else {
            parsed = false;
          }
        })) {
      if (!parsed)
        return absl::DataLossError("a normalized record in the match view is unreadable");
      return out;
    }
  }
  return MultiGetInto<v1::NormalizedRecord>(Cf::kMatch, dataset, record_ids, arena);
}

absl::StatusOr<bool> RocksStore::ScanBlock(uint32_t generation, std::string_view dataset,
                                           std::string_view rule, std::string_view key,
                                           size_t max_entries,
                                           std::vector<std::string>* ids) const {
  if (auto view = ViewFor(dataset); view != nullptr && view->generation() == generation) {
    bool complete = true;
    if (view->ScanBlock(rule, key, max_entries, ids, &complete)) return complete;
  }
  std::string prefix = BlockPrefix(generation, dataset, rule, key);
  std::string upper = UpperBound(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, H(Cf::kBlocks)));
  size_t start = ids->size();
  size_t n = 0;
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    if (++n > max_entries) {
      ids->resize(start);
      return false;
    }
    ids->emplace_back(TrailingId(std::string_view(it->key().data(), it->key().size())));
  }
  if (!it->status().ok()) return R(it->status(), "scan block");
  return true;
}

absl::Status RocksStore::LookupId(std::string_view dataset, std::string_view id_key, size_t max,
                                  std::vector<std::string>* ids) const {
  if (auto view = ViewFor(dataset); view != nullptr && view->LookupId(id_key, max, ids))
    return absl::OkStatus();
  std::string prefix = IdPrefix(dataset, id_key);
  std::string upper = UpperBound(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, H(Cf::kIds)));
  size_t n = 0;
  for (it->Seek(prefix); it->Valid() && n < max; it->Next(), ++n) {
    ids->emplace_back(TrailingId(std::string_view(it->key().data(), it->key().size())));
  }
  return R(it->status(), "lookup id");
}

int64_t RocksStore::TermCount(std::string_view dataset, std::string_view term) const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), H(Cf::kTerms), TermKey(dataset, term), &value);
  return s.ok() ? DecodeInt64(value) : 0;
}

int64_t RocksStore::RecordCount(std::string_view dataset) const {
  std::string value;
  return db_->Get(rocksdb::ReadOptions(), H(Cf::kTerms), CountKey(dataset), &value).ok()
             ? DecodeInt64(value)
             : 0;
}

absl::Status RocksStore::ForEachRecord(
    std::string_view dataset, const std::function<bool(const v1::StoredRecord&)>& fn) const {
  std::string prefix = RecordKey(dataset, "");
  std::string upper = UpperBound(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, H(Cf::kRecords)));
  v1::StoredRecord r;
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    if (!r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          absl::StrCat("unreadable record at key ", it->key().ToString(true)));
    }
    if (!fn(r)) break;
  }
  return R(it->status(), "scan records");
}

StoreStats RocksStore::Stats() const {
  StoreStats stats;
  // Datasets: the record counters, all under one prefix.
  std::string prefix(kCountPrefix);
  std::string upper = UpperBound(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, H(Cf::kTerms)));
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    std::string_view k(it->key().data(), it->key().size());
    int64_t n = DecodeInt64(std::string_view(it->value().data(), it->value().size()));
    if (n > 0) stats.datasets.push_back({std::string(k.substr(kCountPrefix.size())), n});
  }
  for (const CfSpec& cf : kColumnFamilies) {
    StoreStats::ColumnFamily c;
    c.name = cf.name;
    (void)db_->GetIntProperty(H(cf.id), "rocksdb.estimate-num-keys", &c.estimated_keys);
    (void)db_->GetIntProperty(H(cf.id), "rocksdb.estimate-live-data-size", &c.live_data_bytes);
    (void)db_->GetIntProperty(H(cf.id), "rocksdb.total-sst-files-size", &c.sst_bytes);
    stats.column_families.push_back(std::move(c));
  }
  std::map<std::string, std::shared_ptr<MatchView>> views;
  {
    absl::MutexLock lock(&views_mu_);
    views = views_;
  }
  for (const auto& [dataset, view] : views) {
    MatchView::Usage u = view->usage();
    stats.views.push_back({dataset, view->ready(), u.records, u.block_keys, u.bytes});
  }
  return stats;
}

absl::Status RocksStore::PutMeta(std::string_view key, std::string_view value) {
  if (absl::Status st = Writable(); !st.ok()) return st;
  absl::MutexLock lock(&write_mu_);
  rocksdb::WriteBatch batch;
  (void)batch.Put(H(Cf::kMeta), key, value);
  return CommitLocked(&batch, "put meta");
}

absl::StatusOr<std::optional<std::string>> RocksStore::GetMeta(std::string_view key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), H(Cf::kMeta), key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return R(s, "get meta");
  return std::optional<std::string>(std::move(value));
}

absl::Status RocksStore::Flush() {
  rocksdb::FlushOptions fo;
  return R(db_->Flush(fo, handles_), "flush");
}

// --- Match views.

std::shared_ptr<MatchView> RocksStore::ViewFor(std::string_view dataset) const {
  if (!options_.match_view) return nullptr;
  absl::MutexLock lock(&views_mu_);
  auto it = views_.find(std::string(dataset));
  return it == views_.end() ? nullptr : it->second;
}

std::shared_ptr<MatchView> RocksStore::EnsureViewLocked(std::string_view dataset) {
  if (!options_.match_view) return nullptr;
  absl::MutexLock lock(&views_mu_);
  std::shared_ptr<MatchView>& view = views_[std::string(dataset)];
  if (view == nullptr || view->generation() != generation_.load()) {
    view = std::make_shared<MatchView>(generation_.load());
    load_queue_.push_back({std::string(dataset), view, db_->GetSnapshot()});
  }
  return view;
}

void RocksStore::RebuildViewsLocked() {
  if (!options_.match_view) return;
  absl::MutexLock lock(&views_mu_);
  for (auto& [dataset, view] : views_) {
    view = std::make_shared<MatchView>(generation_.load());
    load_queue_.push_back({dataset, view, db_->GetSnapshot()});
  }
}

void RocksStore::AwaitMatchViews() const {
  absl::MutexLock lock(&views_mu_);
  views_mu_.Await(absl::Condition(
      +[](const RocksStore* s)
           ABSL_NO_THREAD_SAFETY_ANALYSIS { return s->load_queue_.empty() && !s->loading_; },
      this));
}

void RocksStore::LoadViews() {
  while (true) {
    LoadJob job;
    {
      absl::MutexLock lock(&views_mu_);
      views_mu_.Await(absl::Condition(
          +[](RocksStore* s)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return s->stopping_ || !s->load_queue_.empty(); },
          this));
      if (stopping_) return;
      job = std::move(load_queue_.front());
      load_queue_.pop_front();
      loading_ = true;
    }
    absl::Status st = LoadView(job);
    db_->ReleaseSnapshot(job.snapshot);
    absl::MutexLock lock(&views_mu_);
    loading_ = false;
    if (!st.ok() && !stopping_) {
      // The view stays not ready: queries read RocksDB, as without views.
      auto it = views_.find(job.dataset);
      if (it != views_.end() && it->second == job.view) views_.erase(it);
    }
  }
}

absl::Status RocksStore::LoadView(const LoadJob& job) {
  rocksdb::ReadOptions ro;
  ro.snapshot = job.snapshot;
  ro.fill_cache = false;
  auto stopped = [this] {
    absl::MutexLock lock(&views_mu_);
    return stopping_;
  };
  int64_t n = 0;
  auto scan = [&](Cf cf, const std::string& prefix,
                  const std::function<void(rocksdb::Iterator&)>& fn) {
    std::string upper = UpperBound(prefix);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions scan_ro = ro;
    scan_ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(scan_ro, H(cf)));
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      fn(*it);
      if (++n % 65536 == 0 && stopped()) return absl::CancelledError("shutting down");
    }
    return R(it->status(), "load match view");
  };
  const std::string& dataset = job.dataset;
  const std::string record_prefix = RecordKey(dataset, "");
  absl::Status st = scan(Cf::kMatch, record_prefix, [&](rocksdb::Iterator& it) {
    std::string_view key(it.key().data(), it.key().size());
    job.view->LoadRecord(key.substr(record_prefix.size()), it.value().ToString());
  });
  if (!st.ok()) return st;
  st = scan(Cf::kBlocks, absl::StrCat(GenerationPrefix(job.view->generation()), record_prefix),
            [&](rocksdb::Iterator& it) {
              job.view->LoadBlockKey(dataset, std::string_view(it.key().data(), it.key().size()));
            });
  if (!st.ok()) return st;
  st = scan(Cf::kIds, record_prefix, [&](rocksdb::Iterator& it) {
    job.view->LoadIdKey(dataset, std::string_view(it.key().data(), it.key().size()));
  });
  if (!st.ok()) return st;
  job.view->FinishLoad();
  return absl::OkStatus();
}

// --- Open.

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options,
                                                   const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("database path is empty");
  if (absl::Status st = RefuseDamagedDirectory(path); !st.ok()) return st;
  if (options.create_if_missing) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec)
      return absl::UnavailableError(
          absl::StrCat("cannot create database directory ", path, ": ", ec.message()));
  }
  auto health = std::make_shared<HealthState>();
  rocksdb::Options db_options;
  if (options.env != nullptr) db_options.env = options.env;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);
  db_options.max_background_jobs = 2;
  db_options.bytes_per_sync = 1 << 20;
  // Damage in the middle of the write-ahead log stops the open instead of
  // silently dropping every acknowledged write after it; a torn last
  // record (a crash mid-write, never acknowledged) is tolerated.
  db_options.wal_recovery_mode = options.accept_wal_loss
                                     ? rocksdb::WALRecoveryMode::kPointInTimeRecovery
                                     : rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // Preallocating the write-ahead log (~70 MiB) made the first write fail
  // on a nearly full volume; appends need no preallocation on ext4/xfs.
  db_options.allow_fallocate = false;
  db_options.listeners.push_back(std::make_shared<HealthListener>(health));

  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(options.block_cache_mib << 20);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const CfSpec& cf : kColumnFamilies) {
    rocksdb::ColumnFamilyOptions cfo;
    cfo.OptimizeLevelStyleCompaction(64 << 20);
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = cache;
    table.cache_index_and_filter_blocks = true;
    if (cf.point_reads) table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    cfo.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    if (cf.counters) cfo.merge_operator = std::make_shared<Int64AddOperator>();
    descriptors.emplace_back(cf.name, cfo);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, path, descriptors, &handles, &raw);
  if (!s.ok()) {
    std::string detail = s.ToString();
    if (s.IsCorruption() && !options.accept_wal_loss &&
        WalIsWhatIsDamaged(db_options, path, descriptors)) {
      return absl::DataLossError(absl::StrCat(
          "database ", path, ": the write-ahead log (", absl::StrJoin(WalFiles(path), ", "),
          ") is damaged (", detail,
          "); replaying it past the damage would silently lose acknowledged writes. Restore "
          "from a backup, or start once with --accept-wal-loss to keep what precedes the "
          "damage (the loss is logged)"));
    }
    return absl::Status(FromRocks(s, "").code(),
                        absl::StrCat("cannot open database ", path, ": ", detail));
  }
  auto store = std::make_unique<RocksStore>(options, path, std::unique_ptr<rocksdb::DB>(raw),
                                            std::move(handles), health);
  if (options.accept_wal_loss) store->set_recovery_note(DroppedByRecovery(path));
  for (auto step : {&RocksStore::LoadGenerations, &RocksStore::MigrateSchema,
                    &RocksStore::DropStaleGenerations}) {
    if (absl::Status st = ((*store).*step)(); !st.ok()) return st;
  }
  store->StartMatchViews();
  store->StartMonitor();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace linkage::index
