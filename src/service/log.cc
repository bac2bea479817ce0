#include "log.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/strings.h"

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

// Length of the valid UTF-8 sequence at s[i], or 0.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&s](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
  }
  return n;
}

// A JSON line must be valid UTF-8 whatever a caller sent: each byte that
// is not part of a valid sequence becomes U+FFFD.
std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8Length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

// gRPC's and protobuf's own log lines, as JSON, at most
// kLibraryLinesPerSecond a second (a caller must not be able to flood the
// log); the rest are counted.
constexpr int kLibraryLinesPerSecond = 20;

// True if one more library log line fits this second's allowance; else
// counts it. *dropped gets the count suppressed in the previous second(s).
bool LibraryLineAllowed(int64_t* dropped) {
  static absl::Mutex mu(absl::kConstInit);
  static int64_t second = 0;
  static int lines = 0;
  static int64_t suppressed = 0;
  absl::MutexLock lock(&mu);
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  *dropped = 0;
  if (now != second) {
    *dropped = suppressed;
    suppressed = 0;
    second = now;
    lines = 0;
  }
  if (++lines > kLibraryLinesPerSecond) {
    ++suppressed;
    return false;
  }
  return true;
}

void LibraryLog(const char* level, const char* event, std::string_view message, const char* file,
                int line) {
  int64_t dropped = 0;
  if (!LibraryLineAllowed(&dropped)) return;
  if (message.size() > 1024) message = message.substr(0, 1024);
  std::vector<LogField> fields = {Str("message", message),
                                  Str("at", absl::StrCat(file == nullptr ? "" : file, ":", line))};
  if (dropped > 0) fields.push_back(Int("suppressed_before", dropped));
  Log(level, event, fields);
}

void GrpcLog(gpr_log_func_args* args) {
  const char* level = args->severity == GPR_LOG_SEVERITY_ERROR  ? "error"
                      : args->severity == GPR_LOG_SEVERITY_INFO ? "info"
                                                                : "debug";
  LibraryLog(level, "grpc", args->message == nullptr ? "" : args->message, args->file, args->line);
}

void ProtobufLog(google::protobuf::LogLevel level, const char* file, int line,
                 const std::string& message) {
  LibraryLog(level >= google::protobuf::LOGLEVEL_ERROR ? "error" : "warning", "protobuf", message,
             file, line);
}

}  // namespace

LogField Str(std::string key, std::string_view value) {
  return {std::move(key), Quote(ValidUtf8(value))};
}

void RouteGrpcLogs() {
  gpr_set_log_function(GrpcLog);
  google::protobuf::SetLogHandler(ProtobufLog);
}
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
