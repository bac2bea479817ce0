#include "postings.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

#include "bytes.h"

namespace linkage::index {
namespace {

int BitsFor(size_t entries) {
  // About 16–32 entries per bucket: a directory of 1/8 to 1/4 byte per
  // entry, and a binary search within two or three cache lines.
  const int log2 = entries == 0 ? 0 : static_cast<int>(std::bit_width(entries)) - 1;
  return std::clamp(log2 - 4, 12, 28);
}

}  // namespace

PostingIndex::PostingIndex(size_t expected_entries, size_t min_merge)
    : bits_(expected_entries == 0 ? 16 : BitsFor(expected_entries)),
      min_merge_(min_merge),
      directory_((size_t{1} << bits_) + 1, 0) {}

std::pair<size_t, size_t> PostingIndex::Run(uint64_t hash) const {
  const uint64_t b = Bucket(hash);
  const uint64_t fp = Fingerprint(hash);
  auto begin = words_.begin() + directory_[b];
  auto end = words_.begin() + directory_[b + 1];
  auto first =
      std::partition_point(begin, end, [fp](uint64_t w) { return (w >> kOrdinalBits) < fp; });
  auto last = first;
  while (last != end && (*last >> kOrdinalBits) == fp) ++last;
  return {static_cast<size_t>(first - words_.begin()), static_cast<size_t>(last - words_.begin())};
}

bool PostingIndex::Find(uint64_t hash, size_t max, std::vector<uint32_t>* out) const {
  const size_t start = out->size();
  size_t n = 0;
  auto [first, last] = Run(hash);
  for (size_t i = first; i < last; ++i) {
    const uint64_t ordinal = words_[i] & kOrdinalMask;
    if (ordinal == kDead) continue;
    if (++n > max) {
      out->resize(start);
      return false;
    }
    out->push_back(static_cast<uint32_t>(ordinal));
  }
  if (auto it = delta_.find(hash); it != delta_.end()) {
    for (uint32_t ordinal : it->second) {
      if (++n > max) {
        out->resize(start);
        return false;
      }
      out->push_back(ordinal);
    }
  }
  return true;
}

void PostingIndex::Add(uint64_t hash, uint32_t ordinal) {
  delta_[hash].push_back(ordinal);
  ++delta_entries_;
  ++live_;
  MaybeMerge();
}

bool PostingIndex::Remove(uint64_t hash, uint32_t ordinal) {
  if (auto it = delta_.find(hash); it != delta_.end()) {
    std::vector<uint32_t>& list = it->second;
    auto pos = std::find(list.begin(), list.end(), ordinal);
    if (pos != list.end()) {
      *pos = list.back();
      list.pop_back();
      if (list.empty()) delta_.erase(it);
      --delta_entries_;
      --live_;
      return true;
    }
  }
  auto [first, last] = Run(hash);
  for (size_t i = first; i < last; ++i) {
    if ((words_[i] & kOrdinalMask) == ordinal) {
      // Dead in place: the word keeps its fingerprint, so the run stays
      // where binary search looks for it.
      words_[i] |= kDead;
      ++dead_;
      --live_;
      MaybeMerge();
      return true;
    }
  }
  return false;
}

void PostingIndex::MaybeMerge() {
  const size_t threshold = std::max(min_merge_, words_.size() / 8);
  if (delta_entries_ > threshold || dead_ > threshold) Merge();
}

void PostingIndex::Merge() {
  std::vector<std::pair<uint64_t, uint64_t>> added;  // (bucket, word), sorted.
  added.reserve(delta_entries_);
  for (const auto& [hash, list] : delta_) {
    for (uint32_t ordinal : list) added.emplace_back(Bucket(hash), Word(hash, ordinal));
  }
  std::sort(added.begin(), added.end());
  std::vector<uint64_t> words;
  words.reserve(words_.size() - dead_ + added.size());
  std::vector<uint32_t> directory(directory_.size());
  const size_t buckets = directory_.size() - 1;
  size_t a = 0;
  for (size_t b = 0; b < buckets; ++b) {
    directory[b] = static_cast<uint32_t>(words.size());
    size_t i = directory_[b];
    const size_t end = directory_[b + 1];
    while (true) {
      while (i < end && (words_[i] & kOrdinalMask) == kDead) ++i;
      const bool have_old = i < end;
      const bool have_new = a < added.size() && added[a].first == b;
      if (!have_old && !have_new) break;
      if (have_old && (!have_new || words_[i] <= added[a].second)) {
        words.push_back(words_[i++]);
      } else {
        words.push_back(added[a++].second);
      }
    }
  }
  directory[buckets] = static_cast<uint32_t>(words.size());
  words_ = std::move(words);
  directory_ = std::move(directory);
  dead_ = 0;
  absl::flat_hash_map<uint64_t, std::vector<uint32_t>>().swap(delta_);
  delta_entries_ = 0;
}

void PostingIndex::FinishLoad() {
  if (words_.empty() && delta_.empty()) {
    bits_ = BitsFor(staged_.size());
    directory_.assign((size_t{1} << bits_) + 1, 0);
  }
  if (!words_.empty() || !delta_.empty()) {
    for (const Staged& s : staged_) Add(s.hash, s.ordinal);
  } else {
    // A counting sort into buckets, then each bucket sorted.
    const size_t buckets = directory_.size() - 1;
    for (const Staged& s : staged_) ++directory_[Bucket(s.hash) + 1];
    for (size_t b = 0; b < buckets; ++b) directory_[b + 1] += directory_[b];
    words_.resize(staged_.size());
    std::vector<uint32_t> fill(directory_.begin(), directory_.end() - 1);
    for (const Staged& s : staged_) words_[fill[Bucket(s.hash)]++] = Word(s.hash, s.ordinal);
    for (size_t b = 0; b < buckets; ++b)
      std::sort(words_.begin() + directory_[b], words_.begin() + directory_[b + 1]);
    live_ = static_cast<int64_t>(words_.size());
  }
  std::vector<Staged>().swap(staged_);
}

void PostingIndex::Save(std::string* out) {
  if (!delta_.empty() || dead_ > 0) Merge();
  bytes::PutFixed<uint32_t>(static_cast<uint32_t>(bits_), out);
  bytes::PutFixed<uint64_t>(words_.size(), out);
  out->append(reinterpret_cast<const char*>(words_.data()), words_.size() * sizeof(uint64_t));
  out->append(reinterpret_cast<const char*>(directory_.data()),
              directory_.size() * sizeof(uint32_t));
}

bool PostingIndex::Load(bytes::Reader& in) {
  uint32_t bits;
  uint64_t n;
  if (!words_.empty() || !delta_.empty() || !in.Fixed(&bits) || bits < 1 || bits > 28 ||
      !in.Fixed(&n) || n > in.left() / sizeof(uint64_t)) {
    return false;
  }
  std::string_view raw;
  if (!in.Bytes(n * sizeof(uint64_t), &raw)) return false;
  std::vector<uint64_t> words(n);
  std::memcpy(words.data(), raw.data(), raw.size());
  const size_t dir_size = (size_t{1} << bits) + 1;
  if (!in.Bytes(dir_size * sizeof(uint32_t), &raw)) return false;
  std::vector<uint32_t> directory(dir_size);
  std::memcpy(directory.data(), raw.data(), raw.size());
  // The directory must describe the array, or lookups would read past it.
  if (directory[0] != 0 || directory[dir_size - 1] != n) return false;
  for (size_t b = 0; b + 1 < dir_size; ++b) {
    if (directory[b] > directory[b + 1]) return false;
  }
  for (uint64_t w : words) {
    if ((w & kOrdinalMask) == kDead) return false;
  }
  bits_ = static_cast<int>(bits);
  words_ = std::move(words);
  directory_ = std::move(directory);
  dead_ = 0;
  live_ = static_cast<int64_t>(words_.size());
  return true;
}

int64_t PostingIndex::keys() const {
  int64_t n = 0;
  const size_t buckets = directory_.size() - 1;
  for (size_t b = 0; b < buckets; ++b) {
    bool any = false;
    uint64_t last = 0;
    for (size_t i = directory_[b]; i < directory_[b + 1]; ++i) {
      if ((words_[i] & kOrdinalMask) == kDead) continue;
      const uint64_t fp = words_[i] >> kOrdinalBits;
      if (!any || fp != last) ++n;
      any = true;
      last = fp;
    }
  }
  for (const auto& [hash, list] : delta_) {
    auto [first, last] = Run(hash);
    bool in_words = false;
    for (size_t i = first; i < last && !in_words; ++i)
      in_words = (words_[i] & kOrdinalMask) != kDead;
    if (!in_words) ++n;
  }
  return n;
}

int64_t PostingIndex::bytes() const {
  int64_t b = static_cast<int64_t>(words_.capacity() * sizeof(uint64_t) +
                                   directory_.capacity() * sizeof(uint32_t) +
                                   staged_.capacity() * sizeof(Staged));
  b += static_cast<int64_t>(delta_.capacity() *
                            (sizeof(uint64_t) + sizeof(std::vector<uint32_t>) + 1));
  for (const auto& [hash, list] : delta_)
    b += static_cast<int64_t>(list.capacity() * sizeof(uint32_t));
  return b;
}

}  // namespace linkage::index
