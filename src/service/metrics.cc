#include "metrics.h"

#include <httplib.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <chrono>
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
};

struct Metrics::Families {
  prometheus::Family<prometheus::Counter>* started;
  prometheus::Family<prometheus::Counter>* handled;
  prometheus::Family<prometheus::Histogram>* seconds;
  prometheus::Family<prometheus::Counter>* decisions;
  std::map<std::string, prometheus::Family<prometheus::Gauge>*, std::less<>> gauges;
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
  auto enum_like = [](std::string_view s) {
    if (s.empty() || s.size() > 40) return false;
    for (char ch : s) {
      if (!((ch >= 'A' && ch <= 'Z') || ch == '_')) return false;
    }
    return true;
  };
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

void Metrics::SetGauge(const std::string& family, const std::map<std::string, std::string>& labels,
                       double value) {
  auto it = families_->gauges.find(family);
  if (it == families_->gauges.end()) return;
  it->second->Add(labels).Set(value);
}

std::string Metrics::Scrape() {
  if (sources_.refresh) sources_.refresh(this);
  SetGauge("linkd_ready", {}, sources_.ready && sources_.ready() ? 1 : 0);
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

struct MetricsServer::Impl {
  httplib::Server http;
};

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen,
                                                                    Metrics* metrics) {
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
  httplib::Server& http = s->impl_->http;
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
  s->port_ = port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? port : -1);
  if (s->port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen,
                                               " (metrics_listen: in use, or not an address of "
                                               "this machine)"));
  }
  MetricsServer* raw = s.get();
  s->thread_ = std::thread([raw] { raw->impl_->http.listen_after_bind(); });
  // Running before Start returns, so a Stop right after is not lost.
  while (!http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return s;
}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::Stop() {
  if (impl_ != nullptr) impl_->http.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace linkage::service
