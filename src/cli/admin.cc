#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <thread>

#include "absl/strings/str_format.h"
#include "commands.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "linkage/model.h"
#include "linkage/v1/service.grpc.pb.h"

namespace linkage::cli {
namespace {

std::string Bytes(uint64_t b) {
  if (b >= (1ULL << 30)) return absl::StrFormat("%.1f GiB", static_cast<double>(b) / (1ULL << 30));
  if (b >= (1ULL << 20)) return absl::StrFormat("%.1f MiB", static_cast<double>(b) / (1ULL << 20));
  return absl::StrFormat("%.1f KiB", static_cast<double>(b) / 1024);
}

}  // namespace

int RunStats(const GlobalOptions& global, bool json) {
  auto stub = v1::AdminService::NewStub(Connect(global));
  grpc::ClientContext ctx;
  SetDeadline(ctx, global.timeout_seconds);
  v1::GetStatsResponse s;
  grpc::Status st = stub->GetStats(&ctx, v1::GetStatsRequest(), &s);
  if (!st.ok()) return FailRpc("GetStats", st);
  if (json) {
    std::printf("%s\n", ToJson(s).c_str());
    return kOk;
  }
  std::printf("linkd %s, up %lds, model %s\n", s.server_version().c_str(),
              static_cast<long>(s.uptime_seconds()), s.model_version().c_str());
  std::printf("\ndatasets\n");
  if (s.datasets_size() == 0) std::printf("  (none)\n");
  for (const auto& d : s.datasets())
    std::printf("  %-24s %12s records\n", d.name().c_str(), FormatCount(d.records()).c_str());
  std::printf("\ncolumn families       keys (est.)    live data     on disk\n");
  for (const auto& cf : s.column_families()) {
    std::printf("  %-18s %12s %12s %11s\n", cf.name().c_str(),
                FormatCount(static_cast<int64_t>(cf.estimated_keys())).c_str(),
                Bytes(cf.live_data_bytes()).c_str(), Bytes(cf.sst_bytes()).c_str());
  }
  if (s.match_views_size() > 0) {
    std::printf("\nmatch views (memory)      records   block keys      memory\n");
    for (const auto& v : s.match_views()) {
      std::printf("  %-18s %12s %12s %11s%s\n", v.dataset().c_str(),
                  FormatCount(v.records()).c_str(), FormatCount(v.block_keys()).c_str(),
                  Bytes(static_cast<uint64_t>(v.bytes())).c_str(), v.ready() ? "" : "  (loading)");
    }
  }
  std::printf("\ncalls since start\n");
  for (const auto& [method, n] : s.calls())
    std::printf("  %-16s %12s\n", method.c_str(), FormatCount(n).c_str());
  return kOk;
}

int RunGet(const GlobalOptions& global, const std::string& dataset, const std::string& record_id,
           bool normalized) {
  auto stub = v1::LinkageService::NewStub(Connect(global));
  grpc::ClientContext ctx;
  SetDeadline(ctx, global.timeout_seconds);
  v1::GetRecordRequest req;
  req.set_dataset(dataset);
  req.set_record_id(record_id);
  req.set_include_normalized(normalized);
  v1::GetRecordResponse resp;
  grpc::Status st = stub->GetRecord(&ctx, req, &resp);
  if (!st.ok()) return FailRpc("GetRecord", st);
  std::printf("%s\n", ToJson(resp).c_str());
  return kOk;
}

int RunCheck(const GlobalOptions& global) {
  auto stub = v1::AdminService::NewStub(Connect(global));
  grpc::ClientContext ctx;
  SetDeadline(ctx, std::max(global.timeout_seconds, 3600.0));
  v1::CheckIndexResponse r;
  grpc::Status st = stub->CheckIndex(&ctx, v1::CheckIndexRequest(), &r);
  if (!st.ok()) return FailRpc("CheckIndex", st);
  std::printf("checked %s records, %s block entries, %s id entries: %s problems\n",
              FormatCount(r.records()).c_str(), FormatCount(r.block_entries()).c_str(),
              FormatCount(r.id_entries()).c_str(), FormatCount(r.problem_count()).c_str());
  for (const auto& p : r.problems()) std::printf("  %s\n", p.c_str());
  return r.problem_count() == 0 ? kOk : kFailure;
}

int RunModelShow(const GlobalOptions& global, bool json) {
  std::optional<v1::Model> fetched = FetchModel(global);
  if (!fetched) return kFailure;
  const v1::Model& m = *fetched;
  if (json) {
    std::printf("%s\n", ToJson(m).c_str());
    return kOk;
  }
  std::printf(
      "model %s (spec %s), prior %s, %s\n", m.version().c_str(), m.spec().name().c_str(),
      m.prior() > 0 ? absl::StrFormat("%.3g", m.prior()).c_str() : "auto (1 / register size)",
      m.calibrated() ? "calibrated" : "not calibrated");
  std::printf("decision: MATCH at p >= %.3g with a margin >= %.1f bits, REVIEW at p >= %.3g\n",
              m.policy().match_probability(), m.policy().min_margin_bits(),
              m.policy().review_probability());
  for (int i = 0; i < m.fields_size(); ++i) {
    std::printf("\n%-20s %10s %10s %9s\n", m.fields(i).field().c_str(), "m", "u", "bits");
    for (const auto& l : m.fields(i).levels()) {
      std::printf("  %-18s %10.4g %10.4g %+9.2f\n", l.label().c_str(), l.m(), l.u(),
                  std::log2(l.m() / l.u()));
    }
  }
  std::printf("\nblocking rules:");
  for (const auto& b : m.spec().blocking_rules()) std::printf(" %s", b.name().c_str());
  std::printf("\n");
  return kOk;
}

int RunModelExport(const GlobalOptions& global, const std::string& file) {
  std::optional<v1::Model> model = FetchModel(global);
  if (!model) return kFailure;
  std::string json = ToJson(*model);
  if (file.empty() || file == "-") {
    std::printf("%s\n", json.c_str());
    return kOk;
  }
  std::ofstream out(file, std::ios::trunc);
  out << json << "\n";
  if (!out) return Fail("cannot write " + file);
  std::printf("model %s written to %s\n", model->version().c_str(), file.c_str());
  return kOk;
}

int RunModelImport(const GlobalOptions& global, const std::string& file) {
  auto model = model::LoadModelFile(file);
  if (!model.ok()) return Fail(std::string(model.status().message()));
  auto stub = v1::AdminService::NewStub(Connect(global));
  grpc::ClientContext ctx;
  SetDeadline(ctx, global.timeout_seconds);
  v1::SetModelRequest req;
  *req.mutable_model() = *model;
  v1::SetModelResponse resp;
  grpc::Status st = stub->SetModel(&ctx, req, &resp);
  if (!st.ok()) return FailRpc("SetModel", st);
  std::printf("model %s installed (was %s)\n", model->version().c_str(),
              resp.previous_version().c_str());
  return kOk;
}

int RunReindex(const GlobalOptions& global, const std::string& model_file) {
  v1::ReindexRequest req;
  if (!model_file.empty()) {
    auto model = model::LoadModelFile(model_file);
    if (!model.ok()) return Fail(std::string(model.status().message()));
    *req.mutable_model() = *model;
  }
  auto channel = Connect(global);
  auto stub = v1::AdminService::NewStub(channel);
  v1::ReindexResponse resp;
  grpc::Status status;
  std::atomic<bool> done{false};
  std::thread call([&] {
    grpc::ClientContext ctx;
    SetDeadline(ctx, 24 * 3600);
    status = stub->Reindex(&ctx, req, &resp);
    done = true;
  });
  Progress progress("reindexed");
  while (!done.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    grpc::ClientContext ctx;
    SetDeadline(ctx, 5);
    v1::GetStatsResponse stats;
    if (stub->GetStats(&ctx, v1::GetStatsRequest(), &stats).ok() && stats.reindex_in_progress()) {
      progress.Update(stats.reindex_done(), stats.reindex_total() > 0
                                                ? static_cast<double>(stats.reindex_done()) /
                                                      static_cast<double>(stats.reindex_total())
                                                : -1);
    }
  }
  call.join();
  progress.Finish();
  if (!status.ok()) return FailRpc("Reindex", status);
  std::printf("%s %s records into index generation %u; model %s (was %s)\n",
              resp.resumed() ? "resumed and finished:" : "reindexed",
              FormatCount(resp.records()).c_str(), resp.generation(), resp.version().c_str(),
              resp.previous_version().c_str());
  return kOk;
}

int RunHealth(const GlobalOptions& global, double wait_seconds) {
  auto stub = grpc::health::v1::Health::NewStub(Connect(global));
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(wait_seconds * 1000));
  for (;;) {
    grpc::ClientContext ctx;
    SetDeadline(ctx, 2);
    grpc::health::v1::HealthCheckResponse resp;
    grpc::Status st = stub->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &resp);
    if (st.ok() && resp.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      std::printf("SERVING\n");
      return kOk;
    }
    if (std::chrono::steady_clock::now() >= until) {
      if (!st.ok()) return FailRpc("health check of " + global.server, st);
      return Fail(global.server + " is not serving");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace linkage::cli
