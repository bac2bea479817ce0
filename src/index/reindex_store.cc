// Index generations: a reindex builds generation g+1 beside g, a step at a
// time under the write lock, then switches to it in one batch.
//
// A record lists its block keys in two fields: block_keys (written for the
// generation current when it was last upserted) and next_block_keys (for
// the generation a reindex was building). After a switch, the keys of the
// new current generation may sit in either field, so every step sorts a
// record's keys by the generation they carry, never by the field.
#include <set>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "rocks_store.h"

namespace linkage::index {

using namespace keys;  // NOLINT(build/namespaces)

absl::StatusOr<std::optional<ReindexState>> RocksStore::GetReindexState() const {
  absl::MutexLock lock(&write_mu_);
  return reindex_;
}

absl::Status RocksStore::StartReindex(const std::string& model) {
  LINKD_RETURN_IF_ERROR(Writable());
  absl::MutexLock lock(&write_mu_);
  if (repair_.has_value())
    return absl::FailedPreconditionError("a repair of the database is unfinished");
  if (reindex_.has_value())
    return absl::FailedPreconditionError("a reindex is already in progress");
  ReindexState state;
  state.target_generation = generation_.load() + 1;
  state.model = model;
  // Leftovers of an abandoned attempt at this generation would be stale.
  rocksdb::WriteBatch batch;
  (void)batch.DeleteRange(H(Cf::kBlocks), GenerationPrefix(state.target_generation),
                          GenerationPrefix(state.target_generation + 1));
  (void)batch.Put(H(Cf::kMeta), kReindexKey, SerializeReindex(state));
  LINKD_RETURN_IF_ERROR(CommitLocked(&batch, "start reindex"));
  reindex_ = state;
  return absl::OkStatus();
}

absl::StatusOr<bool> RocksStore::ReindexStep(size_t max, const BlocksOf& blocks_of) {
  LINKD_RETURN_IF_ERROR(Writable());
  absl::MutexLock lock(&write_mu_);
  if (!reindex_.has_value()) return absl::FailedPreconditionError("no reindex in progress");
  ReindexState& state = *reindex_;
  const uint32_t current = generation_.load();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), H(Cf::kRecords)));
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
    const std::string dataset(DatasetOf(key));
    // Keep the current generation's keys; replace the target's; forget
    // those of older generations (dropped with their generation).
    std::vector<std::string> keep;
    for (const auto* list : {&r.block_keys(), &r.next_block_keys()}) {
      for (const std::string& k : *list) {
        const uint32_t g = GenerationOf(k);
        if (g == current) {
          keep.push_back(k);
        } else if (g == state.target_generation) {
          (void)batch.Delete(H(Cf::kBlocks), k);
        }
      }
    }
    r.clear_block_keys();
    for (std::string& k : keep) r.add_block_keys(std::move(k));
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
  if (!it->status().ok()) return R(it->status(), "reindex scan");
  const bool more = it->Valid();
  ReindexState next = state;
  if (n > 0) next.cursor = last;
  next.done += static_cast<int64_t>(n);
  (void)batch.Put(H(Cf::kMeta), kReindexKey, SerializeReindex(next));
  LINKD_RETURN_IF_ERROR(CommitLocked(&batch, "reindex step"));
  state = next;
  return more;
}

absl::Status RocksStore::FinishReindex(std::string_view model_key, const WriteTag& tag) {
  LINKD_RETURN_IF_ERROR(Writable());
  absl::MutexLock lock(&write_mu_);
  if (!reindex_.has_value()) return absl::FailedPreconditionError("no reindex in progress");
  rocksdb::WriteBatch batch;
  (void)batch.Put(H(Cf::kMeta), kGenerationKey, absl::StrCat(reindex_->target_generation));
  (void)batch.Put(H(Cf::kMeta), model_key, reindex_->model);
  (void)batch.Delete(H(Cf::kMeta), kReindexKey);
  TagLocked(tag, batch);
  LINKD_RETURN_IF_ERROR(CommitLocked(&batch, "switch index generation"));
  generation_.store(reindex_->target_generation);
  reindex_.reset();
  // The views mirror the old generation's blocks: rebuild them.
  RebuildViewsLocked();
  return absl::OkStatus();
}

}  // namespace linkage::index
