#include "metrics.h"

#include <httplib.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace linkage::service {

// Gauges a scrape sets from the server's state: name and help.
constexpr std::pair<std::string_view, std::string_view> kGauges[] = {
    {"linkd_ready", "1 while health is SERVING (database open, match views loaded, not draining)"},
    {"linkd_model_info", "The model in force: 1, labelled with its version"},
    {"linkd_dataset_records", "Records stored per dataset"},
    {"linkd_match_view_ready", "1 once a dataset's match view is loaded"},
    {"linkd_match_view_records", "Records held in a dataset's match view"},
    {"linkd_match_view_bytes", "Approximate memory held by a dataset's match view"},
    {"linkd_rocksdb_sst_bytes", "Size of the SST files per column family"},
    {"linkd_rocksdb_live_data_bytes", "Estimated live data per column family"},
    {"linkd_storage_writable", "1 while writes are accepted (0: disk reserve or a write stop)"},
    {"linkd_storage_damaged", "1 once damaged data was found (take the node out of service)"},
    {"linkd_storage_background_errors", "RocksDB background errors since open"},
    {"linkd_audit_entries", "Entries in the audit log (the audit head's count)"},
    {"linkd_log_applied_seq", "The replicated log's last change applied here (writer, reader)"},
    {"linkd_log_last_seq", "The log's last change as this node last heard (writer, reader)"},
    {"linkd_log_lag_changes", "Changes in the log not yet applied here (reader)"},
    {"linkd_log_lag_seconds", "How far behind the log this reader is, seconds"},
    {"linkd_log_caught_up", "1 while within max_lag_changes and max_lag_seconds (reader)"},
    {"linkd_log_fenced", "1 once this writer was fenced by another writer"},
    {"linkd_review_items", "Items on the review desk (REVIEW answers and calibration samples)"},
    {"linkd_review_pending",
     "REVIEW items on the desk not yet decided same or different (unsure ones included)"},
    {"linkd_rocksdb_pending_compaction_bytes",
     "Bytes compaction must rewrite per column family (writes slow down past RocksDB's limit)"},
    {"linkd_rocksdb_running_compactions", "Compactions running now"},
    {"linkd_rocksdb_write_stopped", "1 while RocksDB stops writes (a write stall)"},
    {"linkd_job_running", "1 while an admin job of this kind runs"},
    {"linkd_job_done",
     "Progress of the running (or last) job: records (Reindex, FindDuplicates), steps "
     "(TrainModel), bytes copied (Backup)"},
    {"linkd_job_total", "What linkd_job_done counts up to; 0 while unknown (Backup)"},
    {"linkd_job_last_success_timestamp_seconds",
     "Unix time a job of this kind last succeeded (kept across restarts)"},
    {"linkd_job_last_failure_timestamp_seconds",
     "Unix time a job of this kind last failed or was stopped (kept across restarts)"},
};

namespace {

// Counters the server counts itself and reports at each scrape.
constexpr std::pair<std::string_view, std::string_view> kKeptCounters[] = {
    {"linkd_queries_total", "Queries blocking ran for: Match, Verify, streams and jobs' own"},
    {"linkd_blocks_skipped_oversized_total",
     "Blocks skipped because they held more records than max_block_size"},
    {"linkd_candidates_capped_total", "Queries whose candidates were cut to max_candidates"},
    {"linkd_rocksdb_write_slowdowns_total", "Times RocksDB slowed writes down, per column family"},
    {"linkd_rocksdb_write_stops_total", "Times RocksDB stopped writes, per column family"},
    {"linkd_rocksdb_write_stall_seconds_total", "Time writers waited on write stalls"},
    {"linkd_job_runs_total", "Admin job runs by kind and outcome (a status code name)"},
    {"linkd_review_decisions_total", "Decision entries on the review desk (undos included)"},
    {"linkd_review_refused_total",
     "Answers not queued on the review desk (max_review_items reached, or a failed write)"},
};

constexpr std::pair<std::string_view, std::string_view> kKeptHistograms[] = {
    {"linkd_query_candidates", "Candidates a query retrieved (before the max_candidates cap)"},
};

bool EnumLike(std::string_view s, bool digits) {
  if (s.empty() || s.size() > 40) return false;
  for (char ch : s) {
    if (!((ch >= 'A' && ch <= 'Z') || ch == '_' || (digits && ch >= '0' && ch <= '9')))
      return false;
  }
  return true;
}

}  // namespace

struct Metrics::Families {
  prometheus::Family<prometheus::Counter>* started;
  prometheus::Family<prometheus::Counter>* handled;
  prometheus::Family<prometheus::Histogram>* seconds;
  prometheus::Family<prometheus::Counter>* decisions;
  prometheus::Family<prometheus::Counter>* flags;
  std::map<std::string, prometheus::Family<prometheus::Gauge>*, std::less<>> gauges;
  // The families counted elsewhere, as refresh last set them, by name.
  absl::Mutex kept_mu;
  std::map<std::string, prometheus::MetricFamily, std::less<>> kept ABSL_GUARDED_BY(kept_mu);
};

namespace {

std::string_view CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK:
      return "OK";
    case grpc::CANCELLED:
      return "Canceled";
    case grpc::UNKNOWN:
      return "Unknown";
    case grpc::INVALID_ARGUMENT:
      return "InvalidArgument";
    case grpc::DEADLINE_EXCEEDED:
      return "DeadlineExceeded";
    case grpc::NOT_FOUND:
      return "NotFound";
    case grpc::ALREADY_EXISTS:
      return "AlreadyExists";
    case grpc::PERMISSION_DENIED:
      return "PermissionDenied";
    case grpc::RESOURCE_EXHAUSTED:
      return "ResourceExhausted";
    case grpc::FAILED_PRECONDITION:
      return "FailedPrecondition";
    case grpc::ABORTED:
      return "Aborted";
    case grpc::OUT_OF_RANGE:
      return "OutOfRange";
    case grpc::UNIMPLEMENTED:
      return "Unimplemented";
    case grpc::INTERNAL:
      return "Internal";
    case grpc::UNAVAILABLE:
      return "Unavailable";
    case grpc::DATA_LOSS:
      return "DataLoss";
    case grpc::UNAUTHENTICATED:
      return "Unauthenticated";
    default:
      return "Unknown";
  }
}

std::string_view TypeName(grpc::experimental::ServerRpcInfo::Type type) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  switch (type) {
    case Type::UNARY:
      return "unary";
    case Type::CLIENT_STREAMING:
      return "client_stream";
    case Type::SERVER_STREAMING:
      return "server_stream";
    case Type::BIDI_STREAMING:
      return "bidi_stream";
    default:
      return "unknown";
  }
}

// One per call: counts it at its start, and its code and duration when the
// status is sent. The label lookups take the family's lock once per call
// (not per stream message).
class CallInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallInterceptor(Metrics::Families* f, grpc::experimental::ServerRpcInfo* info)
      : families_(f), start_(std::chrono::steady_clock::now()) {
    std::string_view full = info->method() != nullptr ? info->method() : "";
    if (!full.empty() && full[0] == '/') full.remove_prefix(1);
    const size_t slash = full.find('/');
    service_ = std::string(full.substr(0, slash));
    method_ = slash == std::string_view::npos ? "" : std::string(full.substr(slash + 1));
    type_ = std::string(TypeName(info->type()));
    families_->started
        ->Add({{"grpc_service", service_}, {"grpc_method", method_}, {"grpc_type", type_}})
        .Increment();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using Point = grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(Point::PRE_SEND_STATUS)) {
      const std::string code(CodeName(methods->GetSendStatus().error_code()));
      families_->handled
          ->Add({{"grpc_service", service_},
                 {"grpc_method", method_},
                 {"grpc_type", type_},
                 {"grpc_code", code}})
          .Increment();
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      static const prometheus::Histogram::BucketBoundaries kBuckets = {
          0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
      families_->seconds
          ->Add({{"grpc_service", service_}, {"grpc_method", method_}, {"grpc_type", type_}},
                kBuckets)
          .Observe(seconds);
    }
    methods->Proceed();
  }

 private:
  Metrics::Families* families_;
  std::chrono::steady_clock::time_point start_;
  std::string service_, method_, type_;
};

class InterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit InterceptorFactory(Metrics::Families* f) : families_(f) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CallInterceptor(families_, info);
  }

 private:
  Metrics::Families* families_;
};

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()), families_(std::make_unique<Families>()) {
  families_->started = &prometheus::BuildCounter()
                            .Name("grpc_server_started_total")
                            .Help("Total number of RPCs started on the server.")
                            .Register(*registry_);
  families_->handled = &prometheus::BuildCounter()
                            .Name("grpc_server_handled_total")
                            .Help(
                                "Total number of RPCs completed on the server, regardless of "
                                "success or failure.")
                            .Register(*registry_);
  families_->seconds = &prometheus::BuildHistogram()
                            .Name("grpc_server_handling_seconds")
                            .Help(
                                "Histogram of response latency (seconds) of gRPC that had "
                                "been application-level handled by the server.")
                            .Register(*registry_);
  families_->decisions = &prometheus::BuildCounter()
                              .Name("linkd_decisions_total")
                              .Help("Decisions answered, by RPC and band or verify decision")
                              .Register(*registry_);
  families_->flags = &prometheus::BuildCounter()
                          .Name("linkd_answer_flags_total")
                          .Help("Flags on answers, by kind (match, verify) and flag")
                          .Register(*registry_);
  {
    absl::MutexLock lock(&families_->kept_mu);
    for (const auto& [name, help] : kKeptCounters) {
      families_->kept[std::string(name)] = {
          std::string(name), std::string(help), prometheus::MetricType::Counter, {}};
    }
    for (const auto& [name, help] : kKeptHistograms) {
      families_->kept[std::string(name)] = {
          std::string(name), std::string(help), prometheus::MetricType::Histogram, {}};
    }
  }
  for (const auto& [name, help] : kGauges) {
    families_->gauges[std::string(name)] = &prometheus::BuildGauge()
                                                .Name(std::string(name))
                                                .Help(std::string(help))
                                                .Register(*registry_);
  }
}

Metrics::~Metrics() = default;

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
Metrics::InterceptorFactory() {
  return std::make_unique<service::InterceptorFactory>(families_.get());
}

void Metrics::CountDecisions(const v1::AuditEntry& entry) {
  auto enum_like = [](std::string_view s) { return EnumLike(s, /*digits=*/false); };
  // The method is one of linkd's own RPC names (letters only).
  const std::string& rpc = entry.method();
  if (rpc.empty() || rpc.size() > 40) return;
  for (char ch : rpc) {
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z'))) return;
  }
  for (const v1::AuditItem& item : entry.items()) {
    if (!enum_like(item.decision())) continue;
    families_->decisions->Add({{"rpc", rpc}, {"decision", item.decision()}}).Increment();
  }
}

void Metrics::CountFlags(std::string_view kind,
                         const google::protobuf::RepeatedPtrField<std::string>& flags) {
  for (const std::string& flag : flags) {
    if (!EnumLike(flag, /*digits=*/true)) continue;
    families_->flags->Add({{"kind", std::string(kind)}, {"flag", flag}}).Increment();
  }
}

namespace {

std::vector<prometheus::ClientMetric::Label> Labels(
    const std::map<std::string, std::string>& labels) {
  std::vector<prometheus::ClientMetric::Label> out;
  for (const auto& [name, value] : labels) out.push_back({name, value});
  return out;
}

}  // namespace

void Metrics::SetCounter(const std::string& family,
                         const std::map<std::string, std::string>& labels, double value) {
  absl::MutexLock lock(&families_->kept_mu);
  auto it = families_->kept.find(family);
  if (it == families_->kept.end() || it->second.type != prometheus::MetricType::Counter) return;
  std::vector<prometheus::ClientMetric::Label> want = Labels(labels);
  for (prometheus::ClientMetric& m : it->second.metric) {
    if (m.label == want) {
      m.counter.value = value;
      return;
    }
  }
  prometheus::ClientMetric m;
  m.label = std::move(want);
  m.counter.value = value;
  it->second.metric.push_back(std::move(m));
}

void Metrics::SetHistogram(const std::string& family, const std::vector<double>& bounds,
                           const std::vector<int64_t>& counts, double sum) {
  if (counts.size() != bounds.size() + 1) return;
  absl::MutexLock lock(&families_->kept_mu);
  auto it = families_->kept.find(family);
  if (it == families_->kept.end() || it->second.type != prometheus::MetricType::Histogram) return;
  prometheus::ClientMetric m;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    cumulative += static_cast<uint64_t>(std::max<int64_t>(counts[i], 0));
    m.histogram.bucket.push_back({cumulative, bounds[i]});
  }
  cumulative += static_cast<uint64_t>(std::max<int64_t>(counts.back(), 0));
  m.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = sum;
  it->second.metric = {std::move(m)};
}

void Metrics::SetGauge(const std::string& family, const std::map<std::string, std::string>& labels,
                       double value) {
  auto it = families_->gauges.find(family);
  if (it == families_->gauges.end()) return;
  it->second->Add(labels).Set(value);
}

std::string Metrics::Scrape() {
  if (sources_.refresh) sources_.refresh(this);
  SetGauge("linkd_ready", {}, sources_.ready && sources_.ready() ? 1 : 0);
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  {
    absl::MutexLock lock(&families_->kept_mu);
    for (const auto& [name, family] : families_->kept) {
      if (!family.metric.empty()) families.push_back(family);
    }
  }
  return prometheus::TextSerializer().Serialize(families);
}

struct MetricsServer::Impl {
  std::unique_ptr<httplib::Server> http;
};

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& listen, Metrics* metrics,
    const std::function<void(httplib::Server*)>& routes, const std::string& tls_cert,
    const std::string& tls_key) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("option metrics_listen: ", listen, " is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto s = std::unique_ptr<MetricsServer>(new MetricsServer());
  s->impl_ = std::make_unique<Impl>();
  if (!tls_cert.empty()) {
    auto ssl = std::make_unique<httplib::SSLServer>(tls_cert.c_str(), tls_key.c_str());
    if (!ssl->is_valid()) {
      return absl::InvalidArgumentError(absl::StrCat("option metrics_tls: ", tls_cert, " and ",
                                                     tls_key,
                                                     " are not a certificate and its key"));
    }
    s->impl_->http = std::move(ssl);
  } else {
    s->impl_->http = std::make_unique<httplib::Server>();
  }
  httplib::Server& http = *s->impl_->http;
  http.Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics->Scrape(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  http.Get("/readyz", [metrics](const httplib::Request&, httplib::Response& res) {
    const bool ready = metrics->Ready();
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "SERVING\n" : "NOT_SERVING\n", "text/plain");
  });
  if (routes) routes(&http);
  s->port_ = port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? port : -1);
  if (s->port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen,
                                               " (metrics_listen: in use, or not an address of "
                                               "this machine)"));
  }
  MetricsServer* raw = s.get();
  s->thread_ = std::thread([raw] { raw->impl_->http->listen_after_bind(); });
  // Running before Start returns, so a Stop right after is not lost.
  while (!http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return s;
}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::Stop() {
  if (impl_ != nullptr && impl_->http != nullptr) impl_->http->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace linkage::service
