// linkd: the record-linkage gRPC server.
//
//   linkd --db DIR --listen HOST:PORT [--config FILE] [options]
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
#include "linkage/server.h"
#include "linkage/strings.h"

namespace {

using linkage::service::Int;
using linkage::service::Log;
using linkage::service::Num;
using linkage::service::Str;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"linkd: record-linkage gRPC server for social-protection payments"};
  std::string config_path, listen, db, model_file;
  int workers = 0, max_message_mib = 0, max_batch = 0, max_candidates = 0;
  double grace = 0;
  bool sync_writes = false;
  bool no_match_view = false;
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
  app.add_flag("--sync-writes", sync_writes, "fsync the write-ahead log on every write");
  app.add_flag(
      "--no-match-view", no_match_view,
      "serve from RocksDB alone, without the in-memory match view (saves ~400 MiB per 1M records)");
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
  if (!listen.empty()) config.set_listen(listen);
  if (!db.empty()) config.set_db(db);
  if (!model_file.empty()) config.set_model_file(model_file);
  if (workers > 0) config.set_workers(workers);
  if (max_message_mib > 0) config.set_max_message_mib(max_message_mib);
  if (max_batch > 0) config.set_max_batch_records(max_batch);
  if (max_candidates > 0) config.set_max_candidates(max_candidates);
  if (grace > 0) config.set_shutdown_grace_seconds(grace);
  if (sync_writes) config.set_sync_writes(true);
  if (no_match_view) config.set_no_match_view(true);

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
