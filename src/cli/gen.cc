// linkctl gen: a synthetic register and beneficiary list with known truth
// (no server needed).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "command.h"
#include "linkage/synth.h"

namespace linkage::cli {
namespace {

struct GenOptions {
  uint64_t seed = 1;
  int64_t size = 50000;
  std::string province = "19";
  std::string register_file;
  std::string list_file;
  std::string truth_file;
  int64_t list_size = 5000;
  uint64_t list_seed = 2;
  std::vector<std::string> errors;  // "name=rate" overrides of the error model.
  bool show_errors = false;         // Print the error model and exit.
};

absl::Status Gen(const GenOptions& o) {
  synth::ListErrorRates rates;
  for (const std::string& e : o.errors) {
    size_t eq = e.find('=');
    char* end = nullptr;
    double rate = eq == std::string::npos ? -1 : std::strtod(e.c_str() + eq + 1, &end);
    if (eq == std::string::npos || end == e.c_str() + eq + 1)
      return absl::InvalidArgumentError("--error \"" + e + "\": expected name=rate");
    LINKD_RETURN_IF_ERROR(synth::SetErrorRate(rates, e.substr(0, eq), rate));
  }
  if (o.show_errors) {
    std::printf("list error model (rate per record; each applies independently):\n");
    for (const auto& e : synth::DescribeErrors(rates))
      std::printf("  %-26s %.3f  %s\n", e.name.c_str(), e.rate, e.what.c_str());
    return absl::OkStatus();
  }
  if (o.size < 1 || o.list_size < 0)
    return absl::InvalidArgumentError("--size must be at least 1 and --list-size at least 0");
  const auto start = std::chrono::steady_clock::now();
  synth::PopulationOptions po;
  po.seed = o.seed;
  po.size = o.size;
  po.province_2025 = o.province;
  synth::Population population(po);
  if (population.people().empty())
    return absl::NotFoundError("no commune in province \"" + o.province + "\"");

  int64_t in_register = 0;
  if (!o.register_file.empty()) {
    std::ofstream out(o.register_file, std::ios::trunc);
    if (!out) return absl::PermissionDeniedError("cannot write " + o.register_file);
    out << synth::kPersonCsvHeader << '\n';
    for (const synth::Person& p : population.people()) {
      if (!p.in_register) continue;
      out << synth::ToCsvLine(p.record) << '\n';
      ++in_register;
    }
    if (!out) return absl::DataLossError("writing " + o.register_file + " failed");
  }
  int64_t listed = 0, absent = 0;
  if (!o.list_file.empty() && o.list_size > 0) {
    synth::ListOptions lo;
    lo.seed = o.list_seed;
    lo.size = o.list_size;
    lo.errors = rates;
    std::vector<synth::ListEntry> list = synth::MakeList(population, lo);
    std::ofstream out(o.list_file, std::ios::trunc);
    if (!out) return absl::PermissionDeniedError("cannot write " + o.list_file);
    out << synth::kPersonCsvHeader << '\n';
    for (const auto& e : list) out << synth::ToCsvLine(e.record) << '\n';
    if (!o.truth_file.empty()) {
      std::ofstream truth(o.truth_file, std::ios::trunc);
      if (!truth) return absl::PermissionDeniedError("cannot write " + o.truth_file);
      truth << "record_id,truth_record_id,duplicate_of,applied_errors\n";
      for (const auto& e : list) {
        truth << e.record.record_id() << ',' << e.truth_register_id << ',' << e.duplicate_of << ','
              << absl::StrJoin(e.applied, ";") << '\n';
      }
    }
    listed = static_cast<int64_t>(list.size());
    for (const auto& e : list) absent += e.truth_register_id.empty();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "generated %s people (seed %llu, province %s): %s in the register%s%s; list of %s (%s absent "
      "from the register) in %.1fs\n",
      FormatCount(o.size).c_str(), static_cast<unsigned long long>(o.seed),
      o.province.empty() ? "all" : o.province.c_str(), FormatCount(in_register).c_str(),
      o.register_file.empty() ? "" : " -> ", o.register_file.c_str(), FormatCount(listed).c_str(),
      FormatCount(absent).c_str(), seconds);
  return absl::OkStatus();
}

void RegisterGen(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<GenOptions>();
  CLI::App* cmd = app.add_subcommand(
      "gen", "Generate a synthetic register and beneficiary list with known truth");
  cmd->add_option("--seed", o->seed, "Population seed")->capture_default_str();
  cmd->add_option("--size", o->size, "People in the population")->capture_default_str();
  cmd->add_option("--province", o->province, "2025 province code; empty for the whole country")
      ->capture_default_str();
  cmd->add_option("--register", o->register_file, "Register CSV to write");
  cmd->add_option("--list", o->list_file, "Beneficiary list CSV to write");
  cmd->add_option("--truth", o->truth_file, "Truth CSV for the list");
  cmd->add_option("--list-size", o->list_size, "Records in the list")->capture_default_str();
  cmd->add_option("--list-seed", o->list_seed, "List seed")->capture_default_str();
  cmd->add_option("--error", o->errors,
                  "Override an error rate: name=rate (repeatable; see --show-errors)");
  cmd->add_flag("--show-errors", o->show_errors, "Print the list error model and exit");
  ctx.OnRun(cmd, [o] { return Gen(*o); });
}

}  // namespace

LINKCTL_COMMAND(90, RegisterGen);

}  // namespace linkage::cli
