// The linkd gRPC server: LinkageService, AdminService, the standard health
// service and server reflection, over one Engine and Store.
//
//   auto server = linkage::service::Server::Start(config);
//   ...
//   (*server)->Shutdown();  // Graceful: drain, flush, close.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "linkage/store.h"
#include "linkage/v1/config.pb.h"
#include "linkage/v1/spec.pb.h"

namespace linkage::service {

// The health service name whose status says whether writes are accepted
// (NOT_SERVING while the disk is below its reserve or RocksDB stopped
// writes); reads go on meanwhile, and "" stays SERVING.
inline constexpr std::string_view kWritesHealthService = "linkd.writes";

// `config` with every unset (zero or empty) field replaced by its default.
v1::ServerConfig WithDefaults(const v1::ServerConfig& config);

// InvalidArgument naming the first option outside its documented range
// (config.proto), or the transport and access options that do not fit
// together: tls_cert without tls_key (or the reverse), client_ca or
// auth_file without TLS, a non-loopback listen address without TLS and an
// access policy unless `insecure`. For a config after WithDefaults.
absl::Status ValidateConfig(const v1::ServerConfig& config);

// The store options a config asks for.
index::StoreOptions StoreOptionsFor(const v1::ServerConfig& config);

// Reads a text-format ServerConfig. Errors name the file and the line.
absl::StatusOr<v1::ServerConfig> LoadConfig(const std::string& path);

class Server {
 public:
  // Opens the database, loads the model, starts listening. Health reports
  // SERVING only once all of that succeeded and the match views are loaded
  // (NOT_SERVING meanwhile; they load in the background). Errors: the database cannot be
  // opened (locked, corrupt, not writable), the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const v1::ServerConfig& config);

  virtual ~Server() = default;

  // The port actually bound (useful with port 0).
  virtual int port() const = 0;
  // The port of the metrics and probe listener (metrics_listen), 0 without one.
  virtual int metrics_port() const = 0;
  virtual const v1::ServerConfig& config() const = 0;
  virtual std::string model_version() const = 0;

  // How the listener is secured, for the start line: "tls+policy",
  // "tls" (no policy: anonymous callers with every role), "plaintext"
  // (loopback) or "insecure" (off loopback without TLS and a policy).
  virtual std::string security() const = 0;

  // Re-reads the access policy file (auth_file); calls that start
  // afterwards are judged by it. On error the policy in force stays. The
  // number of principals in force; FailedPrecondition without a policy.
  virtual absl::StatusOr<int> ReloadAuth() = 0;

  // Graceful stop: health NOT_SERVING, new calls get UNAVAILABLE, in-flight
  // calls have shutdown_grace_seconds to finish (then are cancelled), the
  // workers drain, RocksDB is flushed and closed. Idempotent.
  virtual void Shutdown() = 0;

 protected:
  Server() = default;
};

}  // namespace linkage::service
