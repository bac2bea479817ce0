// A compact, exact encoding of NormalizedRecord for the match view.
//
// Why: the view held each record as its serialized protobuf in a
// std::string (about 250 bytes with the string's own overhead), and that
// with the block postings made ~1,100 bytes per person. Here every string
// that repeats across people — name tokens, phonetic keys, unit codes,
// hamlets, flags — is interned once and written as a small integer; the
// three forms of a name token (as written, folded, phonetic) are one id;
// identity and phone numbers are packed as integers; a date is one varint.
// A typical register person takes 40–60 bytes.
//
// The encoding is exact: Decode(Encode(r)) equals r field for field,
// including which submessages are present, so scoring sees what RocksDB
// holds (record_codec_test checks it on generated people and on every
// field of the message, so a field added to the proto without a line here
// fails the test instead of vanishing from the view).
//
// Interned strings are never freed: their number is bounded by the
// distinct values ever written (thousands of name tokens and unit codes;
// attribute values, which may be unique per person, are written inline).
//
// Not thread-safe: the match view calls Encode under its write lock and
// Decode under its read lock. Internal to the index layer.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "linkage/v1/record.pb.h"

namespace linkage::index {
namespace bytes {
class Reader;
}

// Strings by small integer id; "" is id 0.
class StringPool {
 public:
  StringPool();
  uint32_t Intern(std::string_view s);
  // False if `id` was never handed out.
  bool Get(uint32_t id, std::string_view* out) const;
  size_t size() const { return strings_.size(); }
  int64_t bytes() const;

 private:
  std::vector<std::unique_ptr<char[]>> chunks_;
  size_t chunk_used_ = 0;
  size_t chunk_size_ = 0;
  int64_t chunk_bytes_ = 0;
  std::vector<std::string_view> strings_;
  absl::flat_hash_map<std::string_view, uint32_t> ids_;
};

class RecordCodec {
 public:
  // Appends the encoding of `r` to `out`.
  void Encode(const v1::NormalizedRecord& r, std::string* out);
  // Fills `out` (which must be empty) from an encoding made by this codec;
  // false if the bytes are not one.
  bool Decode(std::string_view bytes, v1::NormalizedRecord* out) const;

  // The interned strings, for the view's saved file; Load into a new codec
  // restores the same ids (false if the bytes are not a Save's).
  void Save(std::string* out) const;
  bool Load(bytes::Reader& in);

  int64_t bytes() const;

 private:
  using Triple = std::array<uint32_t, 3>;  // Token, folded, phonetic.
  struct TripleHash {
    size_t operator()(const Triple& t) const;
  };
  uint32_t InternTriple(const Triple& t);

  StringPool strings_;
  std::vector<Triple> triples_;
  absl::flat_hash_map<Triple, uint32_t, TripleHash> triple_ids_;
};

}  // namespace linkage::index
