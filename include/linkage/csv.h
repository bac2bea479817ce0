// RFC 4180 CSV reading on top of libcsv (strict mode): quoted fields,
// embedded newlines, LF, CRLF or lone CR line ends, spaces around separators (", ")
// trimmed, a missing final newline tolerated, a quote inside an unquoted
// field taken literally. Used for the embedded reference tables and for
// person files.
//
// Malformed rows are never folded silently into their neighbours: libcsv's
// lenient mode turns `"Lê Văn A"x,1950` (a character after a closing quote)
// into an open quoted field that swallows every following line. Here such a
// row is an error: by default the parse stops there with an error naming the
// line (the reference tables must not load half); with
// CsvOptions::resync_after_errors the row is delivered with CsvRow::error set
// and parsing resumes at the line after the row's first line.
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
  // Only with CsvOptions::resync_after_errors: non-empty if the row is
  // malformed, saying why (without the line, which is line_number); fields
  // then holds the fields read before the fault.
  std::string error;
};

struct CsvOptions {
  // See the file comment. A malformed row is one with a character after a
  // closing quote, a quoted field still open at the end of the input, or
  // more than max_row_bytes bytes (an unterminated quote that would
  // otherwise take the rest of the file). A quote inside an unquoted field
  // (Nguyễn Văn "Tí") is kept literally: it cannot open a quoted field.
  bool resync_after_errors = false;
  size_t max_row_bytes = size_t{1} << 20;  // 1 MiB.
};

// Incremental parser: Feed() any number of chunks, then Finish(). The
// callback returns false to stop early (Feed then returns OK and ignores the
// rest). Errors name the line.
class CsvParser {
 public:
  using RowCallback = std::function<bool(const CsvRow&)>;

  explicit CsvParser(RowCallback on_row, CsvOptions options = {});
  ~CsvParser();
  CsvParser(const CsvParser&) = delete;
  CsvParser& operator=(const CsvParser&) = delete;

  absl::Status Feed(std::string_view chunk);
  absl::Status Finish();

  struct State;  // Defined in csv.cc; public so libcsv callbacks can reach it.

  // Parses a whole buffer (default options: the first malformed row is an
  // error).
  static absl::Status ParseAll(std::string_view content, RowCallback on_row);

 private:
  absl::Status Process(bool at_end);
  absl::Status Fault(std::string reason, bool name_fault_line = true);

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
