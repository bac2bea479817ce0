// Posting lists of the match view: for a 64-bit key hash (a block or an
// identity number), the ordinals of the records that hold it.
//
// Why not a hash map of vectors: at a register's scale almost every block
// key is held by one or two people (name + date keys), and a map slot plus a
// vector allocation cost ~70 bytes per key, ~1,000 bytes per person. Here an
// entry is one word of 7 or 8 bytes in a sorted array:
//
//   word = low 28 (7 bytes) or 36 (8 bytes) bits of the hash << 28 | ordinal (28 bits)
//
// grouped into 2^k buckets by the hash's top k bits, with a directory of
// bucket offsets; a key's entries are a run of equal upper bits within its
// bucket, found by binary search. Two keys are told apart by k + 28 or
// k + 36 bits of their hash. With 7-byte words a lookup meets another key's
// run about once in 10^7 (16–32 keys a bucket, each with a 28-bit
// fingerprint), and then adds that key's records to a candidate list, where
// scoring ranks them as what they are: block postings use 7 bytes, because
// they are 60% of the view and the byte saved is 15 bytes a person. The
// identity postings use 8 (once in 10^9-10^10), because a record wrongly
// said to hold a claimed ID would turn a match into an ID conflict.
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
#include <cstring>
#include <string>
#include <string_view>
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
  // below which no merge happens (tests make it small); `word_bytes` is 7
  // or 8.
  explicit PostingIndex(size_t expected_entries = 0, size_t min_merge = size_t{1} << 16,
                        int word_bytes = 8);

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
    for (size_t i = 0; i < words_.size(); ++i) {
      const uint64_t w = words_[i];
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

  // Words packed `width` bytes apart (little-endian), with padding so that
  // a word is read as one unaligned 8-byte load.
  class Words {
   public:
    explicit Words(int width)
        : width_(static_cast<size_t>(width)),
          mask_(width >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * width)) - 1),
          bytes_(kPadding) {}
    size_t size() const { return n_; }
    bool empty() const { return n_ == 0; }
    uint64_t operator[](size_t i) const {
      uint64_t w;
      std::memcpy(&w, bytes_.data() + i * width_, sizeof(w));
      return w & mask_;
    }
    void Set(size_t i, uint64_t w) { std::memcpy(bytes_.data() + i * width_, &w, width_); }
    void Reserve(size_t n) { bytes_.reserve(n * width_ + kPadding); }
    void Resize(size_t n) {
      n_ = n;
      bytes_.resize(n * width_ + kPadding);
    }
    void PushBack(uint64_t w) {
      Resize(n_ + 1);
      Set(n_ - 1, w);
    }
    std::string_view raw() const { return {bytes_.data(), n_ * width_}; }
    // From raw(): `raw` holds exactly n words.
    void Assign(std::string_view raw, size_t n) {
      Resize(n);
      std::memcpy(bytes_.data(), raw.data(), n * width_);
    }
    size_t capacity_bytes() const { return bytes_.capacity(); }

   private:
    static constexpr size_t kPadding = sizeof(uint64_t) - 1;
    size_t width_;
    uint64_t mask_;
    std::vector<char> bytes_;
    size_t n_ = 0;
  };

  uint64_t Bucket(uint64_t hash) const { return hash >> (64 - bits_); }
  uint64_t Fingerprint(uint64_t hash) const { return hash & fp_mask_; }
  uint64_t Word(uint64_t hash, uint32_t ordinal) const {
    return Fingerprint(hash) << kOrdinalBits | ordinal;
  }
  // [first, last) of the run of `hash` in the sorted array.
  std::pair<size_t, size_t> Run(uint64_t hash) const;
  void MaybeMerge();
  void Merge();

  int word_bytes_;
  uint64_t fp_mask_;  // The hash bits a word keeps.
  int bits_;
  size_t min_merge_;
  Words words_;
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
