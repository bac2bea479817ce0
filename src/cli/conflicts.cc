// linkctl conflicts: identity conflicts of a list against the register (IDs
// held by someone else, claimed twice, register people matched twice), as a
// CSV file an officer works through.
#include <cstdio>
#include <fstream>
#include <map>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "command.h"
#include "linkage/csv.h"

namespace linkage::cli {
namespace {

struct ConflictsOptions {
  std::string dataset;  // the list
  std::string against = "register";
  std::string output = "conflicts.csv";
};

// Fields with the two values, for an officer: name=else(-5.0) "a" | "b".
std::string ExplainWithValues(
    const google::protobuf::RepeatedPtrField<v1::FieldContribution>& fields) {
  std::vector<std::string> parts;
  for (const v1::FieldContribution& f : fields) {
    if (f.level() == "null") continue;
    parts.push_back(absl::StrFormat("%s=%s(%+.1f) \"%s\" | \"%s\"", f.field(), f.level(),
                                    f.weight_bits(), f.query_value(), f.candidate_value()));
  }
  return absl::StrJoin(parts, "; ");
}

absl::Status Conflicts(CommandContext& ctx, const ConflictsOptions& o) {
  v1::FindConflictsRequest req;
  req.set_dataset(o.dataset);
  req.set_against(o.against);
  LINKD_ASSIGN_OR_RETURN(
      const v1::FindConflictsResponse resp,
      Call(ctx, "FindConflicts", &AdminStub::FindConflicts, req, ctx.job_timeout()));
  std::ofstream out(o.output, std::ios::trunc);
  if (!out) return absl::PermissionDeniedError("cannot write " + o.output);
  out << "kind,national_id,record_id,other_dataset,other_record_id,probability,detail,fields\n";
  std::map<std::string, int64_t> kinds;
  for (const v1::IdentityConflict& c : resp.conflicts()) {
    ++kinds[c.kind()];
    out << c.kind() << ',' << CsvQuote(c.national_id()) << ',' << CsvQuote(c.record_id()) << ','
        << CsvQuote(c.other_dataset()) << ',' << CsvQuote(c.other_record_id()) << ','
        << absl::StrFormat("%.6f", c.probability()) << ',' << CsvQuote(c.detail()) << ','
        << CsvQuote(ExplainWithValues(c.fields())) << '\n';
  }
  out.close();
  std::printf(
      "identity conflicts of \"%s\" against \"%s\" (model %s): %s records checked, %s rows\n",
      o.dataset.c_str(), o.against.c_str(), resp.model_version().c_str(),
      FormatCount(resp.records()).c_str(), FormatCount(resp.conflicts_size()).c_str());
  for (const auto& [kind, n] : kinds)
    std::printf("  %-18s %8s\n", kind.c_str(), FormatCount(n).c_str());
  std::printf("conflicts: %s\n", o.output.c_str());
  return absl::OkStatus();
}

void RegisterConflicts(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<ConflictsOptions>();
  CLI::App* cmd = app.add_subcommand("conflicts",
                                     "Identity conflicts of a list: IDs held by someone "
                                     "else, claimed twice, register people matched twice");
  cmd->add_option("--dataset", o->dataset, "The list dataset")->required();
  cmd->add_option("--against", o->against, "The register dataset")->capture_default_str();
  cmd->add_option("--output", o->output, "Conflicts CSV to write")->capture_default_str();
  ctx.OnRun(cmd, [&ctx, o] { return Conflicts(ctx, *o); });
}

}  // namespace

LINKCTL_COMMAND(120, RegisterConflicts);

}  // namespace linkage::cli
