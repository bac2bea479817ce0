// linkctl reindex: rebuild the index for a model's blocking rules while
// serving (or resume an interrupted reindex), showing progress.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "base/status_macros.h"
#include "command.h"
#include "linkage/model.h"

namespace linkage::cli {
namespace {

absl::Status Reindex(CommandContext& ctx, const std::string& model_file) {
  v1::ReindexRequest req;
  if (!model_file.empty()) {
    LINKD_ASSIGN_OR_RETURN(*req.mutable_model(), model::LoadModelFile(model_file));
  }
  absl::StatusOr<v1::ReindexResponse> resp;
  std::atomic<bool> done{false};
  std::thread call([&] {
    resp = Call(ctx, "Reindex", &AdminStub::Reindex, req, 24 * 3600);
    done = true;
  });
  Progress progress("reindexed");
  while (!done.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    auto stats = Call(ctx, "GetStats", &AdminStub::GetStats, v1::GetStatsRequest(), 5);
    if (stats.ok() && stats->reindex_in_progress()) {
      progress.Update(stats->reindex_done(), stats->reindex_total() > 0
                                                 ? static_cast<double>(stats->reindex_done()) /
                                                       static_cast<double>(stats->reindex_total())
                                                 : -1);
    }
  }
  call.join();
  progress.Finish();
  LINKD_RETURN_IF_ERROR(resp.status());
  std::printf("%s %s records into index generation %u; model %s (was %s)\n",
              resp->resumed() ? "resumed and finished:" : "reindexed",
              FormatCount(resp->records()).c_str(), resp->generation(), resp->version().c_str(),
              resp->previous_version().c_str());
  return absl::OkStatus();
}

void RegisterReindex(CLI::App& app, CommandContext& ctx) {
  auto model_file = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "reindex",
      "Rebuild the index for a model's blocking rules while serving (resumes an interrupted one)");
  cmd->add_option("--model", *model_file,
                  "Model file (.json or text); default: the model in force");
  ctx.OnRun(cmd, [&ctx, model_file] { return Reindex(ctx, *model_file); });
}

}  // namespace

LINKCTL_COMMAND(160, RegisterReindex);

}  // namespace linkage::cli
