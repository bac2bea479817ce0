// Helpers shared by the libFuzzer targets.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace linkage::fuzz {

// A property of the code under test that failed: reported, then abort() so
// libFuzzer saves the input as a crash.
[[noreturn]] inline void Fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz property failed: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

inline void Check(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) Fail(what, detail);
}

inline std::string_view AsText(const unsigned char* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Takes the first byte of the input as a small selector, leaving the rest.
inline unsigned char TakeByte(std::string_view& s) {
  if (s.empty()) return 0;
  unsigned char b = static_cast<unsigned char>(s[0]);
  s.remove_prefix(1);
  return b;
}

}  // namespace linkage::fuzz
