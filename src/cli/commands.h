// linkctl's commands. Each returns an exit code (kOk, kFailure, kUsage).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client.h"

namespace linkage::cli {

struct ImportOptions {
  std::string dataset;
  std::string file;
  std::string format;        // "", "csv", "jsonl"
  std::string errors_file;   // Default: FILE.errors.csv
  std::string unit_version;  // "", "2025", "pre2025"
  int batch = 1000;
  int in_flight = 4;
  int retries = 5;
  // Column mappings "target=source" or "target=source1 source2" (sources
  // joined with a space), e.g. "record_id=rec_id",
  // "full_name=given_name surname". Sources stay as attributes too.
  std::vector<std::string> maps;
  bool lenient_dates = false;
};
int RunImport(const GlobalOptions& global, const ImportOptions& options);

struct VerifyOptions {
  std::string against;
  std::string input;
  std::string output;
  std::string format;
  std::string errors_file;  // Default: OUTPUT.errors.csv
  int streams = 2;
  int in_flight = 256;            // Records per stream.
  int batch = 64;                 // Records per message.
  std::vector<std::string> maps;  // As in ImportOptions.
  bool lenient_dates = false;
  bool exclude_self = false;  // Matching a dataset against itself.
  // Continue an interrupted run: keep the complete rows already in the
  // output (dropping a torn last line), skip that many input records, append.
  bool resume = false;
};
int RunVerify(const GlobalOptions& global, const VerifyOptions& options);

struct MatchCommandOptions {
  std::string dataset = "register";
  std::string name, dob, sex, id, old_id, address, commune, unit_version, json_record;
  int top = 5;
  bool json = false;
  bool records = false;
};
int RunMatch(const GlobalOptions& global, const MatchCommandOptions& options);

int RunStats(const GlobalOptions& global, bool json);
int RunGet(const GlobalOptions& global, const std::string& dataset, const std::string& record_id,
           bool normalized);
int RunCheck(const GlobalOptions& global);
int RunModelShow(const GlobalOptions& global, bool json);
int RunModelExport(const GlobalOptions& global, const std::string& file);
int RunModelImport(const GlobalOptions& global, const std::string& file);
int RunHealth(const GlobalOptions& global, double wait_seconds);

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
int RunGen(const GenOptions& options);

struct EvalOptions {
  std::string results;  // verify output
  std::string truth;    // generator truth, or true pairs (rec_id_a, rec_id_b)
  std::string mode = "link";
  std::string svg;    // reliability diagram to write
  std::string input;  // with --against: measure blocking recall through the server
  std::string against = "register";
  double threshold = 0.99;    // dedup: edge probability
  std::string other_truth;    // clusters across two lists: the second list's truth
  std::string other_dataset;  // and its dataset name
};
int RunEval(const GlobalOptions& global, const EvalOptions& options);

struct TrainCommandOptions {
  std::string dataset = "register";
  std::string link;  // list dataset; empty: deduplicate
  int64_t queries = 5000;
  int64_t u_pairs = 300000;
  uint64_t seed = 1;
  bool dry_run = false;
  std::string output;  // write the trained model as JSON
};
int RunTrain(const GlobalOptions& global, const TrainCommandOptions& options);

struct DedupeCommandOptions {
  std::string dataset;
  std::string against;           // empty: duplicates within the dataset
  std::string register_dataset;  // resolve records against it first
  double threshold = 0;          // 0: the model's review probability
  int top_k = 10;
  std::string output = "clusters.csv";
};
int RunDedupe(const GlobalOptions& global, const DedupeCommandOptions& options);

struct ConflictsCommandOptions {
  std::string dataset;  // the list
  std::string against = "register";
  std::string output = "conflicts.csv";
};
int RunConflicts(const GlobalOptions& global, const ConflictsCommandOptions& options);

struct ReviewOptions {
  std::string results;  // export: verify output
  std::string input;    // export: the list verified; labels: the review file
  std::string against = "register";
  std::string output;
};
int RunReviewExport(const GlobalOptions& global, const ReviewOptions& options);
int RunReviewLabels(const ReviewOptions& options);
// The label of one review-file row: the candidate's id ("same"), a label
// matching no record ("different"), nullopt (not decided yet). Errors: any
// other decision, naming the record.
absl::StatusOr<std::optional<std::string>> ReviewLabel(std::map<std::string, std::string>& row);

struct CalibrateOptions {
  std::string results;         // verify output with the model to calibrate
  std::string truth;           // generator truth or clerical labels (record_id,truth_record_id)
  double max_false_match = 0;  // > 0: choose the MATCH threshold from it
  bool dry_run = false;
};
int RunCalibrate(const GlobalOptions& global, const CalibrateOptions& options);

// Rebuilds the index for a model file's rules (or the model in force, or
// resumes an interrupted reindex), showing progress.
int RunReindex(const GlobalOptions& global, const std::string& model_file);

}  // namespace linkage::cli
