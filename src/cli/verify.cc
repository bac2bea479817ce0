// linkctl verify: a whole list against a dataset, one output row per input
// row, written in input order so that --resume can continue a killed run.
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "bulk_match.h"
#include "command.h"
#include "linkage/csv.h"
#include "linkage/flags.h"
#include "linkage/v1/service.grpc.pb.h"
#include "person_reader.h"

namespace linkage::cli {
namespace {

struct VerifyOptions {
  std::string against;
  std::string input;
  std::string output;
  std::string format;
  std::string errors_file;  // Default: OUTPUT.errors.csv
  int streams = 2;
  int in_flight = 256;            // Records per stream.
  int batch = 64;                 // Records per message.
  std::vector<std::string> maps;  // As for import.
  DateFlags dates;
  bool exclude_self = false;  // Matching a dataset against itself.
  // Continue an interrupted run: keep the complete rows already in the
  // output (dropping a torn last line), skip that many input records, append.
  bool resume = false;
  // Queue the REVIEW rows (and a calibration sample) on the review desk.
  std::string review;
  double review_sample = 0.01;
};

// One output row (DESIGN.md §6).
struct OutputRow {
  std::string record_id;
  std::string decision;  // MATCH | REVIEW | NO_MATCH
  double probability = 0;
  double match_weight = 0;
  std::string best, second;
  double second_probability = 0;
  std::vector<std::string> flags;
  std::string error;  // For the errors file.
  int64_t line = 0;
};

std::string BandName(v1::Band b) {
  return b == v1::BAND_MATCH ? "MATCH" : b == v1::BAND_REVIEW ? "REVIEW" : "NO_MATCH";
}

OutputRow FromResponse(const std::string& record_id, const v1::MatchStreamResponse& r) {
  OutputRow row;
  row.record_id = record_id;
  if (r.error_code() != 0) {
    row.decision = "NO_MATCH";
    row.flags.push_back(r.error_code() == static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT)
                            ? flag::kInvalidRecord
                            : "ERROR");
    row.error = r.error_message();
    return row;
  }
  const v1::MatchResult& m = r.result();
  std::set<std::string> flags(m.flags().begin(), m.flags().end());
  const v1::Candidate* best = m.candidates_size() > 0 ? &m.candidates(0) : nullptr;
  if (r.has_verification()) {
    const v1::Verification& v = r.verification();
    flags = std::set<std::string>(v.flags().begin(), v.flags().end());
    row.decision = v.decision() == v1::VERIFIED ? "MATCH"
                   : v.decision() == v1::REVIEW ? "REVIEW"
                                                : "NO_MATCH";
    row.probability = v.probability();
    row.best = v.record_id();
    best = nullptr;
    for (const v1::Candidate& c : m.candidates()) {
      if (c.record_id() == v.record_id()) best = &c;
    }
    if (best != nullptr) row.match_weight = best->match_weight();
  } else {
    row.decision = BandName(m.band());
    if (best != nullptr) {
      row.probability = best->probability();
      row.match_weight = best->match_weight();
      row.best = best->record_id();
    }
  }
  for (const v1::Candidate& c : m.candidates()) {
    if (c.record_id() != row.best && (best == nullptr || c.record_id() != best->record_id())) {
      row.second = c.record_id();
      row.second_probability = c.probability();
      break;
    }
  }
  row.flags.assign(flags.begin(), flags.end());
  return row;
}

// Keeps the header and the complete rows of an interrupted output file
// (truncating a torn last line) and returns how many rows it holds.
absl::StatusOr<int64_t> KeepCompleteRows(const std::string& path, std::string_view header) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string content = ss.str();
  if (content.empty()) return 0;
  if (content.compare(0, header.size(), header) != 0) {
    return absl::FailedPreconditionError(
        path + " is not a verify output file: refusing to resume into it");
  }
  // Rows are one line each (quoted fields never hold line breaks here).
  const size_t end = content.rfind('\n') + 1;
  int64_t rows = -1;  // The header.
  for (size_t i = 0; i < end; ++i) rows += content[i] == '\n';
  std::filesystem::resize_file(path, end);
  return rows;
}

absl::Status Verify(CommandContext& ctx, const VerifyOptions& options) {
  if (options.streams < 1 || options.in_flight < 1 || options.batch < 1 || options.batch > 10000) {
    return absl::InvalidArgumentError(
        "--streams and --in-flight must be at least 1, --batch 1..10000");
  }
  LINKD_ASSIGN_OR_RETURN(std::unique_ptr<PersonReader> reader,
                         PersonReader::Open(options.input, options.format));
  LINKD_RETURN_IF_ERROR(reader->SetMappings(options.maps));
  static constexpr char kHeader[] =
      "record_id,decision,probability,match_weight,best_record_id,second_record_id,second_"
      "probability,flags\n";
  // Rows are written in input order, so an interrupted output file is a
  // prefix of the full one: a resumed run keeps its complete lines and
  // skips as many input records.
  int64_t skip = 0;
  if (options.resume && std::filesystem::exists(options.output)) {
    LINKD_ASSIGN_OR_RETURN(skip, KeepCompleteRows(options.output, kHeader));
  }
  std::ofstream out(options.output, skip > 0 || options.resume ? std::ios::app : std::ios::trunc);
  if (!out) return absl::PermissionDeniedError("cannot write " + options.output);
  if (out.tellp() == 0) out << kHeader;
  const std::string errors_path =
      options.errors_file.empty() ? options.output + ".errors.csv" : options.errors_file;
  std::ofstream errors;
  int64_t written = 0;

  Progress progress("verified");
  std::atomic<double> fraction{-1};  // Of the input read.
  const auto start = std::chrono::steady_clock::now();
  // Writes each row, in input order.
  auto write = [&](BulkResult result) {
    OutputRow row;
    if (result.response) {
      row = FromResponse(result.row.record.record_id(), *result.response);
    } else {
      row.record_id = result.row.record.record_id();
      row.decision = "NO_MATCH";
      row.flags.push_back(flag::kInvalidRecord);
      row.error = result.row.error;
    }
    row.line = result.row.line;
    // One line per row, always (resume counts lines): an unreadable row's
    // id may hold control characters.
    for (char& c : row.record_id) {
      if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    }
    out << CsvQuote(row.record_id) << ',' << row.decision << ','
        << absl::StrFormat("%.6f", row.probability) << ','
        << absl::StrFormat("%.3f", row.match_weight) << ',' << CsvQuote(row.best) << ','
        << CsvQuote(row.second) << ',' << absl::StrFormat("%.6f", row.second_probability) << ','
        << CsvQuote(absl::StrJoin(row.flags, ";")) << '\n';
    if (++written % 500 == 0) out.flush();  // Progress a resumed run can keep.
    if (!row.error.empty()) {
      if (!errors.is_open()) {
        errors.open(errors_path, options.resume ? std::ios::app : std::ios::trunc);
        if (errors.tellp() == 0) errors << "line,record_id,error\n";
      }
      errors << row.line << ',' << CsvQuote(row.record_id) << ',' << CsvQuote(row.error) << '\n';
    }
    progress.Update(written, fraction.load());
    return absl::OkStatus();
  };
  // The input, less the rows already in the output from an earlier run.
  auto source = [&](std::vector<ReadRow>* rows) -> absl::StatusOr<bool> {
    std::vector<ReadRow> chunk;
    LINKD_ASSIGN_OR_RETURN(const bool more, reader->Next(512, &chunk));
    if (reader->file_size() > 0) {
      fraction =
          static_cast<double>(reader->bytes_read()) / static_cast<double>(reader->file_size());
    }
    for (ReadRow& row : chunk) {
      if (skip > 0) {
        --skip;
        continue;
      }
      rows->push_back(std::move(row));
    }
    return more;
  };
  auto fill = [&options](const ReadRow& row, v1::MatchStreamRequest* req) {
    req->set_dataset(options.against);
    req->set_verify_claimed_id(true);
    req->set_omit_explanation(true);
    req->set_top_k(2);
    req->set_strict_dates(options.dates.strict);
    if (options.exclude_self) req->set_exclude_record_id(row.record.record_id());
    if (!options.review.empty()) {
      req->set_review_dataset(options.review);
      req->set_review_sample_rate(options.review_sample);
    }
  };
  BulkMatchOptions bulk;
  bulk.streams = options.streams;
  bulk.in_flight = options.in_flight;
  bulk.batch = options.batch;
  bulk.what = "verification";
  const BulkMatchRun run = BulkMatch(ctx.channel(), bulk, source, fill, write);
  progress.Finish();
  out.close();

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The summary covers the whole output file, so a resumed job ends with
  // the same summary as an uninterrupted one.
  std::map<std::string, int64_t> decisions, flag_counts;
  int64_t total = 0;
  {
    LINKD_ASSIGN_OR_RETURN(auto table, ReadCsvTable(options.output));
    for (auto& row : table) {
      ++total;
      ++decisions[row["decision"]];
      for (absl::string_view f : absl::StrSplit(row["flags"], ';', absl::SkipEmpty()))
        ++flag_counts[std::string(f)];
    }
  }
  std::printf(
      "verify %s against \"%s\": %s records (%s in this run) in %.1fs (%s records/s)\n",
      options.input.c_str(), options.against.c_str(), FormatCount(total).c_str(),
      FormatCount(written).c_str(), seconds,
      FormatCount(static_cast<int64_t>(static_cast<double>(written) / std::max(seconds, 1e-3)))
          .c_str());
  for (const char* d : {"MATCH", "REVIEW", "NO_MATCH"}) {
    int64_t n = decisions[d];
    std::printf("  %-9s %10s  %5.1f%%\n", d, FormatCount(n).c_str(),
                total > 0 ? 100.0 * static_cast<double>(n) / static_cast<double>(total) : 0.0);
  }
  if (!flag_counts.empty()) {
    std::vector<std::pair<int64_t, std::string>> sorted;
    for (const auto& [f, n] : flag_counts) sorted.emplace_back(-n, f);
    std::sort(sorted.begin(), sorted.end());
    std::printf("  flags:");
    for (const auto& [n, f] : sorted) std::printf(" %s=%s", f.c_str(), FormatCount(-n).c_str());
    std::printf("\n");
  }
  std::printf("results: %s\n", options.output.c_str());
  if (!options.review.empty()) {
    std::printf(
        "review desk: REVIEW rows (and a %.1f%% sample of MATCH / NO_MATCH rows) queued as "
        "\"%s\": open /review/ on linkd's --metrics-listen port\n",
        100 * options.review_sample, options.review.c_str());
  }
  if (errors.is_open())
    std::printf("records that could not be checked, with line and reason: %s\n",
                errors_path.c_str());
  if (!run.read_status.ok()) {
    return absl::DataLossError(
        absl::StrFormat("reading %s stopped: %s", options.input, run.read_status.message()));
  }
  if (!run.match_status.ok()) {
    return absl::UnavailableError(absl::StrFormat("%s (%s rows written; continue with --resume)",
                                                  run.match_status.message(), FormatCount(total)));
  }
  // One output row per input row read, readable or not.
  if (written != run.rows_read) {
    return absl::DataLossError(absl::StrFormat("%s input rows read but %s output rows written",
                                               FormatCount(run.rows_read), FormatCount(written)));
  }
  return absl::OkStatus();
}

void RegisterVerify(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<VerifyOptions>();
  CLI::App* cmd = app.add_subcommand(
      "verify", "Verify a whole list against a dataset, one output row per record");
  cmd->add_option("--against", o->against, "Register dataset")->required();
  cmd->add_option("--input", o->input, "Person file to verify")->required();
  cmd->add_option("--output", o->output, "Result CSV")->required();
  cmd->add_option("--format", o->format, "csv or jsonl (default: from the file name)");
  cmd->add_option("--errors", o->errors_file,
                  "Records that could not be checked (default OUTPUT.errors.csv)");
  cmd->add_option("--streams", o->streams, "Parallel streams")->capture_default_str();
  cmd->add_option("--in-flight", o->in_flight, "Records in flight per stream")
      ->capture_default_str();
  cmd->add_option("--batch", o->batch, "Records per stream message")->capture_default_str();
  cmd->add_option("--map", o->maps, "Column mapping, as for import (repeatable)");
  cmd->add_option("--review", o->review,
                  "Queue the REVIEW rows on linkd's review desk under this list name (a dataset "
                  "name), with a calibration sample of MATCH and NO_MATCH rows");
  cmd->add_option("--review-sample", o->review_sample,
                  "Share of MATCH and of NO_MATCH rows queued as calibration samples")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.2));
  AddDateFlags(cmd, &o->dates);
  cmd->add_flag(
      "--resume", o->resume,
      "Continue an interrupted run: keep the rows already in the output, append the rest");
  cmd->add_flag("--exclude-self", o->exclude_self,
                "Never answer a row with the record of the same id (a dataset against itself)");
  ctx.OnRun(cmd, [&ctx, o] { return Verify(ctx, *o); });
}

}  // namespace

LINKCTL_COMMAND(20, RegisterVerify);

}  // namespace linkage::cli
