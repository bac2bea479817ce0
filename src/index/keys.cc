#include "keys.h"

#include "absl/strings/str_cat.h"
#include "base/strings.h"

namespace linkage::index::keys {
namespace {

constexpr std::string_view kSepView{"\0", 1};

// Reads an 8-byte length-prefixed or fixed field off the front of `in`.
bool Take(std::string_view* in, size_t n, std::string_view* out) {
  if (in->size() < n) return false;
  *out = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

bool TakeInt(std::string_view* in, int64_t* v) {
  std::string_view s;
  if (!Take(in, 8, &s)) return false;
  *v = DecodeInt64(s);
  return true;
}

bool TakeString(std::string_view* in, std::string* out) {
  int64_t n = 0;
  std::string_view s;
  if (!TakeInt(in, &n) || n < 0 || !Take(in, static_cast<size_t>(n), &s)) return false;
  *out = std::string(s);
  return true;
}

std::string LengthPrefixed(std::string_view s) {
  return absl::StrCat(EncodeInt64(static_cast<int64_t>(s.size())), AV(s));
}

}  // namespace

std::string AuditKey(uint64_t seq) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i) {
    k[static_cast<size_t>(i)] = static_cast<char>(seq & 0xff);
    seq >>= 8;
  }
  return k;
}

uint64_t AuditSeq(std::string_view key) {
  if (key.size() != 8) return 0;
  uint64_t seq = 0;
  for (char c : key) seq = (seq << 8) | static_cast<unsigned char>(c);
  return seq;
}

std::string EncodeInt64(int64_t v) {
  std::string out(8, '\0');
  uint64_t u = static_cast<uint64_t>(v);
  for (size_t i = 0; i < 8; ++i) out[i] = static_cast<char>((u >> (8 * i)) & 0xff);
  return out;
}

int64_t DecodeInt64(std::string_view s) {
  if (s.size() != 8) return 0;
  uint64_t u = 0;
  for (size_t i = 8; i-- > 0;) u = (u << 8) | static_cast<unsigned char>(s[i]);
  return static_cast<int64_t>(u);
}

std::string RecordKey(std::string_view dataset, std::string_view record_id) {
  return absl::StrCat(AV(dataset), AV(kSepView), AV(record_id));
}

std::string_view DatasetOf(std::string_view key) { return key.substr(0, key.find(kSep)); }

std::string GenerationPrefix(uint32_t generation) {
  std::string g(4, '\0');
  for (size_t i = 0; i < 4; ++i) g[i] = static_cast<char>((generation >> (8 * (3 - i))) & 0xff);
  return g;
}

uint32_t GenerationOf(std::string_view block_key) {
  if (block_key.size() < 4) return 0;
  uint32_t g = 0;
  for (size_t i = 0; i < 4; ++i) g = (g << 8) | static_cast<unsigned char>(block_key[i]);
  return g;
}

std::string BlockPrefix(uint32_t generation, std::string_view dataset, std::string_view rule,
                        std::string_view key) {
  return absl::StrCat(GenerationPrefix(generation), AV(dataset), AV(kSepView), AV(rule),
                      AV(kSepView), AV(key), AV(kSepView));
}

std::string_view BlockDatasetOf(std::string_view block_key) {
  return block_key.size() < 4 ? std::string_view() : DatasetOf(block_key.substr(4));
}

std::string IdPrefix(std::string_view dataset, std::string_view id_key) {
  return absl::StrCat(AV(dataset), AV(kSepView), AV(id_key), AV(kSepView));
}

std::string CountKey(std::string_view dataset) {
  return absl::StrCat(AV(kCountPrefix), AV(dataset));
}

std::string TermKey(std::string_view dataset, std::string_view term) {
  return absl::StrCat(AV(dataset), AV(kSepView), AV(term));
}

std::string UpperBound(std::string prefix) {
  prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

std::string MaxKey() { return std::string(16, '\xff'); }

std::string_view TrailingId(std::string_view key) {
  size_t pos = key.rfind(kSep);
  return pos == std::string_view::npos ? key : key.substr(pos + 1);
}

bool ContainsNul(std::string_view s) { return s.find(kSep) != std::string_view::npos; }

std::string SerializeReindex(const ReindexState& r) {
  return absl::StrCat(EncodeInt64(r.target_generation), EncodeInt64(r.done),
                      LengthPrefixed(r.cursor), LengthPrefixed(r.model));
}

bool ParseReindex(std::string_view in, ReindexState* r) {
  int64_t generation = 0;
  if (!TakeInt(&in, &generation) || !TakeInt(&in, &r->done) || !TakeString(&in, &r->cursor) ||
      !TakeString(&in, &r->model)) {
    return false;
  }
  r->target_generation = static_cast<uint32_t>(generation);
  return in.empty();
}

std::string SerializeRepair(const RepairRecord& r) {
  return absl::StrCat(EncodeInt64(r.done), LengthPrefixed(r.cursor));
}

bool ParseRepair(std::string_view in, RepairRecord* r) {
  return TakeInt(&in, &r->done) && TakeString(&in, &r->cursor) && in.empty();
}

}  // namespace linkage::index::keys
