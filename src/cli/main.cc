// linkctl: the operator's command line for linkd.
//
//   linkctl --server HOST:PORT import --dataset NAME FILE
//   linkctl --server HOST:PORT verify --against DATASET --input FILE --output FILE
//   linkctl --server HOST:PORT match --name "..." --dob ... [--json]
//   linkctl stats | get | check | model show | health | gen
//
// Exit codes: 0 success, 1 failure, 2 usage error.
#include <CLI/CLI.hpp>

#include "commands.h"

int main(int argc, char** argv) {
  using namespace linkage::cli;
  CLI::App app{"linkctl: operate a linkd record-linkage server"};
  app.require_subcommand(1);
  GlobalOptions global;
  app.add_option("--server", global.server, "linkd address host:port")->capture_default_str();
  app.add_option("--timeout", global.timeout_seconds, "Seconds per call")->capture_default_str();

  ImportOptions import;
  auto* cmd_import =
      app.add_subcommand("import", "Import person records (CSV or JSON Lines) into a dataset");
  cmd_import->add_option("--dataset", import.dataset, "Dataset to write, e.g. register")
      ->required();
  cmd_import->add_option("file", import.file, "Person file (CSV with a header row, or .jsonl)")
      ->required();
  cmd_import->add_option("--format", import.format, "csv or jsonl (default: from the file name)");
  cmd_import->add_option("--errors", import.errors_file,
                         "Where rejected rows go (default FILE.errors.csv)");
  cmd_import->add_option("--unit-version", import.unit_version,
                         "2025 or pre2025: unit list of rows that do not say");
  cmd_import->add_option("--batch", import.batch, "Records per call")->capture_default_str();
  cmd_import->add_option("--in-flight", import.in_flight, "Calls in flight")->capture_default_str();
  cmd_import->add_option("--retries", import.retries, "Retries of a batch on UNAVAILABLE")
      ->capture_default_str();
  cmd_import->add_option(
      "--map", import.maps,
      "Column mapping target=source or target=\"src1 src2\" (joined with a space), repeatable");
  cmd_import->add_flag("--lenient-dates", import.lenient_dates,
                       "Keep the year of an unreadable birth_date instead of rejecting the row");

  VerifyOptions verify;
  auto* cmd_verify = app.add_subcommand(
      "verify", "Verify a whole list against a dataset, one output row per record");
  cmd_verify->add_option("--against", verify.against, "Register dataset")->required();
  cmd_verify->add_option("--input", verify.input, "Person file to verify")->required();
  cmd_verify->add_option("--output", verify.output, "Result CSV")->required();
  cmd_verify->add_option("--format", verify.format, "csv or jsonl (default: from the file name)");
  cmd_verify->add_option("--errors", verify.errors_file,
                         "Records that could not be checked (default OUTPUT.errors.csv)");
  cmd_verify->add_option("--streams", verify.streams, "Parallel streams")->capture_default_str();
  cmd_verify->add_option("--in-flight", verify.in_flight, "Records in flight per stream")
      ->capture_default_str();
  cmd_verify->add_option("--batch", verify.batch, "Records per stream message")
      ->capture_default_str();
  cmd_verify->add_option("--map", verify.maps, "Column mapping, as for import (repeatable)");
  cmd_verify->add_flag("--lenient-dates", verify.lenient_dates,
                       "Keep the year of an unreadable birth_date");
  cmd_verify->add_flag(
      "--resume", verify.resume,
      "Continue an interrupted run: keep the rows already in the output, append the rest");
  cmd_verify->add_flag(
      "--exclude-self", verify.exclude_self,
      "Never answer a row with the record of the same id (a dataset against itself)");

  MatchCommandOptions match;
  auto* cmd_match = app.add_subcommand(
      "match", "Find one person: ranked candidates with each field's contribution");
  cmd_match->add_option("--dataset", match.dataset, "Dataset to search")->capture_default_str();
  cmd_match->add_option("--name", match.name, "Full name");
  cmd_match->add_option("--dob", match.dob, "Date of birth (dd/mm/yyyy, yyyy, ...)");
  cmd_match->add_option("--sex", match.sex, "Nam/Nữ, M/F");
  cmd_match->add_option("--id", match.id, "National ID (CCCD)");
  cmd_match->add_option("--old-id", match.old_id, "Old ID (CMND)");
  cmd_match->add_option("--address", match.address, "Address text");
  cmd_match->add_option("--commune", match.commune, "Commune code");
  cmd_match->add_option("--unit-version", match.unit_version, "2025 or pre2025");
  cmd_match->add_option("--json-record", match.json_record,
                        "The record as a JSON object (same field names as CSV)");
  cmd_match->add_option("--top", match.top, "Candidates to show")->capture_default_str();
  cmd_match->add_flag("--records", match.records,
                      "Include each candidate's stored record (with --json)");
  cmd_match->add_flag("--json", match.json, "Print the MatchResponse as JSON");

  bool stats_json = false;
  auto* cmd_stats =
      app.add_subcommand("stats", "Datasets, index sizes, model, uptime, call counts");
  cmd_stats->add_flag("--json", stats_json, "Print JSON");

  std::string get_dataset = "register", get_id;
  bool get_normalized = false;
  auto* cmd_get = app.add_subcommand("get", "Print one stored record as JSON");
  cmd_get->add_option("--dataset", get_dataset, "Dataset")->capture_default_str();
  cmd_get->add_option("record_id", get_id, "Record id")->required();
  cmd_get->add_flag("--normalized", get_normalized, "Include the normalized form");

  app.add_subcommand("check",
                     "Verify that the index and the records agree (exit 1 on any problem)");

  auto* cmd_model = app.add_subcommand("model", "Model commands");
  cmd_model->require_subcommand(1);
  bool model_json = false;
  auto* cmd_model_show =
      cmd_model->add_subcommand("show", "Each field's levels with m, u and weight in bits");
  cmd_model_show->add_flag("--json", model_json, "Print the model as JSON");
  std::string model_file;
  auto* cmd_model_export = cmd_model->add_subcommand("export", "Write the model in force as JSON");
  cmd_model_export->add_option("file", model_file, "Output file (default: stdout)");
  auto* cmd_model_import =
      cmd_model->add_subcommand("import", "Install a model (JSON or text format)");
  cmd_model_import->add_option("file", model_file, "Model file (.json, else text format)")
      ->required();

  double health_wait = 0;
  auto* cmd_health = app.add_subcommand("health", "Ask whether linkd is serving (exit 0 if so)");
  cmd_health->add_option("--wait", health_wait, "Keep asking for up to this many seconds");

  GenOptions gen;
  auto* cmd_gen = app.add_subcommand(
      "gen", "Generate a synthetic register and beneficiary list with known truth");
  cmd_gen->add_option("--seed", gen.seed, "Population seed")->capture_default_str();
  cmd_gen->add_option("--size", gen.size, "People in the population")->capture_default_str();
  cmd_gen->add_option("--province", gen.province, "2025 province code; empty for the whole country")
      ->capture_default_str();
  cmd_gen->add_option("--register", gen.register_file, "Register CSV to write");
  cmd_gen->add_option("--list", gen.list_file, "Beneficiary list CSV to write");
  cmd_gen->add_option("--truth", gen.truth_file, "Truth CSV for the list");
  cmd_gen->add_option("--list-size", gen.list_size, "Records in the list")->capture_default_str();
  cmd_gen->add_option("--list-seed", gen.list_seed, "List seed")->capture_default_str();
  cmd_gen->add_option("--error", gen.errors,
                      "Override an error rate: name=rate (repeatable; see --show-errors)");
  cmd_gen->add_flag("--show-errors", gen.show_errors, "Print the list error model and exit");

  EvalOptions eval;
  auto* cmd_eval = app.add_subcommand(
      "eval", "Precision, recall, F1, wrong matches, calibration of a verify result");
  cmd_eval->add_option("--results", eval.results, "verify output CSV, or a dedupe clusters CSV")
      ->required();
  cmd_eval->add_option("--other-truth", eval.other_truth,
                       "Clusters across two lists: the second list's truth CSV");
  cmd_eval->add_option("--other-dataset", eval.other_dataset,
                       "Clusters across two lists: the second list's dataset");
  cmd_eval
      ->add_option("--truth", eval.truth, "Truth CSV (from gen) or true pairs (rec_id_a,rec_id_b)")
      ->required();
  cmd_eval
      ->add_option("--mode", eval.mode,
                   "link (list against register) or dedup (a dataset against itself)")
      ->capture_default_str();
  cmd_eval->add_option("--svg", eval.svg, "Write a reliability diagram (SVG)");
  cmd_eval->add_option("--input", eval.input,
                       "Also measure blocking recall: the list that was verified");
  cmd_eval->add_option("--against", eval.against, "Dataset it was verified against")
      ->capture_default_str();
  cmd_eval
      ->add_option("--threshold", eval.threshold,
                   "dedup: probability that makes a candidate a duplicate")
      ->capture_default_str();

  DedupeCommandOptions dedupe;
  auto* cmd_dedupe = app.add_subcommand(
      "dedupe", "Find records of a dataset that are the same person (or a person in two)");
  cmd_dedupe->add_option("--dataset", dedupe.dataset, "Dataset to deduplicate")->required();
  cmd_dedupe->add_option("--against", dedupe.against,
                         "Another dataset: find people in both instead");
  cmd_dedupe->add_option(
      "--register", dedupe.register_dataset,
      "Resolve records against this register first: different register people are "
      "never linked, the same one always");
  cmd_dedupe->add_option("--threshold", dedupe.threshold,
                         "Link probability (default: the model's review probability)");
  cmd_dedupe->add_option("--top-k", dedupe.top_k, "Candidates considered per record")
      ->capture_default_str();
  cmd_dedupe->add_option("--output", dedupe.output, "Clusters CSV to write")->capture_default_str();

  ConflictsCommandOptions conflicts;
  auto* cmd_conflicts = app.add_subcommand("conflicts",
                                           "Identity conflicts of a list: IDs held by someone "
                                           "else, claimed twice, register people matched twice");
  cmd_conflicts->add_option("--dataset", conflicts.dataset, "The list dataset")->required();
  cmd_conflicts->add_option("--against", conflicts.against, "The register dataset")
      ->capture_default_str();
  cmd_conflicts->add_option("--output", conflicts.output, "Conflicts CSV to write")
      ->capture_default_str();

  ReviewOptions review;
  auto* cmd_review = app.add_subcommand(
      "review", "Clerical review queue: export REVIEW results, import decisions");
  cmd_review->require_subcommand(1);
  auto* cmd_review_export = cmd_review->add_subcommand(
      "export", "REVIEW results side by side with each field's contribution, to decide");
  cmd_review_export->add_option("--results", review.results, "verify output")->required();
  cmd_review_export->add_option("--input", review.input, "The list that was verified")->required();
  cmd_review_export->add_option("--against", review.against, "The register dataset")
      ->capture_default_str();
  cmd_review_export->add_option("--output", review.output, "Review file to write")->required();
  auto* cmd_review_labels = cmd_review->add_subcommand(
      "labels", "The officer's decisions as calibration labels (record_id,truth_record_id)");
  cmd_review_labels->add_option("--input", review.input, "Review file with officer_decision filled")
      ->required();
  cmd_review_labels->add_option("--output", review.output, "Labels CSV to write")->required();

  TrainCommandOptions train;
  auto* cmd_train = app.add_subcommand(
      "train", "Fit m and u to the data (EM on blocked pairs) and install the model");
  cmd_train->add_option("--dataset", train.dataset, "Register dataset")->capture_default_str();
  cmd_train->add_option("--link", train.link,
                        "List dataset to link to it (default: deduplicate the register)");
  cmd_train->add_option("--queries", train.queries, "Records whose blocked pairs train m")
      ->capture_default_str();
  cmd_train->add_option("--u-pairs", train.u_pairs, "Random pairs for u")->capture_default_str();
  cmd_train->add_option("--seed", train.seed, "Sampling seed")->capture_default_str();
  cmd_train->add_flag("--dry-run", train.dry_run, "Show the trained model without installing it");
  cmd_train->add_option("--output", train.output, "Also write the trained model (JSON)");

  CalibrateOptions calibrate;
  auto* cmd_calibrate =
      app.add_subcommand("calibrate", "Fit probabilities to observed match rates on labelled rows");
  cmd_calibrate
      ->add_option("--results", calibrate.results, "verify output made with the model in force")
      ->required();
  cmd_calibrate->add_option("--truth", calibrate.truth, "Labels: record_id,truth_record_id")
      ->required();
  cmd_calibrate->add_option(
      "--max-false-match", calibrate.max_false_match,
      "Choose the MATCH threshold so wrong matches per record stay below this, e.g. 1e-4");
  cmd_calibrate->add_flag("--dry-run", calibrate.dry_run, "Report without installing");

  std::string reindex_model;
  auto* cmd_reindex = app.add_subcommand(
      "reindex",
      "Rebuild the index for a model's blocking rules while serving (resumes an interrupted one)");
  cmd_reindex->add_option("--model", reindex_model,
                          "Model file (.json or text); default: the model in force");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kOk : kUsage;
  }

  if (*cmd_import) return RunImport(global, import);
  if (*cmd_verify) return RunVerify(global, verify);
  if (*cmd_match) return RunMatch(global, match);
  if (*cmd_stats) return RunStats(global, stats_json);
  if (*cmd_get) return RunGet(global, get_dataset, get_id, get_normalized);
  if (app.got_subcommand("check")) return RunCheck(global);
  if (*cmd_model_show) return RunModelShow(global, model_json);
  if (*cmd_model_export) return RunModelExport(global, model_file);
  if (*cmd_model_import) return RunModelImport(global, model_file);
  if (*cmd_health) return RunHealth(global, health_wait);
  if (*cmd_gen) return RunGen(gen);
  if (*cmd_eval) return RunEval(global, eval);
  if (*cmd_train) return RunTrain(global, train);
  if (*cmd_dedupe) return RunDedupe(global, dedupe);
  if (*cmd_conflicts) return RunConflicts(global, conflicts);
  if (*cmd_review_export) return RunReviewExport(global, review);
  if (*cmd_review_labels) return RunReviewLabels(review);
  if (*cmd_reindex) return RunReindex(global, reindex_model);
  if (*cmd_calibrate) return RunCalibrate(global, calibrate);
  return kUsage;
}
