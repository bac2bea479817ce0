#include "client.h"

#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "linkage/csv.h"
#include "linkage/v1/service.grpc.pb.h"

namespace linkage::cli {

namespace {

absl::StatusOr<std::string> ReadWhole(const std::string& option, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(option, ": cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty())
    return absl::InvalidArgumentError(absl::StrCat(option, ": ", path, " is empty"));
  return ss.str();
}

}  // namespace

absl::Status ChannelSecurity::Load() {
  if (cert_file.empty() != key_file.empty())
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  if (!token_file.empty() && !tls()) {
    return absl::InvalidArgumentError(
        "--token-file needs TLS (--tls-ca): a bearer token is never sent in clear");
  }
  if (!ca_file.empty()) {
    absl::StatusOr<std::string> pem = ReadWhole("--tls-ca", ca_file);
    if (!pem.ok()) return pem.status();
    ca_pem = *std::move(pem);
  }
  if (!cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadWhole("--tls-cert", cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadWhole("--tls-key", key_file);
    if (!key.ok()) return key.status();
    cert_pem = *std::move(cert);
    key_pem = *std::move(key);
  }
  if (!token_file.empty()) {
    absl::StatusOr<std::string> t = ReadWhole("--token-file", token_file);
    if (!t.ok()) return t.status();
    token = std::string(absl::StripAsciiWhitespace(*t));
    if (token.empty())
      return absl::InvalidArgumentError(absl::StrCat("--token-file: ", token_file, " is blank"));
  }
  return absl::OkStatus();
}

bool IsReplicaSet(const std::string& server) {
  return absl::StartsWith(server, "dns:") || server.find(',') != std::string::npos;
}

std::shared_ptr<grpc::Channel> Connect(const std::string& server, const ChannelSecurity& security) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  if (IsReplicaSet(server)) {
    // Several linkd behind one name (readers behind a headless Service):
    // calls spread round-robin over the addresses the name resolves to,
    // and each address is health-checked, so a node that reports
    // NOT_SERVING (a reader lagging behind the log, a node loading or
    // draining) or is gone gets no calls until it is SERVING again.
    args.SetServiceConfigJSON(
        R"({"loadBalancingConfig":[{"round_robin":{}}],)"
        R"("healthCheckConfig":{"serviceName":"linkage.v1.LinkageService"}})");
  }
  if (!security.tls()) {
    return grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(), args);
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = security.ca_pem;
  ssl.pem_cert_chain = security.cert_pem;
  ssl.pem_private_key = security.key_pem;
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::SslCredentials(ssl);
  if (!security.token.empty()) {
    creds = grpc::CompositeChannelCredentials(creds, grpc::AccessTokenCredentials(security.token));
  }
  if (!security.server_name.empty()) args.SetSslTargetNameOverride(security.server_name);
  return grpc::CreateCustomChannel(server, creds, args);
}

void SetDeadline(grpc::ClientContext& ctx, double seconds) {
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
}

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return absl::StrFormat("CODE_%d", static_cast<int>(code));
  }
}

absl::Status RpcError(std::string_view what, const grpc::Status& status) {
  return absl::Status(
      static_cast<absl::StatusCode>(status.error_code()),
      absl::StrFormat("%s: %s: %s", what, CodeName(status.error_code()), status.error_message()));
}

absl::StatusOr<std::vector<std::map<std::string, std::string>>> ReadCsvTable(
    const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::vector<std::map<std::string, std::string>> rows;
  CsvHeader header;
  absl::Status st = CsvParser::ParseAll(ss.str(), [&](const CsvRow& row) {
    if (row.row_index == 0) {
      header = CsvHeader(row.fields);
      return true;
    }
    std::map<std::string, std::string> r;
    for (const auto& name : header.names()) r[name] = std::string(header.Get(row, name));
    rows.push_back(std::move(r));
    return true;
  });
  if (!st.ok()) return absl::InvalidArgumentError(path + ": " + std::string(st.message()));
  return rows;
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, o);
  return out;
}

std::string FormatCount(int64_t n) {
  std::string digits = absl::StrFormat("%d", n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

Progress::Progress(std::string what)
    : what_(std::move(what)),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_() {}

void Progress::Update(int64_t done, double fraction) {
  if (!tty_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(250)) return;
  last_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
  std::string eta;
  if (fraction > 0.001 && fraction < 1)
    eta = absl::StrFormat("  %3.0f%%  ETA %.0fs", fraction * 100,
                          elapsed * (1 - fraction) / fraction);
  std::fprintf(stderr, "\r%s %s (%s/s)%s   ", what_.c_str(), FormatCount(done).c_str(),
               FormatCount(static_cast<int64_t>(rate)).c_str(), eta.c_str());
  std::fflush(stderr);
}

void Progress::Finish() {
  if (tty_) std::fprintf(stderr, "\r\033[K");
}

}  // namespace linkage::cli
