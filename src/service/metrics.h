#pragma once

// Prometheus metrics and the plaintext probe port (--metrics-listen).
//
// The registry and metric types are prometheus-cpp's core (the Debian
// package prometheus-cpp-dev: maintained, thread-safe atomic counters and
// histograms, the text format's escaping done right); the HTTP listener is
// cpp-httplib rather than prometheus-cpp's civetweb exposer because the same
// port also answers /healthz and /readyz with a status code a Kubernetes
// probe reads, which the exposer cannot serve.
//
// No label carries person data: labels are gRPC service/method/code names,
// the fixed decision bands, dataset names (operator config), column family
// names and the model version.

#include <grpcpp/support/server_interceptor.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "linkage/v1/audit.pb.h"

namespace prometheus {
class Registry;
}  // namespace prometheus
namespace httplib {
class Server;
}  // namespace httplib

namespace linkage::service {

class Metrics;

// What a scrape reads from the rest of the server: called under the
// scrape, so it reads cheap values (store properties, the audit head).
struct MetricsSources {
  std::function<void(Metrics*)> refresh;
  // The process answers (liveness) and the service is SERVING (readiness).
  std::function<bool()> ready;
};

class Metrics {
 public:
  Metrics();
  ~Metrics();

  prometheus::Registry& registry() { return *registry_; }

  // The gRPC server interceptor that counts every call
  // (grpc_server_started_total, grpc_server_handled_total,
  // grpc_server_handling_seconds); one per ServerBuilder.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();

  // Counts each item's decision of a person call's audit entry in
  // linkd_decisions_total{rpc,decision}: the bands (MATCH, REVIEW,
  // NO_MATCH), Verify's decisions, write outcomes; only enum-like names
  // (A-Z, _) are counted, so no free text reaches a label.
  void CountDecisions(const v1::AuditEntry& entry);

  // Counts the flags of one answer in linkd_answer_flags_total{kind,flag}
  // (`kind` "match" or "verify"); only enum-like names (A-Z, 0-9, _) are
  // counted, so no free text reaches a label.
  void CountFlags(std::string_view kind,
                  const google::protobuf::RepeatedPtrField<std::string>& flags);

  // Gauges set by MetricsSources::refresh at each scrape.
  void SetGauge(const std::string& family, const std::map<std::string, std::string>& labels,
                double value);
  // Counters and a histogram whose counts the server keeps itself
  // (cumulative since start: the engine's retrieval counters, RocksDB's
  // stall counts, job runs), set by refresh to what they read. `counts`
  // holds one count per bucket of `bounds` (not cumulative) and a last one
  // for the values above every bound.
  void SetCounter(const std::string& family, const std::map<std::string, std::string>& labels,
                  double value);
  void SetHistogram(const std::string& family, const std::vector<double>& bounds,
                    const std::vector<int64_t>& counts, double sum);

  // The text exposition of everything registered (after refresh).
  std::string Scrape();

  struct Families;
  Families& families() { return *families_; }

  void set_sources(MetricsSources sources) { sources_ = std::move(sources); }
  bool Ready() const { return sources_.ready && sources_.ready(); }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> families_;
  MetricsSources sources_;
};

// The plaintext HTTP listener: /metrics, /healthz (200 while the process
// runs), /readyz (200 while SERVING, 503 otherwise), and whatever `routes`
// adds (the review desk's page, review_http.h).
class MetricsServer {
 public:
  // Binds `listen` (host:port; port 0 picks one) and serves on a thread.
  // With `tls_cert` and `tls_key` (PEM files) it serves HTTPS instead.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& listen, Metrics* metrics,
      const std::function<void(httplib::Server*)>& routes = {}, const std::string& tls_cert = "",
      const std::string& tls_key = "");
  ~MetricsServer();
  int port() const { return port_; }
  void Stop();

 private:
  MetricsServer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace linkage::service
