// linkctl stats: datasets, column families, match views, call counts.
#include <cstdio>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "command.h"

namespace linkage::cli {
namespace {

std::string Bytes(uint64_t b) {
  if (b >= (1ULL << 30)) return absl::StrFormat("%.1f GiB", static_cast<double>(b) / (1ULL << 30));
  if (b >= (1ULL << 20)) return absl::StrFormat("%.1f MiB", static_cast<double>(b) / (1ULL << 20));
  return absl::StrFormat("%.1f KiB", static_cast<double>(b) / 1024);
}

absl::Status Stats(CommandContext& ctx, bool json) {
  LINKD_ASSIGN_OR_RETURN(const v1::GetStatsResponse s,
                         Call(ctx, "GetStats", &AdminStub::GetStats, v1::GetStatsRequest()));
  if (json) {
    std::printf("%s\n", ToJson(s).c_str());
    return absl::OkStatus();
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
    std::printf("\nmatch views (memory)      records   block keys      memory  per person\n");
    for (const auto& v : s.match_views()) {
      // Bytes per record held: what the view costs per register person,
      // the figure that decides how large a register one node can hold.
      const std::string per_person =
          v.records() > 0
              ? absl::StrFormat("%lld B", static_cast<long long>(v.bytes() / v.records()))
              : std::string("-");
      std::printf("  %-18s %12s %12s %11s %11s%s\n", v.dataset().c_str(),
                  FormatCount(v.records()).c_str(), FormatCount(v.block_keys()).c_str(),
                  Bytes(static_cast<uint64_t>(v.bytes())).c_str(), per_person.c_str(),
                  v.ready() ? (v.source() == "file" ? "  (from file)" : "") : "  (loading)");
    }
  }
  if (const auto& r = s.replication(); !r.role().empty() && r.role() != "standalone") {
    std::printf("\nreplication: %s of log stream %s, applied %llu of %llu", r.role().c_str(),
                r.stream().c_str(), static_cast<unsigned long long>(r.applied_seq()),
                static_cast<unsigned long long>(r.log_last_seq()));
    if (r.role() == "reader") {
      std::printf(", %llu behind (%.1f s), %s", static_cast<unsigned long long>(r.lag_changes()),
                  r.lag_seconds(), r.caught_up() ? "caught up" : "lagging");
    }
    if (r.fenced()) std::printf(", FENCED");
    std::printf("\n");
    if (!r.detail().empty()) std::printf("  %s\n", r.detail().c_str());
  }
  std::printf("\naudit head %llu:%s\n", static_cast<unsigned long long>(s.audit_head().count()),
              s.audit_head().hash().c_str());
  std::printf("\ncalls since start\n");
  for (const auto& [method, n] : s.calls())
    std::printf("  %-16s %12s\n", method.c_str(), FormatCount(n).c_str());
  return absl::OkStatus();
}

void RegisterStats(CLI::App& app, CommandContext& ctx) {
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("stats", "Datasets, index sizes, model, uptime, call counts");
  cmd->add_flag("--json", *json, "Print JSON");
  ctx.OnRun(cmd, [&ctx, json] { return Stats(ctx, *json); });
}

}  // namespace

LINKCTL_COMMAND(40, RegisterStats);

}  // namespace linkage::cli
