// LinkageService's bulk streams, MatchStream and MatchBatchStream.
#include <deque>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "audit.h"
#include "base/status_macros.h"
#include "convert.h"
#include "linkage_service.h"
#include "metrics.h"
#include "principal.h"
#include "review_desk.h"

namespace linkage::service {

namespace {

// Answers one stream request (match, or verify and match).
v1::MatchStreamResponse ProcessStreamRequest(ServiceContext* ctx, grpc::CallbackServerContext* call,
                                             const v1::MatchStreamRequest& req);

// Replaces an answer whose audit entry could not be written by that error.
void Withhold(const absl::Status& st, v1::MatchStreamResponse* resp) {
  resp->clear_result();
  resp->clear_verification();
  SetError(st, resp);
}
void Withhold(const absl::Status& st, v1::MatchBatchResponse* out) {
  for (v1::MatchStreamResponse& r : *out->mutable_responses()) Withhold(st, &r);
}

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
  // Answers one message and describes it in `entry` for the audit log.
  using Process = Resp (*)(ServiceContext*, grpc::CallbackServerContext*, const Req&,
                           std::optional<v1::AuditEntry>* entry);
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
    // gRPC makes the call's AuthContext on first use, unlocked: make it
    // here, before pool tasks read it concurrently (PrincipalName).
    (void)call_->auth_context();
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
            std::optional<v1::AuditEntry> entry;
            if (!skip && !call_->IsCancelled()) response = process_(ctx_, call_, *request, &entry);
            const size_t records = RecordsIn(*request);
            {
              absl::MutexLock l(&mu_);
              --running_;
              if (!entry.has_value()) {
                EnqueueLocked(std::move(response), records);
                PumpLocked();
                return;
              }
              // The answer leaves once its entry is durable; the worker
              // goes on meanwhile (the audit log's syncer queues it).
              ++syncing_;
              PumpLocked();
            }
            auto answer = std::make_shared<Resp>(std::move(response));
            AuditedThen(ctx_, *std::move(entry), absl::OkStatus(),
                        [this, answer, records](const absl::Status& st) {
                          if (!st.ok()) Withhold(st, answer.get());
                          absl::MutexLock lock(&mu_);
                          --syncing_;
                          EnqueueLocked(std::move(*answer), records);
                          MaybeFinishLocked();
                        });
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
    if (finished_ || !reads_done_ || outstanding_ != 0 || writing_ || running_ != 0 ||
        syncing_ != 0)
      return;
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
  size_t syncing_ ABSL_GUARDED_BY(mu_) = 0;        // Answered, their entries not yet durable.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// One stream request's answer into `resp`: a verification and its ranking
// when the claimed ID is to be verified, else a match.
absl::Status Answer(ServiceContext* ctx, grpc::CallbackServerContext* call,
                    const v1::MatchStreamRequest& req, v1::MatchStreamResponse* resp) {
  LINKD_RETURN_IF_ERROR(CheckDataset(req.dataset()));
  if (!req.review_dataset().empty() || req.review_sample_rate() != 0)
    LINKD_RETURN_IF_ERROR(ReviewDesk::CheckRequest(*ctx, req, PrincipalName(*call)));
  if (DeadlinePassed(call)) return absl::DeadlineExceededError("stream deadline passed");
  if (req.top_k() < 0 || req.top_k() > 1000)
    return absl::InvalidArgumentError("top_k must be 1..1000");
  LINKD_RETURN_IF_ERROR(AwaitLogSeq(ctx, *call, req.min_log_seq()));
  if (req.verify_claimed_id() && !req.record().national_id().empty()) {
    // One search serves both the verification and the ranking.
    LINKD_ASSIGN_OR_RETURN(*resp->mutable_verification(),
                           ctx->engine->Verify(req.record(), req.dataset(),
                                               VerifyOptionsFrom(req, resp->mutable_result())));
    CapCandidates(ctx, *call, resp->mutable_result());
    return absl::OkStatus();
  }
  LINKD_ASSIGN_OR_RETURN(*resp->mutable_result(),
                         ctx->engine->Match(req.record(), req.dataset(), MatchOptionsFrom(req)));
  CapCandidates(ctx, *call, resp->mutable_result());
  return absl::OkStatus();
}

// One request of a MatchStream, charged to the caller's records_per_second.
v1::MatchStreamResponse ProcessCharged(ServiceContext* ctx, grpc::CallbackServerContext* call,
                                       const v1::MatchStreamRequest& req) {
  if (absl::Status st = ChargeRecords(ctx, *call, 1); !st.ok()) {
    v1::MatchStreamResponse resp;
    resp.set_request_id(req.request_id());
    SetError(st, &resp);
    return resp;
  }
  return ProcessStreamRequest(ctx, call, req);
}

v1::MatchStreamResponse ProcessStreamRequest(ServiceContext* ctx, grpc::CallbackServerContext* call,
                                             const v1::MatchStreamRequest& req) {
  v1::MatchStreamResponse resp;
  resp.set_request_id(req.request_id());
  absl::Status st = Answer(ctx, call, req, &resp);
  // A REVIEW answer (or a sampled one) of a job that keeps a review queue
  // (its request was checked before it was answered).
  if (st.ok() && !req.review_dataset().empty() && ctx->review != nullptr)
    (void)ctx->review->Offer(req, resp, PrincipalName(*call));
  if (!st.ok()) {
    resp.clear_result();  // A failed verification may have left part of its ranking.
    SetError(st, &resp);
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
  // A batch over the caller's records_per_second is refused whole.
  if (absl::Status st = ChargeRecords(ctx, *call, batch.requests_size()); !st.ok()) {
    for (const v1::MatchStreamRequest& req : batch.requests()) {
      v1::MatchStreamResponse* r = out.add_responses();
      r->set_request_id(req.request_id());
      SetError(st, r);
    }
    return out;
  }
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

// What one stream request was asked and told, for the audit entry.
v1::AuditItem StreamItem(const ServiceContext& ctx, const v1::MatchStreamRequest& req,
                         const v1::MatchStreamResponse& resp) {
  v1::AuditItem item = QueryItem(ctx, req.record());
  if (item.record_id().empty()) item.set_record_id(req.request_id());
  if (resp.error_code() != 0) {
    item.set_decision(absl::StatusCodeToString(static_cast<absl::StatusCode>(resp.error_code())));
    return item;
  }
  if (ctx.metrics != nullptr) {
    if (resp.has_verification())
      ctx.metrics->CountFlags("verify", resp.verification().flags());
    else
      ctx.metrics->CountFlags("match", resp.result().flags());
  }
  if (resp.has_verification()) {
    AddVerification(resp.verification(), &item);
    for (const v1::Candidate& c : resp.result().candidates()) {
      bool seen = false;
      for (const std::string& id : item.returned_ids()) seen = seen || id == c.record_id();
      if (!seen) item.add_returned_ids(c.record_id());
    }
  } else {
    AddResult(resp.result(), &item);
  }
  return item;
}

// A stream message's answer, audited: one entry per message (per batch for
// MatchBatchStream, one item per request in it), appended before the
// answer is queued for writing. If the entry cannot be written, every
// request of the message is answered with that error instead.
v1::MatchStreamResponse AuditedStreamRequest(ServiceContext* ctx, grpc::CallbackServerContext* call,
                                             const v1::MatchStreamRequest& req,
                                             std::optional<v1::AuditEntry>* audit) {
  v1::MatchStreamResponse resp = ProcessCharged(ctx, call, req);
  v1::AuditEntry entry = NewEntry(*call, "MatchStream", req.dataset());
  *entry.add_items() = StreamItem(*ctx, req, resp);
  *audit = std::move(entry);
  return resp;
}

v1::MatchBatchResponse AuditedBatch(ServiceContext* ctx, grpc::CallbackServerContext* call,
                                    const v1::MatchBatchRequest& batch,
                                    std::optional<v1::AuditEntry>* audit) {
  v1::MatchBatchResponse out = ProcessBatch(ctx, call, batch);
  if (out.responses_size() == 0) return out;
  v1::AuditEntry entry = NewEntry(*call, "MatchBatchStream",
                                  batch.requests_size() > 0 ? batch.requests(0).dataset() : "");
  for (int i = 0; i < out.responses_size(); ++i) {
    const v1::MatchStreamRequest& req = batch.requests(i);
    if (req.dataset() != entry.dataset()) {
      bool seen = false;
      for (const std::string& d : entry.other_datasets()) seen = seen || d == req.dataset();
      if (!seen) entry.add_other_datasets(req.dataset());
    }
    *entry.add_items() = StreamItem(*ctx, req, out.responses(i));
  }
  *audit = std::move(entry);
  return out;
}

}  // namespace

grpc::ServerBidiReactor<v1::MatchStreamRequest, v1::MatchStreamResponse>*
LinkageServiceImpl::MatchStream(grpc::CallbackServerContext* call) {
  return new StreamReactor<v1::MatchStreamRequest, v1::MatchStreamResponse>(
      ctx_, call, "MatchStream", &AuditedStreamRequest, &BusyAnswer);
}

grpc::ServerBidiReactor<v1::MatchBatchRequest, v1::MatchBatchResponse>*
LinkageServiceImpl::MatchBatchStream(grpc::CallbackServerContext* call) {
  return new StreamReactor<v1::MatchBatchRequest, v1::MatchBatchResponse>(
      ctx_, call, "MatchBatchStream", &AuditedBatch, &BusyBatch);
}

}  // namespace linkage::service
