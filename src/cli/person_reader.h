// Streams person records from a CSV or JSON Lines file, a batch of rows at
// a time, so files larger than memory can be imported or verified. Rows
// that cannot be read become RowError entries (line and reason) instead of
// stopping the read.
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "linkage/csv.h"
#include "linkage/person_io.h"
#include "linkage/v1/record.pb.h"

namespace linkage::cli {

struct ReadRow {
  int64_t line = 0;  // 1-based line where the row starts.
  v1::PersonRecord record;
  std::string error;  // Non-empty: the row could not be read; record is partial.
};

class PersonReader {
 public:
  enum class Format { kCsv, kJsonLines };

  // Opens `path`; the format comes from `format` ("csv", "jsonl") or, if
  // empty, from the file name (.jsonl / .ndjson / .json are JSON Lines).
  // Errors: the file cannot be opened, or its CSV header lacks record_id or
  // full_name.
  static absl::StatusOr<std::unique_ptr<PersonReader>> Open(const std::string& path,
                                                            const std::string& format);

  // Column mappings applied before the header is read: "target=source" or
  // "target=source1 source2" (joined with a space). Errors: bad syntax.
  absl::Status SetMappings(const std::vector<std::string>& mappings);

  // Appends up to `max` rows to `out`; false once the file is exhausted
  // (out may still have received rows). Every data row of the file is
  // returned exactly once, readable or not: a malformed CSV row (a
  // character after a closing quote, a quote never closed, a row over
  // 1 MiB) or JSON line is a ReadRow with `error` set, and
  // reading goes on at the next line. Errors: I/O, or a bad header.
  absl::StatusOr<bool> Next(size_t max, std::vector<ReadRow>* out);

  int64_t bytes_read() const { return bytes_read_; }
  int64_t file_size() const { return file_size_; }

 private:
  PersonReader() = default;
  void AddCsvRow(const CsvRow& row);
  void AddJsonLine(const std::string& line, int64_t line_number);

  Format format_ = Format::kCsv;
  std::ifstream in_;
  int64_t bytes_read_ = 0;
  int64_t file_size_ = 0;
  int64_t json_line_ = 0;
  bool eof_ = false;
  std::unique_ptr<CsvParser> csv_;
  std::optional<domain::PersonCsvSchema> schema_;
  int record_id_column_ = -1;  // In the file's own header (before --map).
  absl::Status header_error_;
  std::vector<ReadRow> pending_;
  // target column -> source columns, and their indexes once the header is read.
  std::vector<std::pair<std::string, std::vector<std::string>>> mappings_;
  std::vector<std::vector<int>> mapping_sources_;
  size_t pending_pos_ = 0;
};

// Checks every string field of a record for valid UTF-8; the error names
// the field. gRPC cannot carry invalid UTF-8 in a string field at all.
absl::Status CheckUtf8(const v1::PersonRecord& record);

// Every readable record of a person file for which `keep` is true (all, if
// unset). Rows that cannot be read are left out and counted in a warning on
// stderr (with the first one's line and reason). For the commands that
// need a whole list in memory (eval's blocking recall, the review queue).
absl::StatusOr<std::vector<v1::PersonRecord>> ReadAllRecords(
    const std::string& path, const std::function<bool(const v1::PersonRecord&)>& keep = {});

}  // namespace linkage::cli
