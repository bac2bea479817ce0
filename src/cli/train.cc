// linkctl train: fit m and u to the data (EM on blocked pairs, no labels)
// and install the model, or show it (--dry-run).
#include <cmath>
#include <cstdio>
#include <fstream>

#include "base/status_macros.h"
#include "command.h"

namespace linkage::cli {
namespace {

struct TrainOptions {
  std::string dataset = "register";
  std::string link;  // list dataset; empty: deduplicate
  int64_t queries = 5000;
  int64_t u_pairs = 300000;
  uint64_t seed = 1;
  bool dry_run = false;
  std::string output;  // write the trained model as JSON
};

void PrintParams(const v1::Model& before, const v1::Model& after) {
  for (int f = 0; f < after.fields_size(); ++f) {
    std::printf("\n%-20s %9s %9s %8s   (before: m, u, bits)\n", after.fields(f).field().c_str(),
                "m", "u", "bits");
    for (int l = 0; l < after.fields(f).levels_size(); ++l) {
      const auto& a = after.fields(f).levels(l);
      const auto& b = before.fields(f).levels(l);
      std::printf("  %-18s %9.4g %9.3g %+8.2f   (%.4g, %.3g, %+.2f)\n", a.label().c_str(), a.m(),
                  a.u(), std::log2(a.m() / a.u()), b.m(), b.u(), std::log2(b.m() / b.u()));
    }
  }
}

absl::Status Train(CommandContext& ctx, const TrainOptions& o) {
  LINKD_ASSIGN_OR_RETURN(const v1::Model before, FetchModel(ctx));
  v1::TrainModelRequest req;
  req.set_dataset(o.dataset);
  req.set_link_dataset(o.link);
  req.set_max_queries(o.queries);
  req.set_u_pairs(o.u_pairs);
  req.set_seed(o.seed);
  req.set_dry_run(o.dry_run);
  LINKD_ASSIGN_OR_RETURN(const v1::TrainModelResponse resp,
                         Call(ctx, "TrainModel", &AdminStub::TrainModel, req, ctx.job_timeout()));
  std::printf(
      "trained %s on %s: u from %s random pairs; m by EM on %s blocked pairs of %s records "
      "(at most %d iterations, %s)\n",
      resp.model().version().c_str(),
      o.link.empty() ? ("\"" + o.dataset + "\" against itself").c_str()
                     : ("\"" + o.link + "\" against \"" + o.dataset + "\"").c_str(),
      FormatCount(resp.u_pairs()).c_str(), FormatCount(resp.m_pairs()).c_str(),
      FormatCount(resp.queries()).c_str(), resp.iterations(),
      resp.converged() ? "converged" : "NOT converged");
  for (const auto& s : resp.sessions()) std::printf("  %s\n", s.c_str());
  std::printf("estimated share of records whose person is there: %.4f (prior %.3g per pair)\n",
              resp.match_share(), resp.model().prior());
  PrintParams(before, resp.model());
  if (resp.installed()) {
    std::printf("\ninstalled (was %s); probabilities are uncalibrated until `linkctl calibrate`\n",
                resp.previous_version().c_str());
  } else {
    std::printf("\ndry run: not installed\n");
  }
  if (!o.output.empty()) {
    std::ofstream(o.output, std::ios::trunc) << ToJson(resp.model()) << "\n";
    std::printf("written to %s\n", o.output.c_str());
  }
  return absl::OkStatus();
}

void RegisterTrain(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* cmd = app.add_subcommand(
      "train", "Fit m and u to the data (EM on blocked pairs) and install the model");
  cmd->add_option("--dataset", o->dataset, "Register dataset")->capture_default_str();
  cmd->add_option("--link", o->link,
                  "List dataset to link to it (default: deduplicate the register)");
  cmd->add_option("--queries", o->queries, "Records whose blocked pairs train m")
      ->capture_default_str();
  cmd->add_option("--u-pairs", o->u_pairs, "Random pairs for u")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Sampling seed")->capture_default_str();
  cmd->add_flag("--dry-run", o->dry_run, "Show the trained model without installing it");
  cmd->add_option("--output", o->output, "Also write the trained model (JSON)");
  ctx.OnRun(cmd, [&ctx, o] { return Train(ctx, *o); });
}

}  // namespace

LINKCTL_COMMAND(140, RegisterTrain);

}  // namespace linkage::cli
