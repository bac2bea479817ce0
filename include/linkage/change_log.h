// The replicated change log linkd's replicas follow (DESIGN §11): one NATS
// JetStream stream, file storage, replicated over the NATS cluster by
// JetStream's Raft, with one subject "<stream>.changes". Entries are opaque
// bytes here (serialized v1::LogEntry, the service layer's); this layer
// knows only sequence numbers, appends and reading in order.
//
//   auto log = ChangeLog::Open({.servers = {"nats://127.0.0.1:4222"}, .stream = "linkd",
//                               .create_replicas = 3});
//   auto seq = (*log)->Append(bytes, /*expected_last=*/41, "writer-a:42");
//   auto cursor = (*log)->Follow(/*from_seq=*/1);
//   while (auto e = (*cursor)->Next(absl::Milliseconds(200))) ...
//
// A ChangeLog is safe to use from several threads; a Cursor from one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace linkage::changelog {

struct LogOptions {
  // NATS servers, "nats://host:port"; the client fails over between them
  // and reconnects forever.
  std::vector<std::string> servers;
  // JetStream stream name: 1..64 of [A-Za-z0-9_-].
  std::string stream;
  // Create the stream if it does not exist, with this many replicas (1..5,
  // at most the cluster's servers); 0: never create it (NotFound instead).
  int create_replicas = 0;
  // How long one Append keeps retrying through timeouts and a leader
  // election before it answers Unavailable.
  absl::Duration append_timeout = absl::Seconds(30);
  // Each JetStream API request (stream info, one publish attempt).
  absl::Duration request_timeout = absl::Seconds(5);
  // TLS to the servers (tls:// URLs or these set): the CA the servers'
  // certificates must chain to, and this client's certificate and key when
  // the servers verify clients. Empty: plaintext.
  std::string tls_ca, tls_cert, tls_key;
  // User and password the servers know this client by (their
  // authorization block gives each user what it may publish and read:
  // a reader should not be able to append). Empty: none.
  std::string user, password;
  // How long Open keeps trying while no server answers or JetStream is
  // not ready yet (a cluster still electing its leader, pods starting
  // together).
  absl::Duration open_timeout = absl::Seconds(60);
  // Connection name the servers show (monitoring).
  std::string client_name = "linkd";
};

// The code Append answers when the stream holds another entry after
// `expected_last`: a second writer appended (this one is fenced).
inline constexpr absl::StatusCode kFencedCode = absl::StatusCode::kFailedPrecondition;

class ChangeLog {
 public:
  // Connects and finds (or creates) the stream, retrying for up to
  // open_timeout. Errors: no server reachable or JetStream not ready by
  // then (Unavailable), the stream missing and create_replicas 0
  // (NotFound), a bad option (InvalidArgument).
  static absl::StatusOr<std::unique_ptr<ChangeLog>> Open(const LogOptions& options);
  virtual ~ChangeLog() = default;

  struct State {
    uint64_t first_seq = 0;  // 0 while the stream is empty.
    uint64_t last_seq = 0;   // 0 while the stream is empty.
    uint64_t messages = 0;
    uint64_t bytes = 0;
    int replicas = 0;
    std::string leader;  // The server leading the stream's Raft group ("" if unknown).
  };
  virtual absl::StatusOr<State> GetState() const = 0;

  // Appends `bytes` provided the stream's last entry is `expected_last`
  // (0: the stream is empty), and answers the new entry's sequence
  // number. A timeout or a leader election is retried, with the same
  // `msg_id`, until append_timeout: JetStream keeps message ids for two
  // minutes, so a retry of an append that did happen answers that
  // append's sequence number instead of appending twice. Errors:
  // kFencedCode when another entry follows `expected_last` (nothing
  // appended); PermissionDenied when the servers do not let this
  // client's user publish there (nothing appended); FailedPrecondition
  // when JetStream refuses it for good (out of storage); OutOfRange when
  // `bytes` exceed the servers' max_payload;
  // Unavailable when the outcome is unknown (the entry may or may not be
  // in the log: read the log to know).
  virtual absl::StatusOr<uint64_t> Append(std::string_view bytes, uint64_t expected_last,
                                          const std::string& msg_id) = 0;

  // The largest entry the servers accept (their max_payload).
  virtual int64_t max_payload() const = 0;

  struct Entry {
    uint64_t seq = 0;
    std::string bytes;
    uint64_t pending = 0;    // Entries after this one in the stream when it was sent.
    int64_t unix_nanos = 0;  // When the stream stored it.
  };
  // Reads the stream in order from `from_seq` (>= 1), as a JetStream
  // ordered consumer: no gap, no duplicate, recreated by the client after
  // a server or leader change.
  class Cursor {
   public:
    virtual ~Cursor() = default;
    // The next entry, or nullopt if none came within `wait`. Errors: the
    // connection is closed, or the stream no longer holds `from_seq`.
    virtual absl::StatusOr<std::optional<Entry>> Next(absl::Duration wait) = 0;
  };
  virtual absl::StatusOr<std::unique_ptr<Cursor>> Follow(uint64_t from_seq) = 0;

 protected:
  ChangeLog() = default;
};

// "nats://a:4222,nats://b:4222" (or with spaces) as a server list.
// InvalidArgument for an empty list or an entry without a scheme.
absl::StatusOr<std::vector<std::string>> ParseServers(std::string_view list);

}  // namespace linkage::changelog
