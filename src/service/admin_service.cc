#include "admin_service.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "audit.h"
#include "backup.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "convert.h"
#include "log.h"
#include "replication.h"
#include "review_desk.h"

namespace linkage::service {
namespace {

// A job's entry: the datasets it read and, per cluster or conflict, the
// records its answer named (one entry for the whole job).
absl::Status AuditDuplicates(ServiceContext* ctx, const grpc::ServerContextBase& call,
                             const v1::FindDuplicatesRequest& request,
                             const v1::FindDuplicatesResponse& response) {
  v1::AuditEntry entry = NewEntry(call, "FindDuplicates", request.dataset());
  for (const std::string* other : {&request.against(), &request.register_dataset()})
    if (!other->empty()) entry.add_other_datasets(*other);
  entry.set_detail(
      absl::StrCat("records=", response.records(), " clusters=", response.clusters_size()));
  for (const v1::DuplicateCluster& cluster : response.clusters()) {
    v1::AuditItem* item = entry.add_items();
    item->set_decision("CLUSTER");
    for (const auto& m : cluster.members()) item->add_returned_ids(m.record_id());
  }
  return Audited(ctx, std::move(entry), absl::OkStatus());
}

// A model installed (SetModel, which calibration uses too, or TrainModel):
// who installed which version over which, so that a model that decides
// differently can be traced to the call that put it there.
absl::Status AuditModelInstall(ServiceContext* ctx, const grpc::ServerContextBase& call,
                               const char* method, const std::string& version,
                               const std::string& previous) {
  v1::AuditEntry entry = NewEntry(call, method, "");
  entry.set_detail(absl::StrCat("model=", version, " previous=", previous));
  return Audited(ctx, std::move(entry), absl::OkStatus());
}

absl::Status AuditConflicts(ServiceContext* ctx, const grpc::ServerContextBase& call,
                            const v1::FindConflictsRequest& request,
                            const v1::FindConflictsResponse& response) {
  v1::AuditEntry entry = NewEntry(call, "FindConflicts", request.dataset());
  entry.add_other_datasets(request.against());
  entry.set_detail(
      absl::StrCat("records=", response.records(), " conflicts=", response.conflicts_size()));
  for (const v1::IdentityConflict& c : response.conflicts()) {
    v1::AuditItem* item = entry.add_items();
    item->set_record_id(c.record_id());
    if (!c.other_record_id().empty()) item->add_returned_ids(c.other_record_id());
    if (!c.national_id().empty() && ctx->audit != nullptr)
      item->set_national_id_hmac(ctx->audit->HashId(absl::StrCat("c:", c.national_id())));
    item->set_decision(c.kind());
  }
  return Audited(ctx, std::move(entry), absl::OkStatus());
}

}  // namespace

grpc::ServerUnaryReactor* AdminServiceImpl::GetReviewLabels(
    grpc::CallbackServerContext* call, const v1::GetReviewLabelsRequest* request,
    v1::GetReviewLabelsResponse* response) {
  return OnPool(ctx_, call, "GetReviewLabels", [this, request, response]() -> absl::Status {
    if (ctx_->review == nullptr) return absl::UnavailableError("the review desk is not open");
    LINKD_ASSIGN_OR_RETURN(*response, ctx_->review->Labels(*request));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetStats(grpc::CallbackServerContext* call,
                                                     const v1::GetStatsRequest* /*request*/,
                                                     v1::GetStatsResponse* response) {
  return OnPool(ctx_, call, "GetStats", [this, response]() -> absl::Status {
    ToResponse(ctx_->engine->store()->Stats(), response);
    response->set_model_version(ctx_->engine->model()->proto().version());
    response->set_uptime_seconds(absl::ToInt64Seconds(absl::Now() - ctx_->started));
    response->set_server_version(LINKD_VERSION);
    for (const auto& [method, n] : ctx_->Counts()) (*response->mutable_calls())[method] = n;
    response->set_index_generation(ctx_->engine->store()->generation());
    if (ctx_->audit != nullptr) {
      const audit::Head head = ctx_->audit->head();
      response->mutable_audit_head()->set_count(head.count);
      response->mutable_audit_head()->set_hash(audit::Hex(head.hash));
    }
    auto state = ctx_->engine->store()->GetReindexState();
    if (state.ok() && state->has_value()) {
      ToResponse(**state, ctx_->reindex_total.load(), response);
    }
    if (ctx_->replica != nullptr) {
      *response->mutable_replication() = ctx_->replica->Status();
    } else {
      response->mutable_replication()->set_role("standalone");
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
    LINKD_ASSIGN_OR_RETURN(index::CheckReport report, ctx_->engine->CheckIndex());
    ToResponse(report, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::SetModel(grpc::CallbackServerContext* call,
                                                     const v1::SetModelRequest* request,
                                                     v1::SetModelResponse* response) {
  return OnPool(ctx_, call, "SetModel", [this, call, request, response]() -> absl::Status {
    v1::LogEntry change;
    *change.mutable_install_model() = request->model();
    std::string previous;
    LINKD_ASSIGN_OR_RETURN(
        uint64_t seq,
        CommitChange(ctx_, std::move(change), [&](const engine::WriteHook& log) -> absl::Status {
          LINKD_ASSIGN_OR_RETURN(previous, ctx_->engine->InstallModel(request->model(), log));
          return absl::OkStatus();
        }));
    response->set_previous_version(previous);
    response->set_log_seq(seq);
    Log("info", "model_installed",
        {Str("version", request->model().version()), Str("previous", previous)});
    return AuditModelInstall(ctx_, *call, "SetModel", request->model().version(), previous);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::TrainModel(grpc::CallbackServerContext* call,
                                                       const v1::TrainModelRequest* request,
                                                       v1::TrainModelResponse* response) {
  return InBackground(
      ctx_, call, "TrainModel",
      [this, call, request, response](const std::atomic<bool>* stop) -> absl::Status {
        if (!request->dry_run()) LINKD_RETURN_IF_ERROR(CheckWritable(ctx_));
        LINKD_RETURN_IF_ERROR(CheckDataset(request->dataset()));
        if (!request->link_dataset().empty())
          LINKD_RETURN_IF_ERROR(CheckDataset(request->link_dataset()));
        LINKD_ASSIGN_OR_RETURN(engine::TrainOptions o, TrainOptionsFrom(*request));
        o.stop = stop;
        o.progress = [this](int64_t done, int64_t total) {
          ctx_->jobs.Progress("TrainModel", done, total);
        };
        const absl::Time start = absl::Now();
        // Trained first, then installed as one change (through the log on
        // a writer: other writes are not held up by the training).
        LINKD_ASSIGN_OR_RETURN(engine::TrainedModel trained,
                               ctx_->engine->TrainAndInstall(o, /*dry_run=*/true));
        uint64_t seq = 0;
        if (!request->dry_run()) {
          v1::LogEntry change;
          *change.mutable_install_model() = trained.model;
          LINKD_ASSIGN_OR_RETURN(
              seq, CommitChange(
                       ctx_, std::move(change), [&](const engine::WriteHook& log) -> absl::Status {
                         LINKD_ASSIGN_OR_RETURN(trained.previous_version,
                                                ctx_->engine->InstallModel(trained.model, log));
                         trained.installed = true;
                         return absl::OkStatus();
                       }));
        }
        ToResponse(trained, response);
        response->set_log_seq(seq);
        if (trained.installed) {
          LINKD_RETURN_IF_ERROR(AuditModelInstall(
              ctx_, *call, "TrainModel", trained.model.version(), response->previous_version()));
        }
        Log("info", "model_trained",
            {Str("version", trained.model.version()), Int("m_pairs", trained.report.m_pairs),
             Num("seconds", absl::ToDoubleSeconds(absl::Now() - start)),
             Str("installed", trained.installed ? "yes" : "no")});
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::Reindex(grpc::CallbackServerContext* call,
                                                    const v1::ReindexRequest* request,
                                                    v1::ReindexResponse* response) {
  return InBackground(
      ctx_, call, "Reindex",
      [this, request, response](const std::atomic<bool>* stop) -> absl::Status {
        LINKD_RETURN_IF_ERROR(CheckWritable(ctx_));
        const absl::Time start = absl::Now();
        Log("info", "reindex_start",
            {Str("model", request->has_model() ? request->model().version() : "in force")});
        int64_t last_logged = 0;
        uint64_t seq = 0;
        auto result = ctx_->engine->Reindex(
            request->has_model() ? &request->model() : nullptr,
            [this, &last_logged](int64_t done, int64_t total) {
              ctx_->reindex_total.store(total);
              ctx_->jobs.Progress("Reindex", done, total);
              if (done - last_logged >= 100000) {
                last_logged = done;
                Log("info", "reindex_progress", {Int("done", done), Int("total", total)});
              }
            },
            stop,  // Resumable: a stop must not wait for it.
            // The switch goes through the log on a writer; each replica
            // builds its own index for the model when it applies it.
            [this, &seq](const v1::Model& target,
                         const std::function<absl::Status(const index::WriteTag&)>& do_switch) {
              v1::LogEntry change;
              *change.mutable_reindex() = target;
              absl::StatusOr<uint64_t> committed = CommitChange(
                  ctx_, std::move(change), [&](const engine::WriteHook& log) -> absl::Status {
                    index::WriteTag tag;
                    if (log) {
                      LINKD_ASSIGN_OR_RETURN(tag, log());
                    }
                    return do_switch(tag);
                  });
              if (committed.ok()) seq = *committed;
              return committed.status();
            });
        ctx_->reindex_total.store(0);
        LINKD_RETURN_IF_ERROR(result.status());
        ToResponse(*result, response);
        response->set_log_seq(seq);
        Log("info", "reindex_done",
            {Int("records", result->records), Int("generation", result->generation),
             Num("seconds", absl::ToDoubleSeconds(absl::Now() - start))});
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::FindDuplicates(grpc::CallbackServerContext* call,
                                                           const v1::FindDuplicatesRequest* request,
                                                           v1::FindDuplicatesResponse* response) {
  return InBackground(
      ctx_, call, "FindDuplicates",
      [this, call, request, response](const std::atomic<bool>* stop) -> absl::Status {
        LINKD_RETURN_IF_ERROR(CheckDataset(request->dataset()));
        if (!request->against().empty()) LINKD_RETURN_IF_ERROR(CheckDataset(request->against()));
        if (!request->register_dataset().empty())
          LINKD_RETURN_IF_ERROR(CheckDataset(request->register_dataset()));
        engine::DedupeOptions o = DedupeOptionsFrom(*request);
        o.threads = std::max(1, ctx_->config.workers());
        o.stop = stop;
        int64_t last_logged = 0;
        o.progress = [this, &o, &last_logged](int64_t done, int64_t total) {
          ctx_->jobs.Progress("FindDuplicates", done, total);
          if (done - last_logged < 100000) return;
          last_logged = done;
          Log("info", "duplicates_progress",
              {Str("dataset", o.dataset), Int("done", done), Int("total", total)});
        };
        const absl::Time start = absl::Now();
        LINKD_ASSIGN_OR_RETURN(engine::DedupeReport report, ctx_->engine->FindDuplicates(o));
        ToResponse(report, response);
        LINKD_RETURN_IF_ERROR(AuditDuplicates(ctx_, *call, *request, *response));
        Log("info", "duplicates_found",
            {Str("dataset", o.dataset), Str("against", o.against), Int("records", report.records),
             Int("links", report.links),
             Int("clusters", static_cast<int64_t>(report.clusters.size())),
             Num("seconds", absl::ToDoubleSeconds(absl::Now() - start))});
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::FindConflicts(grpc::CallbackServerContext* call,
                                                          const v1::FindConflictsRequest* request,
                                                          v1::FindConflictsResponse* response) {
  return InBackground(
      ctx_, call, "FindConflicts",
      [this, call, request, response](const std::atomic<bool>* stop) -> absl::Status {
        LINKD_RETURN_IF_ERROR(CheckDataset(request->dataset()));
        LINKD_RETURN_IF_ERROR(CheckDataset(request->against()));
        engine::ConflictOptions o = ConflictOptionsFrom(*request);
        o.threads = std::max(1, ctx_->config.workers());
        o.stop = stop;
        const absl::Time start = absl::Now();
        LINKD_ASSIGN_OR_RETURN(engine::ConflictReport report, ctx_->engine->FindConflicts(o));
        ToResponse(report, response);
        LINKD_RETURN_IF_ERROR(AuditConflicts(ctx_, *call, *request, *response));
        Log("info", "conflicts_found",
            {Str("dataset", o.dataset), Str("against", o.against), Int("records", report.records),
             Int("conflicts", static_cast<int64_t>(report.conflicts.size())),
             Num("seconds", absl::ToDoubleSeconds(absl::Now() - start))});
        return absl::OkStatus();
      });
}

namespace {

// Bytes under `dir` (what a backup added is the difference).
uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) total += it->file_size(size_ec);
  }
  return total;
}

}  // namespace

grpc::ServerUnaryReactor* AdminServiceImpl::Backup(grpc::CallbackServerContext* call,
                                                   const v1::BackupRequest* request,
                                                   v1::BackupResponse* response) {
  return InBackground(
      ctx_, call, "Backup",
      [this, call, request, response](const std::atomic<bool>* stop) -> absl::Status {
        if (request->dest().empty())
          return absl::InvalidArgumentError("backup: dest (the backup directory) is required");
        const absl::Time start = absl::Now();
        const uint64_t before = DirectoryBytes(request->dest());
        Log("info", "backup_start", {Str("dest", request->dest())});
        v1::BackupMetadata metadata;
        absl::StatusOr<index::BackupInfo> info = ctx_->engine->store()->Backup(
            request->dest(),
            [&metadata](index::Store& point) -> absl::StatusOr<std::string> {
              LINKD_ASSIGN_OR_RETURN(metadata, BackupMetadataOf(point));
              return metadata.SerializeAsString();
            },
            stop,
            [this](uint64_t copied) {
              ctx_->jobs.Progress("Backup", static_cast<int64_t>(copied), 0);
            });
        if (!info.ok()) {
          Log("error", "backup_failed",
              {Str("dest", request->dest()), Str("message", SV(info.status().message()))});
          return info.status();
        }
        const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
        const uint64_t after = DirectoryBytes(request->dest());
        response->set_backup_id(info->id);
        response->set_size_bytes(info->size_bytes);
        response->set_new_bytes(after > before ? after - before : 0);
        *response->mutable_metadata() = metadata;
        response->set_seconds(seconds);
        Log("info", "backup_done",
            {Str("dest", request->dest()), Int("backup_id", info->id),
             Int("bytes", static_cast<int64_t>(info->size_bytes)),
             Int("new_bytes", static_cast<int64_t>(response->new_bytes())),
             Str("metadata", Describe(metadata)), Num("seconds", seconds)});
        // A backup copies every person: who took it, and where, is audited.
        v1::AuditEntry entry = NewEntry(*call, "Backup", "");
        entry.set_detail(absl::StrCat("backup_id=", info->id, " dest=", request->dest(), " ",
                                      Describe(metadata)));
        return Audited(ctx_, std::move(entry), absl::OkStatus());
      });
}

}  // namespace linkage::service
