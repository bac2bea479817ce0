#include "bulk_match.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <semaphore>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "client.h"
#include "linkage/v1/service.grpc.pb.h"

namespace linkage::cli {
namespace {

using Permits = std::counting_semaphore<1 << 20>;

// One run of BulkMatch. The calling thread reads the source and sends;
// each stream has a thread receiving its answers; one more thread hands
// the results to the sink in input order.
class Pipeline {
 public:
  Pipeline(const BulkMatchOptions& options, const ResultSink& sink)
      : options_(options),
        sink_(sink),
        batches_in_flight_(std::clamp(options.in_flight / options.batch, 1, 1 << 19)) {}

  BulkMatchRun Run(const std::shared_ptr<grpc::Channel>& channel, const RowSource& source,
                   const RequestFiller& fill);

 private:
  struct Stream {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReaderWriter<v1::MatchBatchRequest, v1::MatchBatchResponse>> rw;
    std::unique_ptr<Permits> permits;  // Batches it may still take.
    std::mutex mu;
    std::map<int64_t, ReadRow> pending;  // Sent, not answered; by index.
    std::thread receiver;
  };

  void Receive(Stream& stream);
  bool Send();  // Sends the batch being filled; false if matching has failed.
  void HandOn();
  void Put(int64_t index, BulkResult result);
  void Fail(absl::Status status);

  const BulkMatchOptions& options_;
  const ResultSink& sink_;
  const int batches_in_flight_;
  std::vector<std::unique_ptr<Stream>> streams_;

  // The batch being filled (calling thread only).
  v1::MatchBatchRequest batch_;
  std::vector<std::pair<int64_t, ReadRow>> batch_rows_;
  int64_t batches_sent_ = 0;

  std::mutex mu_;  // Guards the members below.
  std::condition_variable ready_;
  std::map<int64_t, BulkResult> results_;  // Answered, not yet handed on.
  int64_t dispatched_ = 0;                 // Rows taken from the source.
  bool input_done_ = false;                // No more rows will be put.
  std::atomic<bool> failed_{false};
  absl::Status failure_;  // The first failure.
  int64_t done_ = 0;      // Handed on (sink thread only until it ends).
};

void Pipeline::Put(int64_t index, BulkResult result) {
  std::lock_guard<std::mutex> lock(mu_);
  results_.emplace(index, std::move(result));
  ready_.notify_all();
}

void Pipeline::Fail(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!failed_.exchange(true)) failure_ = std::move(status);
  ready_.notify_all();
}

void Pipeline::HandOn() {
  for (int64_t next = 0;; ++next) {
    std::unique_lock<std::mutex> lock(mu_);
    ready_.wait(lock, [&] {
      return results_.count(next) > 0 || failed_.load() || (input_done_ && next == dispatched_);
    });
    // Failed (the rows already answered in order are still handed on), or
    // everything handed on.
    auto it = results_.find(next);
    if (it == results_.end()) return;
    BulkResult result = std::move(it->second);
    results_.erase(it);
    lock.unlock();
    absl::Status st = sink_(std::move(result));
    if (!st.ok()) {
      Fail(std::move(st));
      return;
    }
    ++done_;
  }
}

void Pipeline::Receive(Stream& stream) {
  v1::MatchBatchResponse answers;
  while (stream.rw->Read(&answers)) {
    for (v1::MatchStreamResponse& response : *answers.mutable_responses()) {
      int64_t index = 0;
      if (!absl::SimpleAtoi(response.request_id(), &index)) continue;
      std::optional<ReadRow> row;
      {
        std::lock_guard<std::mutex> lock(stream.mu);
        auto it = stream.pending.find(index);
        if (it == stream.pending.end()) continue;  // Not asked on this stream.
        row = std::move(it->second);
        stream.pending.erase(it);
      }
      Put(index, BulkResult{index, *std::move(row), std::move(response)});
    }
    stream.permits->release();
  }
  // The stream ended. If requests are still unanswered the server went
  // away: fail, and free the sender if it waits for a permit.
  bool unanswered;
  {
    std::lock_guard<std::mutex> lock(stream.mu);
    unanswered = !stream.pending.empty();
  }
  if (unanswered) {
    Fail(absl::UnavailableError(absl::StrFormat(
        "the server closed a %s stream before answering every record", options_.what)));
  }
  stream.permits->release(batches_in_flight_);
}

bool Pipeline::Send() {
  if (batch_.requests_size() == 0) return true;
  Stream& stream = *streams_[static_cast<size_t>(batches_sent_++ % options_.streams)];
  stream.permits->acquire();
  if (failed_.load()) return false;
  {
    std::lock_guard<std::mutex> lock(stream.mu);
    for (auto& [index, row] : batch_rows_) stream.pending.emplace(index, std::move(row));
  }
  const bool ok = stream.rw->Write(batch_);
  batch_.clear_requests();
  batch_rows_.clear();
  if (!ok) {
    Fail(absl::UnavailableError(absl::StrFormat("the server closed a %s stream", options_.what)));
  }
  return ok;
}

BulkMatchRun Pipeline::Run(const std::shared_ptr<grpc::Channel>& channel, const RowSource& source,
                           const RequestFiller& fill) {
  auto stub = v1::LinkageService::NewStub(channel);
  for (int s = 0; s < options_.streams; ++s) {
    auto stream = std::make_unique<Stream>();
    stream->rw = stub->MatchBatchStream(&stream->ctx);
    stream->permits = std::make_unique<Permits>(batches_in_flight_);
    stream->receiver = std::thread([this, raw = stream.get()] { Receive(*raw); });
    streams_.push_back(std::move(stream));
  }
  std::thread hand_on([this] { HandOn(); });

  BulkMatchRun run;
  int64_t index = 0;
  std::vector<ReadRow> chunk;
  for (bool more = true; more && !failed_.load();) {
    chunk.clear();
    absl::StatusOr<bool> next = source(&chunk);
    if (!next.ok()) {
      run.read_status = next.status();
      break;
    }
    more = *next;
    for (ReadRow& row : chunk) {
      const int64_t i = index++;
      {
        std::lock_guard<std::mutex> lock(mu_);
        dispatched_ = index;
      }
      if (!row.error.empty()) {
        Put(i, BulkResult{i, std::move(row), std::nullopt});
        continue;
      }
      v1::MatchStreamRequest* request = batch_.add_requests();
      fill(row, request);
      request->set_request_id(std::to_string(i));
      *request->mutable_record() = row.record;
      batch_rows_.emplace_back(i, std::move(row));
      if (batch_.requests_size() >= options_.batch && !Send()) break;
    }
  }
  if (!failed_.load()) Send();
  for (auto& stream : streams_) stream->rw->WritesDone();
  for (auto& stream : streams_) {
    stream->receiver.join();
    grpc::Status status = stream->rw->Finish();
    if (!status.ok()) {
      if (run.call_status.ok()) run.call_status = RpcError("MatchBatchStream", status);
      Fail(RpcError("MatchBatchStream", status));
    } else if (!stream->pending.empty()) {
      Fail(absl::UnavailableError(absl::StrFormat(
          "MatchBatchStream ended with %d requests unanswered", stream->pending.size())));
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    input_done_ = true;
    ready_.notify_all();
  }
  hand_on.join();
  run.rows_read = index;
  run.rows_done = done_;
  if (failed_.load()) run.match_status = failure_;
  return run;
}

}  // namespace

absl::Status BulkMatchRun::status() const {
  if (!read_status.ok()) return read_status;
  if (!call_status.ok()) return call_status;
  if (!match_status.ok()) return match_status;
  if (rows_done != rows_read) {
    return absl::InternalError(
        absl::StrFormat("%d rows read but %d answered", rows_read, rows_done));
  }
  return absl::OkStatus();
}

BulkMatchRun BulkMatch(const std::shared_ptr<grpc::Channel>& channel,
                       const BulkMatchOptions& options, const RowSource& source,
                       const RequestFiller& fill, const ResultSink& sink) {
  if (options.streams < 1 || options.in_flight < 1 || options.batch < 1) {
    BulkMatchRun run;
    run.match_status =
        absl::InvalidArgumentError("streams, records in flight and batch size must be at least 1");
    return run;
  }
  Pipeline pipeline(options, sink);
  return pipeline.Run(channel, source, fill);
}

RowSource RecordSource(std::vector<v1::PersonRecord> records) {
  auto held = std::make_shared<std::vector<v1::PersonRecord>>(std::move(records));
  auto next = std::make_shared<size_t>(0);
  return [held, next](std::vector<ReadRow>* out) -> absl::StatusOr<bool> {
    const size_t end = std::min(held->size(), *next + 512);
    for (; *next < end; ++*next) {
      ReadRow row;
      row.record = std::move((*held)[*next]);
      out->push_back(std::move(row));
    }
    return *next < held->size();
  };
}

}  // namespace linkage::cli
