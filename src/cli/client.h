// Plumbing shared by linkctl's commands: the channel, errors of calls,
// progress, counts, CSV tables, JSON.
#pragma once

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace linkage::cli {

// How linkctl authenticates linkd and itself: the global options
// --tls-ca, --tls-cert, --tls-key, --tls-server-name, --token-file (or
// LINKCTL_TLS_CA, LINKCTL_TLS_CERT, LINKCTL_TLS_KEY, LINKCTL_TOKEN_FILE).
struct ChannelSecurity {
  // File paths, as given.
  std::string ca_file, cert_file, key_file, token_file;
  // Name the server certificate must carry, when it differs from the host
  // of --server ("" for that host).
  std::string server_name;

  // Filled in by Load: the files' contents (the token without surrounding
  // white space).
  std::string ca_pem, cert_pem, key_pem, token;
  bool tls() const { return !ca_file.empty() || !cert_file.empty(); }

  // Reads the files. Errors: a file cannot be read or is empty,
  // --tls-cert without --tls-key (or the reverse), a token without TLS (a
  // bearer token is never sent in clear).
  absl::Status Load();
};

// A channel to linkd at `server` (host:port, or any gRPC target), with 64
// MiB message limits. A target that names several nodes ("dns:///readers:
// 50051", which resolves to every reader behind a headless Service, or
// "ipv4:10.0.0.1:50051,10.0.0.2:50051") spreads calls round-robin over
// the nodes that report SERVING on linkage.v1.LinkageService (client-side
// health checking: a lagging or dead reader is skipped). Security:
// plaintext, or TLS verifying the server against ca_pem (the system's
// roots if empty), with a client certificate when cert_pem is set and the
// bearer token on every call when token is set. `security` must be
// Load()ed.
std::shared_ptr<grpc::Channel> Connect(const std::string& server,
                                       const ChannelSecurity& security = {});

void SetDeadline(grpc::ClientContext& ctx, double seconds);

std::string CodeName(grpc::StatusCode code);  // "UNAVAILABLE"
// A failed call as the error linkctl reports: "<what>: CODE: message", with
// the call's code.
absl::Status RpcError(std::string_view what, const grpc::Status& status);

// A one-line progress report, redrawn in place, only when stderr is a
// terminal (so logs and pipes stay clean).
class Progress {
 public:
  explicit Progress(std::string what);
  // `done` items so far; `fraction` of the work (0..1) for the ETA, or < 0.
  void Update(int64_t done, double fraction);
  void Finish();

 private:
  std::string what_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_;
};

// A blocking queue with a capacity: producers wait when it is full.
template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}
  void Push(T item) {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [this] { return items_.size() < capacity_ || closed_; });
    items_.push_back(std::move(item));
    not_empty_.notify_one();
  }
  // Empty once closed and drained.
  std::optional<T> Pop() {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait(lock, [this] { return !items_.empty() || closed_; });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<T> items_;
  bool closed_ = false;
};

std::string FormatCount(int64_t n);  // 12345 -> "12,345"

// A whole CSV file as rows of column -> value. Errors: cannot open, bad CSV.
absl::StatusOr<std::vector<std::map<std::string, std::string>>> ReadCsvTable(
    const std::string& path);

// A message as indented JSON with the proto field names.
std::string ToJson(const google::protobuf::Message& message);

}  // namespace linkage::cli
