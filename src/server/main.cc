// linkd: the record-linkage gRPC server.
//
//   linkd --db DIR --listen HOST:PORT [--config FILE] [options]
//   linkd repair --db DIR          rebuild the indexes from the records
//   linkd restore --from DIR --db NEWDIR [--backup-id N]
//                                  restore a backup into a new directory
//
// Options come from the flags, then the config file (text-format
// linkage.v1.ServerConfig, see deploy/linkd.conf), then the defaults of the
// options table in src/service/config.cc (described field by field in
// proto/linkage/v1/config.proto). SIGTERM or SIGINT stops it
// gracefully; SIGHUP re-reads the access policy (--auth). Exit codes: 0 clean stop, 1 failure, 2
// usage error.
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <deque>
#include <string>
#include <string_view>

#include "../service/backup.h"
#include "../service/config.h"
#include "../service/log.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "linkage/engine.h"
#include "linkage/model.h"
#include "linkage/server.h"
#include "linkage/store.h"

namespace {

using linkage::service::ConfigField;
using linkage::service::ConfigType;
using linkage::service::Int;
using linkage::service::Log;
using linkage::service::Num;
using linkage::service::Str;

// linkd repair --db DIR: rebuilds every derived column family from the
// records (offline), resuming an unfinished repair, then checks the result.
// True if the check found no problem.
absl::StatusOr<bool> RunRepair(const linkage::v1::ServerConfig& config) {
  linkage::index::StoreOptions so = linkage::service::StoreOptionsFor(config);
  so.match_view = false;
  so.create_if_missing = false;
  LINKD_ASSIGN_OR_RETURN(std::unique_ptr<linkage::index::Store> store,
                         linkage::index::Store::Open(so, config.db()));
  LINKD_ASSIGN_OR_RETURN(std::optional<linkage::v1::Model> stored,
                         linkage::engine::Engine::LoadStoredModel(store.get()));
  LINKD_ASSIGN_OR_RETURN(
      std::unique_ptr<linkage::engine::Engine> engine,
      linkage::engine::Engine::Create({}, store.get(),
                                      stored.value_or(linkage::model::DefaultVietnameseModel())));
  const absl::Time started = absl::Now();
  absl::Time last_log = started;
  Log("info", "repair_start", {Str("db", config.db())});
  LINKD_ASSIGN_OR_RETURN(const int64_t repaired,
                         engine->Repair([&last_log](int64_t done, int64_t total) {
                           if (absl::Now() - last_log < absl::Seconds(5)) return;
                           last_log = absl::Now();
                           Log("info", "repair_progress", {Int("done", done), Int("total", total)});
                         }));
  LINKD_ASSIGN_OR_RETURN(const linkage::index::CheckReport report, engine->CheckIndex());
  Log(report.problem_count == 0 ? "info" : "error", "repair_done",
      {Int("records", repaired), Int("problems", report.problem_count),
       Str("first_problem", report.problems.empty() ? "" : report.problems[0]),
       Num("seconds", absl::ToDoubleSeconds(absl::Now() - started))});
  return report.problem_count == 0;
}

// Exit code of `linkd repair`: 0 if the repaired database checks clean.
int Repair(const linkage::v1::ServerConfig& config) {
  absl::StatusOr<bool> clean = RunRepair(config);
  if (!clean.ok()) {
    Log("error", "repair_failed", {Str("message", linkage::SV(clean.status().message()))});
    return 1;
  }
  return *clean ? 0 : 1;
}

// linkd restore --from DIR --db NEWDIR [--backup-id N]: restores a backup
// (offline) into an empty directory, then opens the result and checks it
// against the backup's metadata (layout version, model, generation, record
// counts, audit head) and with the index check. True if all agree.
absl::StatusOr<bool> RunRestore(const linkage::v1::ServerConfig& config, const std::string& from,
                                uint32_t backup_id) {
  if (from.empty()) return absl::InvalidArgumentError("restore: --from DIR is required");
  if (config.db().empty()) return absl::InvalidArgumentError("restore: --db NEWDIR is required");
  // The metadata is read and its layout version checked before any file
  // is copied.
  LINKD_ASSIGN_OR_RETURN(std::vector<linkage::index::BackupInfo> backups,
                         linkage::index::ListBackups(from));
  const linkage::index::BackupInfo* chosen = nullptr;
  for (const auto& b : backups)
    if (backup_id == 0 || b.id == backup_id) chosen = &b;
  if (chosen == nullptr)
    return absl::NotFoundError(
        backup_id == 0 ? absl::StrCat("backup directory ", from, " holds no backups")
                       : absl::StrCat("backup directory ", from, " has no backup ", backup_id));
  linkage::v1::BackupMetadata metadata;
  if (!metadata.ParseFromString(chosen->metadata))
    return absl::FailedPreconditionError(absl::StrCat(
        "backup ", chosen->id, " in ", from, " carries no linkd metadata: not a linkd backup"));
  if (metadata.layout_version() != linkage::index::LayoutVersion())
    return absl::FailedPreconditionError(
        absl::StrCat("backup ", chosen->id, " has key layout version '", metadata.layout_version(),
                     "'; this linkd reads version ", std::string(linkage::index::LayoutVersion())));
  const absl::Time started = absl::Now();
  Log("info", "restore_start",
      {Str("from", from), Int("backup_id", chosen->id), Str("db", config.db()),
       Str("metadata", linkage::service::Describe(metadata))});
  LINKD_ASSIGN_OR_RETURN(linkage::index::BackupInfo restored,
                         linkage::index::RestoreBackup(from, chosen->id, config.db()));
  linkage::index::StoreOptions so = linkage::service::StoreOptionsFor(config);
  so.match_view = false;
  so.create_if_missing = false;
  LINKD_ASSIGN_OR_RETURN(std::unique_ptr<linkage::index::Store> store,
                         linkage::index::Store::Open(so, config.db()));
  LINKD_RETURN_IF_ERROR(linkage::service::CheckRestored(*store, metadata));
  LINKD_ASSIGN_OR_RETURN(std::optional<linkage::v1::Model> stored,
                         linkage::engine::Engine::LoadStoredModel(store.get()));
  LINKD_ASSIGN_OR_RETURN(
      std::unique_ptr<linkage::engine::Engine> engine,
      linkage::engine::Engine::Create({}, store.get(),
                                      stored.value_or(linkage::model::DefaultVietnameseModel())));
  LINKD_ASSIGN_OR_RETURN(const linkage::index::CheckReport report, engine->CheckIndex());
  Log(report.problem_count == 0 ? "info" : "error", "restore_done",
      {Int("backup_id", restored.id), Str("db", config.db()), Int("records", report.records),
       Int("problems", report.problem_count),
       Str("first_problem", report.problems.empty() ? "" : report.problems[0]),
       Str("metadata", "matches"), Num("seconds", absl::ToDoubleSeconds(absl::Now() - started))});
  return report.problem_count == 0;
}

// Exit code of `linkd restore`: 0 if the restored database matches its
// backup's metadata and checks clean.
int Restore(const linkage::v1::ServerConfig& config, const std::string& from, uint32_t backup_id) {
  absl::StatusOr<bool> clean = RunRestore(config, from, backup_id);
  if (!clean.ok()) {
    Log("error", "restore_failed", {Str("message", linkage::SV(clean.status().message()))});
    return 1;
  }
  return *clean ? 0 : 1;
}

// The flags that set ServerConfig fields: one per row of the options table
// that names a flag (service/config.h), in its order, with the help
// FlagHelp writes from the row.
class ConfigFlags {
 public:
  explicit ConfigFlags(CLI::App* app) {
    for (const ConfigField& field : linkage::service::ConfigFields()) {
      if (field.flag.empty()) continue;
      Flag& f = flags_.emplace_back();
      f.field = &field;
      const std::string name(field.flag), help = linkage::service::FlagHelp(field);
      switch (linkage::service::TypeOf(field)) {
        case ConfigType::kString:
          f.option = app->add_option(name, f.text, help);
          break;
        case ConfigType::kInt32:
          f.option = app->add_option(name, f.integer, help);
          break;
        case ConfigType::kDouble:
          f.option = app->add_option(name, f.number, help);
          break;
        case ConfigType::kBool:
          f.option = app->add_flag(name, f.on, help);
          break;
        case ConfigType::kEnum:  // No enum field has a flag (config_test).
          break;
      }
    }
  }

  // The value of the flag for string field `name`, for a subcommand that
  // takes the same flag.
  std::string* Text(std::string_view name) {
    for (Flag& f : flags_) {
      if (f.field->name == name) return &f.text;
    }
    return nullptr;
  }

  // Copies the flags given into `config`; an empty string leaves the field
  // as it is.
  void ApplyTo(linkage::v1::ServerConfig* config) const {
    for (const Flag& f : flags_) {
      if (f.option == nullptr) continue;
      switch (linkage::service::TypeOf(*f.field)) {
        case ConfigType::kString:
          if (!f.text.empty()) linkage::service::SetField(*f.field, f.text, config);
          break;
        case ConfigType::kInt32:
          if (f.option->count() > 0) linkage::service::SetField(*f.field, f.integer, config);
          break;
        case ConfigType::kDouble:
          if (f.option->count() > 0) linkage::service::SetField(*f.field, f.number, config);
          break;
        case ConfigType::kBool:
          if (f.option->count() > 0) linkage::service::SetField(*f.field, f.on, config);
          break;
        case ConfigType::kEnum:
          break;
      }
    }
  }

 private:
  struct Flag {
    const ConfigField* field = nullptr;
    CLI::Option* option = nullptr;
    std::string text;
    int32_t integer = 0;
    double number = 0;
    bool on = false;
  };
  std::deque<Flag> flags_;  // CLI11 holds pointers into it.
};

}  // namespace

int main(int argc, char** argv) {
  linkage::service::RouteGrpcLogs();
  CLI::App app{"linkd: record-linkage gRPC server for social-protection payments"};
  std::string config_path;
  app.add_option("--config", config_path, "Text-format linkage.v1.ServerConfig file");
  ConfigFlags flags(&app);
  CLI::App* repair = app.add_subcommand(
      "repair", "Rebuild every index from the records (offline; resumable), then check the result");
  repair->add_option("--db", *flags.Text("db"), "RocksDB data directory to repair");
  repair->add_option("--config", config_path, "Text-format linkage.v1.ServerConfig file");
  std::string restore_from;
  uint32_t restore_id = 0;
  CLI::App* restore = app.add_subcommand(
      "restore",
      "Restore a backup into a new, empty directory (offline), then check it against the "
      "backup's metadata and the index check");
  restore->add_option("--from", restore_from, "Backup directory")->required();
  restore->add_option("--db", *flags.Text("db"), "New (empty) RocksDB data directory")->required();
  restore->add_option("--backup-id", restore_id, "Backup to restore (default: the newest)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  linkage::v1::ServerConfig config;
  if (!config_path.empty()) {
    auto loaded = linkage::service::LoadConfig(config_path);
    if (!loaded.ok()) {
      Log("error", "bad_config", {Str("message", linkage::SV(loaded.status().message()))});
      return 2;
    }
    config = *loaded;
  }
  flags.ApplyTo(&config);
  config = linkage::service::WithDefaults(config);
  if (absl::Status st = linkage::service::ValidateConfig(config); !st.ok()) {
    Log("error", "bad_config", {Str("message", linkage::SV(st.message()))});
    return 2;
  }
  if (repair->parsed()) return Repair(config);
  if (restore->parsed()) return Restore(config, restore_from, restore_id);

  // Block the stop signals in every thread (gRPC's and RocksDB's inherit
  // the mask) and take them synchronously below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);  // Re-read the access policy.
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const absl::Time started = absl::Now();
  auto server = linkage::service::Server::Start(config);
  if (!server.ok()) {
    Log("error", "start_failed", {Str("message", linkage::SV(server.status().message()))});
    return 1;
  }
  const linkage::v1::ServerConfig& c = (*server)->config();
  Log("info", "start",
      {Str("listen", c.listen()), Int("port", (*server)->port()),
       Int("metrics_port", (*server)->metrics_port()), Str("db", c.db()),
       Str("model", (*server)->model_version()), Int("workers", c.workers()),
       Str("security", (*server)->security()),
       Num("startup_seconds", absl::ToDoubleSeconds(absl::Now() - started)), Int("pid", getpid())});

  int signal_number = 0;
  while (true) {
    sigwait(&stop_signals, &signal_number);
    if (signal_number != SIGHUP) break;
    absl::StatusOr<int> reloaded = (*server)->ReloadAuth();
    if (reloaded.ok()) {
      Log("info", "auth_reloaded", {Str("auth", c.auth_file()), Int("principals", *reloaded)});
    } else {
      Log("error", "auth_reload_failed",
          {Str("message", linkage::SV(reloaded.status().message()))});
    }
  }
  Log("info", "stopping",
      {Str("signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"),
       Num("grace_seconds", c.shutdown_grace_seconds())});
  const absl::Time stopping = absl::Now();
  (*server)->Shutdown();
  server->reset();
  Log("info", "stop",
      {Num("shutdown_seconds", absl::ToDoubleSeconds(absl::Now() - stopping)),
       Num("uptime_seconds", absl::ToDoubleSeconds(absl::Now() - started))});
  return 0;
}
