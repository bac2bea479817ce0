// Little byte writers and a bounds-checked reader, for the match view's
// compact records and its saved file. Varints are base-128 as protobuf
// writes them; a few lines here rather than protobuf's CodedStream, which
// wants a stream object per record. Fixed-width integers are written in the
// machine's byte order (the file is read back by the same build's machine).
// Internal to the index layer.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace linkage::index::bytes {

inline void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

template <typename T>
void PutFixed(T v, std::string* out) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out->append(b, sizeof(T));
}

inline void PutString(std::string_view s, std::string* out) {
  PutVarint(s.size(), out);
  out->append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view bytes) : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}

  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return false;
      const auto byte = static_cast<uint8_t>(*p_++);
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  }
  // A varint that must fit 32 bits.
  template <typename T>
  bool Small(T* v) {
    uint64_t x;
    if (!Varint(&x) || x > 0xffffffffu) return false;
    *v = static_cast<T>(x);
    return true;
  }
  template <typename T>
  bool Fixed(T* v) {
    if (static_cast<size_t>(end_ - p_) < sizeof(T)) return false;
    std::memcpy(v, p_, sizeof(T));
    p_ += sizeof(T);
    return true;
  }
  bool Bytes(size_t n, std::string_view* out) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    *out = std::string_view(p_, n);
    p_ += n;
    return true;
  }
  bool String(std::string_view* out) {
    uint64_t n;
    return Varint(&n) && Bytes(n, out);
  }
  size_t left() const { return static_cast<size_t>(end_ - p_); }
  bool done() const { return p_ == end_; }

 private:
  const char* p_;
  const char* end_;
};

}  // namespace linkage::index::bytes
