// linkctl match: one person, ranked candidates with each field's
// contribution.
#include <cstdio>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "command.h"
#include "linkage/domain.h"
#include "linkage/person_io.h"
#include "linkage/v1/service.grpc.pb.h"

namespace linkage::cli {
namespace {

struct MatchOptions {
  std::string dataset = "register";
  std::string name, dob, sex, id, old_id, address, commune, unit_version, json_record;
  int top = 5;
  bool json = false;
  bool records = false;
};

const char* BandName(v1::Band b) {
  return b == v1::BAND_MATCH ? "MATCH" : b == v1::BAND_REVIEW ? "REVIEW" : "NO_MATCH";
}

absl::Status Match(CommandContext& ctx, const MatchOptions& o) {
  v1::MatchRequest req;
  req.set_dataset(o.dataset);
  req.set_top_k(o.top);
  req.set_include_records(o.records);
  v1::PersonRecord& r = *req.mutable_record();
  if (!o.json_record.empty()) {
    auto parsed = domain::PersonFromJson(o.json_record, 1);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError("--json-record: " + std::string(parsed.status().message()));
    }
    r = *parsed;
  }
  if (!o.name.empty()) r.set_full_name(o.name);
  if (!o.dob.empty()) r.set_birth_date(o.dob);
  if (!o.id.empty()) r.set_national_id(o.id);
  if (!o.old_id.empty()) r.set_old_id(o.old_id);
  if (!o.address.empty()) r.set_address(o.address);
  if (!o.commune.empty()) r.set_commune_code(o.commune);
  if (!o.sex.empty()) {
    auto sex = domain::ParseSex(o.sex);
    if (!sex.ok())
      return absl::InvalidArgumentError("--sex: " + std::string(sex.status().message()));
    r.set_sex(*sex);
  }
  if (!o.unit_version.empty()) {
    LINKD_ASSIGN_OR_RETURN(const v1::UnitVersion v, domain::ParseUnitVersion(o.unit_version));
    r.set_unit_version(v);
  }
  if (r.full_name().empty())
    return absl::InvalidArgumentError("give a name (--name) or a record (--json-record)");

  LINKD_ASSIGN_OR_RETURN(const v1::MatchResponse resp,
                         Call(ctx, "Match", &LinkageStub::Match, req));
  if (o.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return absl::OkStatus();
  }
  const v1::MatchResult& m = resp.result();
  std::printf("query      %s\n", absl::StrJoin(m.query().name().tokens(), " ").c_str());
  std::printf("decision   %s", BandName(m.band()));
  if (m.candidates_size() > 1) std::printf("  (margin %.1f bits to the second)", m.margin_bits());
  std::printf("\nflags      %s\n", m.flags_size() ? absl::StrJoin(m.flags(), " ").c_str() : "-");
  std::printf("model      %s%s; %d candidates scored\n", m.model_version().c_str(),
              m.uncalibrated() ? " (probabilities not calibrated on labelled data)" : "",
              m.candidates_scored());
  if (m.candidates_size() == 0) std::printf("\nno candidate found\n");
  for (int i = 0; i < m.candidates_size(); ++i) {
    const v1::Candidate& c = m.candidates(i);
    std::printf("\n#%d %-14s p=%.6f  weight %+.2f bits  %s  (found by %s)\n", i + 1,
                c.record_id().c_str(), c.probability(), c.match_weight(), BandName(c.band()),
                absl::StrJoin(c.blocking_rules(), ",").c_str());
    for (const v1::FieldContribution& fc : c.contributions()) {
      std::printf("   %-12s %-18s %+7.2f   %s | %s\n", fc.field().c_str(), fc.level().c_str(),
                  fc.weight_bits(), fc.query_value().empty() ? "-" : fc.query_value().c_str(),
                  fc.candidate_value().empty() ? "-" : fc.candidate_value().c_str());
    }
  }
  return absl::OkStatus();
}

void RegisterMatch(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<MatchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "match", "Find one person: ranked candidates with each field's contribution");
  cmd->add_option("--dataset", o->dataset, "Dataset to search")->capture_default_str();
  cmd->add_option("--name", o->name, "Full name");
  cmd->add_option("--dob", o->dob, "Date of birth (dd/mm/yyyy, yyyy, ...)");
  cmd->add_option("--sex", o->sex, "Nam/Nữ, M/F");
  cmd->add_option("--id", o->id, "National ID (CCCD)");
  cmd->add_option("--old-id", o->old_id, "Old ID (CMND)");
  cmd->add_option("--address", o->address, "Address text");
  cmd->add_option("--commune", o->commune, "Commune code");
  cmd->add_option("--unit-version", o->unit_version, "2025 or pre2025");
  cmd->add_option("--json-record", o->json_record,
                  "The record as a JSON object (same field names as CSV)");
  cmd->add_option("--top", o->top, "Candidates to show")->capture_default_str();
  cmd->add_flag("--records", o->records, "Include each candidate's stored record (with --json)");
  cmd->add_flag("--json", o->json, "Print the MatchResponse as JSON");
  ctx.OnRun(cmd, [&ctx, o] { return Match(ctx, *o); });
}

}  // namespace

LINKCTL_COMMAND(30, RegisterMatch);

}  // namespace linkage::cli
