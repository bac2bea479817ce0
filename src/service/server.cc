#include "linkage/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "admin_service.h"
#include "audit_service.h"
#include "auth.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "config.h"
#include "linkage/audit.h"
#include "linkage/change_log.h"
#include "linkage/engine.h"
#include "linkage/model.h"
#include "linkage/normalize.h"
#include "linkage/store.h"
#include "linkage_service.h"
#include "log.h"
#include "metrics.h"
#include "replication.h"
#include "review_desk.h"
#include "review_http.h"
#include "review_service.h"

namespace linkage::service {
namespace {

class ServerImpl final : public Server {
 public:
  ~ServerImpl() override { Shutdown(); }

  int port() const override { return port_; }
  int metrics_port() const override {
    return metrics_server_ != nullptr ? metrics_server_->port() : 0;
  }
  std::string security() const override {
    const v1::ServerConfig& c = config_;
    if (c.tls_cert().empty()) return IsLoopbackAddress(c.listen()) ? "plaintext" : "insecure";
    if (c.auth_file().empty()) return IsLoopbackAddress(c.listen()) ? "tls" : "insecure";
    return "tls+policy";
  }
  absl::StatusOr<int> ReloadAuth() override {
    if (authorizer_ == nullptr) return absl::FailedPreconditionError("linkd runs without --auth");
    return authorizer_->Reload();
  }
  const v1::ServerConfig& config() const override { return config_; }
  std::string model_version() const override {
    return engine_ ? engine_->model()->proto().version() : "";
  }

  // Also tears down a server that failed half way through Start.
  void Shutdown() override {
    if (stopped_.exchange(true)) return;
    ctx_.shutting_down.store(true);
    serving_.store(false);  // /readyz answers 503 from here on.
    stop_monitor_.Notify();
    if (monitor_.joinable()) monitor_.join();
    if (server_ != nullptr) {
      grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
      if (health != nullptr) health->Shutdown();  // NOT_SERVING, and stays so.
      auto grace =
          std::chrono::milliseconds(static_cast<int64_t>(config_.shutdown_grace_seconds() * 1000));
      server_->Shutdown(std::chrono::system_clock::now() + grace);
      server_->Wait();
    }
    if (metrics_server_ != nullptr) metrics_server_->Stop();
    // A training thread finishes its call before the engine goes away.
    while (ctx_.background.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (pool_ != nullptr) pool_->Stop();
    // The reader's thread applies changes through the engine: stop it first.
    if (replica_ != nullptr) replica_->Stop();
    if (audit_ != nullptr) LogAuditHead("audit_head_at_stop");
    if (store_ != nullptr && store_->Condition().writable) {
      absl::Status flushed = store_->Flush();
      if (!flushed.ok()) Log("error", "flush_failed", {Str("message", SV(flushed.message()))});
    }
    ctx_.replica = nullptr;
    ctx_.writer = nullptr;
    replica_.reset();
    engine_.reset();
    audit_.reset();
    store_.reset();
  }

  // The audit log's head, for the log's readers to keep (no personal data).
  void LogAuditHead(std::string_view event) {
    const audit::Head head = audit_->head();
    Log("info", event,
        {Int("audit_count", static_cast<int64_t>(head.count)),
         Str("audit_hash", audit::Hex(head.hash)), Str("audit_head", audit::HeadText(head))});
  }

  // Whether every match view is loaded (true without match views): until
  // then queries would read RocksDB at several times the cost, so a probe
  // keeps traffic away.
  bool ViewsLoaded() const {
    for (const index::StoreStats::View& v : store_->Stats().views) {
      if (!v.ready) return false;
    }
    return true;
  }

  // The services' health: SERVING once the database is open and the match
  // views are loaded, while the data is not damaged, and until Shutdown;
  // "linkd.writes" SERVING while writes are accepted.
  void SetHealth(bool serving, bool writable) {
    serving_.store(serving);
    grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
    if (health == nullptr) return;
    health->SetServingStatus(serving);
    for (const char* name :
         {"linkage.v1.LinkageService", "linkage.v1.AdminService", "linkage.v1.AuditService"}) {
      health->SetServingStatus(name, serving);
    }
    health->SetServingStatus(std::string(kWritesHealthService), writable);
  }

  // What a scrape of /metrics reads besides the counters.
  void RefreshMetrics(Metrics* m) {
    if (stopped_.load()) return;
    const index::StoreStats stats = store_->Stats();
    if (review_ != nullptr) {
      const ReviewDesk::Stats r = review_->stats();
      m->SetGauge("linkd_review_items", {}, static_cast<double>(r.items));
      m->SetGauge("linkd_review_pending", {}, static_cast<double>(r.unresolved));
      m->SetCounter("linkd_review_decisions_total", {}, static_cast<double>(r.decisions));
      m->SetCounter("linkd_review_refused_total", {}, static_cast<double>(r.refused));
    }
    for (const index::DatasetStats& d : stats.datasets) {
      m->SetGauge("linkd_dataset_records", {{"dataset", d.dataset}},
                  static_cast<double>(d.records));
    }
    for (const index::StoreStats::View& v : stats.views) {
      m->SetGauge("linkd_match_view_ready", {{"dataset", v.dataset}}, v.ready ? 1 : 0);
      m->SetGauge("linkd_match_view_records", {{"dataset", v.dataset}},
                  static_cast<double>(v.records));
      m->SetGauge("linkd_match_view_bytes", {{"dataset", v.dataset}}, static_cast<double>(v.bytes));
    }
    for (const index::StoreStats::ColumnFamily& cf : stats.column_families) {
      m->SetGauge("linkd_rocksdb_sst_bytes", {{"cf", cf.name}}, static_cast<double>(cf.sst_bytes));
      m->SetGauge("linkd_rocksdb_live_data_bytes", {{"cf", cf.name}},
                  static_cast<double>(cf.live_data_bytes));
    }
    const index::StoreCondition c = store_->Condition();
    m->SetGauge("linkd_storage_writable", {}, c.writable ? 1 : 0);
    m->SetGauge("linkd_storage_damaged", {}, c.damaged ? 1 : 0);
    m->SetGauge("linkd_storage_background_errors", {}, static_cast<double>(c.background_errors));
    for (const index::StoreStats::ColumnFamily& cf : stats.column_families) {
      m->SetGauge("linkd_rocksdb_pending_compaction_bytes", {{"cf", cf.name}},
                  static_cast<double>(cf.pending_compaction_bytes));
      m->SetCounter("linkd_rocksdb_write_slowdowns_total", {{"cf", cf.name}},
                    static_cast<double>(cf.write_slowdowns));
      m->SetCounter("linkd_rocksdb_write_stops_total", {{"cf", cf.name}},
                    static_cast<double>(cf.write_stops));
    }
    m->SetGauge("linkd_rocksdb_running_compactions", {},
                static_cast<double>(stats.running_compactions));
    m->SetGauge("linkd_rocksdb_write_stopped", {}, stats.write_stopped ? 1 : 0);
    m->SetCounter("linkd_rocksdb_write_stall_seconds_total", {},
                  static_cast<double>(stats.write_stall_micros) / 1e6);

    const engine::RetrievalStats r = engine_->retrieval_stats();
    m->SetCounter("linkd_queries_total", {}, static_cast<double>(r.queries));
    m->SetCounter("linkd_blocks_skipped_oversized_total", {},
                  static_cast<double>(r.blocks_skipped_oversized));
    m->SetCounter("linkd_candidates_capped_total", {}, static_cast<double>(r.queries_capped));
    m->SetHistogram("linkd_query_candidates",
                    std::vector<double>(engine::RetrievalStats::kCandidateBounds.begin(),
                                        engine::RetrievalStats::kCandidateBounds.end()),
                    std::vector<int64_t>(r.candidate_buckets.begin(), r.candidate_buckets.end()),
                    static_cast<double>(r.candidates));

    for (const auto& [job, j] : ctx_.jobs.Snapshot()) {
      const std::map<std::string, std::string> labels = {{"job", job}};
      m->SetGauge("linkd_job_running", labels, j.running ? 1 : 0);
      m->SetGauge("linkd_job_done", labels, static_cast<double>(j.done));
      m->SetGauge("linkd_job_total", labels, static_cast<double>(j.total));
      if (j.last_success != absl::InfinitePast()) {
        m->SetGauge("linkd_job_last_success_timestamp_seconds", labels,
                    absl::ToDoubleSeconds(j.last_success - absl::UnixEpoch()));
      }
      if (j.last_failure != absl::InfinitePast()) {
        m->SetGauge("linkd_job_last_failure_timestamp_seconds", labels,
                    absl::ToDoubleSeconds(j.last_failure - absl::UnixEpoch()));
      }
      for (const auto& [outcome, n] : j.outcomes) {
        m->SetCounter("linkd_job_runs_total", {{"job", job}, {"outcome", outcome}},
                      static_cast<double>(n));
      }
    }
    m->SetGauge("linkd_audit_entries", {}, static_cast<double>(audit_->head().count));
    if (replica_ != nullptr) {
      const v1::GetStatsResponse::Replication rs = replica_->Status();
      m->SetGauge("linkd_log_applied_seq", {}, static_cast<double>(rs.applied_seq()));
      m->SetGauge("linkd_log_last_seq", {}, static_cast<double>(rs.log_last_seq()));
      m->SetGauge("linkd_log_lag_changes", {}, static_cast<double>(rs.lag_changes()));
      m->SetGauge("linkd_log_lag_seconds", {}, rs.lag_seconds());
      m->SetGauge("linkd_log_caught_up", {}, rs.caught_up() ? 1 : 0);
      m->SetGauge("linkd_log_fenced", {}, rs.fenced() ? 1 : 0);
    }
    const std::string version = engine_->model()->proto().version();
    absl::MutexLock lock(&model_mu_);
    if (version != model_in_metrics_) {
      if (!model_in_metrics_.empty()) {
        m->SetGauge("linkd_model_info", {{"version", model_in_metrics_}}, 0);
      }
      model_in_metrics_ = version;
    }
    m->SetGauge("linkd_model_info", {{"version", version}}, 1);
  }

  // Health follows the store and the match views: the whole service
  // NOT_SERVING until the views are loaded and while data is damaged,
  // "linkd.writes" NOT_SERVING while writes are refused (a full disk); each
  // change logged once.
  // Reads answer as the writer would (within the lag allowed); writes are
  // taken here (not a reader, not a fenced writer).
  bool ReplicaCaughtUp() const { return replica_ == nullptr || replica_->CaughtUp(); }
  bool TakesWrites() const {
    return ctx_.replica == nullptr || (ctx_.writer != nullptr && !ctx_.writer->Status().fenced());
  }

  void Monitor() {
    bool was_writable = true, was_damaged = false;
    bool loaded = false;
    bool was_caught_up = ReplicaCaughtUp(), was_taking = TakesWrites();
    absl::Time head_logged = absl::InfinitePast();
    do {
      // The audit head once a minute (and at stop): a record of it outside
      // the database that an operator cannot rewrite after the fact.
      if (absl::Now() - head_logged >= absl::Minutes(1)) {
        LogAuditHead("audit_head");
        head_logged = absl::Now();
      }
      index::StoreCondition c = store_->Condition();
      const bool caught_up = ReplicaCaughtUp(), taking = TakesWrites();
      const bool loaded_now = loaded || ViewsLoaded();
      if (loaded_now != loaded) {
        Log("info", "match_views_loaded", {});
        loaded = true;
        SetHealth(!c.damaged && caught_up, c.writable && taking);
      }
      if (caught_up != was_caught_up || taking != was_taking) {
        Log(caught_up ? "info" : "error", caught_up ? "replica_caught_up" : "replica_lagging",
            {Str("detail", replica_ != nullptr ? replica_->Status().detail() : "")});
        if (loaded) SetHealth(!c.damaged && caught_up, c.writable && taking);
        was_caught_up = caught_up;
        was_taking = taking;
      }
      if (c.writable != was_writable || c.damaged != was_damaged) {
        if (loaded) SetHealth(!c.damaged && caught_up, c.writable && taking);
        if (c.writable && !c.damaged) {
          Log("info", "storage_recovered", {});
        } else {
          Log("error", c.damaged ? "storage_damaged" : "writes_refused",
              {Str("reason", c.reason), Str("detail", c.detail),
               Int("background_errors", c.background_errors)});
        }
        was_writable = c.writable;
        was_damaged = c.damaged;
      }
      // Every 20 ms until the views are loaded, so health turns SERVING
      // promptly; every second after.
    } while (!stop_monitor_.WaitForNotificationWithTimeout(loaded ? absl::Seconds(1)
                                                                  : absl::Milliseconds(20)));
  }

  v1::ServerConfig config_;
  std::unique_ptr<Authorizer> authorizer_;  // Null without a policy.
  std::unique_ptr<index::Store> store_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<Replica> replica_;  // Null for a standalone node.
  std::unique_ptr<WorkerPool> pool_;
  ServiceContext ctx_;
  std::unique_ptr<LinkageServiceImpl> linkage_;
  std::unique_ptr<AdminServiceImpl> admin_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<AuditServiceImpl> audit_service_;
  std::unique_ptr<ReviewDesk> review_;
  std::unique_ptr<ReviewServiceImpl> review_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Metrics> metrics_;  // Null without metrics_listen.
  std::unique_ptr<MetricsServer> metrics_server_;
  absl::Mutex model_mu_;
  std::string model_in_metrics_ ABSL_GUARDED_BY(model_mu_);
  std::atomic<bool> serving_{false};
  int port_ = 0;
  std::atomic<bool> stopped_{false};
  absl::Notification stop_monitor_;
  std::thread monitor_;
};

// A PEM file linkd is to watch: refused at start unless it can be read
// and holds a PEM block (the watcher would otherwise fail every handshake
// in silence).
absl::Status CheckPemFile(std::string_view option, const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("option ", AV(option), ": file ", path, " cannot be read"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("option ", AV(option), ": file ", path, " holds no PEM block"));
  }
  return absl::OkStatus();
}

// The listener's credentials: plaintext, or TLS from files watched for
// rotation (checked every tls_refresh_seconds), with client certificates requested and
// verified against client_ca but not required (health checks and token
// callers connect without one), and the access policy enforced by
// AuthProcessor when there is one.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ListenerCredentials(
    const v1::ServerConfig& c, Authorizer* authorizer) {
  if (c.tls_cert().empty()) return grpc::InsecureServerCredentials();
  LINKD_RETURN_IF_ERROR(CheckPemFile("tls_cert", c.tls_cert()));
  LINKD_RETURN_IF_ERROR(CheckPemFile("tls_key", c.tls_key()));
  if (!c.client_ca().empty()) LINKD_RETURN_IF_ERROR(CheckPemFile("client_ca", c.client_ca()));
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      c.tls_key(), c.tls_cert(), c.client_ca(), static_cast<unsigned>(c.tls_refresh_seconds()));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (c.client_ca().empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  std::shared_ptr<grpc::ServerCredentials> creds =
      grpc::experimental::TlsServerCredentials(options);
  if (creds == nullptr) return absl::InvalidArgumentError("TLS credentials could not be made");
  if (authorizer != nullptr) {
    creds->SetAuthMetadataProcessor(std::make_shared<AuthProcessor>(authorizer));
  }
  return creds;
}

// A reader's first start (role reader, --bootstrap): restores the newest
// backup of `bootstrap` into an empty or missing db, so the reader follows
// the log from the position the backup holds. A db that holds a database
// already is left as it is (the reader resumes from its own position); a
// directory with no backup yet leaves the reader to follow the log from
// its first change (logged).
absl::Status Bootstrap(const v1::ServerConfig& c) {
  std::error_code ec;
  if (std::filesystem::exists(c.db(), ec) && !std::filesystem::is_empty(c.db(), ec)) {
    return absl::OkStatus();
  }
  // No backup yet (a new deployment): follow the log from its first change.
  absl::StatusOr<std::vector<index::BackupInfo>> backups = index::ListBackups(c.bootstrap());
  if (!backups.ok() || backups->empty()) {
    Log("info", "bootstrap_without_backup",
        {Str("dir", c.bootstrap()),
         Str("reason", backups.ok() ? "no backup yet" : SV(backups.status().message()))});
    return absl::OkStatus();
  }
  // Restored beside the database directory and moved into place whole,
  // so that a restore cut short is never opened as a database.
  const std::string staging = c.db() + ".bootstrap";
  std::filesystem::remove_all(staging, ec);
  LINKD_ASSIGN_OR_RETURN(index::BackupInfo restored,
                         index::RestoreBackup(c.bootstrap(), 0, staging));
  std::filesystem::remove(c.db(), ec);  // Empty, or missing.
  std::filesystem::rename(staging, c.db(), ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("bootstrap: cannot move the restored database from ",
                                            staging, " to ", c.db(), ": ", ec.message()));
  }
  v1::BackupMetadata metadata;
  if (!metadata.ParseFromString(restored.metadata)) {
    return absl::DataLossError(
        absl::StrCat("backup ", restored.id, " in ", c.bootstrap(), " has unreadable metadata"));
  }
  if (!metadata.log_stream().empty() && metadata.log_stream() != c.log_stream()) {
    return absl::FailedPreconditionError(absl::StrCat("the bootstrap backup follows log stream \"",
                                                      metadata.log_stream(), "\", not \"",
                                                      c.log_stream(), "\""));
  }
  Log("info", "bootstrapped",
      {Int("backup_id", restored.id), Int("log_seq", static_cast<int64_t>(metadata.log_seq())),
       Str("stream", metadata.log_stream())});
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const v1::ServerConfig& raw) {
  auto s = std::make_unique<ServerImpl>();
  s->config_ = WithDefaults(raw);
  const v1::ServerConfig& c = s->config_;
  LINKD_RETURN_IF_ERROR(ValidateConfig(c));
  if (!c.auth_file().empty()) {
    LINKD_ASSIGN_OR_RETURN(s->authorizer_, Authorizer::Open(c.auth_file()));
  }
  LINKD_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                         ListenerCredentials(c, s->authorizer_.get()));

  if (!c.bootstrap().empty()) LINKD_RETURN_IF_ERROR(Bootstrap(c));
  LINKD_ASSIGN_OR_RETURN(s->store_, index::Store::Open(StoreOptionsFor(c), c.db()));
  if (std::string note = s->store_->recovery_note(); !note.empty()) {
    Log("error", "wal_loss_accepted", {Str("db", c.db()), Str("message", note)});
  }
  if (auto repair = s->store_->RepairProgress(); repair.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("a repair of database ", c.db(), " is unfinished (", *repair,
                     " records done): run `linkd repair --db ", c.db(), "` to finish it"));
  }

  // The model in force: the one stored with the data, else the default.
  LINKD_ASSIGN_OR_RETURN(std::optional<v1::Model> stored,
                         engine::Engine::LoadStoredModel(s->store_.get()));
  const v1::Model model = stored.value_or(model::DefaultVietnameseModel());
  engine::EngineOptions eo;
  eo.max_candidates = static_cast<size_t>(c.max_candidates());
  eo.max_block_size = static_cast<size_t>(c.max_block_size());
  eo.normalize.default_unit_version = c.default_unit_version();
  LINKD_ASSIGN_OR_RETURN(s->engine_, engine::Engine::Create(eo, s->store_.get(), model));
  // A database keeps the model its index was built with: store the
  // default on first start, so a later linkd with another default does not
  // silently query with other blocking rules.
  if (!stored.has_value()) LINKD_RETURN_IF_ERROR(s->engine_->InstallModel(model).status());
  // A writer applies the log's tail before anything else; a reader
  // follows the log from the change after its store's position.
  if (c.role() != "standalone") {
    LINKD_ASSIGN_OR_RETURN(std::vector<std::string> servers, changelog::ParseServers(c.log()));
    changelog::LogOptions lo;
    lo.servers = std::move(servers);
    lo.stream = c.log_stream();
    lo.create_replicas = c.role() == "writer" ? c.log_replicas() : 0;
    lo.append_timeout = absl::Seconds(c.log_append_timeout_seconds());
    lo.client_name = absl::StrCat("linkd-", c.role());
    lo.tls_ca = c.log_tls_ca();
    lo.tls_cert = c.log_tls_cert();
    lo.tls_key = c.log_tls_key();
    lo.user = c.log_user();
    if (!c.log_password_file().empty()) {
      std::ifstream in(c.log_password_file());
      if (!in || !std::getline(in, lo.password) || lo.password.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "option log_password_file: ", c.log_password_file(), " cannot be read or is empty"));
      }
    }
    LINKD_ASSIGN_OR_RETURN(std::unique_ptr<changelog::ChangeLog> log,
                           changelog::ChangeLog::Open(lo));
    if (c.role() == "writer") {
      LINKD_ASSIGN_OR_RETURN(std::unique_ptr<LogWriter> writer,
                             LogWriter::Start(std::move(log), s->engine_.get(), c.log_stream()));
      s->ctx_.writer = writer.get();
      s->replica_ = std::move(writer);
    } else {
      ReaderOptions ro;
      ro.max_lag_changes = c.max_lag_changes();
      ro.max_lag = absl::Seconds(c.max_lag_seconds());
      LINKD_ASSIGN_OR_RETURN(
          s->replica_, LogReader::Start(std::move(log), s->engine_.get(), c.log_stream(), ro));
    }
    s->ctx_.replica = s->replica_.get();
  }
  if (!c.model_file().empty()) {
    LINKD_ASSIGN_OR_RETURN(const v1::Model from_file, model::LoadModelFile(c.model_file()));
    v1::LogEntry change;
    *change.mutable_install_model() = from_file;
    ServiceContext* ctx = &s->ctx_;
    ctx->engine = s->engine_.get();
    auto installed = CommitChange(ctx, std::move(change), [&](const engine::WriteHook& log) {
      return ctx->engine->InstallModel(from_file, log).status();
    });
    if (!installed.ok()) {
      return absl::Status(
          installed.status().code(),
          absl::StrCat("model file ", c.model_file(), ": ", installed.status().message()));
    }
  }
  // Build the lazily-initialized tables (gazetteer, charset decoders) now,
  // not on the first request.
  v1::PersonRecord warm;
  warm.set_record_id("warm-up");
  warm.set_full_name("Lý Kim \xC2\xA7\xC2\xB5i");
  warm.set_address("Tổ 12, P. Đức Xuân, TP. Bắc Kạn");
  (void)domain::NormalizeRecord(warm);

  {
    auto key = audit::LoadKey(s->store_.get(), c.audit_key_file());
    if (!key.ok()) return key.status();
    LINKD_ASSIGN_OR_RETURN(s->audit_, audit::AuditLog::Open(s->store_.get(), *std::move(key)));
  }

  s->pool_ = std::make_unique<WorkerPool>(c.workers(), static_cast<size_t>(c.max_queued_calls()));
  s->ctx_.engine = s->engine_.get();
  s->ctx_.audit = s->audit_.get();
  s->ctx_.pool = s->pool_.get();
  s->ctx_.config = c;
  s->ctx_.auth = s->authorizer_.get();
  s->ctx_.jobs.Attach(s->store_.get());
  // A desk that cannot be read (a damaged decision row) is logged and left
  // closed: matching, the audit and the rest serve on.
  if (auto desk = ReviewDesk::Open(&s->ctx_, c.max_review_items()); desk.ok()) {
    s->review_ = *std::move(desk);
    s->ctx_.review = s->review_.get();
  } else {
    Log("error", "review_desk_unavailable",
        {Str("code", absl::StatusCodeToString(desk.status().code())),
         Str("reason", SV(desk.status().message()))});
  }
  if (!c.metrics_listen().empty()) {
    s->metrics_ = std::make_unique<Metrics>();
    s->ctx_.metrics = s->metrics_.get();
  }
  s->linkage_ = std::make_unique<LinkageServiceImpl>(&s->ctx_);
  s->admin_ = std::make_unique<AdminServiceImpl>(&s->ctx_);
  s->audit_service_ = std::make_unique<AuditServiceImpl>(&s->ctx_);
  s->review_service_ = std::make_unique<ReviewServiceImpl>(&s->ctx_);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // A second linkd on a port in use must fail, not share the port's
  // connections (gRPC sets SO_REUSEPORT by default).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(c.listen(), credentials, &s->port_);
  if (s->metrics_ != nullptr) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(s->metrics_->InterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  builder.RegisterService(s->linkage_.get());
  builder.RegisterService(s->admin_.get());
  builder.RegisterService(s->audit_service_.get());
  builder.RegisterService(s->review_service_.get());
  // Transport bounds: memory for all connections, calls per connection,
  // dead peers found by keepalive, idle and old connections closed (long
  // bulk streams get an hour to finish once a connection is too old).
  grpc::ResourceQuota quota("linkd");
  quota.Resize(static_cast<size_t>(c.max_transport_mib()) << 20);
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, c.max_concurrent_streams());
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10 * 1000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 15 * 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, 4 * 3600 * 1000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 3600 * 1000);
  builder.SetMaxReceiveMessageSize(c.max_message_mib() << 20);
  builder.SetMaxSendMessageSize(c.max_message_mib() << 20);
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", c.listen(),
                                               " (in use by another process, or not an "
                                               "address of this machine)"));
  }
  ServerImpl* raw_server = s.get();
  // NOT_SERVING until the match views are loaded (the monitor turns it
  // SERVING then); at once when there are none to wait for.
  if (s->ViewsLoaded()) {
    s->SetHealth(s->ReplicaCaughtUp(), s->TakesWrites());
  } else {
    s->SetHealth(false, s->TakesWrites());
    Log("info", "match_views_loading", {});
  }
  if (s->metrics_ != nullptr) {
    s->metrics_->set_sources(
        {.refresh = [raw_server](Metrics* m) { raw_server->RefreshMetrics(m); },
         .ready = [raw_server] { return raw_server->serving_.load(); }});
    LINKD_ASSIGN_OR_RETURN(
        s->metrics_server_,
        MetricsServer::Start(
            c.metrics_listen(), s->metrics_.get(),
            [ctx = &s->ctx_, tls = c.metrics_tls()](httplib::Server* http) {
              AddReviewRoutes(http, ctx, tls);
            },
            c.metrics_tls() ? c.tls_cert() : "", c.metrics_tls() ? c.tls_key() : ""));
  }
  s->monitor_ = std::thread([raw_server] { raw_server->Monitor(); });
  return std::unique_ptr<Server>(std::move(s));
}

}  // namespace linkage::service
