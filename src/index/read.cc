// RocksStore's reads (records, blocks, ids, counters, meta) and the
// in-memory match views loaded from the normalized column family.
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
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "rocks_store.h"

namespace linkage::index {

using namespace keys;  // NOLINT(build/namespaces): the key layout, used throughout.

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
    std::string_view dataset, const std::vector<std::string>& record_ids, const ReadHints* hints,
    google::protobuf::Arena* arena) const {
  if (auto view = ViewFor(dataset); view != nullptr) {
    std::vector<const v1::NormalizedRecord*> out(record_ids.size(), nullptr);
    bool damaged = false;
    if (view->GetNormalized(record_ids, hints, arena, &out, &damaged)) {
      if (damaged)
        return absl::DataLossError("a normalized record in the match view is unreadable");
      return out;
    }
  }
  return MultiGetInto<v1::NormalizedRecord>(Cf::kMatch, dataset, record_ids, arena);
}

absl::StatusOr<bool> RocksStore::ScanBlock(uint32_t generation, std::string_view dataset,
                                           std::string_view rule, std::string_view key,
                                           size_t max_entries, std::vector<std::string>* ids,
                                           ReadHints* hints) const {
  if (auto view = ViewFor(dataset); view != nullptr && view->generation() == generation) {
    bool complete = true;
    if (view->ScanBlock(rule, key, max_entries, ids, hints, &complete)) return complete;
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
  if (!it->status().ok()) {
    ids->resize(start);
    return R(it->status(), "scan block");
  }
  if (hints != nullptr) hints->resize(hints->size() + (ids->size() - start), kNoHint);
  return true;
}

absl::Status RocksStore::LookupId(std::string_view dataset, std::string_view id_key, size_t max,
                                  std::vector<std::string>* ids, ReadHints* hints) const {
  if (auto view = ViewFor(dataset); view != nullptr && view->LookupId(id_key, max, ids, hints))
    return absl::OkStatus();
  const size_t start = ids->size();
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
  if (hints != nullptr) hints->resize(hints->size() + (ids->size() - start), kNoHint);
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
    (void)db_->GetIntProperty(H(cf.id), "rocksdb.estimate-pending-compaction-bytes",
                              &c.pending_compaction_bytes);
    std::map<std::string, std::string> cf_stats;
    if (db_->GetMapProperty(H(cf.id), "rocksdb.cfstats", &cf_stats)) {
      (void)absl::SimpleAtoi(cf_stats["io_stalls.total_slowdown"], &c.write_slowdowns);
      (void)absl::SimpleAtoi(cf_stats["io_stalls.total_stop"], &c.write_stops);
    }
    stats.column_families.push_back(std::move(c));
  }
  (void)db_->GetIntProperty("rocksdb.num-running-compactions", &stats.running_compactions);
  uint64_t stopped = 0;
  if (db_->GetIntProperty("rocksdb.is-write-stopped", &stopped)) stats.write_stopped = stopped != 0;
  std::map<std::string, std::string> db_stats;
  if (db_->GetMapProperty("rocksdb.dbstats", &db_stats)) {
    (void)absl::SimpleAtoi(db_stats["db.user_write_stall_micros"], &stats.write_stall_micros);
  }
  std::map<std::string, std::shared_ptr<MatchView>> views;
  {
    absl::MutexLock lock(&views_mu_);
    views = views_;
  }
  for (const auto& [dataset, view] : views) {
    MatchView::Usage u = view->usage();
    stats.views.push_back({dataset, view->ready(), u.records, u.block_keys, u.bytes,
                           u.from_file ? "file" : "rocksdb"});
  }
  return stats;
}

absl::Status RocksStore::PutMeta(std::string_view key, std::string_view value,
                                 const WriteTag& tag) {
  LINKD_RETURN_IF_ERROR(Writable());
  absl::MutexLock lock(&write_mu_);
  rocksdb::WriteBatch batch;
  (void)batch.Put(H(Cf::kMeta), key, value);
  TagLocked(tag, batch);
  return CommitLocked(&batch, "put meta");
}

absl::StatusOr<Store::LogPosition> RocksStore::GetLogPosition() const {
  LogPosition position;
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> seq, GetMeta(kLogSeqKey));
  if (seq.has_value() && !absl::SimpleAtoi(*seq, &position.seq)) {
    return absl::DataLossError(absl::StrCat("meta ", AV(kLogSeqKey), " is not a number"));
  }
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> stream, GetMeta(kLogStreamKey));
  position.stream = stream.value_or("");
  return position;
}

absl::Status RocksStore::SetLogPosition(const LogPosition& position) {
  LINKD_RETURN_IF_ERROR(Writable());
  LINKD_ASSIGN_OR_RETURN(LogPosition now, GetLogPosition());
  absl::MutexLock lock(&write_mu_);
  if (position.seq < now.seq) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the store has applied the log up to ", now.seq, "; it cannot go back to ", position.seq));
  }
  rocksdb::WriteBatch batch;
  TagLocked(WriteTag{.log_seq = position.seq}, batch);
  if (!position.stream.empty()) (void)batch.Put(H(Cf::kMeta), kLogStreamKey, position.stream);
  return CommitLocked(&batch, "record the log position");
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
  if (job.from_file && job.view->Load(ViewFile(dataset), open_stamp_, dataset)) {
    job.view->FinishLoad();
    return absl::OkStatus();
  }
  const std::string record_prefix = RecordKey(dataset, "");
  bool unreadable = false;
  absl::Status st = scan(Cf::kMatch, record_prefix, [&](rocksdb::Iterator& it) {
    std::string_view key(it.key().data(), it.key().size());
    if (!job.view->LoadRecord(key.substr(record_prefix.size()),
                              std::string_view(it.value().data(), it.value().size()))) {
      unreadable = true;
    }
  });
  if (st.ok() && unreadable)
    st = absl::DataLossError("a normalized record in the match column family is unreadable");
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

}  // namespace linkage::index
