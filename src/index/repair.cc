// Rebuilding the derived column families from the records, and migrating
// the key layout on open.
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "rocks_store.h"

namespace linkage::index {

using namespace keys;  // NOLINT(build/namespaces)

absl::Status RocksStore::MigrateSchema() {
  // Kept as a StatusOr: GCC 12 warns (maybe-uninitialized, a false
  // positive) when the optional is moved out of it here.
  auto schema = GetMeta(kSchemaKey);
  if (!schema.ok()) return schema.status();
  if (!schema->has_value()) return PutMeta(kSchemaKey, kSchemaVersion);
  if (**schema == kSchemaVersion) return absl::OkStatus();
  // 2 -> 3: the audit column family, created empty by the open.
  if (**schema == "2") return PutMeta(kSchemaKey, kSchemaVersion);
  if (**schema != "1") {
    return absl::FailedPreconditionError(
        absl::StrCat("database ", path_, " has key layout version ", **schema,
                     "; this linkd reads version ", AV(kSchemaVersion)));
  }
  // 1 -> 2: fill the match column family from the records.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), H(Cf::kRecords)));
  absl::MutexLock lock(&write_mu_);
  rocksdb::WriteBatch batch;
  v1::StoredRecord r;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (!r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          absl::StrCat("unreadable record at key ", it->key().ToString(true)));
    }
    (void)batch.Put(H(Cf::kMatch), it->key(), r.normalized().SerializeAsString());
    if (batch.Count() >= 10000) {
      LINKD_RETURN_IF_ERROR(CommitLocked(&batch, "migrate"));
      batch.Clear();
    }
  }
  if (!it->status().ok()) return R(it->status(), "migrate");
  (void)batch.Put(H(Cf::kMeta), kSchemaKey, kSchemaVersion);
  return CommitLocked(&batch, "migrate");
}

absl::Status RocksStore::StartRepair() {
  LINKD_RETURN_IF_ERROR(Writable());
  absl::MutexLock lock(&write_mu_);
  if (repair_.has_value()) return absl::OkStatus();  // Resumed.
  rocksdb::WriteBatch batch;
  for (const CfSpec& cf : kColumnFamilies) {
    if (cf.derived) (void)batch.DeleteRange(H(cf.id), "", MaxKey());
  }
  // A reindex in progress built on the derived data: it starts over.
  (void)batch.Delete(H(Cf::kMeta), kReindexKey);
  const RepairRecord state;
  (void)batch.Put(H(Cf::kMeta), kRepairKey, SerializeRepair(state));
  LINKD_RETURN_IF_ERROR(CommitLocked(&batch, "start repair"));
  repair_ = state;
  reindex_.reset();
  return absl::OkStatus();
}

absl::StatusOr<bool> RocksStore::RepairStep(size_t max, const EntriesOf& entries_of) {
  LINKD_RETURN_IF_ERROR(Writable());
  absl::MutexLock lock(&write_mu_);
  if (!repair_.has_value()) return absl::FailedPreconditionError("no repair in progress");
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), H(Cf::kRecords)));
  if (repair_->cursor.empty()) {
    it->SeekToFirst();
  } else {
    it->Seek(repair_->cursor);
    if (it->Valid() && it->key().ToString() == repair_->cursor) it->Next();
  }
  rocksdb::WriteBatch batch;
  std::map<std::string, int64_t> counts;
  RepairRecord next = *repair_;
  size_t n = 0;
  for (; it->Valid() && n < max; it->Next(), ++n) {
    v1::StoredRecord old;
    std::string key = it->key().ToString();
    const std::string dataset(DatasetOf(key));
    if (!old.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrCat("record at key ", it->key().ToString(true),
                                              " is unreadable: restore it from a backup"));
    }
    RecordWrite w;
    w.entries = entries_of(old);
    w.record = old.record();
    w.normalized = old.normalized();
    v1::StoredRecord s = StoredForm(dataset, std::move(w));
    s.set_updated_unix_micros(old.updated_unix_micros());
    for (const std::string& k : s.block_keys()) (void)batch.Put(H(Cf::kBlocks), k, "");
    for (const std::string& k : s.id_keys()) (void)batch.Put(H(Cf::kIds), k, "");
    for (const std::string& t : s.tf_keys())
      (void)batch.Merge(H(Cf::kTerms), TermKey(dataset, t), EncodeInt64(1));
    (void)batch.Put(H(Cf::kMatch), key, s.normalized().SerializeAsString());
    (void)batch.Put(H(Cf::kRecords), key, s.SerializeAsString());
    ++counts[dataset];
    next.cursor = std::move(key);
  }
  if (!it->status().ok()) return R(it->status(), "repair scan");
  for (const auto& [dataset, count] : counts)
    (void)batch.Merge(H(Cf::kTerms), CountKey(dataset), EncodeInt64(count));
  next.done += static_cast<int64_t>(n);
  const bool more = it->Valid();
  if (more) {
    (void)batch.Put(H(Cf::kMeta), kRepairKey, SerializeRepair(next));
  } else {
    (void)batch.Delete(H(Cf::kMeta), kRepairKey);
  }
  LINKD_RETURN_IF_ERROR(CommitLocked(&batch, "repair step"));
  if (more) {
    repair_ = next;
  } else {
    repair_.reset();
    RebuildViewsLocked();
  }
  return more;
}

std::optional<int64_t> RocksStore::RepairProgress() const {
  absl::MutexLock lock(&write_mu_);
  if (!repair_.has_value()) return std::nullopt;
  return repair_->done;
}

}  // namespace linkage::index
