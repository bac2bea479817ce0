// Matching a whole list over MatchBatchStream: the rows of a source go out
// in batches on several streams, each with a bound on the batches it has in
// flight, and come back to a sink one at a time in input order, so that an
// output interrupted at any moment is a prefix of the full one. Used by
// `verify`, eval's blocking recall and `review export`.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "linkage/v1/service.pb.h"
#include "person_reader.h"

namespace linkage::cli {

struct BulkMatchOptions {
  int streams = 2;      // MatchBatchStream calls in parallel; at least 1.
  int in_flight = 256;  // Records in flight per stream, in whole batches (at least one).
  int batch = 64;       // Records per message; at least 1.
  // Names the streams in errors: "the server closed a <what> stream".
  std::string what = "matching";
};

// Appends the next input rows to `out`; false once the input is exhausted
// (`out` may still have received rows). Errors: the input cannot be read
// further; the rows read so far are still matched and handed on.
using RowSource = std::function<absl::StatusOr<bool>(std::vector<ReadRow>* out)>;

// Fills in what a row's request asks for (dataset, top_k, flags). The
// pipeline sets request_id and the record itself.
using RequestFiller = std::function<void(const ReadRow& row, v1::MatchStreamRequest* request)>;

struct BulkResult {
  int64_t index = 0;  // Position among the rows taken from the source, from 0.
  ReadRow row;        // As the source gave it.
  // The server's answer (which may carry a per-record error_code). Absent
  // for a row that could not be read (row.error set): such rows are not sent.
  std::optional<v1::MatchStreamResponse> response;
};

// Takes each result, in input order, on the pipeline's own thread. An
// error stops the run: nothing more is sent or handed on.
using ResultSink = std::function<absl::Status(BulkResult result)>;

struct BulkMatchRun {
  int64_t rows_read = 0;     // Taken from the source.
  int64_t rows_done = 0;     // Accepted by the sink.
  absl::Status read_status;  // Why the source stopped early, if it did.
  // Why matching stopped, first cause seen: a stream closed or failed
  // ("the server closed a <what> stream", "MatchBatchStream: CODE: ..."),
  // or the sink refused.
  absl::Status match_status;
  // The first stream call that ended in an error, "MatchBatchStream: CODE:
  // message": the reason behind a stream that closed.
  absl::Status call_status;

  // The first error of read_status, call_status and match_status; else an
  // error if some row read was not handed on; else OK.
  absl::Status status() const;
};

// Runs the whole list: reads `source` until it is exhausted (or fails, or
// matching fails), sends every readable row, waits for every answer and
// hands each result to `sink` in order. Returns when all streams are done.
BulkMatchRun BulkMatch(const std::shared_ptr<grpc::Channel>& channel,
                       const BulkMatchOptions& options, const RowSource& source,
                       const RequestFiller& fill, const ResultSink& sink);

// A source over records held in memory (for lists read whole with
// ReadAllRecords); the rows have line 0 and no error.
RowSource RecordSource(std::vector<v1::PersonRecord> records);

}  // namespace linkage::cli
