// A first load of a whole dataset as sorted SST files (Store::BulkLoad).
//
// Why: an ordinary import sends every key through the memtable's skiplist
// and the write-ahead log, and at 1M records the skiplist inserts and the
// compactions that follow took most of the time (docs/BENCHMARKS.md). Here
// each chunk's keys are sorted in memory, written once into one SST file
// per column family and ingested; counters are summed and written once at
// the end.
#include <rocksdb/sst_file_writer.h>

#include <algorithm>
#include <filesystem>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "keys.h"
#include "rocks_store.h"

namespace linkage::index {
using namespace keys;  // NOLINT: the key layout's helpers, as in the other store files

class RocksBulkLoad final : public Store::BulkLoad {
 public:
  static constexpr size_t kChunkRecords = 500000;

  RocksBulkLoad(RocksStore* store, std::string dataset, size_t chunk_records)
      : store_(store),
        dataset_(std::move(dataset)),
        chunk_records_(chunk_records == 0 ? kChunkRecords : chunk_records) {}

  ~RocksBulkLoad() override {
    std::error_code ec;
    std::filesystem::remove_all(Dir(), ec);
  }

  absl::Status Add(std::vector<RecordWrite> writes) override {
    if (finished_) return absl::FailedPreconditionError("the bulk load is finished");
    for (const RecordWrite& w : writes) {
      const std::string& id = w.record.record_id();
      if (id.empty() || ContainsNul(id))
        return absl::InvalidArgumentError("a record without a usable record_id");
      if (seen_.contains(id)) {
        return absl::InvalidArgumentError(
            absl::StrCat("record \"", id, "\": record_id given twice in one bulk load"));
      }
    }
    const int64_t now = absl::ToUnixMicros(absl::Now());
    for (RecordWrite& w : writes) {
      seen_.insert(w.record.record_id());
      v1::StoredRecord s;
      {
        absl::MutexLock lock(&store_->write_mu_);
        s = store_->StoredForm(dataset_, std::move(w));
      }
      const std::string key = RecordKey(dataset_, s.record().record_id());
      for (std::string& k : *s.mutable_block_keys()) blocks_.push_back(k);
      for (std::string& k : *s.mutable_next_block_keys()) blocks_.push_back(k);
      for (std::string& k : *s.mutable_id_keys()) ids_.push_back(k);
      for (const std::string& t : s.tf_keys()) ++terms_[TermKey(dataset_, t)];
      match_.push_back({key, s.normalized().SerializeAsString()});
      s.set_updated_unix_micros(now);
      records_.push_back({key, s.SerializeAsString()});
    }
    if (records_.size() >= chunk_records_) return FlushChunk();
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> Finish() override {
    if (finished_) return absl::FailedPreconditionError("the bulk load is finished");
    finished_ = true;
    LINKD_RETURN_IF_ERROR(FlushChunk());
    rocksdb::WriteBatch batch;
    for (const auto& [key, n] : terms_)
      (void)batch.Merge(store_->H(Cf::kTerms), key, EncodeInt64(n));
    (void)batch.Merge(store_->H(Cf::kTerms), CountKey(dataset_),
                      EncodeInt64(static_cast<int64_t>(seen_.size())));
    {
      absl::MutexLock lock(&store_->write_mu_);
      LINKD_RETURN_IF_ERROR(store_->CommitLocked(&batch, "bulk load counters"));
    }
    return static_cast<int64_t>(seen_.size());
  }

 private:
  struct Kv {
    std::string key, value;
    bool operator<(const Kv& o) const { return key < o.key; }
  };

  std::string Dir() const { return absl::StrCat(store_->path_, "/bulk-load.tmp"); }

  // Writes `n` sorted entries of a column family as one SST and ingests it.
  template <typename KeyOf, typename ValueOf>
  absl::Status Ingest(Cf cf, size_t n, KeyOf key_of, ValueOf value_of) {
    if (n == 0) return absl::OkStatus();
    rocksdb::ColumnFamilyHandle* h = store_->H(cf);
    rocksdb::ColumnFamilyDescriptor d;
    LINKD_RETURN_IF_ERROR(store_->R(h->GetDescriptor(&d), "bulk load"));
    rocksdb::Options options(store_->db_->GetDBOptions(), d.options);
    rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), options, h);
    const std::string file = absl::StrCat(Dir(), "/", files_++, ".sst");
    LINKD_RETURN_IF_ERROR(store_->R(writer.Open(file), "bulk load: open an SST file"));
    for (size_t i = 0; i < n; ++i) {
      LINKD_RETURN_IF_ERROR(
          store_->R(writer.Put(key_of(i), value_of(i)), "bulk load: write an SST file"));
    }
    LINKD_RETURN_IF_ERROR(store_->R(writer.Finish(), "bulk load: finish an SST file"));
    rocksdb::IngestExternalFileOptions ingest;
    ingest.move_files = true;
    return store_->R(store_->db_->IngestExternalFile(h, {file}, ingest), "bulk load: ingest");
  }

  absl::Status FlushChunk() {
    std::error_code ec;
    std::filesystem::create_directories(Dir(), ec);
    if (ec) return absl::InternalError("bulk load: cannot create its temporary directory");
    // The records and their normalized forms first, then the index: an
    // interrupted load leaves records whose entries check can rebuild
    // (linkd repair), never entries without a record.
    std::sort(records_.begin(), records_.end());
    std::sort(match_.begin(), match_.end());
    std::sort(blocks_.begin(), blocks_.end());
    std::sort(ids_.begin(), ids_.end());
    const auto kv_key = [](const std::vector<Kv>& v) {
      return [&v](size_t i) { return rocksdb::Slice(v[i].key); };
    };
    const auto kv_value = [](const std::vector<Kv>& v) {
      return [&v](size_t i) { return rocksdb::Slice(v[i].value); };
    };
    const auto key = [](const std::vector<std::string>& v) {
      return [&v](size_t i) { return rocksdb::Slice(v[i]); };
    };
    const auto empty = [](size_t) { return rocksdb::Slice(); };
    LINKD_RETURN_IF_ERROR(
        Ingest(Cf::kRecords, records_.size(), kv_key(records_), kv_value(records_)));
    LINKD_RETURN_IF_ERROR(Ingest(Cf::kMatch, match_.size(), kv_key(match_), kv_value(match_)));
    LINKD_RETURN_IF_ERROR(Ingest(Cf::kBlocks, blocks_.size(), key(blocks_), empty));
    LINKD_RETURN_IF_ERROR(Ingest(Cf::kIds, ids_.size(), key(ids_), empty));
    std::vector<Kv>().swap(records_);
    std::vector<Kv>().swap(match_);
    std::vector<std::string>().swap(blocks_);
    std::vector<std::string>().swap(ids_);
    return absl::OkStatus();
  }

  RocksStore* const store_;
  const std::string dataset_;
  const size_t chunk_records_;
  bool finished_ = false;
  int files_ = 0;
  absl::flat_hash_set<std::string> seen_;
  absl::flat_hash_map<std::string, int64_t> terms_;
  std::vector<Kv> records_, match_;
  std::vector<std::string> blocks_, ids_;
};

absl::StatusOr<std::unique_ptr<Store::BulkLoad>> RocksStore::StartBulkLoad(std::string_view dataset,
                                                                           size_t chunk_records) {
  LINKD_RETURN_IF_ERROR(Writable());
  if (options_.match_view) {
    return absl::FailedPreconditionError(
        "a bulk load is for a database no server has open (the match view would miss it)");
  }
  {
    absl::MutexLock lock(&write_mu_);
    if (reindex_.has_value() || repair_.has_value())
      return absl::FailedPreconditionError("a reindex or a repair is unfinished");
  }
  if (RecordCount(dataset) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "dataset \"", AV(dataset),
        "\" already holds records: a bulk load is for a first load (use linkctl import)"));
  }
  return std::unique_ptr<Store::BulkLoad>(
      new RocksBulkLoad(this, std::string(dataset), chunk_records));
}

}  // namespace linkage::index
