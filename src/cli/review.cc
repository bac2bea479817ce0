// linkctl review: the clerical review queue. `export` writes each REVIEW
// result of a verify run with the list record and the register record side
// by side and each field's contribution, and columns for the officer's
// decision; `labels` turns the officer's decisions into labels that
// `linkctl calibrate` reads (calibrate also reads the review file itself).
#include "review.h"

#include <cstdio>
#include <fstream>
#include <map>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "bulk_match.h"
#include "command.h"
#include "linkage/csv.h"
#include "person_reader.h"

namespace linkage::cli {
namespace {

struct ReviewOptions {
  std::string results;  // export: verify output
  std::string input;    // export: the list verified; labels: the review file
  std::string against = "register";
  std::string output;
};

std::string SexName(v1::Sex s) {
  return s == v1::SEX_MALE ? "Nam" : s == v1::SEX_FEMALE ? "Nữ" : "";
}

// The raw fields shown side by side.
const std::vector<std::pair<std::string, std::function<std::string(const v1::PersonRecord&)>>>&
ShownFields() {
  static const auto* fields =
      new std::vector<std::pair<std::string, std::function<std::string(const v1::PersonRecord&)>>>{
          {"full_name", [](const v1::PersonRecord& r) { return r.full_name(); }},
          {"birth_date", [](const v1::PersonRecord& r) { return r.birth_date(); }},
          {"sex", [](const v1::PersonRecord& r) { return SexName(r.sex()); }},
          {"national_id", [](const v1::PersonRecord& r) { return r.national_id(); }},
          {"old_id", [](const v1::PersonRecord& r) { return r.old_id(); }},
          {"address", [](const v1::PersonRecord& r) { return r.address(); }},
          {"phone", [](const v1::PersonRecord& r) { return r.phone(); }},
      };
  return *fields;
}

absl::Status Export(CommandContext& ctx, const ReviewOptions& o) {
  LINKD_ASSIGN_OR_RETURN(auto results, ReadCsvTable(o.results));
  std::map<std::string, std::map<std::string, std::string>> review;  // record_id -> result row
  for (auto& r : results) {
    if (r["decision"] == "REVIEW") review[r["record_id"]] = r;
  }
  LINKD_ASSIGN_OR_RETURN(std::vector<v1::PersonRecord> records,
                         ReadAllRecords(o.input, [&review](const v1::PersonRecord& r) {
                           return review.count(r.record_id()) > 0;
                         }));

  std::ofstream out(o.output, std::ios::trunc);
  if (!out) return absl::PermissionDeniedError("cannot write " + o.output);
  out << "record_id,candidate_record_id,probability,reasons,flags";
  for (const auto& [name, get] : ShownFields()) out << ",list_" << name << ",register_" << name;
  out << ",contributions,officer_decision,officer_note\n";
  int64_t written = 0;
  // Writes one REVIEW result with the register record it names.
  auto write = [&](BulkResult result) -> absl::Status {
    const v1::PersonRecord& list = result.row.record;
    const v1::MatchStreamResponse& a = *result.response;
    if (a.error_code() != 0) return absl::OkStatus();
    std::string target = a.has_verification() ? a.verification().record_id() : "";
    if (target.empty() && a.result().candidates_size() > 0)
      target = a.result().candidates(0).record_id();
    const v1::Candidate* cand = nullptr;
    for (const v1::Candidate& c : a.result().candidates()) {
      if (c.record_id() == target) cand = &c;
    }
    v1::PersonRecord reg;
    if (!target.empty()) {
      v1::GetRecordRequest get;
      get.set_dataset(o.against);
      get.set_record_id(target);
      auto got = Call(ctx, "GetRecord", &LinkageStub::GetRecord, get);
      if (got.ok()) {
        reg = std::move(*got->mutable_record());
      } else if (!absl::IsNotFound(got.status())) {
        return got.status();
      }
    }
    std::vector<std::string> reasons, flags, contributions;
    if (a.has_verification()) {
      reasons.assign(a.verification().reasons().begin(), a.verification().reasons().end());
      flags.assign(a.verification().flags().begin(), a.verification().flags().end());
    } else {
      flags.assign(a.result().flags().begin(), a.result().flags().end());
    }
    if (cand != nullptr) {
      for (const v1::FieldContribution& f : cand->contributions()) {
        contributions.push_back(
            absl::StrFormat("%s=%s(%+.1f)", f.field(), f.level(), f.weight_bits()));
      }
    }
    const double p = a.has_verification() ? a.verification().probability()
                     : cand               ? cand->probability()
                                          : 0;
    out << CsvQuote(list.record_id()) << ',' << CsvQuote(target) << ','
        << absl::StrFormat("%.6f", p) << ',' << CsvQuote(absl::StrJoin(reasons, "; ")) << ','
        << CsvQuote(absl::StrJoin(flags, ";"));
    for (const auto& [name, get] : ShownFields())
      out << ',' << CsvQuote(get(list)) << ',' << CsvQuote(get(reg));
    out << ',' << CsvQuote(absl::StrJoin(contributions, " ")) << ",,\n";
    ++written;
    return absl::OkStatus();
  };
  // Verify each again with explanations (values shown).
  auto fill = [&o](const ReadRow&, v1::MatchStreamRequest* req) {
    req->set_dataset(o.against);
    req->set_top_k(2);
    req->set_verify_claimed_id(true);
  };
  LINKD_RETURN_IF_ERROR(
      BulkMatch(ctx.channel(), BulkMatchOptions(), RecordSource(std::move(records)), fill, write)
          .status());
  std::printf("review queue: %s REVIEW results of %s -> %s\n", FormatCount(written).c_str(),
              o.results.c_str(), o.output.c_str());
  std::printf(
      "fill officer_decision with \"same\" or \"different\", then: linkctl calibrate --results %s "
      "--truth %s\n",
      o.results.c_str(), o.output.c_str());
  return absl::OkStatus();
}

absl::Status Labels(const ReviewOptions& o) {
  LINKD_ASSIGN_OR_RETURN(auto rows, ReadCsvTable(o.input));
  std::ofstream out(o.output, std::ios::trunc);
  if (!out) return absl::PermissionDeniedError("cannot write " + o.output);
  out << "record_id,truth_record_id\n";
  int64_t same = 0, different = 0, skipped = 0;
  for (auto& r : rows) {
    LINKD_ASSIGN_OR_RETURN(const std::optional<std::string> label, ReviewLabel(r));
    if (!label.has_value()) {
      ++skipped;
      continue;
    }
    (*label == r["candidate_record_id"] ? same : different) += 1;
    out << CsvQuote(r["record_id"]) << ',' << CsvQuote(*label) << '\n';
  }
  std::printf("labels: %s same, %s different, %s not decided -> %s\n", FormatCount(same).c_str(),
              FormatCount(different).c_str(), FormatCount(skipped).c_str(), o.output.c_str());
  return absl::OkStatus();
}

void RegisterReview(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<ReviewOptions>();
  CLI::App* cmd = app.add_subcommand(
      "review", "Clerical review queue: export REVIEW results, import decisions");
  cmd->require_subcommand(1);
  CLI::App* out = cmd->add_subcommand(
      "export", "REVIEW results side by side with each field's contribution, to decide");
  out->add_option("--results", o->results, "verify output")->required();
  out->add_option("--input", o->input, "The list that was verified")->required();
  out->add_option("--against", o->against, "The register dataset")->capture_default_str();
  out->add_option("--output", o->output, "Review file to write")->required();
  ctx.OnRun(out, [&ctx, o] { return Export(ctx, *o); });
  CLI::App* labels = cmd->add_subcommand(
      "labels", "The officer's decisions as calibration labels (record_id,truth_record_id)");
  labels->add_option("--input", o->input, "Review file with officer_decision filled")->required();
  labels->add_option("--output", o->output, "Labels CSV to write")->required();
  ctx.OnRun(labels, [o] { return Labels(*o); });
}

}  // namespace

LINKCTL_COMMAND(130, RegisterReview);

absl::StatusOr<std::optional<std::string>> ReviewLabel(std::map<std::string, std::string>& row) {
  std::string d = row["officer_decision"];
  for (char& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (d.empty()) return std::optional<std::string>();
  if (d == "same" || d == "s" || d == "yes")
    return std::optional<std::string>(row["candidate_record_id"]);
  // The candidate is not the person: a label that matches no record.
  if (d == "different" || d == "d" || d == "no")
    return std::optional<std::string>("(not " + row["candidate_record_id"] + ")");
  return absl::InvalidArgumentError("record \"" + row["record_id"] + "\": officer_decision \"" +
                                    row["officer_decision"] + "\" is neither same nor different");
}

}  // namespace linkage::cli
