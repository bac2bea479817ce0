// linkctl check: whether the index and the records agree; exit 1 on any
// problem, listed on stdout.
#include <cstdio>

#include "base/status_macros.h"
#include "command.h"

namespace linkage::cli {
namespace {

absl::Status Check(CommandContext& ctx) {
  LINKD_ASSIGN_OR_RETURN(
      const v1::CheckIndexResponse r,
      Call(ctx, "CheckIndex", &AdminStub::CheckIndex, v1::CheckIndexRequest(), ctx.job_timeout()));
  std::printf("checked %s records, %s block entries, %s id entries: %s problems\n",
              FormatCount(r.records()).c_str(), FormatCount(r.block_entries()).c_str(),
              FormatCount(r.id_entries()).c_str(), FormatCount(r.problem_count()).c_str());
  for (const auto& p : r.problems()) std::printf("  %s\n", p.c_str());
  return r.problem_count() == 0 ? absl::OkStatus() : AlreadyReported();
}

void RegisterCheck(CLI::App& app, CommandContext& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "check", "Verify that the index and the records agree (exit 1 on any problem)");
  ctx.OnRun(cmd, [&ctx] { return Check(ctx); });
}

}  // namespace

LINKCTL_COMMAND(60, RegisterCheck);

}  // namespace linkage::cli
