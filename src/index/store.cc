#include "linkage/store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/table.h>
#include <google/protobuf/util/message_differencer.h>
#include <rocksdb/write_batch.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "linkage/strings.h"

namespace linkage::index {
namespace {

// Column families, declared once. The order is the handle order.
enum class Cf : size_t { kDefault, kRecords, kBlocks, kIds, kTerms, kMeta, kCount };

struct CfSpec {
  Cf id;
  const char* name;
  bool counters;     // Uses the int64 add merge operator.
  bool point_reads;  // Gets a Bloom filter.
};

constexpr std::array<CfSpec, static_cast<size_t>(Cf::kCount)> kColumnFamilies = {{
    {Cf::kDefault, "default", false, false},
    {Cf::kRecords, "records", false, true},
    {Cf::kBlocks, "blocks", false, false},
    {Cf::kIds, "ids", false, false},
    {Cf::kTerms, "terms", true, true},
    {Cf::kMeta, "meta", false, true},
}};

constexpr char kSep = '\0';
// Per-dataset record counters live in the terms column family under a
// prefix that starts with the separator, so they sort before every
// dataset's terms and Stats() reads them without scanning the terms.
constexpr std::string_view kCountPrefix{"\0records\0", 9};
constexpr std::string_view kSchemaKey = "schema_version";
constexpr std::string_view kSchemaVersion = "1";
constexpr uint32_t kIndexGeneration = 1;  // Bumped by reindex (later).

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(AV(what), ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsIOError()) return absl::UnavailableError(msg);
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return absl::UnavailableError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  return absl::InternalError(msg);
}

std::string EncodeInt64(int64_t v) {
  std::string out(8, '\0');
  uint64_t u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((u >> (8 * i)) & 0xff);
  return out;
}

int64_t DecodeInt64(std::string_view s) {
  if (s.size() != 8) return 0;
  uint64_t u = 0;
  for (int i = 7; i >= 0; --i) u = (u << 8) | static_cast<unsigned char>(s[static_cast<size_t>(i)]);
  return static_cast<int64_t>(u);
}

// Counters: values are little-endian int64, merges add.
class Int64AddOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger* /*logger*/) const override {
    int64_t base = existing ? DecodeInt64(std::string_view(existing->data(), existing->size())) : 0;
    *new_value = EncodeInt64(base + DecodeInt64(std::string_view(value.data(), value.size())));
    return true;
  }
  const char* Name() const override { return "linkd.Int64Add"; }
};

std::string RecordKey(std::string_view dataset, std::string_view record_id) {
  return absl::StrCat(AV(dataset), AV(std::string_view(&kSep, 1)), AV(record_id));
}

std::string GenerationPrefix() {
  std::string g(4, '\0');
  for (int i = 0; i < 4; ++i) g[static_cast<size_t>(i)] = static_cast<char>((kIndexGeneration >> (8 * (3 - i))) & 0xff);
  return g;
}

std::string BlockPrefix(std::string_view dataset, std::string_view rule, std::string_view key) {
  std::string sep(1, kSep);
  return absl::StrCat(GenerationPrefix(), AV(dataset), sep, AV(rule), sep, AV(key), sep);
}

std::string IdPrefix(std::string_view dataset, std::string_view id) {
  std::string sep(1, kSep);
  return absl::StrCat(AV(dataset), sep, AV(id), sep);
}

std::string CountKey(std::string_view dataset) { return absl::StrCat(AV(kCountPrefix), AV(dataset)); }

std::string TermKey(std::string_view dataset, std::string_view term) {
  return absl::StrCat(AV(dataset), AV(std::string_view(&kSep, 1)), AV(term));
}

// The smallest key greater than every key starting with `prefix` (which
// always ends in the separator '\0' here).
std::string UpperBound(std::string prefix) {
  prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

// The record id is what follows the last separator of an index key.
std::string_view TrailingId(std::string_view key) {
  size_t pos = key.rfind(kSep);
  return pos == std::string_view::npos ? key : key.substr(pos + 1);
}

bool ContainsNul(std::string_view s) { return s.find(kSep) != std::string_view::npos; }

class RocksStore final : public Store {
 public:
  RocksStore(StoreOptions options, std::unique_ptr<rocksdb::DB> db,
             std::vector<rocksdb::ColumnFamilyHandle*> handles)
      : options_(options), db_(std::move(db)), handles_(std::move(handles)) {
    write_options_.sync = options_.sync_writes;
  }

  ~RocksStore() override {
    (void)db_->FlushWAL(true);
    for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
    (void)db_->Close();
  }

  absl::StatusOr<std::vector<WriteOutcome>> Upsert(std::string_view dataset,
                                                   std::vector<RecordWrite> writes) override;
  absl::StatusOr<bool> Delete(std::string_view dataset, std::string_view record_id) override;
  absl::StatusOr<std::optional<v1::StoredRecord>> Get(std::string_view dataset,
                                                      std::string_view record_id) const override;
  absl::StatusOr<std::vector<std::optional<v1::StoredRecord>>> MultiGet(
      std::string_view dataset, const std::vector<std::string>& record_ids) const override;
  absl::StatusOr<bool> ScanBlock(std::string_view dataset, std::string_view rule, std::string_view key,
                                 size_t max_entries, std::vector<std::string>* ids) const override;
  absl::Status LookupId(std::string_view dataset, std::string_view id_key, size_t max,
                        std::vector<std::string>* ids) const override;
  int64_t TermCount(std::string_view dataset, std::string_view term) const override;
  int64_t RecordCount(std::string_view dataset) const override {
    std::string value;
    return db_->Get(rocksdb::ReadOptions(), H(Cf::kTerms), CountKey(dataset), &value).ok() ? DecodeInt64(value) : 0;
  }
  absl::Status ForEachRecord(std::string_view dataset,
                             const std::function<bool(const v1::StoredRecord&)>& fn) const override;
  StoreStats Stats() const override;
  absl::StatusOr<CheckReport> Check() const override;
  absl::Status PutMeta(std::string_view key, std::string_view value) override {
    return FromRocks(db_->Put(write_options_, H(Cf::kMeta), key, value), "put meta");
  }
  absl::StatusOr<std::optional<std::string>> GetMeta(std::string_view key) const override {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), H(Cf::kMeta), key, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, "get meta");
    return std::optional<std::string>(std::move(value));
  }
  absl::Status Flush() override {
    rocksdb::FlushOptions fo;
    return FromRocks(db_->Flush(fo, handles_), "flush");
  }

 private:
  rocksdb::ColumnFamilyHandle* H(Cf cf) const { return handles_[static_cast<size_t>(cf)]; }

  // Adds to `batch` the removal of everything `old` wrote.
  void RemoveEntries(const v1::StoredRecord& old, std::string_view dataset, rocksdb::WriteBatch& batch) const;

  const StoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::WriteOptions write_options_;
  // Serializes read-modify-write of index entries; reads take no lock.
  mutable absl::Mutex write_mu_;
};

void RocksStore::RemoveEntries(const v1::StoredRecord& old, std::string_view dataset,
                               rocksdb::WriteBatch& batch) const {
  for (const std::string& k : old.block_keys()) (void)batch.Delete(H(Cf::kBlocks), k);
  for (const std::string& k : old.id_keys()) (void)batch.Delete(H(Cf::kIds), k);
  for (const std::string& t : old.tf_keys()) (void)batch.Merge(H(Cf::kTerms), TermKey(dataset, t), EncodeInt64(-1));
}

absl::StatusOr<std::vector<WriteOutcome>> RocksStore::Upsert(std::string_view dataset,
                                                             std::vector<RecordWrite> writes) {
  // Build the new stored forms and validate keys before touching anything.
  std::vector<v1::StoredRecord> fresh(writes.size());
  for (size_t i = 0; i < writes.size(); ++i) {
    RecordWrite& w = writes[i];
    if (w.record.record_id().empty() || ContainsNul(w.record.record_id())) {
      return absl::InvalidArgumentError(absl::StrCat("record \"", w.record.record_id(), "\": record_id is empty or has NUL"));
    }
    v1::StoredRecord& s = fresh[i];
    std::set<std::string> seen;
    for (const auto& b : w.entries.blocks) {
      if (ContainsNul(b.rule) || ContainsNul(b.key)) {
        return absl::InvalidArgumentError(absl::StrCat("record \"", w.record.record_id(), "\": blocking key has NUL"));
      }
      std::string k = absl::StrCat(BlockPrefix(dataset, b.rule, b.key), w.record.record_id());
      if (seen.insert(k).second) s.add_block_keys(std::move(k));
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
  }

  absl::MutexLock lock(&write_mu_);
  // Current state of every id in the batch: stored, or written earlier in it.
  std::map<std::string, std::optional<v1::StoredRecord>> current;
  {
    std::vector<std::string> keys;
    for (const auto& s : fresh) keys.push_back(RecordKey(dataset, s.record().record_id()));
    std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
    std::vector<std::string> values(keys.size());
    std::vector<rocksdb::Status> statuses =
        db_->MultiGet(rocksdb::ReadOptions(), std::vector<rocksdb::ColumnFamilyHandle*>(keys.size(), H(Cf::kRecords)),
                      slices, &values);
    for (size_t i = 0; i < keys.size(); ++i) {
      if (current.count(keys[i])) continue;
      if (statuses[i].IsNotFound()) {
        current[keys[i]] = std::nullopt;
      } else if (!statuses[i].ok()) {
        return FromRocks(statuses[i], "read record before upsert");
      } else {
        v1::StoredRecord old;
        if (!old.ParseFromString(values[i])) {
          return absl::DataLossError(absl::StrCat("stored record \"", fresh[i].record().record_id(), "\" is unreadable"));
        }
        current[keys[i]] = std::move(old);
      }
    }
  }

  rocksdb::WriteBatch batch;
  std::vector<WriteOutcome> outcomes(fresh.size());
  int64_t delta_records = 0;
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
    for (const std::string& k : s.block_keys()) (void)batch.Put(H(Cf::kBlocks), k, rocksdb::Slice());
    for (const std::string& k : s.id_keys()) (void)batch.Put(H(Cf::kIds), k, rocksdb::Slice());
    for (const std::string& t : s.tf_keys()) (void)batch.Merge(H(Cf::kTerms), TermKey(dataset, t), EncodeInt64(1));
    v1::StoredRecord cmp_form = s;  // Compared without the timestamp next time.
    s.set_updated_unix_micros(now);
    (void)batch.Put(H(Cf::kRecords), key, s.SerializeAsString());
    s.set_updated_unix_micros(0);
    old = std::move(cmp_form);
  }
  if (delta_records != 0) {
    (void)batch.Merge(H(Cf::kTerms), CountKey(dataset), EncodeInt64(delta_records));
  }
  if (batch.Count() > 0) {
    absl::Status st = FromRocks(db_->Write(write_options_, &batch), "write batch");
    if (!st.ok()) return st;
  }
  return outcomes;
}

absl::StatusOr<bool> RocksStore::Delete(std::string_view dataset, std::string_view record_id) {
  absl::MutexLock lock(&write_mu_);
  std::string key = RecordKey(dataset, record_id);
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), H(Cf::kRecords), key, &value);
  if (s.IsNotFound()) return false;
  if (!s.ok()) return FromRocks(s, "read record before delete");
  v1::StoredRecord old;
  if (!old.ParseFromString(value)) return absl::DataLossError(absl::StrCat("stored record \"", AV(record_id), "\" is unreadable"));
  rocksdb::WriteBatch batch;
  RemoveEntries(old, dataset, batch);
  (void)batch.Delete(H(Cf::kRecords), key);
  (void)batch.Merge(H(Cf::kTerms), CountKey(dataset), EncodeInt64(-1));
  absl::Status st = FromRocks(db_->Write(write_options_, &batch), "delete record");
  if (!st.ok()) return st;
  return true;
}

absl::StatusOr<std::optional<v1::StoredRecord>> RocksStore::Get(std::string_view dataset,
                                                                std::string_view record_id) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), H(Cf::kRecords), RecordKey(dataset, record_id), &value);
  if (s.IsNotFound()) return std::optional<v1::StoredRecord>();
  if (!s.ok()) return FromRocks(s, "get record");
  v1::StoredRecord r;
  if (!r.ParseFromString(value)) return absl::DataLossError(absl::StrCat("stored record \"", AV(record_id), "\" is unreadable"));
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
      rocksdb::ReadOptions(), std::vector<rocksdb::ColumnFamilyHandle*>(keys.size(), H(Cf::kRecords)), slices, &values);
  std::vector<std::optional<v1::StoredRecord>> out(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    if (!statuses[i].ok()) return FromRocks(statuses[i], "multiget records");
    v1::StoredRecord r;
    if (!r.ParseFromString(values[i])) return absl::DataLossError(absl::StrCat("stored record \"", record_ids[i], "\" is unreadable"));
    out[i] = std::move(r);
  }
  return out;
}

absl::StatusOr<bool> RocksStore::ScanBlock(std::string_view dataset, std::string_view rule, std::string_view key,
                                           size_t max_entries, std::vector<std::string>* ids) const {
  std::string prefix = BlockPrefix(dataset, rule, key);
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
  if (!it->status().ok()) return FromRocks(it->status(), "scan block");
  return true;
}

absl::Status RocksStore::LookupId(std::string_view dataset, std::string_view id_key, size_t max,
                                  std::vector<std::string>* ids) const {
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
  return FromRocks(it->status(), "lookup id");
}

int64_t RocksStore::TermCount(std::string_view dataset, std::string_view term) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), H(Cf::kTerms), TermKey(dataset, term), &value);
  return s.ok() ? DecodeInt64(value) : 0;
}

absl::Status RocksStore::ForEachRecord(std::string_view dataset,
                                       const std::function<bool(const v1::StoredRecord&)>& fn) const {
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
      return absl::DataLossError(absl::StrCat("unreadable record at key ", it->key().ToString(true)));
    }
    if (!fn(r)) break;
  }
  return FromRocks(it->status(), "scan records");
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
  return stats;
}

absl::StatusOr<CheckReport> RocksStore::Check() const {
  CheckReport report;
  auto problem = [&report](std::string p) {
    if (report.problems.size() < 100) report.problems.push_back(std::move(p));
    ++report.problem_count;
  };
  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  ro.fill_cache = false;
  // 1. Every record's entries exist.
  std::map<std::string, int64_t> counts;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, H(Cf::kRecords)));
    v1::StoredRecord r;
    std::string ignored;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++report.records;
      std::string key = it->key().ToString();
      if (!r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        problem(absl::StrCat("record ", it->key().ToString(true), " is unreadable"));
        continue;
      }
      ++counts[key.substr(0, key.find(kSep))];
      for (const std::string& k : r.block_keys()) {
        if (!db_->Get(ro, H(Cf::kBlocks), k, &ignored).ok()) {
          problem(absl::StrCat("record \"", r.record().record_id(), "\" misses a block entry"));
        }
      }
      for (const std::string& k : r.id_keys()) {
        if (!db_->Get(ro, H(Cf::kIds), k, &ignored).ok()) {
          problem(absl::StrCat("record \"", r.record().record_id(), "\" misses an id entry"));
        }
      }
    }
    if (!it->status().ok()) problem(it->status().ToString());
  }
  // 2. Every index entry points to a record that lists it.
  auto check_index = [&](Cf cf, bool has_generation, int64_t& n) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, H(cf)));
    std::string value;
    v1::StoredRecord r;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++n;
      std::string_view k(it->key().data(), it->key().size());
      std::string_view rest = has_generation ? k.substr(4) : k;
      std::string_view dataset = rest.substr(0, rest.find(kSep));
      std::string_view id = TrailingId(k);
      rocksdb::Status s = db_->Get(ro, H(Cf::kRecords), RecordKey(dataset, id), &value);
      if (!s.ok() || !r.ParseFromString(value)) {
        problem(absl::StrCat(kColumnFamilies[static_cast<size_t>(cf)].name, " entry for missing record \"",
                             AV(id), "\" in dataset \"", AV(dataset), "\""));
        continue;
      }
      const auto& listed = cf == Cf::kBlocks ? r.block_keys() : r.id_keys();
      if (std::find(listed.begin(), listed.end(), std::string(k)) == listed.end()) {
        problem(absl::StrCat(kColumnFamilies[static_cast<size_t>(cf)].name, " entry not owned by record \"",
                             AV(id), "\" (stale)"));
      }
    }
  };
  check_index(Cf::kBlocks, true, report.block_entries);
  check_index(Cf::kIds, false, report.id_entries);
  // 3. Record counters agree with the records.
  for (const auto& [dataset, n] : counts) {
    std::string value;
    int64_t counted = db_->Get(ro, H(Cf::kTerms), CountKey(dataset), &value).ok() ? DecodeInt64(value) : 0;
    if (counted != n) problem(absl::StrCat("dataset \"", dataset, "\" counts ", counted, " records, holds ", n));
  }
  db_->ReleaseSnapshot(snap);
  return report;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("database path is empty");
  if (options.create_if_missing) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("cannot create database directory ", path, ": ", ec.message()));
  }
  rocksdb::Options db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);
  db_options.max_background_jobs = 2;
  db_options.bytes_per_sync = 1 << 20;

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
  if (!s.ok()) return FromRocks(s, absl::StrCat("open database ", path));
  auto store = std::make_unique<RocksStore>(options, std::unique_ptr<rocksdb::DB>(raw), std::move(handles));
  // The key layout's version: refuse a database written by a newer layout.
  auto schema = store->GetMeta(kSchemaKey);
  if (!schema.ok()) return schema.status();
  if (!schema->has_value()) {
    absl::Status put = store->PutMeta(kSchemaKey, kSchemaVersion);
    if (!put.ok()) return put;
  } else if (**schema != kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat("database ", path, " has key layout version ", **schema,
                                                      "; this linkd reads version ", AV(kSchemaVersion)));
  }
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace linkage::index
