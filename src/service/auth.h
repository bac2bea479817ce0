// Who may call linkd and what they may do: the access policy
// (linkage.v1.AuthPolicy, auth.proto), the table of the role each RPC
// needs, and the per-principal limits. Internal to the service layer.
//
// Enforcement is in one place: AuthProcessor, a gRPC AuthMetadataProcessor
// on the TLS listener, which sees every call's metadata (its `:path` and
// `authorization`) and the peer's verified certificate before any handler
// runs. It authenticates the caller (UNAUTHENTICATED for missing or unknown
// credentials), checks the method's role (PERMISSION_DENIED naming the
// method and the role), charges the request to the principal's rate limit
// (RESOURCE_EXHAUSTED), and records the principal's name on the call's
// AuthContext (kPrincipalProperty), where PrincipalName (principal.h) and
// the handlers read it. What depends on a request's contents (records per
// second, Verify attempts per claimed ID, candidates per answer, Verify
// redaction) the handlers ask the Authorizer for, by principal name.
#pragma once

#include <grpcpp/security/auth_metadata_processor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "linkage/v1/auth.pb.h"

namespace linkage::service {

// The AuthContext property that holds the authenticated principal's name.
inline constexpr char kPrincipalProperty[] = "linkd.principal";

// Guards linkd's reads and writes of AuthContext properties. In gRPC 1.51 a
// call's AuthContext is its connection's, shared by every call on it, and
// its property list is not synchronized: calls processed at once on one
// connection must not add and scan it concurrently (they did, and gRPC
// aborted under 1,000 Verify calls a second). The principal property is
// therefore set once per connection, under this lock, and read under it.
absl::Mutex& AuthContextMutex();

// What a method needs. `open`: no credentials (health checks); otherwise an
// authenticated principal, and `role` unless it is ROLE_UNSPECIFIED (server
// reflection: any principal). `known` is false for a LinkageService,
// AdminService or AuditService method the table does not list: refused.
struct MethodAccess {
  bool open = false;
  bool known = true;
  v1::Role role = v1::ROLE_UNSPECIFIED;
};

// The access rule for a full method name ("/linkage.v1.LinkageService/Verify").
// Every method of linkage.v1.AdminService needs ADMIN, every method of
// linkage.v1.AuditService AUDIT and every method of
// linkage.v1.ReviewService REVIEW, by service name.
MethodAccess AccessFor(std::string_view path);

// The short method name of a path ("Verify"), for messages.
std::string_view MethodName(std::string_view path);

// Reads and checks a policy file: unique valid names, exactly one of
// cert_identity and token_sha256 (64 lowercase hex digits, unique), at
// least one role, limits not negative. Errors name the file, principal and
// field.
absl::StatusOr<v1::AuthPolicy> LoadAuthPolicy(const std::string& path);
absl::Status ValidateAuthPolicy(const v1::AuthPolicy& policy);

// SHA-256 of `data` as 64 lowercase hex digits.
std::string Sha256Hex(std::string_view data);

// The policy in force and each principal's limit state. Thread-safe;
// Reload swaps the policy atomically for calls that start afterwards (the
// limit state of a principal that stays is kept).
class Authorizer {
 public:
  // Reads `path`; errors as LoadAuthPolicy.
  static absl::StatusOr<std::unique_ptr<Authorizer>> Open(const std::string& path);
  // A policy given directly (tests); `path` "" cannot be reloaded.
  explicit Authorizer(v1::AuthPolicy policy, std::string path = "");
  Authorizer(const Authorizer&) = delete;
  Authorizer& operator=(const Authorizer&) = delete;

  // Re-reads the file. On error the policy in force stays and the error is
  // returned. The number of principals now in force on success.
  absl::StatusOr<int> Reload();

  // Authenticates and authorizes one call to `path`. `bearer_token` is the
  // token of an `authorization: Bearer` header ("" if none);
  // `cert_identity` the verified client certificate's DNS SAN, else CN (""
  // if none); `secure` whether the transport is TLS. A token is tried
  // first; a token over a plaintext transport is refused. The principal's
  // name, or UNAUTHENTICATED / PERMISSION_DENIED / RESOURCE_EXHAUSTED
  // (requests_per_second).
  absl::StatusOr<std::string> Admit(std::string_view path, std::string_view bearer_token,
                                    std::string_view cert_identity, bool secure);

  // Whether `principal` holds `role` in the policy in force.
  bool HasRole(std::string_view principal, v1::Role role) const;

  // Charges `records` to the principal's records_per_second bucket;
  // RESOURCE_EXHAUSTED when it is empty. OK for an unknown principal.
  absl::Status ChargeRecords(std::string_view principal, int64_t records);

  // Counts one Verify attempt with `national_id` for the principal;
  // RESOURCE_EXHAUSTED when verify_attempts_per_id attempts with that ID
  // are already in the sliding window. Memory is bounded: at most
  // kMaxTrackedIds IDs per principal (expired ones are dropped first; when
  // all are live, attempts with new IDs are refused until some expire). IDs
  // are kept as keyed 64-bit hashes, never in clear.
  absl::Status ChargeVerifyAttempt(std::string_view principal, std::string_view national_id);
  static constexpr size_t kMaxTrackedIds = 1 << 20;

  // Candidates one answer may carry for the principal
  // (max_candidates_per_query); 0 for no cap.
  int MaxCandidates(std::string_view principal) const;

  // Injects the clock (tests); default absl::Now.
  void SetClockForTest(absl::Time (*now)());

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time last;
    bool started = false;
    // Admits `n` if the bucket holds at least min(n, capacity); may go into
    // debt, repaid by the refill.
    bool Take(double n, double rate, absl::Time now);
  };
  struct State {
    Bucket requests, records;
    // Keyed hash of a claimed ID -> times of attempts in the window.
    absl::flat_hash_map<uint64_t, std::vector<absl::Time>> attempts;
    int64_t attempts_since_sweep = 0;
  };
  // A principal's effective limits (its own, else the policy's defaults,
  // else the documented defaults).
  v1::Limits LimitsOf(const v1::Principal& p) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  const v1::Principal* Find(std::string_view name) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::Status Install(v1::AuthPolicy policy) ABSL_LOCKS_EXCLUDED(mu_);

  const std::string path_;
  const uint64_t id_key_;  // Per-process key of the ID hashes.
  absl::Time (*now_)() = &absl::Now;
  mutable absl::Mutex mu_;
  v1::AuthPolicy policy_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, const v1::Principal*> by_name_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, const v1::Principal*> by_token_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, const v1::Principal*> by_cert_ ABSL_GUARDED_BY(mu_);
  absl::Mutex state_mu_;
  absl::flat_hash_map<std::string, State> state_ ABSL_GUARDED_BY(state_mu_);
};

// The gRPC side of Authorizer::Admit: reads `:path`, `authorization` and
// the peer's certificate identity, admits the call or fails it with
// Admit's status, and records the principal on the call's AuthContext.
// Runs inline on gRPC's thread (it only looks up tables).
class AuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  explicit AuthProcessor(Authorizer* authorizer) : authorizer_(authorizer) {}
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  Authorizer* const authorizer_;
};

}  // namespace linkage::service
