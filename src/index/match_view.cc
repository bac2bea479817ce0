#include "match_view.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "bytes.h"

namespace linkage::index {
namespace {

constexpr char kSep = '\0';

// Block and identity keys' hashes. Stable across processes (unlike
// absl::Hash, which is seeded per process), because a saved view's postings
// hold them.
uint64_t Hash(std::string_view s) { return XXH3_64bits(s.data(), s.size()); }

// 2: a CCCD's province and birth year left out of the record encoding when
// its digits spell them (a file of 1 is rebuilt from RocksDB).
constexpr std::string_view kFileMagic = "linkd match view 2\n";

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

// The arena's chunks; a record larger than a chunk gets its own.
constexpr size_t kChunk = 4 << 20;
constexpr size_t kMinChunk = 64 << 10;

// A varint length at the front of `s`, removed.
size_t TakeLength(std::string_view* s) {
  size_t n = 0;
  for (int shift = 0; !s->empty(); shift += 7) {
    const auto byte = static_cast<uint8_t>(s->front());
    s->remove_prefix(1);
    n |= static_cast<size_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) break;
  }
  return n;
}

}  // namespace

MatchView::MatchView(uint32_t generation, size_t min_merge)
    : generation_(generation),
      generation_prefix_(GenerationBytes(generation)),
      ordinals_(0, OrdinalHash{this}, OrdinalEq{this}),
      min_merge_(min_merge),
      blocks_(0, min_merge),
      ids_(0, min_merge) {}

size_t MatchView::OrdinalHash::operator()(uint32_t ordinal) const {
  return absl::Hash<absl::string_view>{}(AV(view->IdOf(ordinal)));
}
size_t MatchView::OrdinalHash::operator()(std::string_view id) const {
  return absl::Hash<absl::string_view>{}(AV(id));
}
bool MatchView::OrdinalEq::operator()(uint32_t a, std::string_view b) const {
  return view->IdOf(a) == b;
}

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

// --- The arena.

std::string_view MatchView::EntryAt(uint64_t pos) const {
  const char* p = chunks_[pos >> 32].get() + (pos & 0xffffffffu);
  std::string_view s(p, 10);  // Room for the length varint; the entry follows.
  const size_t n = TakeLength(&s);
  return std::string_view(s.data(), n);
}

void MatchView::SplitEntry(std::string_view entry, std::string_view* id, std::string_view* fields) {
  const size_t n = std::min(TakeLength(&entry), entry.size());
  *id = entry.substr(0, n);
  *fields = entry.substr(n);
}

std::string_view MatchView::IdOf(uint32_t ordinal) const {
  std::string_view id, fields;
  SplitEntry(EntryAt(positions_[ordinal]), &id, &fields);
  return id;
}

uint64_t MatchView::AppendLocked(std::string_view bytes) {
  std::string length;
  bytes::PutVarint(bytes.size(), &length);
  const size_t need = length.size() + bytes.size() + 10;  // EntryAt reads up to 10 ahead.
  char* dst;
  uint64_t pos;
  if (need > kChunk) {
    chunks_.push_back(std::make_unique<char[]>(need));
    arena_bytes_ += static_cast<int64_t>(need);
    pos = static_cast<uint64_t>(chunks_.size() - 1) << 32;
    dst = chunks_.back().get();
    // The chunk being filled stays last.
    if (chunks_.size() >= 2 && chunk_size_ > 0) {
      std::swap(chunks_.back(), chunks_[chunks_.size() - 2]);
      pos = static_cast<uint64_t>(chunks_.size() - 2) << 32;
    }
  } else {
    if (chunks_.empty() || chunk_used_ + need > chunk_size_) {
      // Chunks grow with the arena (a quarter of it, 64 KiB to 4 MiB), so
      // that a small dataset does not hold megabytes it does not use.
      chunk_size_ = std::clamp<size_t>(static_cast<size_t>(arena_bytes_) / 4, kMinChunk, kChunk);
      chunk_size_ = std::max(chunk_size_, need);
      chunks_.push_back(std::make_unique<char[]>(chunk_size_));
      arena_bytes_ += static_cast<int64_t>(chunk_size_);
      chunk_used_ = 0;
    }
    pos = static_cast<uint64_t>(chunks_.size() - 1) << 32 | chunk_used_;
    dst = chunks_.back().get() + chunk_used_;
    chunk_used_ += length.size() + bytes.size();
  }
  std::memcpy(dst, length.data(), length.size());
  std::memcpy(dst + length.size(), bytes.data(), bytes.size());
  return pos;
}

void MatchView::CompactArenaLocked() {
  std::vector<std::unique_ptr<char[]>> old;
  old.swap(chunks_);
  chunk_used_ = chunk_size_ = 0;
  arena_bytes_ = dead_bytes_ = 0;
  for (uint64_t& pos : positions_) {
    if (pos == kNone) continue;
    const char* p = old[pos >> 32].get() + (pos & 0xffffffffu);
    std::string_view s(p, 10);
    const size_t n = TakeLength(&s);
    pos = AppendLocked(std::string_view(s.data(), n));
  }
}

void MatchView::StoreLocked(uint32_t ordinal, std::string_view record_id,
                            const v1::NormalizedRecord& normalized) {
  scratch_.clear();
  bytes::PutVarint(record_id.size(), &scratch_);
  scratch_.append(record_id);
  codec_.Encode(normalized, &scratch_);
  if (positions_[ordinal] != kNone)
    dead_bytes_ += static_cast<int64_t>(EntryAt(positions_[ordinal]).size());
  positions_[ordinal] = AppendLocked(scratch_);
  if (dead_bytes_ > std::max<int64_t>(arena_bytes_ / 2, 4 * static_cast<int64_t>(kChunk)))
    CompactArenaLocked();
}

// --- Records.

uint32_t MatchView::OrdinalLocked(std::string_view record_id, bool* created) {
  *created = false;
  if (auto it = ordinals_.find(record_id); it != ordinals_.end()) return *it;
  uint32_t ordinal;
  if (!free_.empty()) {
    ordinal = free_.back();
    free_.pop_back();
  } else if (positions_.size() >= PostingIndex::kMaxOrdinal) {
    return static_cast<uint32_t>(kNone);
  } else {
    ordinal = static_cast<uint32_t>(positions_.size());
    positions_.push_back(kNone);
  }
  *created = true;
  return ordinal;
}

void MatchView::PutLocked(std::string_view record_id, const RecordKeys& old, const RecordKeys& keys,
                          const v1::NormalizedRecord& normalized) {
  if (full_) return;
  bool created;
  const uint32_t ordinal = OrdinalLocked(record_id, &created);
  if (ordinal == static_cast<uint32_t>(kNone)) {
    // More people than postings can number: stop serving (queries read
    // RocksDB) rather than answer from a view that lacks someone.
    full_ = true;
    ready_ = false;
    return;
  }
  for (uint64_t h : old.blocks) blocks_.Remove(h, ordinal);
  for (uint64_t h : old.ids) ids_.Remove(h, ordinal);
  for (uint64_t h : keys.blocks) blocks_.Add(h, ordinal);
  for (uint64_t h : keys.ids) ids_.Add(h, ordinal);
  StoreLocked(ordinal, record_id, normalized);
  if (created) ordinals_.insert(ordinal);  // Hashes the id just stored.
}

void MatchView::RemoveLocked(std::string_view record_id, const RecordKeys& old) {
  if (full_) return;
  auto it = ordinals_.find(record_id);
  if (it == ordinals_.end()) return;
  const uint32_t ordinal = *it;
  for (uint64_t h : old.blocks) blocks_.Remove(h, ordinal);
  for (uint64_t h : old.ids) ids_.Remove(h, ordinal);
  ordinals_.erase(it);
  dead_bytes_ += static_cast<int64_t>(EntryAt(positions_[ordinal]).size());
  positions_[ordinal] = kNone;
  free_.push_back(ordinal);
}

void MatchView::Put(std::string_view record_id, const RecordKeys& old, const RecordKeys& keys,
                    const v1::NormalizedRecord& normalized) {
  absl::MutexLock lock(&mu_);
  if (!ready_) {
    pending_.push_back({false, std::string(record_id), old, keys, normalized});
    return;
  }
  PutLocked(record_id, old, keys, normalized);
}

void MatchView::Remove(std::string_view record_id, const RecordKeys& old) {
  absl::MutexLock lock(&mu_);
  if (!ready_) {
    pending_.push_back({true, std::string(record_id), old, {}, {}});
    return;
  }
  RemoveLocked(record_id, old);
}

// --- Loading.

bool MatchView::LoadRecord(std::string_view record_id, std::string_view normalized) {
  v1::NormalizedRecord r;
  if (!r.ParseFromArray(normalized.data(), static_cast<int>(normalized.size()))) return false;
  absl::MutexLock lock(&mu_);
  if (full_) return true;
  bool created;
  const uint32_t ordinal = OrdinalLocked(record_id, &created);
  if (ordinal == static_cast<uint32_t>(kNone)) {
    full_ = true;
    return true;
  }
  StoreLocked(ordinal, record_id, r);
  if (created) ordinals_.insert(ordinal);
  return true;
}

void MatchView::LoadBlockKey(std::string_view dataset, std::string_view full_key) {
  absl::MutexLock lock(&mu_);
  uint64_t h;
  if (full_ || !BlockHash(dataset, full_key, &h)) return;
  auto it = ordinals_.find(full_key.substr(full_key.rfind(kSep) + 1));
  if (it != ordinals_.end()) blocks_.Stage(h, *it);
}

void MatchView::LoadIdKey(std::string_view dataset, std::string_view full_key) {
  absl::MutexLock lock(&mu_);
  uint64_t h;
  if (full_ || !IdHash(dataset, full_key, &h)) return;
  auto it = ordinals_.find(full_key.substr(full_key.rfind(kSep) + 1));
  if (it != ordinals_.end()) ids_.Stage(h, *it);
}

void MatchView::FinishLoad() {
  absl::MutexLock lock(&mu_);
  blocks_.FinishLoad();
  ids_.FinishLoad();
  for (Pending& p : pending_) {
    if (p.remove) {
      RemoveLocked(p.record_id, p.old);
    } else {
      PutLocked(p.record_id, p.old, p.keys, p.normalized);
    }
  }
  std::vector<Pending>().swap(pending_);
  ready_ = !full_;
}

bool MatchView::ready() const {
  absl::ReaderMutexLock lock(&mu_);
  return ready_;
}

// --- Reads.

bool MatchView::ScanBlock(std::string_view rule, std::string_view key, size_t max_entries,
                          std::vector<std::string>* ids, std::vector<uint32_t>* hints,
                          bool* complete) const {
  std::string middle;
  middle.reserve(rule.size() + 1 + key.size());
  middle.append(rule).push_back(kSep);
  middle.append(key);
  const uint64_t h = Hash(middle);
  std::vector<uint32_t> ordinals;
  absl::ReaderMutexLock lock(&mu_);
  if (!ready_) return false;
  *complete = blocks_.Find(h, max_entries, &ordinals);
  for (uint32_t ordinal : ordinals) ids->emplace_back(IdOf(ordinal));
  if (hints != nullptr) hints->insert(hints->end(), ordinals.begin(), ordinals.end());
  return true;
}

bool MatchView::LookupId(std::string_view id_key, size_t max, std::vector<std::string>* ids,
                         std::vector<uint32_t>* hints) const {
  const uint64_t h = Hash(id_key);
  std::vector<uint32_t> ordinals;
  absl::ReaderMutexLock lock(&mu_);
  if (!ready_) return false;
  ids_.Find(h, std::numeric_limits<size_t>::max(), &ordinals);
  // Sorted like the RocksDB index, so `max` keeps the same holders.
  std::vector<std::pair<std::string_view, uint32_t>> holders;
  holders.reserve(ordinals.size());
  for (uint32_t ordinal : ordinals) holders.emplace_back(IdOf(ordinal), ordinal);
  std::sort(holders.begin(), holders.end());
  for (size_t i = 0; i < holders.size() && i < max; ++i) {
    ids->emplace_back(holders[i].first);
    if (hints != nullptr) hints->push_back(holders[i].second);
  }
  return true;
}

bool MatchView::GetNormalized(const std::vector<std::string>& record_ids,
                              const std::vector<uint32_t>* hints, google::protobuf::Arena* arena,
                              std::vector<const v1::NormalizedRecord*>* out, bool* damaged) const {
  absl::ReaderMutexLock lock(&mu_);
  if (!ready_) return false;
  for (size_t i = 0; i < record_ids.size(); ++i) {
    std::string_view id, fields;
    // The hinted ordinal if it still holds this id (an ordinal is reused
    // only after its record is removed), else the id's own.
    const uint32_t hint = hints != nullptr && i < hints->size() ? (*hints)[i] : kNoOrdinal;
    bool hit = false;
    if (hint < positions_.size() && positions_[hint] != kNone) {
      SplitEntry(EntryAt(positions_[hint]), &id, &fields);
      hit = id == record_ids[i];
    }
    if (!hit) {
      auto it = ordinals_.find(record_ids[i]);
      if (it == ordinals_.end()) continue;
      SplitEntry(EntryAt(positions_[*it]), &id, &fields);
    }
    auto* r = google::protobuf::Arena::CreateMessage<v1::NormalizedRecord>(arena);
    if (codec_.Decode(fields, r)) {
      (*out)[i] = r;
    } else {
      *damaged = true;
    }
  }
  return true;
}

MatchView::Usage MatchView::usage() const {
  absl::ReaderMutexLock lock(&mu_);
  Usage u;
  u.records = static_cast<int64_t>(ordinals_.size());
  u.block_keys = blocks_.keys();
  u.id_keys = ids_.keys();
  u.block_entries = blocks_.entries();
  u.id_entries = ids_.entries();
  u.ready = ready_;
  u.from_file = from_file_;
  u.bytes = arena_bytes_ + codec_.bytes() + blocks_.bytes() + ids_.bytes() +
            static_cast<int64_t>(positions_.capacity() * sizeof(uint64_t) +
                                 free_.capacity() * sizeof(uint32_t) +
                                 ordinals_.capacity() * (sizeof(uint32_t) + 1));
  return u;
}

// --- The saved file.
//
//   magic, then sections of (u64 length, bytes): the header (stamp, dataset,
//   generation), the codec's strings, the records (ordinal, entry), the
//   block postings, the identity postings; then the XXH3 of all before.

absl::Status MatchView::Save(const std::string& path, std::string_view stamp,
                             std::string_view dataset) {
  absl::MutexLock lock(&mu_);
  if (!ready_) return absl::FailedPreconditionError("the match view is not loaded");
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return absl::InternalError(absl::StrCat("cannot create ", tmp));
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  bool ok = true;
  auto write = [&](std::string_view b) {
    XXH3_64bits_update(state, b.data(), b.size());
    ok = ok && std::fwrite(b.data(), 1, b.size(), f) == b.size();
  };
  auto section = [&](const std::string& body) {
    std::string length;
    bytes::PutFixed<uint64_t>(body.size(), &length);
    write(length);
    write(body);
  };
  write(kFileMagic);
  std::string body;
  bytes::PutString(stamp, &body);
  bytes::PutString(dataset, &body);
  bytes::PutFixed<uint32_t>(generation_, &body);
  section(body);
  body.clear();
  codec_.Save(&body);
  section(body);
  body.clear();
  bytes::PutVarint(positions_.size(), &body);
  bytes::PutVarint(ordinals_.size(), &body);
  for (size_t o = 0; o < positions_.size(); ++o) {
    if (positions_[o] == kNone) continue;
    bytes::PutVarint(o, &body);
    bytes::PutString(EntryAt(positions_[o]), &body);
  }
  section(body);
  for (PostingIndex* index : {&blocks_, &ids_}) {
    std::string().swap(body);
    index->Save(&body);
    section(body);
  }
  std::string sum;
  bytes::PutFixed<uint64_t>(XXH3_64bits_digest(state), &sum);
  XXH3_freeState(state);
  ok = ok && std::fwrite(sum.data(), 1, sum.size(), f) == sum.size();
  ok = ok && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  std::error_code ec;
  if (ok) std::filesystem::rename(tmp, path, ec);
  if (!ok || ec) {
    std::filesystem::remove(tmp, ec);
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

bool MatchView::Load(const std::string& path, std::string_view stamp, std::string_view dataset) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(kFileMagic.size() + 8)) {
    ::close(fd);
    return false;
  }
  const auto size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return false;
  (void)::madvise(map, size, MADV_SEQUENTIAL);
  const std::string_view file(static_cast<const char*>(map), size);
  absl::MutexLock lock(&mu_);
  const bool loaded = [&] {
    if (ready_ || !positions_.empty()) return false;
    if (file.substr(0, kFileMagic.size()) != kFileMagic) return false;
    uint64_t sum;
    std::memcpy(&sum, file.data() + size - 8, 8);
    if (XXH3_64bits(file.data(), size - 8) != sum) return false;
    bytes::Reader in(file.substr(kFileMagic.size(), size - 8 - kFileMagic.size()));
    auto section = [&in](std::string_view* out) {
      uint64_t n;
      return in.Fixed(&n) && in.Bytes(n, out);
    };
    std::string_view body, s;
    uint32_t generation;
    if (!section(&body)) return false;
    bytes::Reader header(body);
    if (!header.String(&s) || s != stamp || !header.String(&s) || s != dataset ||
        !header.Fixed(&generation) || generation != generation_) {
      return false;
    }
    if (!section(&body)) return false;
    bytes::Reader strings(body);
    if (!codec_.Load(strings) || !strings.done()) return false;
    if (!section(&body)) return false;
    bytes::Reader records(body);
    uint64_t slots, count;
    if (!records.Varint(&slots) || slots > PostingIndex::kMaxOrdinal || !records.Varint(&count) ||
        count > slots) {
      return false;
    }
    positions_.assign(slots, kNone);
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t o;
      std::string_view entry;
      if (!records.Varint(&o) || o >= slots || positions_[o] != kNone || !records.String(&entry))
        return false;
      std::string_view id = entry;
      if (TakeLength(&id) > id.size()) return false;
      positions_[o] = AppendLocked(entry);
    }
    if (!records.done()) return false;
    ordinals_.reserve(count);
    for (uint32_t o = 0; o < slots; ++o) {
      if (positions_[o] == kNone) {
        free_.push_back(o);
      } else if (!ordinals_.insert(o).second) {
        return false;  // The same record id twice.
      }
    }
    std::reverse(free_.begin(), free_.end());
    for (PostingIndex* index : {&blocks_, &ids_}) {
      if (!section(&body)) return false;
      bytes::Reader postings(body);
      if (!index->Load(postings) || !postings.done()) return false;
      if (!index->AllOrdinals([&](uint32_t o) { return o < slots && positions_[o] != kNone; }))
        return false;
    }
    return in.done();
  }();
  ::munmap(map, size);
  from_file_ = loaded;
  if (!loaded) {
    // Back to empty, for a load from RocksDB.
    codec_ = RecordCodec();
    std::vector<std::unique_ptr<char[]>>().swap(chunks_);
    chunk_used_ = chunk_size_ = 0;
    arena_bytes_ = dead_bytes_ = 0;
    ordinals_.clear();
    std::vector<uint64_t>().swap(positions_);
    std::vector<uint32_t>().swap(free_);
    blocks_ = PostingIndex(0, min_merge_);
    ids_ = PostingIndex(0, min_merge_);
  }
  return loaded;
}

}  // namespace linkage::index
