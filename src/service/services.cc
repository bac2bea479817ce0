#include "services.h"

#include <chrono>
#include <deque>
#include <map>
#include <string_view>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "linkage/normalize.h"
#include "log.h"

namespace linkage::service {

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

void ServiceContext::Count(const std::string& method) {
  absl::MutexLock lock(&mu_);
  ++calls_[method];
}

std::map<std::string, int64_t> ServiceContext::Counts() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

namespace {

absl::Status CheckDataset(const std::string& dataset) {
  if (dataset.empty()) return absl::InvalidArgumentError("dataset is required");
  if (!domain::IsValidDatasetName(dataset)) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset \"", dataset.substr(0, 80), "\" is not 1..64 of [a-z0-9._-]"));
  }
  return absl::OkStatus();
}

bool DeadlinePassed(grpc::CallbackServerContext* call) {
  return std::chrono::system_clock::now() > call->deadline();
}

// Runs `work` (returning absl::Status) on the pool and finishes the call
// with its status. Nothing heavy runs on gRPC's threads.
template <typename Work>
grpc::ServerUnaryReactor* OnPool(ServiceContext* ctx, grpc::CallbackServerContext* call,
                                 const char* method, Work work) {
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  ctx->Count(method);
  if (ctx->shutting_down.load()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "linkd is shutting down"));
    return reactor;
  }
  bool queued = ctx->pool->Submit([ctx, call, reactor, method, work = std::move(work)]() mutable {
    if (call->IsCancelled()) {
      reactor->Finish(grpc::Status::CANCELLED);
      return;
    }
    if (DeadlinePassed(call)) {
      reactor->Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                   "deadline passed before the call was served"));
      return;
    }
    absl::Status st = work();
    if (!st.ok() && st.code() != absl::StatusCode::kInvalidArgument &&
        st.code() != absl::StatusCode::kNotFound) {
      Log("error", "call_failed",
          {Str("method", method), Str("code", absl::StatusCodeToString(st.code())),
           Str("message", SV(st.message()))});
    }
    (void)ctx;
    reactor->Finish(ToGrpc(st));
  });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "linkd is at capacity (worker queue full); retry with backoff"));
  }
  return reactor;
}

engine::MatchOptions MatchOptionsFrom(int32_t top_k, bool include_records, bool omit_explanation,
                                      const std::string& exclude_record_id, bool lenient_dates) {
  engine::MatchOptions mo;
  mo.top_k = top_k == 0 ? 5 : top_k;
  mo.include_records = include_records;
  mo.explain = !omit_explanation;
  mo.include_query = !omit_explanation;
  mo.exclude_record_id = exclude_record_id;
  mo.lenient_dates = lenient_dates;
  return mo;
}

}  // namespace

grpc::ServerUnaryReactor* LinkageServiceImpl::Match(grpc::CallbackServerContext* call,
                                                    const v1::MatchRequest* request,
                                                    v1::MatchResponse* response) {
  return OnPool(ctx_, call, "Match", [this, request, response]() -> absl::Status {
    absl::Status st = CheckDataset(request->dataset());
    if (!st.ok()) return st;
    auto result = ctx_->engine->Match(
        request->record(), request->dataset(),
        MatchOptionsFrom(request->top_k(), request->include_records(), request->omit_explanation(),
                         request->exclude_record_id(), request->lenient_dates()));
    if (!result.ok()) return result.status();
    *response->mutable_result() = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* LinkageServiceImpl::Verify(grpc::CallbackServerContext* call,
                                                     const v1::VerifyRequest* request,
                                                     v1::VerifyResponse* response) {
  return OnPool(ctx_, call, "Verify", [this, request, response]() -> absl::Status {
    absl::Status st = CheckDataset(request->dataset());
    if (!st.ok()) return st;
    auto v = ctx_->engine->Verify(request->claim(), request->dataset());
    if (!v.ok()) return v.status();
    *response->mutable_verification() = *std::move(v);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* LinkageServiceImpl::UpsertRecords(grpc::CallbackServerContext* call,
                                                            const v1::UpsertRecordsRequest* request,
                                                            v1::UpsertRecordsResponse* response) {
  return OnPool(ctx_, call, "UpsertRecords", [this, call, request, response]() -> absl::Status {
    absl::Status st = CheckDataset(request->dataset());
    if (!st.ok()) return st;
    if (request->records_size() > ctx_->config.max_batch_records()) {
      return absl::OutOfRangeError(
          absl::StrCat("batch of ", request->records_size(), " records exceeds max_batch_records (",
                       ctx_->config.max_batch_records(), "): send smaller batches"));
    }
    // A record_id twice in one request would be written twice in one batch
    // (which one wins is not something to leave to chance), and a record
    // naming another dataset would be filed under the request's without a
    // word: both refuse the whole request.
    std::map<std::string_view, int> first_index;
    for (int i = 0; i < request->records_size(); ++i) {
      const v1::PersonRecord& r = request->records(i);
      if (!r.dataset().empty() && r.dataset() != request->dataset()) {
        return absl::InvalidArgumentError(
            absl::StrCat("record \"", r.record_id(), "\": dataset \"", r.dataset(),
                         "\" differs from the request's dataset \"", request->dataset(), "\""));
      }
      if (r.record_id().empty()) continue;  // Rejected per record by validation.
      auto [it, first] = first_index.emplace(r.record_id(), i);
      if (!first) {
        return absl::InvalidArgumentError(
            absl::StrCat("record \"", r.record_id(), "\": record_id appears twice in the request (",
                         "records ", it->second, " and ", i, ")"));
      }
    }
    engine::UpsertOptions uo;
    uo.allow_partial = request->allow_partial();
    uo.default_unit_version = request->default_unit_version();
    uo.lenient_dates = request->lenient_dates();
    // DEADLINE_EXCEEDED / CANCELLED from here mean nothing was written. Once
    // the store write has begun it is answered with its real outcome, even
    // if the deadline passes meanwhile (service.proto, UpsertRecords).
    uo.before_write = [call]() -> absl::Status {
      if (call->IsCancelled())
        return absl::CancelledError("the call was cancelled before the write; nothing was written");
      if (DeadlinePassed(call)) {
        return absl::DeadlineExceededError(
            "the deadline passed before the write began; nothing was written");
      }
      return absl::OkStatus();
    };
    std::vector<v1::PersonRecord> records(request->records().begin(), request->records().end());
    auto results = ctx_->engine->Upsert(request->dataset(), std::move(records), uo);
    if (!results.ok()) return results.status();
    for (size_t i = 0; i < results->size(); ++i) {
      const engine::UpsertResult& r = (*results)[i];
      v1::RecordWriteResult* out = response->add_results();
      out->set_index(static_cast<int32_t>(i));
      out->set_record_id(request->records(static_cast<int>(i)).record_id());
      if (!r.status.ok()) {
        out->set_outcome(v1::REJECTED_INVALID);
        out->set_error(std::string(r.status.message()));
        continue;
      }
      switch (r.outcome) {
        case index::WriteOutcome::kCreated:
          out->set_outcome(v1::CREATED);
          break;
        case index::WriteOutcome::kUpdated:
          out->set_outcome(v1::UPDATED);
          break;
        case index::WriteOutcome::kUnchanged:
          out->set_outcome(v1::UNCHANGED);
          break;
      }
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* LinkageServiceImpl::DeleteRecord(grpc::CallbackServerContext* call,
                                                           const v1::DeleteRecordRequest* request,
                                                           v1::DeleteRecordResponse* /*response*/) {
  return OnPool(ctx_, call, "DeleteRecord", [this, request]() -> absl::Status {
    absl::Status st = CheckDataset(request->dataset());
    if (!st.ok()) return st;
    auto deleted = ctx_->engine->Delete(request->dataset(), request->record_id());
    if (!deleted.ok()) return deleted.status();
    if (!*deleted) {
      return absl::NotFoundError(absl::StrCat("record \"", request->record_id(),
                                              "\" is not in dataset \"", request->dataset(), "\""));
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* LinkageServiceImpl::GetRecord(grpc::CallbackServerContext* call,
                                                        const v1::GetRecordRequest* request,
                                                        v1::GetRecordResponse* response) {
  return OnPool(ctx_, call, "GetRecord", [this, request, response]() -> absl::Status {
    absl::Status st = CheckDataset(request->dataset());
    if (!st.ok()) return st;
    auto stored = ctx_->engine->Get(request->dataset(), request->record_id());
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) {
      return absl::NotFoundError(absl::StrCat("record \"", request->record_id(),
                                              "\" is not in dataset \"", request->dataset(), "\""));
    }
    *response->mutable_record() = (*stored)->record();
    if (request->include_normalized()) *response->mutable_normalized() = (*stored)->normalized();
    response->set_updated_unix_micros((*stored)->updated_unix_micros());
    return absl::OkStatus();
  });
}

namespace {

// Answers one stream request (match, or verify and match).
v1::MatchStreamResponse ProcessStreamRequest(ServiceContext* ctx, grpc::CallbackServerContext* call,
                                             const v1::MatchStreamRequest& req);

// Records a stream message carries (a request, or a batch of them).
size_t RecordsIn(const v1::MatchStreamRequest& /*req*/) { return 1; }
size_t RecordsIn(const v1::MatchBatchRequest& batch) {
  return static_cast<size_t>(std::max(1, batch.requests_size()));
}

// One bidirectional bulk stream of Req messages (one request, or a batch),
// each answered by one Resp, in completion order.
//
// Bounds, so one client cannot take memory or workers from the others:
//  - reading pauses while the stream holds max_stream_in_flight messages,
//    max_stream_records records or max_stream_mib of answers that are read
//    but not yet written (gRPC flow control then pushes back on the client);
//  - at most `workers` of its messages are on the pool at once (the rest
//    wait here), and they run in the pool's bulk lane, behind interactive
//    calls;
//  - once the call is cancelled or the client is gone, queued messages are
//    dropped and running ones stop between records.
// The reactor deletes itself in OnDone, which gRPC calls only after Finish,
// and Finish is called only once no pool task refers to it any more.
template <typename Req, typename Resp>
class StreamReactor final : public grpc::ServerBidiReactor<Req, Resp> {
 public:
  using Process = Resp (*)(ServiceContext*, grpc::CallbackServerContext*, const Req&);
  // `busy` answers a request the pool has no room for.
  using Busy = Resp (*)(const Req&, const std::string& message);
  StreamReactor(ServiceContext* ctx, grpc::CallbackServerContext* call, const char* method,
                Process process, Busy busy)
      : ctx_(ctx),
        call_(call),
        max_in_flight_(static_cast<size_t>(ctx->config.max_stream_in_flight())),
        max_records_(static_cast<size_t>(ctx->config.max_stream_records())),
        max_bytes_(static_cast<size_t>(ctx->config.max_stream_mib()) << 20),
        max_tasks_(static_cast<size_t>(std::max(1, ctx->config.workers()))),
        process_(process),
        busy_(busy) {
    ctx_->Count(method);
    if (ctx_->shutting_down.load()) {
      this->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "linkd is shutting down"));
      return;
    }
    this->StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    if (!ok) {
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    ++outstanding_;
    records_ += RecordsIn(request_);
    pending_.push_back(std::make_shared<Req>(std::move(request_)));
    PumpLocked();
    if (BelowLimitsLocked()) {
      this->StartRead(&request_);
    } else {
      read_paused_ = true;
    }
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    Release(queue_.front().records, queue_.front().bytes);
    queue_.pop_front();
    if (!ok) {  // The client is gone: drop what is queued.
      DropLocked();
    } else if (!queue_.empty()) {
      writing_ = true;
      this->StartWrite(&queue_.front().response);
    }
    ResumeReadLocked();
    MaybeFinishLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    DropLocked();
    if (read_paused_) reads_done_ = true;  // No read is pending to report it.
    MaybeFinishLocked();
  }

  void OnDone() override {
    // gRPC may run OnDone on another thread while the thread that called
    // Finish still holds mu_: wait for it to let go before deleting.
    { absl::MutexLock lock(&mu_); }
    delete this;
  }

 private:
  struct Queued {
    Resp response;
    size_t records = 0;
    size_t bytes = 0;
  };

  bool BelowLimitsLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return outstanding_ < max_in_flight_ && records_ < max_records_ && bytes_ < max_bytes_;
  }
  void ResumeReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (read_paused_ && !reads_done_ && !broken_ && BelowLimitsLocked()) {
      read_paused_ = false;
      this->StartRead(&request_);
    }
  }
  // One message fewer held: its records, and its answer's bytes if queued.
  void Release(size_t records, size_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    --outstanding_;
    records_ -= records;
    bytes_ -= bytes;
  }
  // Forgets everything not yet written (the client will not read it).
  void DropLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    broken_ = true;
    for (const auto& r : pending_) Release(RecordsIn(*r), 0);
    pending_.clear();
    // The front may be being written; OnWriteDone releases it.
    while (queue_.size() > (writing_ ? 1u : 0u)) {
      Release(queue_.back().records, queue_.back().bytes);
      queue_.pop_back();
    }
  }
  // Hands waiting messages to the pool, at most max_tasks_ at once.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (!broken_ && running_ < max_tasks_ && !pending_.empty()) {
      std::shared_ptr<Req> request = std::move(pending_.front());
      pending_.pop_front();
      ++running_;
      bool queued = ctx_->pool->Submit(
          [this, request] {
            bool skip;
            {
              absl::MutexLock l(&mu_);
              skip = broken_;
            }
            Resp response;
            if (!skip && !call_->IsCancelled()) response = process_(ctx_, call_, *request);
            absl::MutexLock l(&mu_);
            --running_;
            EnqueueLocked(std::move(response), RecordsIn(*request));
            PumpLocked();
          },
          WorkerPool::Lane::kBulk);
      if (!queued) {
        --running_;
        EnqueueLocked(busy_(*request, "linkd is at capacity (worker queue full)"),
                      RecordsIn(*request));
      }
    }
  }
  void EnqueueLocked(Resp response, size_t records) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (broken_) {
      Release(records, 0);
      MaybeFinishLocked();
      return;
    }
    const size_t bytes = response.ByteSizeLong();
    bytes_ += bytes;
    queue_.push_back({std::move(response), records, bytes});
    if (!writing_) {
      writing_ = true;
      this->StartWrite(&queue_.front().response);
    }
  }

  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || !reads_done_ || outstanding_ != 0 || writing_ || running_ != 0) return;
    finished_ = true;
    this->Finish(broken_ ? grpc::Status::CANCELLED : grpc::Status::OK);
  }

  ServiceContext* const ctx_;
  grpc::CallbackServerContext* const call_;
  const size_t max_in_flight_, max_records_, max_bytes_, max_tasks_;
  absl::Mutex mu_;
  const Process process_;
  const Busy busy_;
  Req request_;  // Target of the one pending read.
  std::deque<std::shared_ptr<Req>> pending_ ABSL_GUARDED_BY(mu_);  // Read, not yet on the pool.
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);  // Answered; front is being written.
  size_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;    // Messages read but not yet written.
  size_t records_ ABSL_GUARDED_BY(mu_) = 0;        // Their records.
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;          // Bytes of answers queued.
  size_t running_ ABSL_GUARDED_BY(mu_) = 0;        // Messages on the pool.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

v1::MatchStreamResponse ProcessStreamRequest(ServiceContext* ctx, grpc::CallbackServerContext* call,
                                             const v1::MatchStreamRequest& req) {
  v1::MatchStreamResponse resp;
  resp.set_request_id(req.request_id());
  absl::Status st = CheckDataset(req.dataset());
  if (st.ok() && DeadlinePassed(call)) st = absl::DeadlineExceededError("stream deadline passed");
  if (st.ok() && (req.top_k() < 0 || req.top_k() > 1000))
    st = absl::InvalidArgumentError("top_k must be 1..1000");
  if (st.ok() && req.verify_claimed_id() && !req.record().national_id().empty()) {
    // One search serves both the verification and the ranking.
    engine::Engine::VerifyOptions vo;
    vo.lenient_dates = req.lenient_dates();
    vo.exclude_record_id = req.exclude_record_id();
    vo.match = resp.mutable_result();
    vo.match_top_k = req.top_k() == 0 ? 5 : req.top_k();
    vo.match_explain = !req.omit_explanation();
    auto v = ctx->engine->Verify(req.record(), req.dataset(), vo);
    if (v.ok()) {
      *resp.mutable_verification() = *std::move(v);
    } else {
      st = v.status();
      resp.clear_result();
    }
  } else if (st.ok()) {
    auto r = ctx->engine->Match(req.record(), req.dataset(),
                                MatchOptionsFrom(req.top_k(), false, req.omit_explanation(),
                                                 req.exclude_record_id(), req.lenient_dates()));
    if (r.ok()) {
      *resp.mutable_result() = *std::move(r);
    } else {
      st = r.status();
    }
  }
  if (!st.ok()) {
    resp.set_error_code(static_cast<int32_t>(st.code()));
    resp.set_error_message(std::string(st.message()));
  }
  return resp;
}

v1::MatchStreamResponse BusyAnswer(const v1::MatchStreamRequest& req, const std::string& message) {
  v1::MatchStreamResponse busy;
  busy.set_request_id(req.request_id());
  busy.set_error_code(static_cast<int32_t>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  busy.set_error_message(message);
  return busy;
}

// Answers a batch in order. The answer must fit one message: an answer
// that would leave too little room under max_message_mib (less 16 KiB) for
// the short refusals of the requests after it is replaced by OUT_OF_RANGE,
// as is every one after it (send fewer requests per batch, or a smaller
// top_k). A cancelled call stops between requests.
v1::MatchBatchResponse ProcessBatch(ServiceContext* ctx, grpc::CallbackServerContext* call,
                                    const v1::MatchBatchRequest& batch) {
  v1::MatchBatchResponse out;
  const int max = ctx->config.max_batch_records();
  const size_t limit = (static_cast<size_t>(ctx->config.max_message_mib()) << 20) - (16 << 10);
  const std::string too_big =
      absl::StrCat("answer over the message limit (", ctx->config.max_message_mib(),
                   " MiB): send fewer requests per batch or a smaller top_k");
  // Room the refusals of requests i.. would take.
  std::vector<size_t> refusals(static_cast<size_t>(batch.requests_size()) + 1, 0);
  for (int i = batch.requests_size() - 1; i >= 0; --i) {
    refusals[static_cast<size_t>(i)] = refusals[static_cast<size_t>(i) + 1] + too_big.size() +
                                       batch.requests(i).request_id().size() + 16;
  }
  size_t bytes = 0;
  bool full = false;
  for (int i = 0; i < batch.requests_size(); ++i) {
    const v1::MatchStreamRequest& req = batch.requests(i);
    if (call->IsCancelled()) break;  // Nobody will read the answer.
    v1::MatchStreamResponse* r = out.add_responses();
    auto refuse = [r, &req](grpc::StatusCode code, const std::string& message) {
      r->Clear();
      r->set_request_id(req.request_id());
      r->set_error_code(static_cast<int32_t>(code));
      r->set_error_message(message);
    };
    if (i >= max) {
      refuse(grpc::StatusCode::INVALID_ARGUMENT,
             absl::StrCat("more than max_batch_records (", max, ") requests in one batch"));
    } else if (!full) {
      *r = ProcessStreamRequest(ctx, call, req);
      full = bytes + r->ByteSizeLong() + 16 + refusals[static_cast<size_t>(i) + 1] > limit;
    }
    if (full) refuse(grpc::StatusCode::OUT_OF_RANGE, too_big);
    bytes += r->ByteSizeLong() + 16;
  }
  return out;
}

v1::MatchBatchResponse BusyBatch(const v1::MatchBatchRequest& batch, const std::string& message) {
  v1::MatchBatchResponse out;
  for (const v1::MatchStreamRequest& req : batch.requests())
    *out.add_responses() = BusyAnswer(req, message);
  return out;
}

}  // namespace

grpc::ServerBidiReactor<v1::MatchStreamRequest, v1::MatchStreamResponse>*
LinkageServiceImpl::MatchStream(grpc::CallbackServerContext* call) {
  return new StreamReactor<v1::MatchStreamRequest, v1::MatchStreamResponse>(
      ctx_, call, "MatchStream", &ProcessStreamRequest, &BusyAnswer);
}

grpc::ServerBidiReactor<v1::MatchBatchRequest, v1::MatchBatchResponse>*
LinkageServiceImpl::MatchBatchStream(grpc::CallbackServerContext* call) {
  return new StreamReactor<v1::MatchBatchRequest, v1::MatchBatchResponse>(
      ctx_, call, "MatchBatchStream", &ProcessBatch, &BusyBatch);
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetStats(grpc::CallbackServerContext* call,
                                                     const v1::GetStatsRequest* /*request*/,
                                                     v1::GetStatsResponse* response) {
  return OnPool(ctx_, call, "GetStats", [this, response]() -> absl::Status {
    index::StoreStats stats = ctx_->engine->store()->Stats();
    for (const auto& d : stats.datasets) {
      auto* out = response->add_datasets();
      out->set_name(d.dataset);
      out->set_records(d.records);
    }
    for (const auto& cf : stats.column_families) {
      auto* out = response->add_column_families();
      out->set_name(cf.name);
      out->set_estimated_keys(cf.estimated_keys);
      out->set_live_data_bytes(cf.live_data_bytes);
      out->set_sst_bytes(cf.sst_bytes);
    }
    for (const auto& v : stats.views) {
      auto* out = response->add_match_views();
      out->set_dataset(v.dataset);
      out->set_ready(v.ready);
      out->set_records(v.records);
      out->set_block_keys(v.block_keys);
      out->set_bytes(v.bytes);
    }
    response->set_model_version(ctx_->engine->model()->proto().version());
    response->set_uptime_seconds(absl::ToInt64Seconds(absl::Now() - ctx_->started));
    response->set_server_version(LINKD_VERSION);
    for (const auto& [method, n] : ctx_->Counts()) (*response->mutable_calls())[method] = n;
    response->set_index_generation(ctx_->engine->store()->generation());
    auto state = ctx_->engine->store()->GetReindexState();
    if (state.ok() && state->has_value()) {
      response->set_reindex_in_progress(true);
      response->set_reindex_done((*state)->done);
      response->set_reindex_total(ctx_->reindex_total.load());
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetModel(grpc::CallbackServerContext* call,
                                                     const v1::GetModelRequest* /*request*/,
                                                     v1::GetModelResponse* response) {
  return OnPool(ctx_, call, "GetModel", [this, response]() -> absl::Status {
    *response->mutable_model() = ctx_->engine->model()->proto();
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::CheckIndex(grpc::CallbackServerContext* call,
                                                       const v1::CheckIndexRequest* /*request*/,
                                                       v1::CheckIndexResponse* response) {
  return OnPool(ctx_, call, "CheckIndex", [this, response]() -> absl::Status {
    auto report = ctx_->engine->CheckIndex();
    if (!report.ok()) return report.status();
    response->set_records(report->records);
    response->set_block_entries(report->block_entries);
    response->set_id_entries(report->id_entries);
    response->set_problem_count(report->problem_count);
    for (const auto& p : report->problems) response->add_problems(p);
    return absl::OkStatus();
  });
}

namespace {

// Runs a long admin job (training, reindex, duplicates, conflicts) on its
// own thread so the scoring workers keep answering queries; one such job at
// a time. The job gets a stop flag that becomes true when the call is
// cancelled, its deadline passes or linkd shuts down; every job checks it
// between steps, so a stop takes effect within a fraction of a second.
template <typename Job>
grpc::ServerUnaryReactor* InBackground(ServiceContext* ctx, grpc::CallbackServerContext* call,
                                       const char* method, Job job) {
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  ctx->Count(method);
  if (ctx->shutting_down.load()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "linkd is shutting down"));
    return reactor;
  }
  if (ctx->training.exchange(true)) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::ABORTED,
                     "another admin job (training, reindex, duplicate search) is running"));
    return reactor;
  }
  ++ctx->background;
  std::thread([ctx, call, reactor, method, job = std::move(job)]() mutable {
    std::atomic<bool> stop{false}, done{false};
    std::thread watcher([&] {
      while (!done.load()) {
        if (ctx->shutting_down.load() || call->IsCancelled() || DeadlinePassed(call)) {
          stop.store(true);
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
    absl::Status st = job(&stop);
    done.store(true);
    watcher.join();
    if (st.code() == absl::StatusCode::kCancelled && DeadlinePassed(call))
      st = absl::DeadlineExceededError(absl::StrCat(method, " stopped at its deadline"));
    ctx->training.store(false);
    reactor->Finish(ToGrpc(st));
    --ctx->background;
  }).detach();
  return reactor;
}

// Bounds of the TrainModel request (documented in service.proto).
constexpr int64_t kMaxTrainQueries = 1000000;
constexpr int64_t kMaxTrainUPairs = 100000000;

}  // namespace

grpc::ServerUnaryReactor* AdminServiceImpl::TrainModel(grpc::CallbackServerContext* call,
                                                       const v1::TrainModelRequest* request,
                                                       v1::TrainModelResponse* response) {
  return InBackground(
      ctx_, call, "TrainModel",
      [this, request, response](const std::atomic<bool>* stop) -> absl::Status {
        absl::Status st = CheckDataset(request->dataset());
        if (st.ok() && !request->link_dataset().empty()) st = CheckDataset(request->link_dataset());
        if (st.ok() && (request->max_queries() < 0 || request->max_queries() > kMaxTrainQueries)) {
          st = absl::InvalidArgumentError(
              absl::StrCat("max_queries must be 0..", kMaxTrainQueries, " (0: default)"));
        }
        if (st.ok() && (request->u_pairs() < 0 || request->u_pairs() > kMaxTrainUPairs)) {
          st = absl::InvalidArgumentError(
              absl::StrCat("u_pairs must be 0..", kMaxTrainUPairs, " (0: default)"));
        }
        if (st.ok()) {
          engine::TrainOptions o;
          o.dataset = request->dataset();
          o.link_dataset = request->link_dataset();
          if (request->max_queries() > 0) o.max_queries = request->max_queries();
          if (request->u_pairs() > 0) o.u_pairs = request->u_pairs();
          if (request->seed() > 0) o.seed = request->seed();
          o.stop = stop;
          const absl::Time start = absl::Now();
          auto trained = ctx_->engine->Train(o);
          if (!trained.ok()) {
            st = trained.status();
          } else {
            const engine::TrainReport& r = trained->second;
            *response->mutable_model() = trained->first;
            response->set_u_pairs(r.u_pairs);
            response->set_m_pairs(r.m_pairs);
            response->set_queries(r.queries);
            response->set_iterations(r.max_iterations_run);
            response->set_converged(r.converged);
            response->set_match_share(r.match_share);
            for (const auto& line : r.sessions) response->add_sessions(line);
            if (!request->dry_run()) {
              auto previous = ctx_->engine->InstallModel(trained->first);
              if (previous.ok()) {
                response->set_installed(true);
                response->set_previous_version(*previous);
              } else {
                st = previous.status();
              }
            }
            Log("info", "model_trained",
                {Str("version", trained->first.version()), Int("m_pairs", r.m_pairs),
                 Num("seconds", absl::ToDoubleSeconds(absl::Now() - start)),
                 Str("installed", response->installed() ? "yes" : "no")});
          }
        }
        return st;
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::Reindex(grpc::CallbackServerContext* call,
                                                    const v1::ReindexRequest* request,
                                                    v1::ReindexResponse* response) {
  return InBackground(
      ctx_, call, "Reindex",
      [this, request, response](const std::atomic<bool>* stop) -> absl::Status {
        const absl::Time start = absl::Now();
        Log("info", "reindex_start",
            {Str("model", request->has_model() ? request->model().version() : "in force")});
        int64_t last_logged = 0;
        auto result = ctx_->engine->Reindex(
            request->has_model() ? &request->model() : nullptr,
            [this, &last_logged](int64_t done, int64_t total) {
              ctx_->reindex_total.store(total);
              if (done - last_logged >= 100000) {
                last_logged = done;
                Log("info", "reindex_progress", {Int("done", done), Int("total", total)});
              }
            },
            stop);  // Resumable: a stop must not wait for it.
        absl::Status st = result.status();
        if (result.ok()) {
          response->set_records(result->records);
          response->set_generation(result->generation);
          response->set_previous_version(result->previous_version);
          response->set_version(result->version);
          response->set_resumed(result->resumed);
          Log("info", "reindex_done",
              {Int("records", result->records), Int("generation", result->generation),
               Num("seconds", absl::ToDoubleSeconds(absl::Now() - start))});
        }
        ctx_->reindex_total.store(0);
        return st;
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::SetModel(grpc::CallbackServerContext* call,
                                                     const v1::SetModelRequest* request,
                                                     v1::SetModelResponse* response) {
  return OnPool(ctx_, call, "SetModel", [this, request, response]() -> absl::Status {
    auto previous = ctx_->engine->InstallModel(request->model());
    if (!previous.ok()) return previous.status();
    response->set_previous_version(*previous);
    Log("info", "model_installed",
        {Str("version", request->model().version()), Str("previous", *previous)});
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::FindDuplicates(grpc::CallbackServerContext* call,
                                                           const v1::FindDuplicatesRequest* request,
                                                           v1::FindDuplicatesResponse* response) {
  return InBackground(ctx_, call, "FindDuplicates",
                      [this, request, response](const std::atomic<bool>* stop) -> absl::Status {
                        absl::Status st = CheckDataset(request->dataset());
                        if (st.ok() && !request->against().empty())
                          st = CheckDataset(request->against());
                        if (st.ok() && !request->register_dataset().empty())
                          st = CheckDataset(request->register_dataset());
                        if (!st.ok()) return st;
                        engine::DedupeOptions o;
                        o.dataset = request->dataset();
                        o.against = request->against();
                        o.register_dataset = request->register_dataset();
                        o.threshold = request->threshold();
                        if (request->top_k() != 0) o.top_k = request->top_k();
                        o.threads = std::max(1, ctx_->config.workers());
                        o.stop = stop;
                        int64_t last_logged = 0;
                        o.progress = [&o, &last_logged](int64_t done, int64_t total) {
                          if (done - last_logged < 100000) return;
                          last_logged = done;
                          Log("info", "duplicates_progress",
                              {Str("dataset", o.dataset), Int("done", done), Int("total", total)});
                        };
                        const absl::Time start = absl::Now();
                        auto report = ctx_->engine->FindDuplicates(o);
                        if (!report.ok()) return report.status();
                        response->set_records(report->records);
                        response->set_links(report->links);
                        response->set_threshold(report->threshold);
                        response->set_model_version(report->model_version);
                        auto set_link = [](const engine::DuplicateLink& l, v1::DuplicateLink* out) {
                          out->set_dataset_a(l.dataset_a);
                          out->set_record_a(l.record_a);
                          out->set_dataset_b(l.dataset_b);
                          out->set_record_b(l.record_b);
                          out->set_probability(l.probability);
                          out->set_match_weight(l.match_weight);
                          out->set_via_register(l.via_register);
                        };
                        for (const engine::DuplicateCluster& c : report->clusters) {
                          v1::DuplicateCluster* out = response->add_clusters();
                          for (const auto& [dataset, id] : c.members) {
                            v1::DuplicateCluster::Member* m = out->add_members();
                            m->set_dataset(dataset);
                            m->set_record_id(id);
                          }
                          for (const engine::DuplicateLink& l : c.tree)
                            set_link(l, out->add_tree());
                          set_link(c.weakest, out->mutable_weakest());
                          for (const v1::FieldContribution& f : c.weakest_explanation)
                            *out->add_weakest_contributions() = f;
                        }
                        Log("info", "duplicates_found",
                            {Str("dataset", o.dataset), Str("against", o.against),
                             Int("records", report->records), Int("links", report->links),
                             Int("clusters", static_cast<int64_t>(report->clusters.size())),
                             Num("seconds", absl::ToDoubleSeconds(absl::Now() - start))});
                        return absl::OkStatus();
                      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::FindConflicts(grpc::CallbackServerContext* call,
                                                          const v1::FindConflictsRequest* request,
                                                          v1::FindConflictsResponse* response) {
  return InBackground(
      ctx_, call, "FindConflicts",
      [this, request, response](const std::atomic<bool>* stop) -> absl::Status {
        absl::Status st = CheckDataset(request->dataset());
        if (st.ok()) st = CheckDataset(request->against());
        if (!st.ok()) return st;
        engine::ConflictOptions o;
        o.dataset = request->dataset();
        o.against = request->against();
        o.threads = std::max(1, ctx_->config.workers());
        o.stop = stop;
        const absl::Time start = absl::Now();
        auto report = ctx_->engine->FindConflicts(o);
        if (!report.ok()) return report.status();
        response->set_records(report->records);
        response->set_model_version(report->model_version);
        for (const engine::Conflict& c : report->conflicts) {
          v1::IdentityConflict* out = response->add_conflicts();
          out->set_kind(std::string(engine::ConflictKindName(c.kind)));
          out->set_national_id(c.national_id);
          out->set_record_id(c.record_id);
          out->set_other_dataset(c.other_dataset);
          out->set_other_record_id(c.other_record_id);
          out->set_probability(c.probability);
          out->set_detail(c.detail);
          for (const v1::FieldContribution& f : c.fields) *out->add_fields() = f;
        }
        Log("info", "conflicts_found",
            {Str("dataset", o.dataset), Str("against", o.against), Int("records", report->records),
             Int("conflicts", static_cast<int64_t>(report->conflicts.size())),
             Num("seconds", absl::ToDoubleSeconds(absl::Now() - start))});
        return absl::OkStatus();
      });
}

}  // namespace linkage::service
