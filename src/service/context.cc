#include "context.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "audit.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "linkage/normalize.h"
#include "log.h"
#include "principal.h"
#include "replication.h"

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

absl::Status CheckWritable(const ServiceContext* ctx) {
  if (ctx->replica != nullptr && ctx->writer == nullptr) {
    return absl::FailedPreconditionError(
        "this linkd is a read replica (role reader): send writes to the writer");
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> CommitChange(
    ServiceContext* ctx, v1::LogEntry entry,
    const std::function<absl::Status(const engine::WriteHook&)>& apply) {
  LINKD_RETURN_IF_ERROR(CheckWritable(ctx));
  if (ctx->writer != nullptr) return ctx->writer->Commit(std::move(entry), apply);
  LINKD_RETURN_IF_ERROR(apply(engine::WriteHook()));
  return uint64_t{0};
}

absl::Status AwaitLogSeq(const ServiceContext* ctx, const grpc::CallbackServerContext& call,
                         uint64_t seq) {
  if (seq == 0) return absl::OkStatus();
  if (ctx->replica == nullptr) {
    return absl::InvalidArgumentError(
        "min_log_seq is for nodes of a replicated log (role writer or reader); this one is "
        "standalone");
  }
  absl::Time deadline = absl::Now() + absl::Milliseconds(ctx->config.max_log_wait_ms());
  deadline = std::min(deadline, absl::FromChrono(call.deadline()));
  return ctx->replica->WaitFor(seq, deadline);
}

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

absl::Status ChargeRecords(ServiceContext* ctx, const grpc::CallbackServerContext& call,
                           int64_t records) {
  if (ctx->auth == nullptr) return absl::OkStatus();
  return ctx->auth->ChargeRecords(PrincipalName(call), records);
}

void CapCandidates(ServiceContext* ctx, const grpc::CallbackServerContext& call,
                   v1::MatchResult* result) {
  if (ctx->auth == nullptr) return;
  const int cap = ctx->auth->MaxCandidates(PrincipalName(call));
  if (cap > 0 && result->candidates_size() > cap) {
    result->mutable_candidates()->DeleteSubrange(cap, result->candidates_size() - cap);
  }
}

namespace {

void FinishCall(grpc::CallbackServerContext* call, grpc::ServerUnaryReactor* reactor,
                const char* method, const absl::Status& st) {
  // The caller's own mistakes and refusals (a per-principal limit; a full
  // disk, which the health monitor logs once) are answered, not logged per
  // call: a caller over its limits must not flood the log.
  if (!st.ok() && st.code() != absl::StatusCode::kInvalidArgument &&
      st.code() != absl::StatusCode::kNotFound &&
      st.code() != absl::StatusCode::kResourceExhausted) {
    Log("error", "call_failed",
        {Str("method", method), Str("principal", PrincipalName(*call)),
         Str("code", absl::StatusCodeToString(st.code())), Str("message", SV(st.message()))});
  }
  reactor->Finish(ToGrpc(st));
}

}  // namespace

grpc::ServerUnaryReactor* OnPool(ServiceContext* ctx, grpc::CallbackServerContext* call,
                                 const char* method, std::function<absl::Status()> work) {
  return OnPool(ctx, call, method, std::move(work), nullptr);
}

grpc::ServerUnaryReactor* OnPool(
    ServiceContext* ctx, grpc::CallbackServerContext* call, const char* method,
    std::function<absl::Status()> work,
    std::function<absl::Status(std::optional<v1::AuditEntry>* entry)> audited_work) {
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  ctx->Count(method);
  if (ctx->shutting_down.load()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "linkd is shutting down"));
    return reactor;
  }
  bool queued = ctx->pool->Submit([ctx, call, reactor, method, work = std::move(work),
                                   audited_work = std::move(audited_work)]() mutable {
    if (call->IsCancelled()) {
      reactor->Finish(grpc::Status::CANCELLED);
      return;
    }
    if (DeadlinePassed(call)) {
      reactor->Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                   "deadline passed before the call was served"));
      return;
    }
    if (work) {
      FinishCall(call, reactor, method, work());
      return;
    }
    std::optional<v1::AuditEntry> entry;
    absl::Status st = audited_work(&entry);
    if (!entry.has_value()) {
      FinishCall(call, reactor, method, st);
      return;
    }
    // Answered once the entry is durable, from the audit log's syncer.
    AuditedThen(ctx, *std::move(entry), std::move(st),
                [call, reactor, method](const absl::Status& outcome) {
                  FinishCall(call, reactor, method, outcome);
                });
  });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "linkd is at capacity (worker queue full); retry with backoff"));
  }
  return reactor;
}

grpc::ServerUnaryReactor* OnPoolAudited(
    ServiceContext* ctx, grpc::CallbackServerContext* call, const char* method,
    std::function<absl::Status(std::optional<v1::AuditEntry>* entry)> work) {
  return OnPool(ctx, call, method, nullptr, std::move(work));
}

namespace {

// Meta key of a job kind's last success and failure times: the value is
// "SUCCESS_UNIX FAILURE_UNIX" (seconds; 0 for never).
constexpr char kJobMetaPrefix[] = "job_times/";
constexpr const char* kJobNames[] = {"TrainModel", "Reindex", "Backup", "FindDuplicates",
                                     "FindConflicts"};

int64_t UnixOrZero(absl::Time t) { return t == absl::InfinitePast() ? 0 : absl::ToUnixSeconds(t); }
absl::Time TimeOrPast(int64_t unix) {
  return unix <= 0 ? absl::InfinitePast() : absl::FromUnixSeconds(unix);
}

}  // namespace

void JobBoard::Attach(index::Store* store) {
  absl::MutexLock lock(&mu_);
  store_ = store;
  for (const char* name : kJobNames) {
    auto value = store->GetMeta(absl::StrCat(kJobMetaPrefix, name));
    if (!value.ok() || !value->has_value()) continue;
    std::vector<std::string> parts = absl::StrSplit(**value, ' ');
    int64_t success = 0, failure = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &success) ||
        !absl::SimpleAtoi(parts[1], &failure))
      continue;  // Written by another version: start without it.
    Job& j = jobs_[std::string(name)];
    j.last_success = TimeOrPast(success);
    j.last_failure = TimeOrPast(failure);
  }
}

void JobBoard::Started(const std::string& job) {
  absl::MutexLock lock(&mu_);
  Job& j = jobs_[job];
  j.running = true;
  j.done = j.total = 0;
  j.started = absl::Now();
}

void JobBoard::Progress(const std::string& job, int64_t done, int64_t total) {
  absl::MutexLock lock(&mu_);
  Job& j = jobs_[job];
  j.done = done;
  j.total = total;
}

void JobBoard::Finished(const std::string& job, const absl::Status& outcome) {
  absl::MutexLock lock(&mu_);
  Job& j = jobs_[job];
  j.running = false;
  if (outcome.ok() && j.total > 0) j.done = j.total;
  (outcome.ok() ? j.last_success : j.last_failure) = absl::Now();
  ++j.outcomes[absl::StatusCodeToString(outcome.code())];
  if (store_ == nullptr) return;
  absl::Status st =
      store_->PutMeta(absl::StrCat(kJobMetaPrefix, job),
                      absl::StrCat(UnixOrZero(j.last_success), " ", UnixOrZero(j.last_failure)));
  if (!st.ok()) {
    Log("warning", "job_time_not_kept",
        {Str("job", job), Str("code", absl::StatusCodeToString(st.code()))});
  }
}

std::map<std::string, JobBoard::Job> JobBoard::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return jobs_;
}

grpc::ServerUnaryReactor* InBackground(ServiceContext* ctx, grpc::CallbackServerContext* call,
                                       const char* method,
                                       std::function<absl::Status(const std::atomic<bool>*)> job) {
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
  ctx->jobs.Started(method);
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
    ctx->jobs.Finished(method, st);
    ctx->training.store(false);
    reactor->Finish(ToGrpc(st));
    --ctx->background;
  }).detach();
  return reactor;
}

}  // namespace linkage::service
