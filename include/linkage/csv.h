// RFC 4180 CSV reading on top of libcsv: quoted fields, embedded newlines,
// CRLF or LF line ends, spaces around separators (", ") trimmed, a missing
// final newline tolerated. Used for the embedded reference tables and for
// person files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace linkage {

struct CsvRow {
  std::vector<std::string> fields;
  int64_t row_index = 0;    // 0 for the first row (usually the header).
  int64_t line_number = 0;  // 1-based line where the row starts.
};

// Incremental parser: Feed() any number of chunks, then Finish(). The
// callback returns false to stop early (Feed then returns OK and ignores the
// rest). Errors name the line.
class CsvParser {
 public:
  using RowCallback = std::function<bool(const CsvRow&)>;

  explicit CsvParser(RowCallback on_row);
  ~CsvParser();
  CsvParser(const CsvParser&) = delete;
  CsvParser& operator=(const CsvParser&) = delete;

  absl::Status Feed(std::string_view chunk);
  absl::Status Finish();

  struct State;  // Defined in csv.cc; public so libcsv callbacks can reach it.

  // Parses a whole buffer.
  static absl::Status ParseAll(std::string_view content, RowCallback on_row);

 private:
  std::unique_ptr<State> state_;
};

// Maps header names to column indexes; Get() returns "" for a missing column
// or a short row.
class CsvHeader {
 public:
  CsvHeader() = default;
  explicit CsvHeader(const std::vector<std::string>& names);
  int Index(std::string_view name) const;  // -1 if absent.
  std::string_view Get(const CsvRow& row, std::string_view name) const;
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::vector<std::string> names_;
};

// One field quoted for CSV output when it needs it (a comma, quote or line
// break inside), with quotes doubled (RFC 4180).
std::string CsvQuote(std::string_view field);

}  // namespace linkage
