#include <cstdio>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "commands.h"
#include "linkage/domain.h"
#include "linkage/person_io.h"
#include "linkage/v1/service.grpc.pb.h"

namespace linkage::cli {
namespace {

const char* BandName(v1::Band b) {
  return b == v1::BAND_MATCH ? "MATCH" : b == v1::BAND_REVIEW ? "REVIEW" : "NO_MATCH";
}

}  // namespace

int RunMatch(const GlobalOptions& global, const MatchCommandOptions& o) {
  v1::MatchRequest req;
  req.set_dataset(o.dataset);
  req.set_top_k(o.top);
  req.set_include_records(o.records);
  v1::PersonRecord& r = *req.mutable_record();
  if (!o.json_record.empty()) {
    auto parsed = domain::PersonFromJson(o.json_record, 1);
    if (!parsed.ok()) return Fail("--json-record: " + std::string(parsed.status().message()));
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
    if (!sex.ok()) return Fail("--sex: " + std::string(sex.status().message()));
    r.set_sex(*sex);
  }
  if (!o.unit_version.empty()) {
    auto v = domain::ParseUnitVersion(o.unit_version);
    if (!v.ok()) return Fail(std::string(v.status().message()));
    r.set_unit_version(*v);
  }
  if (r.full_name().empty()) return Fail("give a name (--name) or a record (--json-record)");

  auto stub = v1::LinkageService::NewStub(Connect(global));
  grpc::ClientContext ctx;
  SetDeadline(ctx, global.timeout_seconds);
  v1::MatchResponse resp;
  grpc::Status st = stub->Match(&ctx, req, &resp);
  if (!st.ok()) return FailRpc("Match", st);
  if (o.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return kOk;
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
  return kOk;
}

}  // namespace linkage::cli
