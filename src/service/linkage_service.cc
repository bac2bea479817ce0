#include "linkage_service.h"

#include <algorithm>
#include <map>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "audit.h"
#include "base/status_macros.h"
#include "convert.h"
#include "metrics.h"
#include "principal.h"

namespace linkage::service {
namespace {

// A request UpsertRecords refuses as a whole: over max_batch_records, or
// with a record_id twice (written twice in one batch, which one wins is
// not something to leave to chance) or a record naming another dataset
// (it would be filed under the request's without a word).
absl::Status CheckUpsertRequest(const v1::UpsertRecordsRequest& request, int max_batch_records) {
  if (request.records_size() > max_batch_records) {
    return absl::OutOfRangeError(absl::StrCat("batch of ", request.records_size(),
                                              " records exceeds max_batch_records (",
                                              max_batch_records, "): send smaller batches"));
  }
  std::map<std::string_view, int> first_index;
  for (int i = 0; i < request.records_size(); ++i) {
    const v1::PersonRecord& r = request.records(i);
    if (!r.dataset().empty() && r.dataset() != request.dataset()) {
      return absl::InvalidArgumentError(
          absl::StrCat("record \"", r.record_id(), "\": dataset \"", r.dataset(),
                       "\" differs from the request's dataset \"", request.dataset(), "\""));
    }
    if (r.record_id().empty()) continue;  // Rejected per record by validation.
    auto [it, first] = first_index.emplace(r.record_id(), i);
    if (!first) {
      return absl::InvalidArgumentError(absl::StrCat("record \"", r.record_id(),
                                                     "\": record_id appears twice in the request (",
                                                     "records ", it->second, " and ", i, ")"));
    }
  }
  return absl::OkStatus();
}

// DEADLINE_EXCEEDED / CANCELLED from here mean nothing was written. Once
// the store write has begun it is answered with its real outcome, even if
// the deadline passes meanwhile (service.proto, UpsertRecords).
absl::Status StillWanted(grpc::CallbackServerContext* call) {
  if (call->IsCancelled())
    return absl::CancelledError("the call was cancelled before the write; nothing was written");
  if (DeadlinePassed(call)) {
    return absl::DeadlineExceededError(
        "the deadline passed before the write began; nothing was written");
  }
  return absl::OkStatus();
}

absl::Status RecordNotFound(const std::string& dataset, const std::string& record_id) {
  return absl::NotFoundError(
      absl::StrCat("record \"", record_id, "\" is not in dataset \"", dataset, "\""));
}

}  // namespace

grpc::ServerUnaryReactor* LinkageServiceImpl::Match(grpc::CallbackServerContext* call,
                                                    const v1::MatchRequest* request,
                                                    v1::MatchResponse* response) {
  return OnPoolAudited(
      ctx_, call, "Match",
      [this, call, request, response](std::optional<v1::AuditEntry>* audit) -> absl::Status {
        LINKD_RETURN_IF_ERROR(CheckDataset(request->dataset()));
        LINKD_RETURN_IF_ERROR(ChargeRecords(ctx_, *call, 1));
        LINKD_RETURN_IF_ERROR(AwaitLogSeq(ctx_, *call, request->min_log_seq()));
        v1::AuditEntry entry = NewEntry(*call, "Match", request->dataset());
        v1::AuditItem* item = entry.add_items();
        *item = QueryItem(*ctx_, request->record());
        auto result =
            ctx_->engine->Match(request->record(), request->dataset(), MatchOptionsFrom(*request));
        if (result.ok()) {
          CapCandidates(ctx_, *call, &*result);
          AddResult(*result, item);
          if (ctx_->metrics != nullptr) ctx_->metrics->CountFlags("match", result->flags());
          *response->mutable_result() = *std::move(result);
        }
        *audit = std::move(entry);
        return result.status();
      });
}

grpc::ServerUnaryReactor* LinkageServiceImpl::Verify(grpc::CallbackServerContext* call,
                                                     const v1::VerifyRequest* request,
                                                     v1::VerifyResponse* response) {
  return OnPoolAudited(
      ctx_, call, "Verify",
      [this, call, request, response](std::optional<v1::AuditEntry>* audit) -> absl::Status {
        LINKD_RETURN_IF_ERROR(CheckDataset(request->dataset()));
        LINKD_RETURN_IF_ERROR(ChargeRecords(ctx_, *call, 1));
        LINKD_RETURN_IF_ERROR(AwaitLogSeq(ctx_, *call, request->min_log_seq()));
        std::string principal;
        if (ctx_->auth != nullptr) {
          principal = PrincipalName(*call);
          LINKD_RETURN_IF_ERROR(
              ctx_->auth->ChargeVerifyAttempt(principal, request->claim().national_id()));
        }
        v1::AuditEntry entry = NewEntry(*call, "Verify", request->dataset());
        v1::AuditItem* item = entry.add_items();
        *item = QueryItem(*ctx_, request->claim());
        auto verification =
            ctx_->engine->Verify(request->claim(), request->dataset(), request->strict_dates());
        if (verification.ok()) {
          AddVerification(*verification, item);  // The whole verdict, for the auditor.
          if (ctx_->metrics != nullptr) ctx_->metrics->CountFlags("verify", verification->flags());
          *response->mutable_verification() = *std::move(verification);
          // A caller that may not Match learns no more than the claim's verdict.
          if (ctx_->auth != nullptr && !ctx_->auth->HasRole(principal, v1::MATCH))
            RedactForVerifyOnly(response->mutable_verification());
        }
        *audit = std::move(entry);
        return verification.status();
      });
}

grpc::ServerUnaryReactor* LinkageServiceImpl::UpsertRecords(grpc::CallbackServerContext* call,
                                                            const v1::UpsertRecordsRequest* request,
                                                            v1::UpsertRecordsResponse* response) {
  return OnPoolAudited(
      ctx_, call, "UpsertRecords",
      [this, call, request, response](std::optional<v1::AuditEntry>* audit) -> absl::Status {
        LINKD_RETURN_IF_ERROR(CheckWritable(ctx_));
        LINKD_RETURN_IF_ERROR(CheckDataset(request->dataset()));
        LINKD_RETURN_IF_ERROR(CheckUpsertRequest(*request, ctx_->config.max_batch_records()));
        LINKD_RETURN_IF_ERROR(ChargeRecords(ctx_, *call, std::max(1, request->records_size())));
        engine::UpsertOptions uo = UpsertOptionsFrom(*request);
        uo.before_write = [call] { return StillWanted(call); };
        v1::AuditEntry entry = NewEntry(*call, "UpsertRecords", request->dataset());
        v1::LogEntry change;
        *change.mutable_upsert() = *request;
        // The unit list this node assumes goes with the change, so that a
        // replica normalizes it the same way whatever its own config says.
        if (change.upsert().default_unit_version() == v1::UNIT_VERSION_UNSPECIFIED)
          change.mutable_upsert()->set_default_unit_version(ctx_->config.default_unit_version());
        absl::StatusOr<std::vector<engine::UpsertResult>> results;
        absl::StatusOr<uint64_t> seq =
            CommitChange(ctx_, std::move(change), [&](const engine::WriteHook& log) {
              uo.log = log;
              std::vector<v1::PersonRecord> records(request->records().begin(),
                                                    request->records().end());
              results = ctx_->engine->Upsert(request->dataset(), std::move(records), uo);
              return results.status();
            });
        if (!seq.ok()) {
          // Refused before the write (deadline, validation of the whole
          // request, a read replica, a fenced writer): nothing was
          // written, nothing to audit. Or in the log but not applied
          // here yet (UNAVAILABLE, saying so).
          return seq.status();
        }
        ToResponse(*results, *request, response);
        response->set_log_seq(*seq);
        for (const v1::RecordWriteResult& r : response->results()) {
          v1::AuditItem* item = entry.add_items();
          if (r.index() >= 0 && r.index() < request->records_size())
            *item = QueryItem(*ctx_, request->records(r.index()));
          item->set_record_id(r.record_id());
          item->set_decision(v1::WriteOutcome_Name(r.outcome()));
        }
        *audit = std::move(entry);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* LinkageServiceImpl::DeleteRecord(grpc::CallbackServerContext* call,
                                                           const v1::DeleteRecordRequest* request,
                                                           v1::DeleteRecordResponse* response) {
  return OnPoolAudited(
      ctx_, call, "DeleteRecord",
      [this, call, request, response](std::optional<v1::AuditEntry>* audit) -> absl::Status {
        LINKD_RETURN_IF_ERROR(CheckWritable(ctx_));
        LINKD_RETURN_IF_ERROR(CheckDataset(request->dataset()));
        LINKD_RETURN_IF_ERROR(ChargeRecords(ctx_, *call, 1));
        v1::LogEntry change;
        *change.mutable_delete_record() = *request;
        bool deleted = false;
        LINKD_ASSIGN_OR_RETURN(
            uint64_t seq,
            CommitChange(
                ctx_, std::move(change), [&](const engine::WriteHook& log) -> absl::Status {
                  LINKD_ASSIGN_OR_RETURN(
                      deleted, ctx_->engine->Delete(request->dataset(), request->record_id(), log));
                  return absl::OkStatus();
                }));
        response->set_log_seq(seq);
        v1::AuditEntry entry = NewEntry(*call, "DeleteRecord", request->dataset());
        v1::AuditItem* item = entry.add_items();
        item->set_record_id(request->record_id());
        item->set_decision(deleted ? "DELETED" : "NOT_FOUND");
        *audit = std::move(entry);
        return deleted ? absl::OkStatus()
                       : RecordNotFound(request->dataset(), request->record_id());
      });
}

grpc::ServerUnaryReactor* LinkageServiceImpl::GetRecord(grpc::CallbackServerContext* call,
                                                        const v1::GetRecordRequest* request,
                                                        v1::GetRecordResponse* response) {
  return OnPoolAudited(
      ctx_, call, "GetRecord",
      [this, call, request, response](std::optional<v1::AuditEntry>* audit) -> absl::Status {
        LINKD_RETURN_IF_ERROR(CheckDataset(request->dataset()));
        LINKD_RETURN_IF_ERROR(ChargeRecords(ctx_, *call, 1));
        LINKD_RETURN_IF_ERROR(AwaitLogSeq(ctx_, *call, request->min_log_seq()));
        LINKD_ASSIGN_OR_RETURN(std::optional<v1::StoredRecord> stored,
                               ctx_->engine->Get(request->dataset(), request->record_id()));
        v1::AuditEntry entry = NewEntry(*call, "GetRecord", request->dataset());
        v1::AuditItem* item = entry.add_items();
        item->set_record_id(request->record_id());
        if (!stored.has_value()) {
          item->set_decision("NOT_FOUND");
          *audit = std::move(entry);
          return RecordNotFound(request->dataset(), request->record_id());
        }
        item->add_returned_ids(request->record_id());
        item->set_decision("READ");
        ToResponse(*stored, request->include_normalized(), response);
        *audit = std::move(entry);
        return absl::OkStatus();
      });
}

}  // namespace linkage::service
