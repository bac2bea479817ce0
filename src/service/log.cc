#include "log.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "linkage/strings.h"

namespace linkage::service {
namespace {

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<int>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace

LogField Str(std::string key, std::string_view value) { return {std::move(key), Quote(value)}; }
LogField Int(std::string key, int64_t value) { return {std::move(key), absl::StrCat(value)}; }
LogField Num(std::string key, double value) {
  return {std::move(key), absl::StrFormat("%.6g", value)};
}

void Log(std::string_view level, std::string_view event, const std::vector<LogField>& fields) {
  std::string line = absl::StrCat(
      "{\"ts\":", Quote(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone())),
      ",\"level\":", Quote(level), ",\"event\":", Quote(event));
  for (const LogField& f : fields) absl::StrAppend(&line, ",", Quote(f.key), ":", f.json);
  line += "}\n";
  static absl::Mutex mu(absl::kConstInit);
  absl::MutexLock lock(&mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace linkage::service
