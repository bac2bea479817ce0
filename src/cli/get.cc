// linkctl get: one stored record as JSON.
#include <cstdio>

#include "base/status_macros.h"
#include "command.h"

namespace linkage::cli {
namespace {

struct GetOptions {
  std::string dataset = "register";
  std::string record_id;
  bool normalized = false;
};

absl::Status Get(CommandContext& ctx, const GetOptions& o) {
  v1::GetRecordRequest req;
  req.set_dataset(o.dataset);
  req.set_record_id(o.record_id);
  req.set_include_normalized(o.normalized);
  LINKD_ASSIGN_OR_RETURN(const v1::GetRecordResponse resp,
                         Call(ctx, "GetRecord", &LinkageStub::GetRecord, req));
  std::printf("%s\n", ToJson(resp).c_str());
  return absl::OkStatus();
}

void RegisterGet(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<GetOptions>();
  CLI::App* cmd = app.add_subcommand("get", "Print one stored record as JSON");
  cmd->add_option("--dataset", o->dataset, "Dataset")->capture_default_str();
  cmd->add_option("record_id", o->record_id, "Record id")->required();
  cmd->add_flag("--normalized", o->normalized, "Include the normalized form");
  ctx.OnRun(cmd, [&ctx, o] { return Get(ctx, *o); });
}

}  // namespace

LINKCTL_COMMAND(50, RegisterGet);

}  // namespace linkage::cli
