#include "admin_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "log.h"

namespace linkage::service {

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
