#include "config.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "google/protobuf/descriptor.h"
#include "linkage/model.h"
#include "linkage/server.h"

namespace linkage::service {
namespace {

using google::protobuf::FieldDescriptor;

int32_t NumberOfCores() {
  return static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
}

// The defaults, ranges and flags of every option (config.proto describes
// each field; config_test holds its comments to these values).
constexpr ConfigField kConfigFields[] = {
    {.name = "listen",
     .text = "127.0.0.1:50051",
     .flag = "--listen",
     .help = "host:port to listen on",
     .help_tail = "; port 0 picks one"},
    {.name = "metrics_listen",
     .flag = "--metrics-listen",
     .help = "host:port of a plaintext HTTP port serving /metrics, /healthz and /readyz "
             "(port 0 picks one; default none)"},
    {.name = "db",
     .text = "./linkd-data",
     .flag = "--db",
     .help = "RocksDB data directory",
     .help_tail = "; created if missing"},
    {.name = "model_file",
     .flag = "--model",
     .help = "Model to install at start (text format or .json)"},
    {.name = "workers",
     .note = "number of cores",
     .compute = &NumberOfCores,
     .min = 1,
     .max = 256,
     .flag = "--workers",
     .help = "Scoring threads"},
    {.name = "max_message_mib",
     .number = 16,
     .min = 1,
     .max = 1024,
     .flag = "--max-message-mib",
     .help = "Largest gRPC message, MiB"},
    {.name = "max_batch_records",
     .number = 10000,
     .min = 1,
     .max = 100000,
     .flag = "--max-batch",
     .help = "Most records per UpsertRecords call"},
    {.name = "max_candidates",
     .number = 200,
     .min = 1,
     .max = 10000,
     .flag = "--max-candidates",
     .help = "Candidates scored per query"},
    {.name = "max_block_size", .number = 2000, .min = 1, .max = 1000000},
    {.name = "max_stream_in_flight", .number = 256, .min = 1, .max = 65536},
    {.name = "max_queued_calls", .number = 4096, .min = 1, .max = 1000000},
    {.name = "shutdown_grace_seconds",
     .number = 10,
     .min = 0.001,
     .max = 3600,
     .flag = "--grace",
     .help = "Seconds in-flight calls get on shutdown"},
    {.name = "block_cache_mib", .number = 256, .min = 1, .max = 1048576},
    {.name = "disk_reserve_mib",
     .number = 256,
     .min = 16,
     .max = 1048576,
     .flag = "--disk-reserve-mib",
     .help = "Free space kept on the database volume; writes are refused below it"},
    {.name = "sync_writes",
     .number = 1,
     .flag = "--sync-writes,!--no-sync-writes",
     .help = "Sync acknowledged writes to disk",
     .help_tail = "; --no-sync-writes survives process crashes only"},
    {.name = "accept_wal_loss",
     .flag = "--accept-wal-loss",
     .help = "Start even if the write-ahead log is damaged, dropping what follows the damage"},
    {.name = "no_match_view",
     .flag = "--no-match-view",
     .help = "serve from RocksDB alone, without the in-memory match view (saves ~400 MiB per 1M "
             "records)"},
    {.name = "default_unit_version"},
    {.name = "max_stream_records", .number = 4096, .min = 1, .max = 1000000},
    {.name = "max_stream_mib", .number = 64, .min = 1, .max = 4096},
    {.name = "max_concurrent_streams", .number = 64, .min = 1, .max = 10000},
    {.name = "max_transport_mib", .number = 1024, .min = 64, .max = 65536},
    {.name = "tls_cert",
     .flag = "--tls-cert",
     .help = "Server certificate chain (PEM); with --tls-key, serve TLS only (files watched for "
             "rotation)"},
    {.name = "tls_key", .flag = "--tls-key", .help = "Server private key (PEM)"},
    {.name = "client_ca",
     .flag = "--client-ca",
     .help = "CA (PEM) for client certificates: requested and verified, not required"},
    {.name = "auth_file",
     .flag = "--auth",
     .help = "Access policy (text-format linkage.v1.AuthPolicy); re-read on SIGHUP; needs TLS"},
    {.name = "insecure",
     .flag = "--insecure",
     .help = "Allow a non-loopback listen address without TLS and a policy (anyone who reaches "
             "the port may do anything)"},
    {.name = "tls_refresh_seconds", .number = 60, .min = 1, .max = 86400},
    {.name = "role",
     .text = "standalone",
     .flag = "--role",
     .help = "standalone, writer (changes go through the replicated log first) or reader (a read "
             "replica fed by the log)"},
    {.name = "log",
     .flag = "--log",
     .help = "NATS servers of the replicated log, nats://h1:4222,nats://h2:4222 (writer, reader)"},
    {.name = "log_stream", .text = "linkd", .flag = "--log-stream", .help = "JetStream stream"},
    {.name = "log_replicas",
     .number = 1,
     .min = 1,
     .max = 5,
     .flag = "--log-replicas",
     .help = "Replicas of the stream when the writer creates it"},
    {.name = "bootstrap",
     .flag = "--bootstrap",
     .help = "Reader: backup directory restored into an empty --db before following the log"},
    {.name = "max_lag_changes",
     .number = 1000,
     .min = 1,
     .max = 100000000,
     .flag = "--max-lag-changes",
     .help = "Reader: NOT_SERVING while more changes than this behind the log"},
    {.name = "max_lag_seconds",
     .number = 10,
     .min = 1,
     .max = 86400,
     .flag = "--max-lag-seconds",
     .help = "Reader: NOT_SERVING while this far behind the log, or out of touch with it, seconds"},
    {.name = "max_log_wait_ms",
     .number = 2000,
     .min = 1,
     .max = 60000,
     .flag = "--max-log-wait-ms",
     .help = "Longest wait of a query for its min_log_seq, ms"},
    {.name = "log_append_timeout_seconds",
     .number = 30,
     .min = 1,
     .max = 600,
     .flag = "--log-append-timeout",
     .help = "Longest wait of a write for the log's acknowledgement, seconds"},
    {.name = "log_tls_ca",
     .flag = "--log-tls-ca",
     .help = "CA (PEM) the log's NATS servers' certificates chain to (TLS to the log)"},
    {.name = "log_tls_cert",
     .flag = "--log-tls-cert",
     .help = "This node's certificate for the log"},
    {.name = "log_tls_key", .flag = "--log-tls-key", .help = "This node's key for the log"},
    {.name = "log_user", .flag = "--log-user", .help = "User known to the log's NATS servers"},
    {.name = "log_password_file",
     .flag = "--log-password-file",
     .help = "File holding --log-user's password"},
    {.name = "max_review_items",
     .number = 1000000,
     .min = 0,
     .max = 100000000,
     .flag = "--max-review-items",
     .help = "Items the review desk holds at most (its summaries live in memory, ~300 B each)"},
    {.name = "metrics_tls",
     .flag = "--metrics-tls",
     .help = "Serve --metrics-listen over HTTPS with --tls-cert/--tls-key (the review desk then "
             "takes tokens from any peer)"},
    {.name = "audit_key_file",
     .flag = "--audit-key",
     .help = "Key file (64 hex digits) national IDs in the audit log are hashed with",
     .help_tail = "; default: one kept in the database"},
};

// config_test checks that every row names a field, so this is never null.
const FieldDescriptor* DescriptorOf(const ConfigField& field) {
  return v1::ServerConfig::descriptor()->FindFieldByName(std::string(field.name));
}

// One option's range, for ValidateConfig.
template <typename T>
absl::Status InRange(std::string_view name, T value, T lo, T hi) {
  if (value >= lo && value <= hi) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("option ", AV(name), " is ", value, "; it must be in ", lo, "..", hi));
}

// Whether `listen` (host:port, [v6]:port or unix:path) is reachable only
// from this machine.
bool IsLoopback(std::string_view listen) {
  if (listen.substr(0, 5) == "unix:") return true;
  std::string_view host = listen;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') == std::string_view::npos ? 0 : host.find(']') - 1);
  } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  return host == "localhost" || host == "::1" || host.substr(0, 4) == "127.";
}

// The transport and access options, together: a key for a certificate, TLS
// for a policy, and a plain or open listener only on loopback unless
// `insecure`.
absl::Status ValidateTrust(const v1::ServerConfig& c) {
  if (c.tls_cert().empty() != c.tls_key().empty()) {
    return absl::InvalidArgumentError(
        "options tls_cert and tls_key go together: give both (--tls-cert, --tls-key) or neither");
  }
  const bool tls = !c.tls_cert().empty();
  if (!c.client_ca().empty() && !tls) {
    return absl::InvalidArgumentError("option client_ca needs TLS: give --tls-cert and --tls-key");
  }
  if (c.metrics_tls() && (!tls || c.metrics_listen().empty())) {
    return absl::InvalidArgumentError(
        "option metrics_tls needs metrics_listen and TLS: give --metrics-listen, --tls-cert and "
        "--tls-key");
  }
  if (!c.auth_file().empty() && !tls) {
    return absl::InvalidArgumentError(
        "option auth_file needs TLS (bearer tokens are accepted over TLS only, certificate "
        "identities need --client-ca): give --tls-cert and --tls-key");
  }
  if (!IsLoopback(c.listen()) && !(tls && !c.auth_file().empty()) && !c.insecure()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "option listen is ", c.listen(),
        ", not a loopback address: off loopback linkd needs TLS and an access policy (--tls-cert, "
        "--tls-key, --auth), or --insecure to let anyone who reaches the port do anything"));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsLoopbackAddress(std::string_view listen) { return IsLoopback(listen); }

std::span<const ConfigField> ConfigFields() { return kConfigFields; }

ConfigType TypeOf(const ConfigField& field) {
  switch (DescriptorOf(field)->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return ConfigType::kString;
    case FieldDescriptor::CPPTYPE_INT32:
      return ConfigType::kInt32;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return ConfigType::kDouble;
    case FieldDescriptor::CPPTYPE_BOOL:
      return ConfigType::kBool;
    default:
      return ConfigType::kEnum;  // ServerConfig has no other kinds of field.
  }
}

std::string DefaultText(const ConfigField& field) {
  if (!field.note.empty()) return "";
  switch (TypeOf(field)) {
    case ConfigType::kString:
      return std::string(field.text);
    case ConfigType::kInt32:
      return field.number == 0 ? "" : absl::StrCat(static_cast<int32_t>(field.number));
    case ConfigType::kDouble:
      return field.number == 0 ? "" : absl::StrCat(field.number);
    case ConfigType::kBool:
      return field.number != 0 ? "true" : "false";
    case ConfigType::kEnum:
      break;
  }
  return "";
}

std::string FlagHelp(const ConfigField& field) {
  if (!field.note.empty()) {
    return absl::StrCat(AV(field.help), " (default: ", AV(field.note), AV(field.help_tail), ")");
  }
  std::string value = DefaultText(field);
  if (TypeOf(field) == ConfigType::kBool) value = field.number != 0 ? "on" : "";
  if (value.empty()) return std::string(field.help);
  return absl::StrCat(AV(field.help), " (default ", value, AV(field.help_tail), ")");
}

void SetField(const ConfigField& field, const std::string& value, v1::ServerConfig* config) {
  config->GetReflection()->SetString(config, DescriptorOf(field), value);
}
void SetField(const ConfigField& field, int32_t value, v1::ServerConfig* config) {
  config->GetReflection()->SetInt32(config, DescriptorOf(field), value);
}
void SetField(const ConfigField& field, double value, v1::ServerConfig* config) {
  config->GetReflection()->SetDouble(config, DescriptorOf(field), value);
}
void SetField(const ConfigField& field, bool value, v1::ServerConfig* config) {
  config->GetReflection()->SetBool(config, DescriptorOf(field), value);
}

namespace {
// The replication options that must go together (DESIGN §11).
absl::Status ValidateReplication(const v1::ServerConfig& c) {
  const std::string& role = c.role();
  if (role != "standalone" && role != "writer" && role != "reader") {
    return absl::InvalidArgumentError(
        absl::StrCat("role \"", role, "\" is not standalone, writer or reader"));
  }
  if (role == "standalone") {
    if (!c.log().empty())
      return absl::InvalidArgumentError("option log needs role writer or reader");
  } else if (c.log().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("role ", role, " needs the option log"));
  }
  if (!c.bootstrap().empty() && role != "reader")
    return absl::InvalidArgumentError("option bootstrap is for role reader");
  if (c.log_tls_cert().empty() != c.log_tls_key().empty())
    return absl::InvalidArgumentError("options log_tls_cert and log_tls_key go together");
  if (!c.log_password_file().empty() && c.log_user().empty())
    return absl::InvalidArgumentError("option log_password_file needs log_user");
  if (role == "reader" && c.default_unit_version() != v1::UNIT_VERSION_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        "a reader normalizes as the writer did (each change carries the writer's "
        "default_unit_version): set default_unit_version on the writer only");
  }
  if (role == "reader" && !c.model_file().empty()) {
    return absl::InvalidArgumentError(
        "a reader takes its model from the log: install it on the writer, not with model_file");
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status ValidateConfig(const v1::ServerConfig& c) {
  const google::protobuf::Reflection* r = c.GetReflection();
  for (const ConfigField& field : kConfigFields) {
    if (!field.has_range()) continue;
    const FieldDescriptor* d = DescriptorOf(field);
    if (TypeOf(field) == ConfigType::kDouble) {
      LINKD_RETURN_IF_ERROR(InRange<double>(field.name, r->GetDouble(c, d), field.min, field.max));
    } else {
      LINKD_RETURN_IF_ERROR(InRange<int32_t>(field.name, r->GetInt32(c, d),
                                             static_cast<int32_t>(field.min),
                                             static_cast<int32_t>(field.max)));
    }
  }
  LINKD_RETURN_IF_ERROR(ValidateReplication(c));
  return ValidateTrust(c);
}

v1::ServerConfig WithDefaults(const v1::ServerConfig& in) {
  v1::ServerConfig c = in;
  const google::protobuf::Reflection* r = c.GetReflection();
  for (const ConfigField& field : kConfigFields) {
    const FieldDescriptor* d = DescriptorOf(field);
    switch (TypeOf(field)) {
      case ConfigType::kString:
        if (r->GetString(c, d).empty() && !field.text.empty()) {
          r->SetString(&c, d, std::string(field.text));
        }
        break;
      case ConfigType::kInt32:
        if (r->GetInt32(c, d) != 0) break;
        if (field.compute != nullptr) {
          r->SetInt32(&c, d, field.compute());
        } else {
          r->SetInt32(&c, d, static_cast<int32_t>(field.number));
        }
        break;
      case ConfigType::kDouble:
        if (r->GetDouble(c, d) == 0) r->SetDouble(&c, d, field.number);
        break;
      case ConfigType::kBool:
        // Only an `optional` bool can be unset; a plain one defaults to false.
        if (d->has_presence() && !r->HasField(c, d)) r->SetBool(&c, d, field.number != 0);
        break;
      case ConfigType::kEnum:
        break;
    }
  }
  return c;
}

index::StoreOptions StoreOptionsFor(const v1::ServerConfig& c) {
  index::StoreOptions so;
  so.sync_writes = c.sync_writes();
  so.accept_wal_loss = c.accept_wal_loss();
  so.disk_reserve_mib = static_cast<size_t>(c.disk_reserve_mib());
  so.block_cache_mib = static_cast<size_t>(c.block_cache_mib());
  so.match_view = !c.no_match_view();
  return so;
}

absl::StatusOr<v1::ServerConfig> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("config file ", path, " cannot be read"));
  std::stringstream ss;
  ss << in.rdbuf();
  v1::ServerConfig config;
  absl::Status st = model::ParseTextFormat(ss.str(), &config);
  if (!st.ok())
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": ", st.message()));
  return config;
}

}  // namespace linkage::service
