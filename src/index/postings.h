// Posting lists of the match view: for a 64-bit key hash (a block or an
// identity number), the ordinals of the records that hold it.
//
// Why not a hash map of vectors: at a register's scale almost every block
// key is held by one or two people (name + date keys), and a map slot plus a
// vector allocation cost ~70 bytes per key, ~1,000 bytes per person. Here an
// entry is one 8-byte word in a sorted array:
//
//   word = low 36 bits of the hash << 28 | ordinal (28 bits)
//
// grouped into 2^k buckets by the hash's top k bits, with a directory of
// bucket offsets; a key's entries are a run of equal upper bits within its
// bucket, found by binary search. Two keys are told apart by k + 36 bits of
// their hash (52 or more), about as often confused as two full 64-bit
// hashes at these sizes. k is fixed for the index's life (chosen from the
// size it is built for, at least 16).
//
// Changes go to a small delta (a hash map by full hash) and removals of
// entries in the sorted array mark them dead in place; when either grows
// past an eighth of the array (and a floor) the two are merged into a new
// array. The merge holds the view's write lock and copies the array once:
// ~0.1 s per 10M entries.
//
// Not thread-safe; the match view locks. Internal to the index layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace linkage::index {
namespace bytes {
class Reader;
}

class PostingIndex {
 public:
  static constexpr int kOrdinalBits = 28;
  // Ordinals must be below this.
  static constexpr uint32_t kMaxOrdinal = (1u << kOrdinalBits) - 1;

  // `expected_entries` sizes the directory; `min_merge` is the delta size
  // below which no merge happens (tests make it small).
  explicit PostingIndex(size_t expected_entries = 0, size_t min_merge = size_t{1} << 16);

  void Add(uint64_t hash, uint32_t ordinal);
  // Removes one entry (hash, ordinal); false if there was none.
  bool Remove(uint64_t hash, uint32_t ordinal);

  // Bulk loading into an empty index: Stage each entry, then FinishLoad().
  void Stage(uint64_t hash, uint32_t ordinal) { staged_.push_back({hash, ordinal}); }
  void FinishLoad();

  // Appends the ordinals under `hash` to `out`, unless there are more than
  // `max`: then appends none and returns false.
  bool Find(uint64_t hash, size_t max, std::vector<uint32_t>* out) const;

  // For the view's saved file: Save merges first (so the file holds only
  // the sorted array); Load into an empty index.
  void Save(std::string* out);
  bool Load(bytes::Reader& in);

  // Whether ok(ordinal) holds for every entry.
  template <typename Fn>
  bool AllOrdinals(Fn ok) const {
    for (uint64_t w : words_) {
      if ((w & kOrdinalMask) != kDead && !ok(static_cast<uint32_t>(w & kOrdinalMask))) return false;
    }
    for (const auto& [hash, list] : delta_) {
      for (uint32_t o : list) {
        if (!ok(o)) return false;
      }
    }
    return true;
  }

  int64_t entries() const { return live_; }
  int64_t keys() const;   // Distinct hashes; a scan (for stats).
  int64_t bytes() const;  // Heap held.

 private:
  static constexpr uint64_t kOrdinalMask = kMaxOrdinal;
  static constexpr uint64_t kDead = kMaxOrdinal;  // In the ordinal bits.
  static constexpr uint64_t kFpMask = (uint64_t{1} << (64 - kOrdinalBits)) - 1;

  uint64_t Bucket(uint64_t hash) const { return hash >> (64 - bits_); }
  static uint64_t Fingerprint(uint64_t hash) { return hash & kFpMask; }
  static uint64_t Word(uint64_t hash, uint32_t ordinal) {
    return Fingerprint(hash) << kOrdinalBits | ordinal;
  }
  // [first, last) of the run of `hash` in the sorted array.
  std::pair<size_t, size_t> Run(uint64_t hash) const;
  void MaybeMerge();
  void Merge();

  int bits_;
  size_t min_merge_;
  std::vector<uint64_t> words_;
  std::vector<uint32_t> directory_;  // 2^bits_ + 1 offsets into words_.
  size_t dead_ = 0;                  // Dead words in words_.
  absl::flat_hash_map<uint64_t, std::vector<uint32_t>> delta_;
  size_t delta_entries_ = 0;
  int64_t live_ = 0;
  struct Staged {
    uint64_t hash;
    uint32_t ordinal;
  };
  std::vector<Staged> staged_;
};

}  // namespace linkage::index
