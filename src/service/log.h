// One structured (JSON) log line per event on stderr:
//   {"ts":"2026-11-27T23:40:01.123Z","level":"info","event":"start","listen":"127.0.0.1:50051"}
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace linkage::service {

struct LogField {
  std::string key;
  std::string json;  // Already-encoded JSON value.
};

LogField Str(std::string key, std::string_view value);
LogField Int(std::string key, int64_t value);
LogField Num(std::string key, double value);

// Sends gRPC's and protobuf's own log lines through Log (events "grpc",
// "protobuf"), at most 20 a second (a caller sending malformed messages
// must not flood the log), so stderr holds JSON lines only.
void RouteGrpcLogs();

// Writes one JSON line; string values that are not valid UTF-8 have each
// bad byte replaced by U+FFFD.
void Log(std::string_view level, std::string_view event, const std::vector<LogField>& fields = {});

}  // namespace linkage::service
