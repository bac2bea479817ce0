// linkd: the record-linkage gRPC server.
//
//   linkd --db DIR --listen HOST:PORT [--config FILE] [options]
//   linkd repair --db DIR          rebuild the indexes from the records
//
// Options come from the flags, then the config file (text-format
// linkage.v1.ServerConfig, see deploy/linkd.conf), then the defaults
// documented in proto/linkage/v1/config.proto. SIGTERM or SIGINT stops it
// gracefully. Exit codes: 0 clean stop, 1 failure, 2 usage error.
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "../service/log.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "linkage/engine.h"
#include "linkage/model.h"
#include "linkage/server.h"
#include "linkage/store.h"

namespace {

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

}  // namespace

int main(int argc, char** argv) {
  linkage::service::RouteGrpcLogs();
  CLI::App app{"linkd: record-linkage gRPC server for social-protection payments"};
  std::string config_path, listen, db, model_file;
  int workers = 0, max_message_mib = 0, max_batch = 0, max_candidates = 0, disk_reserve = 0;
  double grace = 0;
  bool sync_writes = true, accept_wal_loss = false, no_match_view = false;
  app.add_option("--config", config_path, "Text-format linkage.v1.ServerConfig file");
  app.add_option("--listen", listen,
                 "host:port to listen on (default 127.0.0.1:50051; port 0 picks one)");
  app.add_option("--db", db, "RocksDB data directory (default ./linkd-data; created if missing)");
  app.add_option("--model", model_file, "Model to install at start (text format or .json)");
  app.add_option("--workers", workers, "Scoring threads (default: number of cores)");
  app.add_option("--max-message-mib", max_message_mib, "Largest gRPC message, MiB (default 16)");
  app.add_option("--max-batch", max_batch, "Most records per UpsertRecords call (default 10000)");
  app.add_option("--max-candidates", max_candidates, "Candidates scored per query (default 200)");
  app.add_option("--grace", grace, "Seconds in-flight calls get on shutdown (default 10)");
  app.add_option("--disk-reserve-mib", disk_reserve,
                 "Free space kept on the database volume; writes are refused below it (default "
                 "256)");
  app.add_flag("--sync-writes,!--no-sync-writes", sync_writes,
               "Sync acknowledged writes to disk (default on; --no-sync-writes survives process "
               "crashes only)");
  app.add_flag("--accept-wal-loss", accept_wal_loss,
               "Start even if the write-ahead log is damaged, dropping what follows the damage");
  app.add_flag(
      "--no-match-view", no_match_view,
      "serve from RocksDB alone, without the in-memory match view (saves ~400 MiB per 1M records)");
  CLI::App* repair = app.add_subcommand(
      "repair", "Rebuild every index from the records (offline; resumable), then check the result");
  repair->add_option("--db", db, "RocksDB data directory to repair");
  repair->add_option("--config", config_path, "Text-format linkage.v1.ServerConfig file");
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
  auto given = [&app](const char* flag) { return app.count(flag) > 0; };
  if (!listen.empty()) config.set_listen(listen);
  if (!db.empty()) config.set_db(db);
  if (!model_file.empty()) config.set_model_file(model_file);
  if (given("--workers")) config.set_workers(workers);
  if (given("--max-message-mib")) config.set_max_message_mib(max_message_mib);
  if (given("--max-batch")) config.set_max_batch_records(max_batch);
  if (given("--max-candidates")) config.set_max_candidates(max_candidates);
  if (given("--grace")) config.set_shutdown_grace_seconds(grace);
  if (given("--disk-reserve-mib")) config.set_disk_reserve_mib(disk_reserve);
  if (given("--sync-writes") || given("--no-sync-writes")) config.set_sync_writes(sync_writes);
  if (accept_wal_loss) config.set_accept_wal_loss(true);
  if (no_match_view) config.set_no_match_view(true);
  config = linkage::service::WithDefaults(config);
  if (absl::Status st = linkage::service::ValidateConfig(config); !st.ok()) {
    Log("error", "bad_config", {Str("message", linkage::SV(st.message()))});
    return 2;
  }
  if (repair->parsed()) return Repair(config);

  // Block the stop signals in every thread (gRPC's and RocksDB's inherit
  // the mask) and take them synchronously below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const absl::Time started = absl::Now();
  auto server = linkage::service::Server::Start(config);
  if (!server.ok()) {
    Log("error", "start_failed", {Str("message", linkage::SV(server.status().message()))});
    return 1;
  }
  const linkage::v1::ServerConfig& c = (*server)->config();
  Log("info", "start",
      {Str("listen", c.listen()), Int("port", (*server)->port()), Str("db", c.db()),
       Str("model", (*server)->model_version()), Int("workers", c.workers()),
       Num("startup_seconds", absl::ToDoubleSeconds(absl::Now() - started)), Int("pid", getpid())});

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
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
