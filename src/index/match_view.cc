#include "match_view.h"

#include <algorithm>

#include "absl/hash/hash.h"
#include "base/strings.h"

namespace linkage::index {
namespace {

constexpr char kSep = '\0';

uint64_t Hash(std::string_view s) { return absl::Hash<absl::string_view>{}(AV(s)); }

// The part of a stored key between "<dataset>\0" and the trailing
// "\0<record_id>", if the key starts with `prefix` + dataset.
bool Middle(std::string_view full_key, std::string_view generation, std::string_view dataset,
            std::string_view* out) {
  if (full_key.size() < generation.size() + dataset.size() + 1) return false;
  if (full_key.substr(0, generation.size()) != generation) return false;
  full_key.remove_prefix(generation.size());
  if (full_key.substr(0, dataset.size()) != dataset || full_key[dataset.size()] != kSep)
    return false;
  full_key.remove_prefix(dataset.size() + 1);
  size_t last = full_key.rfind(kSep);
  if (last == std::string_view::npos) return false;
  *out = full_key.substr(0, last);
  return true;
}

std::string GenerationBytes(uint32_t generation) {
  std::string g(4, '\0');
  for (int i = 0; i < 4; ++i)
    g[static_cast<size_t>(i)] = static_cast<char>((generation >> (8 * (3 - i))) & 0xff);
  return g;
}

void Unlink(absl::flat_hash_map<uint64_t, std::vector<uint32_t>>& index, uint64_t hash,
            uint32_t ordinal) {
  auto it = index.find(hash);
  if (it == index.end()) return;
  std::vector<uint32_t>& list = it->second;
  auto pos = std::find(list.begin(), list.end(), ordinal);
  if (pos == list.end()) return;
  *pos = list.back();
  list.pop_back();
  if (list.empty()) index.erase(it);
}

// A record holds each key once (the store writes distinct keys), and a
// load or replay adds each (key, record) once, so no search for a duplicate:
// at 1M records the longest lists hold thousands and a search per insert
// made importing quadratic in them.
void Link(absl::flat_hash_map<uint64_t, std::vector<uint32_t>>& index, uint64_t hash,
          uint32_t ordinal) {
  index[hash].push_back(ordinal);
}

}  // namespace

MatchView::MatchView(uint32_t generation)
    : generation_(generation), generation_prefix_(GenerationBytes(generation)) {}

bool MatchView::BlockHash(std::string_view dataset, std::string_view full_key,
                          uint64_t* hash) const {
  std::string_view middle;
  if (!Middle(full_key, generation_prefix_, dataset, &middle)) return false;
  *hash = Hash(middle);
  return true;
}

bool MatchView::IdHash(std::string_view dataset, std::string_view full_key, uint64_t* hash) {
  std::string_view middle;
  if (!Middle(full_key, "", dataset, &middle)) return false;
  *hash = Hash(middle);
  return true;
}

uint32_t MatchView::OrdinalLocked(std::string_view record_id) {
  auto [it, inserted] = ordinals_.try_emplace(AV(record_id), 0);
  if (!inserted) return it->second;
  uint32_t ordinal;
  if (!free_.empty()) {
    ordinal = free_.back();
    free_.pop_back();
    record_ids_[ordinal] = std::string(record_id);
  } else {
    ordinal = static_cast<uint32_t>(record_ids_.size());
    record_ids_.emplace_back(record_id);
    normalized_.emplace_back();
  }
  it->second = ordinal;
  return ordinal;
}

void MatchView::PutLocked(std::string_view record_id, const RecordKeys& old, const RecordKeys& keys,
                          std::string normalized) {
  const uint32_t ordinal = OrdinalLocked(record_id);
  for (uint64_t h : old.blocks) Unlink(blocks_, h, ordinal);
  for (uint64_t h : old.ids) Unlink(ids_, h, ordinal);
  for (uint64_t h : keys.blocks) Link(blocks_, h, ordinal);
  for (uint64_t h : keys.ids) Link(ids_, h, ordinal);
  normalized_[ordinal] = std::move(normalized);
}

void MatchView::RemoveLocked(std::string_view record_id, const RecordKeys& old) {
  auto it = ordinals_.find(AV(record_id));
  if (it == ordinals_.end()) return;
  const uint32_t ordinal = it->second;
  for (uint64_t h : old.blocks) Unlink(blocks_, h, ordinal);
  for (uint64_t h : old.ids) Unlink(ids_, h, ordinal);
  ordinals_.erase(it);
  record_ids_[ordinal].clear();
  std::string().swap(normalized_[ordinal]);
  free_.push_back(ordinal);
}

void MatchView::Put(std::string_view record_id, const RecordKeys& old, const RecordKeys& keys,
                    std::string normalized) {
  absl::MutexLock lock(&mu_);
  if (!ready_) {
    pending_.push_back({false, std::string(record_id), old, keys, std::move(normalized)});
    return;
  }
  PutLocked(record_id, old, keys, std::move(normalized));
}

void MatchView::Remove(std::string_view record_id, const RecordKeys& old) {
  absl::MutexLock lock(&mu_);
  if (!ready_) {
    pending_.push_back({true, std::string(record_id), old, {}, {}});
    return;
  }
  RemoveLocked(record_id, old);
}

void MatchView::LoadRecord(std::string_view record_id, std::string normalized) {
  absl::MutexLock lock(&mu_);
  normalized_[OrdinalLocked(record_id)] = std::move(normalized);
}

void MatchView::LoadBlockKey(std::string_view dataset, std::string_view full_key) {
  absl::MutexLock lock(&mu_);
  uint64_t h;
  if (!BlockHash(dataset, full_key, &h)) return;
  auto it = ordinals_.find(AV(full_key.substr(full_key.rfind(kSep) + 1)));
  if (it != ordinals_.end()) Link(blocks_, h, it->second);
}

void MatchView::LoadIdKey(std::string_view dataset, std::string_view full_key) {
  absl::MutexLock lock(&mu_);
  uint64_t h;
  if (!IdHash(dataset, full_key, &h)) return;
  auto it = ordinals_.find(AV(full_key.substr(full_key.rfind(kSep) + 1)));
  if (it != ordinals_.end()) Link(ids_, h, it->second);
}

void MatchView::FinishLoad() {
  absl::MutexLock lock(&mu_);
  for (Pending& p : pending_) {
    if (p.remove) {
      RemoveLocked(p.record_id, p.old);
    } else {
      PutLocked(p.record_id, p.old, p.keys, std::move(p.normalized));
    }
  }
  std::vector<Pending>().swap(pending_);
  ready_ = true;
}

bool MatchView::ready() const {
  absl::ReaderMutexLock lock(&mu_);
  return ready_;
}

bool MatchView::ScanBlock(std::string_view rule, std::string_view key, size_t max_entries,
                          std::vector<std::string>* ids, bool* complete) const {
  std::string middle;
  middle.reserve(rule.size() + 1 + key.size());
  middle.append(rule).push_back(kSep);
  middle.append(key);
  const uint64_t h = Hash(middle);
  absl::ReaderMutexLock lock(&mu_);
  if (!ready_) return false;
  *complete = true;
  auto it = blocks_.find(h);
  if (it == blocks_.end()) return true;
  if (it->second.size() > max_entries) {
    *complete = false;
    return true;
  }
  for (uint32_t ordinal : it->second) ids->push_back(record_ids_[ordinal]);
  return true;
}

bool MatchView::LookupId(std::string_view id_key, size_t max, std::vector<std::string>* ids) const {
  const uint64_t h = Hash(id_key);
  absl::ReaderMutexLock lock(&mu_);
  if (!ready_) return false;
  auto it = ids_.find(h);
  if (it == ids_.end()) return true;
  // Sorted like the RocksDB index, so `max` keeps the same holders.
  std::vector<std::string_view> holders;
  holders.reserve(it->second.size());
  for (uint32_t ordinal : it->second) holders.emplace_back(record_ids_[ordinal]);
  std::sort(holders.begin(), holders.end());
  for (size_t i = 0; i < holders.size() && i < max; ++i) ids->emplace_back(holders[i]);
  return true;
}

MatchView::Usage MatchView::usage() const {
  absl::ReaderMutexLock lock(&mu_);
  Usage u;
  u.records = static_cast<int64_t>(ordinals_.size());
  u.block_keys = static_cast<int64_t>(blocks_.size());
  u.id_keys = static_cast<int64_t>(ids_.size());
  int64_t bytes = 0;
  for (size_t i = 0; i < record_ids_.size(); ++i) {
    bytes += static_cast<int64_t>(sizeof(std::string) * 2 + normalized_[i].capacity());
    if (record_ids_[i].capacity() > 15) bytes += static_cast<int64_t>(record_ids_[i].capacity());
  }
  for (const auto* index : {&blocks_, &ids_}) {
    bytes += static_cast<int64_t>(index->capacity() *
                                  (sizeof(uint64_t) + sizeof(std::vector<uint32_t>) + 1));
    int64_t& entries = index == &blocks_ ? u.block_entries : u.id_entries;
    for (const auto& [h, list] : *index) {
      bytes += static_cast<int64_t>(list.capacity() * sizeof(uint32_t));
      entries += static_cast<int64_t>(list.size());
    }
  }
  u.ready = ready_;
  bytes +=
      static_cast<int64_t>(ordinals_.capacity() * (sizeof(std::string) + sizeof(uint32_t) + 1));
  u.bytes = bytes;
  return u;
}

}  // namespace linkage::index
