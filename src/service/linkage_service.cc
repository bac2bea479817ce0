#include "linkage_service.h"

#include <map>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "convert.h"

namespace linkage::service {

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

}  // namespace linkage::service
