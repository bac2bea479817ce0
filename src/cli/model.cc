// linkctl model show | export | import: the model in force.
#include "linkage/model.h"

#include <cmath>
#include <cstdio>
#include <fstream>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "command.h"

namespace linkage::cli {
namespace {

absl::Status Show(CommandContext& ctx, bool json) {
  LINKD_ASSIGN_OR_RETURN(const v1::Model m, FetchModel(ctx));
  if (json) {
    std::printf("%s\n", ToJson(m).c_str());
    return absl::OkStatus();
  }
  std::printf(
      "model %s (spec %s), prior %s, %s\n", m.version().c_str(), m.spec().name().c_str(),
      m.prior() > 0 ? absl::StrFormat("%.3g", m.prior()).c_str() : "auto (1 / register size)",
      m.calibrated() ? "calibrated" : "not calibrated");
  if (m.calibrated()) {
    std::printf("calibration: fitted on %s, ECE %.4f before, %.4f after (%d points)\n",
                m.calibration().fitted_on().c_str(), m.calibration().ece_before(),
                m.calibration().ece_after(), m.calibration().raw_size());
  }
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
  return absl::OkStatus();
}

absl::Status Export(CommandContext& ctx, const std::string& file) {
  LINKD_ASSIGN_OR_RETURN(const v1::Model model, FetchModel(ctx));
  std::string json = ToJson(model);
  if (file.empty() || file == "-") {
    std::printf("%s\n", json.c_str());
    return absl::OkStatus();
  }
  std::ofstream out(file, std::ios::trunc);
  out << json << "\n";
  if (!out) return absl::PermissionDeniedError("cannot write " + file);
  std::printf("model %s written to %s\n", model.version().c_str(), file.c_str());
  return absl::OkStatus();
}

absl::Status Import(CommandContext& ctx, const std::string& file) {
  v1::SetModelRequest req;
  LINKD_ASSIGN_OR_RETURN(*req.mutable_model(), model::LoadModelFile(file));
  LINKD_ASSIGN_OR_RETURN(const v1::SetModelResponse resp,
                         Call(ctx, "SetModel", &AdminStub::SetModel, req));
  std::printf("model %s installed (was %s)\n", req.model().version().c_str(),
              resp.previous_version().c_str());
  return absl::OkStatus();
}

void RegisterModel(CLI::App& app, CommandContext& ctx) {
  CLI::App* cmd = app.add_subcommand("model", "Model commands");
  cmd->require_subcommand(1);

  auto json = std::make_shared<bool>(false);
  CLI::App* show = cmd->add_subcommand("show", "Each field's levels with m, u and weight in bits");
  show->add_flag("--json", *json, "Print the model as JSON");
  ctx.OnRun(show, [&ctx, json] { return Show(ctx, *json); });

  auto file = std::make_shared<std::string>();
  CLI::App* out = cmd->add_subcommand("export", "Write the model in force as JSON");
  out->add_option("file", *file, "Output file (default: stdout)");
  ctx.OnRun(out, [&ctx, file] { return Export(ctx, *file); });

  CLI::App* in = cmd->add_subcommand("import", "Install a model (JSON or text format)");
  in->add_option("file", *file, "Model file (.json, else text format)")->required();
  ctx.OnRun(in, [&ctx, file] { return Import(ctx, *file); });
}

}  // namespace

LINKCTL_COMMAND(70, RegisterModel);

}  // namespace linkage::cli
