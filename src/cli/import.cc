// linkctl import: person records from a CSV or JSON Lines file into a
// dataset, in batches of UpsertRecords calls with several in flight; every
// row read is accounted for (written, or rejected with its line).
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "command.h"
#include "linkage/csv.h"
#include "linkage/engine.h"
#include "linkage/model.h"
#include "linkage/person_io.h"
#include "linkage/v1/service.grpc.pb.h"
#include "person_reader.h"

namespace linkage::cli {
namespace {

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
  DateFlags dates;
  // --bulk: a first load straight into a database directory (linkd not
  // running on it), as sorted SST files.
  bool bulk = false;
  std::string db;
  int threads = 2;
};

struct Batch {
  v1::UpsertRecordsRequest request;
  std::vector<int64_t> lines;  // Line of each record.
};

// Worth retrying: what passes (the server busy or restarting, a full disk
// being freed). A batch past a size limit (OUT_OF_RANGE, or the transport's
// "larger than max") fails the same way every time.
bool Transient(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return true;
    case absl::StatusCode::kResourceExhausted:
      return status.message().find("larger than max") == std::string::npos;
    default:
      return false;
  }
}

// Rows an import does not write: each with its line and reason in the
// errors file (opened at the first), and a record_id given on two rows
// refused at the later one (it used to be last-one-wins without a word).
class Rejections {
 public:
  explicit Rejections(std::string path) : path_(std::move(path)) {}

  void Reject(int64_t line, const std::string& record_id, const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!file_.is_open()) {
      file_.open(path_, std::ios::trunc);
      file_ << "line,record_id,error\n";
    }
    file_ << line << "," << CsvQuote(record_id) << "," << CsvQuote(reason) << "\n";
    ++count_;
  }
  // False (and the row rejected) if the row's record_id came before.
  bool FirstTime(const ReadRow& row) {
    const std::string& id = row.record.record_id();
    if (id.empty()) return true;
    auto [it, first] = first_line_.emplace(id, row.line);
    if (!first) {
      Reject(row.line, id,
             absl::StrFormat("line %d: record_id \"%s\" already appears on line %d", row.line, id,
                             it->second));
    }
    return first;
  }
  void Close() {
    if (file_.is_open()) file_.close();
  }
  int64_t count() const { return count_; }
  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  std::mutex mu_;
  std::ofstream file_;
  int64_t count_ = 0;
  absl::flat_hash_map<std::string, int64_t> first_line_;  // Read by the reading thread only.
};

std::string ErrorsPath(const ImportOptions& options) {
  return options.errors_file.empty() ? options.file + ".errors.csv" : options.errors_file;
}

// linkctl import --bulk: the engine and store in this process, on a
// database no linkd has open (RocksDB's lock refuses otherwise).
absl::Status BulkImport(const ImportOptions& options, v1::UnitVersion unit_version) {
  if (options.db.empty()) return absl::InvalidArgumentError("--bulk needs --db DIR");
  LINKD_ASSIGN_OR_RETURN(std::unique_ptr<PersonReader> reader,
                         PersonReader::Open(options.file, options.format));
  LINKD_RETURN_IF_ERROR(reader->SetMappings(options.maps));
  index::StoreOptions so;
  so.sync_writes = true;
  LINKD_ASSIGN_OR_RETURN(std::unique_ptr<index::Store> store, index::Store::Open(so, options.db));
  // A database fed by a replicated log changes only through it: records
  // loaded here would be on this node alone.
  LINKD_ASSIGN_OR_RETURN(index::Store::LogPosition log, store->GetLogPosition());
  if (!log.stream.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database ", options.db, " follows log stream \"", log.stream,
        "\": a bulk load would reach this node only; bulk-load a new database, start the writer on "
        "it and bootstrap the readers from its backup (docs/OPERATIONS.md §9)"));
  }
  // The model the database keeps (stored, as linkd does on its first start,
  // if there is none), so that linkd queries with the rules the index was
  // built with.
  LINKD_ASSIGN_OR_RETURN(std::optional<v1::Model> stored,
                         engine::Engine::LoadStoredModel(store.get()));
  const v1::Model model = stored.value_or(model::DefaultVietnameseModel());
  LINKD_ASSIGN_OR_RETURN(std::unique_ptr<engine::Engine> engine,
                         engine::Engine::Create({}, store.get(), model));
  if (!stored.has_value()) LINKD_RETURN_IF_ERROR(engine->InstallModel(model).status());
  LINKD_ASSIGN_OR_RETURN(std::unique_ptr<index::Store::BulkLoad> load,
                         store->StartBulkLoad(options.dataset));

  Rejections rejections(ErrorsPath(options));
  int64_t created = 0, rows = 0;
  engine::UpsertOptions uo;
  uo.default_unit_version = unit_version;
  uo.strict_dates = options.dates.strict;
  Progress progress("loaded");
  const auto start = std::chrono::steady_clock::now();
  std::vector<ReadRow> chunk;
  bool more = true;
  while (more) {
    chunk.clear();
    LINKD_ASSIGN_OR_RETURN(more, reader->Next(20000, &chunk));
    std::vector<v1::PersonRecord> records;
    std::vector<int64_t> lines;
    for (ReadRow& row : chunk) {
      ++rows;
      if (!rejections.FirstTime(row)) continue;
      if (!row.error.empty()) {
        rejections.Reject(row.line, row.record.record_id(), row.error);
        continue;
      }
      lines.push_back(row.line);
      records.push_back(std::move(row.record));
    }
    std::vector<std::string> ids;
    for (const auto& r : records) ids.push_back(r.record_id());
    LINKD_ASSIGN_OR_RETURN(auto results,
                           engine->BulkAdd(load.get(), std::move(records), uo, options.threads));
    for (size_t i = 0; i < results.size(); ++i) {
      if (results[i].status.ok()) {
        ++created;
      } else {
        rejections.Reject(lines[i], ids[i], std::string(results[i].status.message()));
      }
    }
    const double fraction = reader->file_size() > 0 ? static_cast<double>(reader->bytes_read()) /
                                                          static_cast<double>(reader->file_size())
                                                    : -1;
    progress.Update(created, fraction);
  }
  LINKD_ASSIGN_OR_RETURN(const int64_t loaded, load->Finish());
  progress.Finish();
  rejections.Close();
  const int64_t rejected = rejections.count();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "bulk import %s into \"%s\": %s rows read, %s created, %s rejected in %.1fs (%s "
      "records/s)\n",
      options.file.c_str(), options.dataset.c_str(), FormatCount(rows).c_str(),
      FormatCount(loaded).c_str(), FormatCount(rejected).c_str(), seconds,
      FormatCount(static_cast<int64_t>(static_cast<double>(loaded) / std::max(seconds, 1e-3)))
          .c_str());
  if (rejected > 0)
    std::printf("rejected rows, with line and reason: %s\n", rejections.path().c_str());
  if (loaded + rejected != rows) {
    return absl::DataLossError(absl::StrFormat("%s rows read but %s accounted for",
                                               FormatCount(rows), FormatCount(loaded + rejected)));
  }
  return absl::OkStatus();
}

absl::Status Import(CommandContext& ctx, const ImportOptions& options) {
  LINKD_ASSIGN_OR_RETURN(const v1::UnitVersion unit_version,
                         domain::ParseUnitVersion(options.unit_version));
  if (options.bulk) return BulkImport(options, unit_version);
  if (options.batch < 1 || options.in_flight < 1)
    return absl::InvalidArgumentError("--batch and --in-flight must be at least 1");
  LINKD_ASSIGN_OR_RETURN(std::unique_ptr<PersonReader> reader,
                         PersonReader::Open(options.file, options.format));
  LINKD_RETURN_IF_ERROR(reader->SetMappings(options.maps));

  Rejections rejections(ErrorsPath(options));

  BoundedQueue<Batch> queue(static_cast<size_t>(options.in_flight));
  std::atomic<int64_t> created{0}, updated{0}, unchanged{0}, acknowledged{0};
  std::atomic<bool> failed{false};
  std::string failure;
  std::mutex failure_mu;

  std::vector<std::thread> senders;
  for (int t = 0; t < options.in_flight; ++t) {
    senders.emplace_back([&] {
      while (auto batch = queue.Pop()) {
        if (failed.load()) continue;  // Drain without sending.
        const std::string what = absl::StrFormat("UpsertRecords (lines %d..%d)",
                                                 batch->lines.front(), batch->lines.back());
        absl::StatusOr<v1::UpsertRecordsResponse> answer;
        for (int attempt = 0; attempt <= options.retries; ++attempt) {
          answer = Call(ctx, what, &LinkageStub::UpsertRecords, batch->request);
          if (answer.ok() || !Transient(answer.status())) break;
          // Upserts are idempotent: retrying a batch that may have been
          // written is safe.
          std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));
        }
        if (!answer.ok()) {
          std::lock_guard<std::mutex> lock(failure_mu);
          if (!failed.exchange(true)) failure = std::string(answer.status().message());
          continue;
        }
        const v1::UpsertRecordsResponse& response = *answer;
        if (response.results_size() != batch->request.records_size()) {
          std::lock_guard<std::mutex> lock(failure_mu);
          if (!failed.exchange(true)) {
            failure = absl::StrFormat(
                "UpsertRecords (lines %d..%d): %d records sent, %d results answered",
                batch->lines.front(), batch->lines.back(), batch->request.records_size(),
                response.results_size());
          }
        }
        for (const v1::RecordWriteResult& r : response.results()) {
          if (r.index() < 0 || r.index() >= batch->request.records_size()) continue;
          switch (r.outcome()) {
            case v1::CREATED:
              ++created;
              break;
            case v1::UPDATED:
              ++updated;
              break;
            case v1::UNCHANGED:
              ++unchanged;
              break;
            default:
              rejections.Reject(batch->lines[static_cast<size_t>(r.index())], r.record_id(),
                                r.error());
              continue;
          }
          ++acknowledged;
        }
      }
    });
  }

  Progress progress("imported");
  const auto start = std::chrono::steady_clock::now();
  int64_t rows = 0;
  std::string read_error;
  std::vector<ReadRow> chunk;
  bool more = true;
  while (more && !failed.load()) {
    chunk.clear();
    auto next = reader->Next(static_cast<size_t>(options.batch), &chunk);
    if (!next.ok()) {
      read_error = std::string(next.status().message());
      break;
    }
    more = *next;
    Batch batch;
    batch.request.set_dataset(options.dataset);
    batch.request.set_allow_partial(true);
    batch.request.set_default_unit_version(unit_version);
    batch.request.set_strict_dates(options.dates.strict);
    for (ReadRow& row : chunk) {
      ++rows;
      if (!rejections.FirstTime(row)) continue;
      if (!row.error.empty()) {
        rejections.Reject(row.line, row.record.record_id(), row.error);
        continue;
      }
      batch.lines.push_back(row.line);
      *batch.request.add_records() = std::move(row.record);
    }
    if (batch.request.records_size() > 0) queue.Push(std::move(batch));
    double fraction = reader->file_size() > 0 ? static_cast<double>(reader->bytes_read()) /
                                                    static_cast<double>(reader->file_size())
                                              : -1;
    progress.Update(acknowledged.load(), fraction);
  }
  queue.Close();
  for (auto& t : senders) t.join();
  progress.Finish();
  rejections.Close();
  const int64_t rejected = rejections.count();

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "import %s into \"%s\": %s rows read, %s created, %s updated, %s unchanged, %s rejected in "
      "%.1fs (%s records/s)\n",
      options.file.c_str(), options.dataset.c_str(), FormatCount(rows).c_str(),
      FormatCount(created.load()).c_str(), FormatCount(updated.load()).c_str(),
      FormatCount(unchanged.load()).c_str(), FormatCount(rejected).c_str(), seconds,
      FormatCount(
          static_cast<int64_t>(static_cast<double>(acknowledged.load()) / std::max(seconds, 1e-3)))
          .c_str());
  if (rejected > 0)
    std::printf("rejected rows, with line and reason: %s\n", rejections.path().c_str());
  if (!read_error.empty())
    return absl::DataLossError(absl::StrFormat("reading %s stopped: %s (%s records acknowledged)",
                                               options.file, read_error,
                                               FormatCount(acknowledged.load())));
  if (failed.load()) {
    return absl::UnavailableError(absl::StrFormat(
        "%s; %s records were acknowledged before the failure; re-running the import is safe",
        failure, FormatCount(acknowledged.load())));
  }
  // Every row read must be accounted for: written (created, updated,
  // unchanged) or rejected with its line in the errors file.
  const int64_t accounted = acknowledged.load() + rejected;
  if (accounted != rows) {
    return absl::DataLossError(absl::StrFormat(
        "%s rows read but %s accounted for (created + updated + unchanged + rejected): %s rows "
        "are unaccounted for; re-running the import is safe",
        FormatCount(rows), FormatCount(accounted), FormatCount(rows - accounted)));
  }
  return absl::OkStatus();
}

void RegisterImport(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<ImportOptions>();
  CLI::App* cmd =
      app.add_subcommand("import", "Import person records (CSV or JSON Lines) into a dataset");
  cmd->add_option("--dataset", o->dataset, "Dataset to write, e.g. register")->required();
  cmd->add_option("file", o->file, "Person file (CSV with a header row, or .jsonl)")->required();
  cmd->add_option("--format", o->format, "csv or jsonl (default: from the file name)");
  cmd->add_option("--errors", o->errors_file, "Where rejected rows go (default FILE.errors.csv)");
  cmd->add_option("--unit-version", o->unit_version,
                  "2025 or pre2025: unit list of rows that do not say");
  cmd->add_flag("--bulk", o->bulk,
                "First load of an empty dataset straight into --db (linkd stopped): sorted SST "
                "files, ingested");
  cmd->add_option("--db", o->db, "With --bulk: the database directory");
  cmd->add_option("--threads", o->threads, "With --bulk: threads normalizing")
      ->capture_default_str();
  cmd->add_option("--batch", o->batch, "Records per call")->capture_default_str();
  cmd->add_option("--in-flight", o->in_flight, "Calls in flight")->capture_default_str();
  cmd->add_option("--retries", o->retries, "Retries of a batch on UNAVAILABLE")
      ->capture_default_str();
  cmd->add_option(
      "--map", o->maps,
      "Column mapping target=source or target=\"src1 src2\" (joined with a space), repeatable");
  AddDateFlags(cmd, &o->dates);
  ctx.OnRun(cmd, [&ctx, o] { return Import(ctx, *o); });
}

}  // namespace

LINKCTL_COMMAND(10, RegisterImport);

}  // namespace linkage::cli
