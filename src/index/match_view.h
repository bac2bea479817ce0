// A memory-resident mirror of what queries read for one dataset: each
// record's normalized form, the blocking index of one generation and the
// identity-number index. RocksDB stays the truth; the view is rebuilt from
// it on open and kept in step by the store's writes, which apply to it in
// commit order under the store's write lock.
//
// Why: against a 1M-person register each query made ~8 block seeks and ~30
// point reads through RocksDB's iterators and block cache, which took most
// of the CPU (docs/BENCHMARKS.md). Here a block is one binary search.
//
// Layout, for a register of 100M people on one node (docs/DESIGN.md §5):
// records are encoded by RecordCodec (interned strings, packed numbers;
// ~50 bytes) into an append-only arena of 4 MiB chunks, found by ordinal;
// postings are PostingIndex's 8-byte words; record ids map to ordinals
// through a hash set of ordinals that reads the ids from the arena. A
// record rewritten leaves its old bytes behind until the arena is
// compacted (when dead bytes pass the live ones).
//
// Keys are 64-bit hashes of the block ("rule\0key") or identity number, of
// which the postings keep 52 or more bits; a collision (odds ~1e-8 per
// lookup at 10M people) would add records that do not share the key to a
// candidate list, where scoring ranks them as what they are.
//
// Internal to the index layer (not a public header).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "linkage/v1/record.pb.h"
#include "postings.h"
#include "record_codec.h"

namespace linkage::index {

class MatchView {
 public:
  // `min_merge`: see PostingIndex (tests make it small to exercise merges).
  explicit MatchView(uint32_t generation, size_t min_merge = size_t{1} << 16);

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
           const v1::NormalizedRecord& normalized);
  void Remove(std::string_view record_id, const RecordKeys& old);

  // --- Loading, by the store: Begin* on an empty, not-ready view, then
  // Finish() replays the writes queued meanwhile and makes it ready.
  // False if `normalized` (as the match column family holds it) is unreadable.
  bool LoadRecord(std::string_view record_id, std::string_view normalized);
  void LoadBlockKey(std::string_view dataset, std::string_view full_key);
  void LoadIdKey(std::string_view dataset, std::string_view full_key);
  void FinishLoad();

  bool ready() const;

  // --- The saved file, for a fast restart: Save writes the whole view as
  // it stands (which must be ready) with `stamp`, the database's state it
  // matches (identity and last sequence number); Load fills an empty, not
  // yet ready view from such a file if its stamp, dataset and generation
  // are these and its checksum holds, and answers false (the view is left
  // empty) otherwise. FinishLoad follows, as after a load from RocksDB.
  absl::Status Save(const std::string& path, std::string_view stamp, std::string_view dataset);
  bool Load(const std::string& path, std::string_view stamp, std::string_view dataset);

  // --- Reads; each returns false (and does nothing) if the view is not
  // ready, and the caller reads RocksDB instead.

  // As Store::ScanBlock: appends the block's record ids unless it holds
  // more than `max_entries` (then *complete = false), and to `hints` (if
  // not null) their ordinals.
  bool ScanBlock(std::string_view rule, std::string_view key, size_t max_entries,
                 std::vector<std::string>* ids, std::vector<uint32_t>* hints, bool* complete) const;
  bool LookupId(std::string_view id_key, size_t max, std::vector<std::string>* ids,
                std::vector<uint32_t>* hints) const;
  // Sets (*out)[i] to the normalized form of record_ids[i], made in `arena`,
  // for each one held (others are left as they are). `hints` (may be null)
  // are ordinals from ScanBlock or LookupId: one whose entry still holds
  // that id saves looking it up. *damaged is set if a held record could not
  // be decoded.
  bool GetNormalized(const std::vector<std::string>& record_ids, const std::vector<uint32_t>* hints,
                     google::protobuf::Arena* arena, std::vector<const v1::NormalizedRecord*>* out,
                     bool* damaged) const;

  struct Usage {
    int64_t records = 0;
    int64_t block_keys = 0;
    int64_t id_keys = 0;
    int64_t block_entries = 0;  // (key, record) pairs.
    int64_t id_entries = 0;
    bool ready = false;
    bool from_file = false;  // Loaded from a saved file.
    int64_t bytes = 0;       // Approximate heap held.
  };
  Usage usage() const;

 private:
  struct Pending {
    bool remove = false;
    std::string record_id;
    RecordKeys old, keys;
    v1::NormalizedRecord normalized;
  };
  static constexpr uint64_t kNone = ~uint64_t{0};
  static constexpr uint32_t kNoOrdinal = ~uint32_t{0};

  // Record ids -> ordinals, as a set of ordinals hashed and compared by the
  // id that the arena holds for them (4 bytes a slot instead of a string).
  struct OrdinalHash {
    using is_transparent = void;
    const MatchView* view;
    size_t operator()(uint32_t ordinal) const;
    size_t operator()(std::string_view id) const;
  };
  struct OrdinalEq {
    using is_transparent = void;
    const MatchView* view;
    bool operator()(uint32_t a, uint32_t b) const { return a == b; }
    bool operator()(uint32_t a, std::string_view b) const;
    bool operator()(std::string_view a, uint32_t b) const { return (*this)(b, a); }
  };

  void PutLocked(std::string_view record_id, const RecordKeys& old, const RecordKeys& keys,
                 const v1::NormalizedRecord& normalized) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveLocked(std::string_view record_id, const RecordKeys& old)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the record's bytes and points its ordinal at them.
  void StoreLocked(uint32_t ordinal, std::string_view record_id,
                   const v1::NormalizedRecord& normalized) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The ordinal of a record id, a new one if it has none (kNone if the
  // view is full: it then stops serving).
  uint32_t OrdinalLocked(std::string_view record_id, bool* created)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends `bytes` to the arena; its position.
  uint64_t AppendLocked(std::string_view bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CompactArenaLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The stored entry at a position: its id and its encoded fields.
  std::string_view EntryAt(uint64_t pos) const ABSL_NO_THREAD_SAFETY_ANALYSIS;
  static void SplitEntry(std::string_view entry, std::string_view* id, std::string_view* fields);
  std::string_view IdOf(uint32_t ordinal) const ABSL_NO_THREAD_SAFETY_ANALYSIS;
  // "rule\0key" or the identity key of a stored key of this view, else empty.
  bool BlockHash(std::string_view dataset, std::string_view full_key, uint64_t* hash) const;
  static bool IdHash(std::string_view dataset, std::string_view full_key, uint64_t* hash);

  const uint32_t generation_;
  const std::string generation_prefix_;  // As block keys start.
  mutable absl::Mutex mu_;
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  bool full_ ABSL_GUARDED_BY(mu_) = false;
  bool from_file_ ABSL_GUARDED_BY(mu_) = false;  // Out of ordinals: never ready again.
  std::vector<Pending> pending_ ABSL_GUARDED_BY(mu_);
  RecordCodec codec_ ABSL_GUARDED_BY(mu_);
  std::string scratch_ ABSL_GUARDED_BY(mu_);
  // The arena: chunks of 64 KiB growing to 4 MiB (or one record's size, if larger).
  std::vector<std::unique_ptr<char[]>> chunks_ ABSL_GUARDED_BY(mu_);
  size_t chunk_used_ ABSL_GUARDED_BY(mu_) = 0;
  size_t chunk_size_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t arena_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t dead_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // By ordinal, the position of its entry or kNone (a free ordinal).
  std::vector<uint64_t> positions_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> free_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<uint32_t, OrdinalHash, OrdinalEq> ordinals_ ABSL_GUARDED_BY(mu_);
  const size_t min_merge_;
  PostingIndex blocks_ ABSL_GUARDED_BY(mu_);
  PostingIndex ids_ ABSL_GUARDED_BY(mu_);
};

}  // namespace linkage::index
