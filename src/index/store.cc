// RocksStore's life (generations, the monitor, health) and the write path:
// Upsert and Delete under one write lock, committed with group commit. Open
// is in open.cc, reads and match views in read.cc; rocks_store.h says where
// the rest lives.
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
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "rocks_store.h"

namespace linkage::index {

using namespace keys;  // NOLINT(build/namespaces): the key layout, used throughout.

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
  SaveViews();
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
  LINKD_ASSIGN_OR_RETURN(auto g, GetMeta(kGenerationKey));
  generation_.store(g.has_value() ? static_cast<uint32_t>(std::stoul(*g)) : 1);
  LINKD_ASSIGN_OR_RETURN(auto r, GetMeta(kReindexKey));
  absl::MutexLock lock(&write_mu_);
  if (r.has_value()) {
    ReindexState state;
    if (!ParseReindex(*r, &state)) return absl::DataLossError("the reindex state is unreadable");
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
  open_stamp_ = ViewStamp();
  for (const DatasetStats& d : Stats().datasets) EnsureViewLocked(d.dataset);
  {
    absl::MutexLock views_lock(&views_mu_);
    for (LoadJob& job : load_queue_) job.from_file = true;
  }
  loader_ = std::thread([this] { LoadViews(); });
}

std::string RocksStore::ViewStamp() const {
  std::string identity;
  (void)db_->GetDbIdentity(identity);
  return absl::StrCat(identity, "@", db_->GetLatestSequenceNumber());
}

std::string RocksStore::ViewFile(std::string_view dataset) const {
  // Hex, so that any dataset name makes a plain file name.
  std::string name = "linkd-view-";
  for (unsigned char c : dataset) absl::StrAppend(&name, absl::Hex(c, absl::kZeroPad2));
  return absl::StrCat(path_, "/", name, ".bin");
}

void RocksStore::SaveViews() {
  if (!options_.match_view) return;
  // Under the write lock: the views then match the last sequence number.
  absl::MutexLock lock(&write_mu_);
  const std::string stamp = ViewStamp();
  std::map<std::string, std::shared_ptr<MatchView>> views;
  {
    absl::MutexLock views_lock(&views_mu_);
    views = views_;
  }
  for (const auto& [dataset, view] : views) {
    // Best effort: without the file the next start loads from RocksDB.
    if (view->ready() && view->generation() == generation_.load())
      (void)view->Save(ViewFile(dataset), stamp, dataset);
  }
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
  LINKD_RETURN_IF_ERROR(R(db_->Write(write_options_, batch), "write"));
  return db_->GetLatestSequenceNumber();
}

absl::Status RocksStore::AwaitDurable(rocksdb::SequenceNumber seq) const {
  if (!options_.sync_writes) return absl::OkStatus();
  absl::MutexLock lock(&sync_mu_);
  if (synced_seq_ >= seq) return absl::OkStatus();  // Another writer's sync covered it.
  const rocksdb::SequenceNumber upto = db_->GetLatestSequenceNumber();
  LINKD_RETURN_IF_ERROR(R(db_->SyncWAL(), "sync the write-ahead log"));
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

void RocksStore::TagLocked(const WriteTag& tag, rocksdb::WriteBatch& batch) const {
  if (tag.log_seq != 0) (void)batch.Put(H(Cf::kMeta), kLogSeqKey, absl::StrCat(tag.log_seq));
}

absl::StatusOr<std::vector<WriteOutcome>> RocksStore::Upsert(std::string_view dataset,
                                                             std::vector<RecordWrite> writes,
                                                             const WriteTag& tag) {
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
  LINKD_RETURN_IF_ERROR(Writable());

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
      const v1::NormalizedRecord* normalized;  // In `fresh`.
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
    const int64_t now = tag.unix_micros != 0 ? tag.unix_micros : absl::ToUnixMicros(absl::Now());
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
                             &s.normalized()});
      }
      s.set_updated_unix_micros(0);
      old = std::move(cmp_form);
    }
    if (delta_records != 0) {
      (void)batch.Merge(H(Cf::kTerms), CountKey(dataset), EncodeInt64(delta_records));
    }
    TagLocked(tag, batch);
    if (batch.Count() == 0) return outcomes;
    LINKD_ASSIGN_OR_RETURN(auto written, WriteLocked(&batch));
    seq = written;
    for (ViewPut& p : view_puts) view->Put(p.record_id, p.old, p.keys, *p.normalized);
  }
  LINKD_RETURN_IF_ERROR(AwaitDurable(seq));
  return outcomes;
}

absl::StatusOr<bool> RocksStore::Delete(std::string_view dataset, std::string_view record_id,
                                        const WriteTag& tag) {
  LINKD_RETURN_IF_ERROR(Writable());
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
    TagLocked(tag, batch);
    LINKD_ASSIGN_OR_RETURN(auto written, WriteLocked(&batch));
    seq = written;
    if (view != nullptr) {
      MatchView::RecordKeys keys;
      view->AddBlockKeys(dataset, old.block_keys(), &keys);
      view->AddBlockKeys(dataset, old.next_block_keys(), &keys);
      view->AddIdKeys(dataset, old.id_keys(), &keys);
      view->Remove(record_id, keys);
    }
  }
  LINKD_RETURN_IF_ERROR(AwaitDurable(seq));
  return true;
}

}  // namespace linkage::index
