#include "linkage/store.h"

#include <google/protobuf/util/message_differencer.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <array>
#include <atomic>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "linkage/strings.h"
#include "match_view.h"

namespace linkage::index {
namespace {

// Column families, declared once. The order is the handle order.
enum class Cf : size_t { kDefault, kRecords, kBlocks, kIds, kTerms, kMeta, kMatch, kCount };

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
    // What comparison reads: the normalized form alone, keyed like records.
    {Cf::kMatch, "match", false, true},
}};

constexpr char kSep = '\0';
// Per-dataset record counters live in the terms column family under a
// prefix that starts with the separator, so they sort before every
// dataset's terms and Stats() reads them without scanning the terms.
constexpr std::string_view kCountPrefix{"\0records\0", 9};
constexpr std::string_view kSchemaKey = "schema_version";
// 1: first layout. 2: adds the match column family (migrated on open).
constexpr std::string_view kSchemaVersion = "2";
constexpr std::string_view kGenerationKey = "index_generation";
constexpr std::string_view kReindexKey = "reindex";

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
  for (int i = 0; i < 8; ++i)
    out[static_cast<size_t>(i)] = static_cast<char>((u >> (8 * i)) & 0xff);
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
  bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    int64_t base = existing ? DecodeInt64(std::string_view(existing->data(), existing->size())) : 0;
    *new_value = EncodeInt64(base + DecodeInt64(std::string_view(value.data(), value.size())));
    return true;
  }
  const char* Name() const override { return "linkd.Int64Add"; }
};

std::string RecordKey(std::string_view dataset, std::string_view record_id) {
  return absl::StrCat(AV(dataset), AV(std::string_view(&kSep, 1)), AV(record_id));
}

std::string GenerationPrefix(uint32_t generation) {
  std::string g(4, '\0');
  for (int i = 0; i < 4; ++i)
    g[static_cast<size_t>(i)] = static_cast<char>((generation >> (8 * (3 - i))) & 0xff);
  return g;
}

uint32_t GenerationOf(std::string_view block_key) {
  if (block_key.size() < 4) return 0;
  uint32_t g = 0;
  for (int i = 0; i < 4; ++i)
    g = (g << 8) | static_cast<unsigned char>(block_key[static_cast<size_t>(i)]);
  return g;
}

std::string BlockPrefix(uint32_t generation, std::string_view dataset, std::string_view rule,
                        std::string_view key) {
  std::string sep(1, kSep);
  return absl::StrCat(GenerationPrefix(generation), AV(dataset), sep, AV(rule), sep, AV(key), sep);
}

std::string IdPrefix(std::string_view dataset, std::string_view id) {
  std::string sep(1, kSep);
  return absl::StrCat(AV(dataset), sep, AV(id), sep);
}

std::string CountKey(std::string_view dataset) {
  return absl::StrCat(AV(kCountPrefix), AV(dataset));
}

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

// The reindex state in meta: target generation, records done, then the
// cursor and the model, each with an 8-byte length.
std::string SerializeReindex(const ReindexState& s) {
  return absl::StrCat(EncodeInt64(s.target_generation), EncodeInt64(s.done),
                      EncodeInt64(static_cast<int64_t>(s.cursor.size())), s.cursor,
                      EncodeInt64(static_cast<int64_t>(s.model.size())), s.model);
}

bool ParseReindex(std::string_view in, ReindexState* s) {
  auto take = [&in](size_t n, std::string_view* out) {
    if (in.size() < n) return false;
    *out = in.substr(0, n);
    in.remove_prefix(n);
    return true;
  };
  std::string_view v;
  if (!take(8, &v)) return false;
  s->target_generation = static_cast<uint32_t>(DecodeInt64(v));
  if (!take(8, &v)) return false;
  s->done = DecodeInt64(v);
  if (!take(8, &v)) return false;
  size_t n = static_cast<size_t>(DecodeInt64(v));
  if (!take(n, &v)) return false;
  s->cursor = std::string(v);
  if (!take(8, &v)) return false;
  n = static_cast<size_t>(DecodeInt64(v));
  if (!take(n, &v)) return false;
  s->model = std::string(v);
  return in.empty();
}

class RocksStore final : public Store {
 public:
  RocksStore(StoreOptions options, std::unique_ptr<rocksdb::DB> db,
             std::vector<rocksdb::ColumnFamilyHandle*> handles)
      : options_(options), db_(std::move(db)), handles_(std::move(handles)) {
    write_options_.sync = options_.sync_writes;
  }

  // Loads the generation and any reindex in progress (called once by Open).
  absl::Status LoadGenerations() {
    auto g = GetMeta(kGenerationKey);
    if (!g.ok()) return g.status();
    generation_.store(g->has_value() ? static_cast<uint32_t>(std::stoul(**g)) : 1);
    auto r = GetMeta(kReindexKey);
    if (!r.ok()) return r.status();
    if (r->has_value()) {
      ReindexState state;
      if (!ParseReindex(**r, &state)) return absl::DataLossError("the reindex state is unreadable");
      reindex_ = state;
    }
    return absl::OkStatus();
  }

  uint32_t generation() const override { return generation_.load(); }
  absl::StatusOr<std::optional<ReindexState>> GetReindexState() const override {
    absl::MutexLock lock(&write_mu_);
    return reindex_;
  }
  absl::Status StartReindex(const std::string& model) override;
  absl::StatusOr<bool> ReindexStep(size_t max, const BlocksOf& blocks_of) override;
  absl::Status FinishReindex(std::string_view model_key) override;

  ~RocksStore() override {
    {
      absl::MutexLock lock(&views_mu_);
      stopping_ = true;
    }
    if (loader_.joinable()) loader_.join();
    for (LoadJob& job : load_queue_) db_->ReleaseSnapshot(job.snapshot);
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
  absl::StatusOr<std::vector<const v1::StoredRecord*>> MultiGet(
      std::string_view dataset, const std::vector<std::string>& record_ids,
      google::protobuf::Arena* arena) const override;
  absl::StatusOr<std::vector<const v1::NormalizedRecord*>> MultiGetNormalized(
      std::string_view dataset, const std::vector<std::string>& record_ids,
      google::protobuf::Arena* arena) const override;
  // Schema 1 -> 2: fills the match column family from the records.
  absl::Status MigrateToMatchFamily() {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), H(Cf::kRecords)));
    rocksdb::WriteBatch batch;
    v1::StoredRecord r;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (!r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return absl::DataLossError(
            absl::StrCat("unreadable record at key ", it->key().ToString(true)));
      }
      (void)batch.Put(H(Cf::kMatch), it->key(), r.normalized().SerializeAsString());
      if (batch.Count() >= 10000) {
        absl::Status st = FromRocks(db_->Write(write_options_, &batch), "migrate");
        if (!st.ok()) return st;
        batch.Clear();
      }
    }
    if (!it->status().ok()) return FromRocks(it->status(), "migrate");
    (void)batch.Put(H(Cf::kMeta), kSchemaKey, kSchemaVersion);
    return FromRocks(db_->Write(write_options_, &batch), "migrate");
  }
  absl::StatusOr<bool> ScanBlock(uint32_t generation, std::string_view dataset,
                                 std::string_view rule, std::string_view key, size_t max_entries,
                                 std::vector<std::string>* ids) const override;
  absl::Status DropGeneration(uint32_t generation) override {
    rocksdb::WriteBatch drop;
    (void)drop.DeleteRange(H(Cf::kBlocks), GenerationPrefix(generation),
                           GenerationPrefix(generation + 1));
    return FromRocks(db_->Write(write_options_, &drop), "drop index generation");
  }
  absl::Status LookupId(std::string_view dataset, std::string_view id_key, size_t max,
                        std::vector<std::string>* ids) const override;
  int64_t TermCount(std::string_view dataset, std::string_view term) const override;
  int64_t RecordCount(std::string_view dataset) const override {
    std::string value;
    return db_->Get(rocksdb::ReadOptions(), H(Cf::kTerms), CountKey(dataset), &value).ok()
               ? DecodeInt64(value)
               : 0;
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
  void AwaitMatchViews() const override {
    absl::MutexLock lock(&views_mu_);
    views_mu_.Await(absl::Condition(
        +[](const RocksStore* s)
             ABSL_NO_THREAD_SAFETY_ANALYSIS { return s->load_queue_.empty() && !s->loading_; },
        this));
  }

  // With match views: schedules a view of every dataset (called once by
  // Open) and starts the loader.
  void StartMatchViews() {
    if (!options_.match_view) return;
    absl::MutexLock lock(&write_mu_);
    for (const DatasetStats& d : Stats().datasets) EnsureViewLocked(d.dataset);
    loader_ = std::thread([this] { LoadViews(); });
  }

  absl::Status Flush() override {
    rocksdb::FlushOptions fo;
    return FromRocks(db_->Flush(fo, handles_), "flush");
  }

 private:
  rocksdb::ColumnFamilyHandle* H(Cf cf) const { return handles_[static_cast<size_t>(cf)]; }
  template <typename M>
  absl::StatusOr<std::vector<const M*>> MultiGetInto(Cf cf, std::string_view dataset,
                                                     const std::vector<std::string>& record_ids,
                                                     google::protobuf::Arena* arena) const;

  // Adds to `batch` the removal of everything `old` wrote.
  void RemoveEntries(const v1::StoredRecord& old, std::string_view dataset,
                     rocksdb::WriteBatch& batch) const;

  // Match views. A view is created (under write_mu_, with a snapshot taken
  // at the same instant) before any write to its dataset, and loaded from
  // the snapshot by the loader thread; writes made meanwhile are queued in
  // the view and replayed, so it ends exactly in step.
  struct LoadJob {
    std::string dataset;
    std::shared_ptr<MatchView> view;
    const rocksdb::Snapshot* snapshot;
  };
  std::shared_ptr<MatchView> ViewFor(std::string_view dataset) const {
    if (!options_.match_view) return nullptr;
    absl::MutexLock lock(&views_mu_);
    auto it = views_.find(std::string(dataset));
    return it == views_.end() ? nullptr : it->second;
  }
  std::shared_ptr<MatchView> EnsureViewLocked(std::string_view dataset)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    if (!options_.match_view) return nullptr;
    absl::MutexLock lock(&views_mu_);
    std::shared_ptr<MatchView>& view = views_[std::string(dataset)];
    if (view == nullptr || view->generation() != generation_.load()) {
      view = std::make_shared<MatchView>(generation_.load());
      load_queue_.push_back({std::string(dataset), view, db_->GetSnapshot()});
    }
    return view;
  }
  void LoadViews();
  absl::Status LoadView(const LoadJob& job);

  const StoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::WriteOptions write_options_;
  // Serializes read-modify-write of index entries; reads take no lock.
  mutable absl::Mutex write_mu_;
  std::atomic<uint32_t> generation_{1};  // Written under write_mu_.
  std::optional<ReindexState> reindex_ ABSL_GUARDED_BY(write_mu_);
  mutable absl::Mutex views_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  std::map<std::string, std::shared_ptr<MatchView>> views_ ABSL_GUARDED_BY(views_mu_);
  std::deque<LoadJob> load_queue_ ABSL_GUARDED_BY(views_mu_);
  bool loading_ ABSL_GUARDED_BY(views_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(views_mu_) = false;
  std::thread loader_;
};

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
    return FromRocks(it->status(), "load match view");
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

void RocksStore::RemoveEntries(const v1::StoredRecord& old, std::string_view dataset,
                               rocksdb::WriteBatch& batch) const {
  for (const std::string& k : old.block_keys()) (void)batch.Delete(H(Cf::kBlocks), k);
  for (const std::string& k : old.next_block_keys()) (void)batch.Delete(H(Cf::kBlocks), k);
  for (const std::string& k : old.id_keys()) (void)batch.Delete(H(Cf::kIds), k);
  for (const std::string& t : old.tf_keys())
    (void)batch.Merge(H(Cf::kTerms), TermKey(dataset, t), EncodeInt64(-1));
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

  absl::MutexLock lock(&write_mu_);
  if (reindex_.has_value()) {
    for (const RecordWrite& w : writes) {
      if (!w.has_next) {
        return absl::InternalError("upsert during a reindex without the next generation's entries");
      }
    }
  }
  // The stored forms, with the keys of the current (and next) generation.
  std::vector<v1::StoredRecord> fresh(writes.size());
  for (size_t i = 0; i < writes.size(); ++i) {
    RecordWrite& w = writes[i];
    v1::StoredRecord& s = fresh[i];
    std::set<std::string> seen;
    for (const auto& b : w.entries.blocks) {
      std::string k =
          absl::StrCat(BlockPrefix(generation_, dataset, b.rule, b.key), w.record.record_id());
      if (seen.insert(k).second) s.add_block_keys(std::move(k));
    }
    if (reindex_.has_value()) {
      for (const auto& b : w.next_blocks) {
        std::string k = absl::StrCat(
            BlockPrefix(reindex_->target_generation, dataset, b.rule, b.key), w.record.record_id());
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
  }

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
        return FromRocks(statuses[i], "read record before upsert");
      } else {
        v1::StoredRecord old;
        if (!old.ParseFromString(values[i])) {
          return absl::DataLossError(
              absl::StrCat("stored record \"", fresh[i].record().record_id(), "\" is unreadable"));
        }
        current[keys[i]] = std::move(old);
      }
    }
  }

  rocksdb::WriteBatch batch;
  std::vector<WriteOutcome> outcomes(fresh.size());
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
  if (batch.Count() > 0) {
    absl::Status st = FromRocks(db_->Write(write_options_, &batch), "write batch");
    if (!st.ok()) return st;
  }
  for (ViewPut& p : view_puts) view->Put(p.record_id, p.old, p.keys, std::move(p.normalized));
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
  if (!old.ParseFromString(value))
    return absl::DataLossError(absl::StrCat("stored record \"", AV(record_id), "\" is unreadable"));
  std::shared_ptr<MatchView> view = EnsureViewLocked(dataset);
  rocksdb::WriteBatch batch;
  RemoveEntries(old, dataset, batch);
  (void)batch.Delete(H(Cf::kRecords), key);
  (void)batch.Delete(H(Cf::kMatch), key);
  (void)batch.Merge(H(Cf::kTerms), CountKey(dataset), EncodeInt64(-1));
  absl::Status st = FromRocks(db_->Write(write_options_, &batch), "delete record");
  if (!st.ok()) return st;
  if (view != nullptr) {
    MatchView::RecordKeys keys;
    view->AddBlockKeys(dataset, old.block_keys(), &keys);
    view->AddBlockKeys(dataset, old.next_block_keys(), &keys);
    view->AddIdKeys(dataset, old.id_keys(), &keys);
    view->Remove(record_id, keys);
  }
  return true;
}

absl::StatusOr<std::optional<v1::StoredRecord>> RocksStore::Get(std::string_view dataset,
                                                                std::string_view record_id) const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), H(Cf::kRecords), RecordKey(dataset, record_id), &value);
  if (s.IsNotFound()) return std::optional<v1::StoredRecord>();
  if (!s.ok()) return FromRocks(s, "get record");
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
    if (!statuses[i].ok()) return FromRocks(statuses[i], "multiget records");
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
    if (!statuses[i].ok()) return FromRocks(statuses[i], "multiget");
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
  if (!it->status().ok()) return FromRocks(it->status(), "scan block");
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
  return FromRocks(it->status(), "lookup id");
}

int64_t RocksStore::TermCount(std::string_view dataset, std::string_view term) const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), H(Cf::kTerms), TermKey(dataset, term), &value);
  return s.ok() ? DecodeInt64(value) : 0;
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

absl::Status RocksStore::StartReindex(const std::string& model) {
  absl::MutexLock lock(&write_mu_);
  if (reindex_.has_value())
    return absl::FailedPreconditionError("a reindex is already in progress");
  ReindexState state;
  state.target_generation = generation_.load() + 1;
  state.model = model;
  // Leftovers of an abandoned attempt at this generation would be stale.
  rocksdb::WriteBatch batch;
  std::string from = GenerationPrefix(state.target_generation),
              to = GenerationPrefix(state.target_generation + 1);
  (void)batch.DeleteRange(H(Cf::kBlocks), from, to);
  (void)batch.Put(H(Cf::kMeta), kReindexKey, SerializeReindex(state));
  absl::Status st = FromRocks(db_->Write(write_options_, &batch), "start reindex");
  if (!st.ok()) return st;
  reindex_ = state;
  return absl::OkStatus();
}

absl::StatusOr<bool> RocksStore::ReindexStep(size_t max, const BlocksOf& blocks_of) {
  absl::MutexLock lock(&write_mu_);
  if (!reindex_.has_value()) return absl::FailedPreconditionError("no reindex in progress");
  ReindexState& state = *reindex_;
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, H(Cf::kRecords)));
  if (state.cursor.empty()) {
    it->SeekToFirst();
  } else {
    it->Seek(state.cursor);
    if (it->Valid() && it->key().ToString() == state.cursor) it->Next();
  }
  rocksdb::WriteBatch batch;
  size_t n = 0;
  std::string last;
  for (; it->Valid() && n < max; it->Next(), ++n) {
    v1::StoredRecord r;
    if (!r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          absl::StrCat("unreadable record at key ", it->key().ToString(true)));
    }
    std::string key = it->key().ToString();
    std::string dataset = key.substr(0, key.find(kSep));
    for (const std::string& k : r.next_block_keys()) (void)batch.Delete(H(Cf::kBlocks), k);
    r.clear_next_block_keys();
    std::set<std::string> seen;
    for (const IndexEntries::Block& b : blocks_of(r)) {
      std::string k = absl::StrCat(BlockPrefix(state.target_generation, dataset, b.rule, b.key),
                                   r.record().record_id());
      if (seen.insert(k).second) {
        (void)batch.Put(H(Cf::kBlocks), k, rocksdb::Slice());
        r.add_next_block_keys(std::move(k));
      }
    }
    (void)batch.Put(H(Cf::kRecords), key, r.SerializeAsString());
    last = std::move(key);
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reindex scan");
  const bool more = it->Valid();
  ReindexState next = state;
  if (n > 0) next.cursor = last;
  next.done += static_cast<int64_t>(n);
  (void)batch.Put(H(Cf::kMeta), kReindexKey, SerializeReindex(next));
  absl::Status st = FromRocks(db_->Write(write_options_, &batch), "reindex step");
  if (!st.ok()) return st;
  state = next;
  return more;
}

absl::Status RocksStore::FinishReindex(std::string_view model_key) {
  absl::MutexLock lock(&write_mu_);
  if (!reindex_.has_value()) return absl::FailedPreconditionError("no reindex in progress");
  rocksdb::WriteBatch batch;
  (void)batch.Put(H(Cf::kMeta), kGenerationKey, absl::StrCat(reindex_->target_generation));
  (void)batch.Put(H(Cf::kMeta), model_key, reindex_->model);
  (void)batch.Delete(H(Cf::kMeta), kReindexKey);
  absl::Status st = FromRocks(db_->Write(write_options_, &batch), "switch index generation");
  if (!st.ok()) return st;
  generation_.store(reindex_->target_generation);
  reindex_.reset();
  // The views mirror the old generation's blocks: rebuild them.
  if (options_.match_view) {
    std::vector<std::string> datasets;
    {
      absl::MutexLock views(&views_mu_);
      for (const auto& [dataset, view] : views_) datasets.push_back(dataset);
    }
    for (const std::string& d : datasets) EnsureViewLocked(d);
  }
  return absl::OkStatus();
}

absl::StatusOr<CheckReport> RocksStore::Check() const {
  CheckReport report;
  auto problem = [&report](std::string p) {
    if (report.problems.size() < 100) report.problems.push_back(std::move(p));
    ++report.problem_count;
  };
  uint32_t current, target;
  // The match views' counts at the snapshot's instant (no write between).
  std::map<std::string, MatchView::Usage> views;
  const rocksdb::Snapshot* snap;
  {
    absl::MutexLock lock(&write_mu_);
    current = generation_.load();
    target = reindex_.has_value() ? reindex_->target_generation : 0;
    snap = db_->GetSnapshot();
    absl::MutexLock views_lock(&views_mu_);
    for (const auto& [dataset, view] : views_) {
      if (view->generation() == current) views[dataset] = view->usage();
    }
  }
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
      if (!db_->Get(ro, H(Cf::kMatch), key, &ignored).ok()) {
        problem(absl::StrCat("record \"", r.record().record_id(), "\" has no match entry"));
      }
      // Keys of the current generation (and of the one being built) must
      // exist; keys of a dropped generation are listed until the next write.
      for (const auto* list : {&r.block_keys(), &r.next_block_keys()}) {
        for (const std::string& k : *list) {
          uint32_t g = GenerationOf(k);
          if (g != current && g != target) continue;
          if (!db_->Get(ro, H(Cf::kBlocks), k, &ignored).ok()) {
            problem(absl::StrCat("record \"", r.record().record_id(), "\" misses a block entry"));
          }
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
  std::map<std::string, int64_t>
      current_entries[2];  // Per dataset: blocks of the current generation, ids.
  auto check_index = [&](Cf cf, bool has_generation, int64_t& n) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, H(cf)));
    std::string value;
    v1::StoredRecord r;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++n;
      std::string_view k(it->key().data(), it->key().size());
      std::string_view rest = has_generation ? k.substr(4) : k;
      std::string_view dataset = rest.substr(0, rest.find(kSep));
      if (!has_generation || GenerationOf(k) == current)
        ++current_entries[has_generation ? 0 : 1][std::string(dataset)];
      std::string_view id = TrailingId(k);
      rocksdb::Status s = db_->Get(ro, H(Cf::kRecords), RecordKey(dataset, id), &value);
      if (!s.ok() || !r.ParseFromString(value)) {
        problem(absl::StrCat(kColumnFamilies[static_cast<size_t>(cf)].name,
                             " entry for missing record \"", AV(id), "\" in dataset \"",
                             AV(dataset), "\""));
        continue;
      }
      if (cf == Cf::kBlocks && GenerationOf(k) != current && GenerationOf(k) != target) {
        problem(absl::StrCat("block entry of generation ", GenerationOf(k), " (current ", current,
                             ")"));
        continue;
      }
      const auto& listed = cf == Cf::kBlocks ? r.block_keys() : r.id_keys();
      const auto& next = r.next_block_keys();
      if (std::find(listed.begin(), listed.end(), std::string(k)) == listed.end() &&
          (cf != Cf::kBlocks ||
           std::find(next.begin(), next.end(), std::string(k)) == next.end())) {
        problem(absl::StrCat(kColumnFamilies[static_cast<size_t>(cf)].name,
                             " entry not owned by record \"", AV(id), "\" (stale)"));
      }
    }
  };
  check_index(Cf::kBlocks, true, report.block_entries);
  check_index(Cf::kIds, false, report.id_entries);
  // 3. The match views hold what RocksDB holds (compared by counts).
  for (const auto& [dataset, u] : views) {
    if (!u.ready) continue;
    auto mismatch = [&](const char* what, int64_t in_view, int64_t stored) {
      if (in_view != stored) {
        problem(absl::StrCat("match view of \"", dataset, "\" holds ", in_view, " ", what,
                             ", RocksDB ", stored));
      }
    };
    mismatch("records", u.records, counts[dataset]);
    mismatch("block entries", u.block_entries, current_entries[0][dataset]);
    mismatch("id entries", u.id_entries, current_entries[1][dataset]);
  }
  // 4. Record counters agree with the records.
  for (const auto& [dataset, n] : counts) {
    std::string value;
    int64_t counted =
        db_->Get(ro, H(Cf::kTerms), CountKey(dataset), &value).ok() ? DecodeInt64(value) : 0;
    if (counted != n)
      problem(absl::StrCat("dataset \"", dataset, "\" counts ", counted, " records, holds ", n));
  }
  db_->ReleaseSnapshot(snap);
  return report;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options,
                                                   const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("database path is empty");
  if (options.create_if_missing) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec)
      return absl::UnavailableError(
          absl::StrCat("cannot create database directory ", path, ": ", ec.message()));
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
  auto store =
      std::make_unique<RocksStore>(options, std::unique_ptr<rocksdb::DB>(raw), std::move(handles));
  absl::Status loaded = store->LoadGenerations();
  if (!loaded.ok()) return loaded;
  // The key layout's version: refuse a database written by a newer layout.
  auto schema = store->GetMeta(kSchemaKey);
  if (!schema.ok()) return schema.status();
  if (!schema->has_value()) {
    absl::Status put = store->PutMeta(kSchemaKey, kSchemaVersion);
    if (!put.ok()) return put;
  } else if (**schema == "1") {
    absl::Status migrated = store->MigrateToMatchFamily();
    if (!migrated.ok()) return migrated;
  } else if (**schema != kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat("database ", path, " has key layout version ",
                                                      **schema, "; this linkd reads version ",
                                                      AV(kSchemaVersion)));
  }
  store->StartMatchViews();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace linkage::index
