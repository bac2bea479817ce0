// A memory-resident mirror of what queries read for one dataset: each
// record's normalized form (serialized, as in the match column family), the
// blocking index of one generation and the identity-number index. RocksDB
// stays the truth; the view is rebuilt from it on open and kept in step by
// the store's writes, which apply to it in commit order under the store's
// write lock.
//
// Why: against a 1M-person register each query made ~8 block seeks and ~30
// point reads through RocksDB's iterators and block cache, which took most
// of the CPU (docs/BENCHMARKS.md). Here a block is one hash lookup.
//
// Keys are 64-bit hashes of the block ("rule\0key") or identity number; a
// collision (odds ~1e-7 at a few million keys) would add records that do
// not share the key to a candidate list, where scoring ranks them as what
// they are.
//
// Internal to the index layer (not a public header).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace linkage::index {

class MatchView {
 public:
  explicit MatchView(uint32_t generation);

  uint32_t generation() const { return generation_; }

  // --- Writes. The store calls them in commit order. While the view is
  // loading they are queued and replayed once the load is done.

  // A record's keys in this view: hashes of its blocks of this view's
  // generation and of its identity numbers (see KeysOf).
  struct RecordKeys {
    std::vector<uint64_t> blocks;
    std::vector<uint64_t> ids;
  };
  // The keys of a record from its stored keys, as the store writes them:
  // full block keys (any generation; only this view's count) and full
  // identity keys.
  template <typename Strings>
  void AddBlockKeys(std::string_view dataset, const Strings& block_keys, RecordKeys* out) const {
    uint64_t h;
    for (const auto& k : block_keys) {
      if (BlockHash(dataset, k, &h)) out->blocks.push_back(h);
    }
  }
  template <typename Strings>
  void AddIdKeys(std::string_view dataset, const Strings& id_keys, RecordKeys* out) const {
    uint64_t h;
    for (const auto& k : id_keys) {
      if (IdHash(dataset, k, &h)) out->ids.push_back(h);
    }
  }
  // Adds or replaces a record. `old` are the keys it had (empty if new).
  void Put(std::string_view record_id, const RecordKeys& old, const RecordKeys& keys,
           std::string normalized);
  void Remove(std::string_view record_id, const RecordKeys& old);

  // --- Loading, by the store: Begin* on an empty, not-ready view, then
  // Finish() replays the writes queued meanwhile and makes it ready.
  void LoadRecord(std::string_view record_id, std::string normalized);
  void LoadBlockKey(std::string_view dataset, std::string_view full_key);
  void LoadIdKey(std::string_view dataset, std::string_view full_key);
  void FinishLoad();

  bool ready() const;

  // --- Reads; each returns false (and does nothing) if the view is not
  // ready, and the caller reads RocksDB instead.

  // As Store::ScanBlock: appends the block's record ids unless it holds
  // more than `max_entries` (then *complete = false).
  bool ScanBlock(std::string_view rule, std::string_view key, size_t max_entries,
                 std::vector<std::string>* ids, bool* complete) const;
  bool LookupId(std::string_view id_key, size_t max, std::vector<std::string>* ids) const;
  // Calls fn(i, bytes) for each of `record_ids` held, with its serialized
  // normalized form; under the view's read lock, so fn must be quick.
  template <typename Fn>
  bool ForEachNormalized(const std::vector<std::string>& record_ids, Fn fn) const {
    absl::ReaderMutexLock lock(&mu_);
    if (!ready_) return false;
    for (size_t i = 0; i < record_ids.size(); ++i) {
      auto it = ordinals_.find(record_ids[i]);
      if (it != ordinals_.end()) fn(i, std::string_view(normalized_[it->second]));
    }
    return true;
  }

  struct Usage {
    int64_t records = 0;
    int64_t block_keys = 0;
    int64_t id_keys = 0;
    int64_t block_entries = 0;  // (key, record) pairs.
    int64_t id_entries = 0;
    bool ready = false;
    int64_t bytes = 0;  // Approximate heap held.
  };
  Usage usage() const;

 private:
  struct Pending {
    bool remove = false;
    std::string record_id;
    RecordKeys old, keys;
    std::string normalized;
  };

  void PutLocked(std::string_view record_id, const RecordKeys& old, const RecordKeys& keys,
                 std::string normalized) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveLocked(std::string_view record_id, const RecordKeys& old)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t OrdinalLocked(std::string_view record_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // "rule\0key" or the identity key of a stored key of this view, else empty.
  bool BlockHash(std::string_view dataset, std::string_view full_key, uint64_t* hash) const;
  static bool IdHash(std::string_view dataset, std::string_view full_key, uint64_t* hash);

  const uint32_t generation_;
  const std::string generation_prefix_;  // As block keys start.
  mutable absl::Mutex mu_;
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Pending> pending_ ABSL_GUARDED_BY(mu_);
  // By ordinal; a freed ordinal has an empty id and is reused.
  std::vector<std::string> record_ids_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> normalized_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> free_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint32_t> ordinals_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::vector<uint32_t>> blocks_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::vector<uint32_t>> ids_ ABSL_GUARDED_BY(mu_);
};

}  // namespace linkage::index
