#include "auth.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <grpc/grpc_security_constants.h>
#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "linkage/model.h"

namespace linkage::service {
namespace {

constexpr std::string_view kLinkage = "/linkage.v1.LinkageService/";
constexpr std::string_view kAdmin = "/linkage.v1.AdminService/";
constexpr std::string_view kAudit = "/linkage.v1.AuditService/";
constexpr std::string_view kReview = "/linkage.v1.ReviewService/";
constexpr std::string_view kHealth = "/grpc.health.v1.Health/";

// Defaults of Limits fields left 0 (auth.proto).
constexpr int32_t kDefaultVerifyAttemptsPerId = 5;
constexpr double kDefaultVerifyWindowSeconds = 86400;
constexpr int32_t kDefaultMaxCandidates = 10;

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

bool ValidSha256Hex(std::string_view hex) {
  return hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

absl::Status CheckLimits(const v1::Limits& l, std::string_view where) {
  auto bad = [&](std::string_view field, double value) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(where), ".", AV(field), " is ", value, "; it must not be negative"));
  };
  if (l.requests_per_second() < 0) return bad("requests_per_second", l.requests_per_second());
  if (l.records_per_second() < 0) return bad("records_per_second", l.records_per_second());
  if (l.verify_attempts_per_id() < 0)
    return bad("verify_attempts_per_id", l.verify_attempts_per_id());
  if (l.verify_window_seconds() < 0) return bad("verify_window_seconds", l.verify_window_seconds());
  if (l.max_candidates_per_query() < 0)
    return bad("max_candidates_per_query", l.max_candidates_per_query());
  return absl::OkStatus();
}

}  // namespace

MethodAccess AccessFor(std::string_view path) {
  MethodAccess a;
  if (absl::StartsWith(AV(path), AV(kHealth))) {
    a.open = true;
    return a;
  }
  if (absl::StartsWith(AV(path), AV(kAdmin))) {
    a.role = v1::ADMIN;
    return a;
  }
  if (absl::StartsWith(AV(path), AV(kAudit))) {
    a.role = v1::AUDIT;
    return a;
  }
  if (absl::StartsWith(AV(path), AV(kReview))) {
    a.role = v1::REVIEWER;
    return a;
  }
  if (absl::StartsWith(AV(path), AV(kLinkage))) {
    const std::string_view m = path.substr(kLinkage.size());
    if (m == "Verify") {
      a.role = v1::VERIFY;
    } else if (m == "Match" || m == "MatchStream" || m == "MatchBatchStream") {
      a.role = v1::MATCH;
    } else if (m == "GetRecord") {
      a.role = v1::READ;
    } else if (m == "UpsertRecords" || m == "DeleteRecord") {
      a.role = v1::WRITE;
    } else {
      a.known = false;
    }
    return a;
  }
  return a;  // Server reflection and the like: any principal.
}

std::string_view MethodName(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

absl::Status ValidateAuthPolicy(const v1::AuthPolicy& policy) {
  LINKD_RETURN_IF_ERROR(CheckLimits(policy.default_limits(), "default_limits"));
  std::set<std::string> names, tokens, certs;
  for (int i = 0; i < policy.principals_size(); ++i) {
    const v1::Principal& p = policy.principals(i);
    const std::string where = absl::StrCat("principals[", i, "]");
    if (!ValidName(p.name())) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".name \"", p.name().substr(0, 80),
                                                     "\" is not 1..64 of [A-Za-z0-9._-]"));
    }
    const std::string named = absl::StrCat("principal \"", p.name(), "\"");
    if (!names.insert(p.name()).second)
      return absl::InvalidArgumentError(absl::StrCat(named, ": name appears twice"));
    if (p.cert_identity().empty() == p.token_sha256().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(named, ": set exactly one of cert_identity and token_sha256"));
    }
    if (!p.token_sha256().empty()) {
      if (!ValidSha256Hex(p.token_sha256())) {
        return absl::InvalidArgumentError(absl::StrCat(
            named, ": token_sha256 must be 64 lowercase hex digits (printf %s TOKEN | sha256sum)"));
      }
      if (!tokens.insert(p.token_sha256()).second)
        return absl::InvalidArgumentError(absl::StrCat(named, ": token_sha256 used twice"));
    }
    if (!p.cert_identity().empty() && !certs.insert(p.cert_identity()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(named, ": cert_identity \"", p.cert_identity(), "\" used twice"));
    }
    if (p.roles_size() == 0)
      return absl::InvalidArgumentError(absl::StrCat(named, ": roles must list at least one role"));
    for (int r : p.roles()) {
      if (r == v1::ROLE_UNSPECIFIED || !v1::Role_IsValid(r))
        return absl::InvalidArgumentError(absl::StrCat(named, ": roles has an unknown role ", r));
    }
    LINKD_RETURN_IF_ERROR(CheckLimits(p.limits(), absl::StrCat(named, ": limits")));
  }
  return absl::OkStatus();
}

namespace {

class QuietErrors final : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int, google::protobuf::io::ColumnNumber, const std::string&) override {}
};

// The policy text with each bare word REVIEW (a role, as operators spell
// it) written as the enum's name REVIEWER. Protobuf's own tokenizer finds
// the words, so a quoted string or a comment holding "REVIEW" is left as
// it is.
std::string SpellRoles(const std::string& text) {
  google::protobuf::io::ArrayInputStream input(text.data(), static_cast<int>(text.size()));
  QuietErrors errors;  // The parse that follows reports them.
  google::protobuf::io::Tokenizer tokenizer(&input, &errors);
  tokenizer.set_comment_style(google::protobuf::io::Tokenizer::SH_COMMENT_STYLE);
  std::vector<size_t> at;  // Byte offsets of the REVIEW words.
  std::vector<size_t> line_start = {0};
  for (size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\n') line_start.push_back(i + 1);
  while (tokenizer.Next()) {
    const auto& tok = tokenizer.current();
    if (tok.type != google::protobuf::io::Tokenizer::TYPE_IDENTIFIER || tok.text != "REVIEW")
      continue;
    // The tokenizer counts a column per byte and a tab to the next
    // multiple of 8: walk the line the same way to the word's offset.
    size_t pos = line_start[static_cast<size_t>(tok.line)];
    for (int col = 0; pos < text.size() && col < tok.column; ++pos)
      col = text[pos] == '\t' ? col + 8 - col % 8 : col + 1;
    if (text.compare(pos, 6, "REVIEW") == 0) at.push_back(pos);
  }
  std::string out = text;
  for (auto it = at.rbegin(); it != at.rend(); ++it) out.replace(*it, 6, "REVIEWER");
  return out;
}

}  // namespace

absl::StatusOr<v1::AuthPolicy> LoadAuthPolicy(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("auth policy ", path, " cannot be read"));
  std::stringstream ss;
  ss << in.rdbuf();
  v1::AuthPolicy policy;
  absl::Status st = model::ParseTextFormat(SpellRoles(ss.str()), &policy);
  if (st.ok()) st = ValidateAuthPolicy(policy);
  if (!st.ok())
    return absl::InvalidArgumentError(absl::StrCat("auth policy ", path, ": ", st.message()));
  return policy;
}

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::Open(const std::string& path) {
  LINKD_ASSIGN_OR_RETURN(v1::AuthPolicy policy, LoadAuthPolicy(path));
  return std::make_unique<Authorizer>(std::move(policy), path);
}

Authorizer::Authorizer(v1::AuthPolicy policy, std::string path)
    : path_(std::move(path)), id_key_(std::random_device{}() * 0x9E3779B97F4A7C15ull) {
  absl::Status st = Install(std::move(policy));
  (void)st;  // Install only fails on an invalid policy; callers pass valid ones.
}

absl::Status Authorizer::Install(v1::AuthPolicy policy) {
  LINKD_RETURN_IF_ERROR(ValidateAuthPolicy(policy));
  absl::MutexLock lock(&mu_);
  policy_ = std::move(policy);
  by_name_.clear();
  by_token_.clear();
  by_cert_.clear();
  for (const v1::Principal& p : policy_.principals()) {
    by_name_[p.name()] = &p;
    if (!p.token_sha256().empty()) by_token_[p.token_sha256()] = &p;
    if (!p.cert_identity().empty()) by_cert_[p.cert_identity()] = &p;
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Authorizer::Reload() {
  if (path_.empty()) return absl::FailedPreconditionError("the policy was not read from a file");
  LINKD_ASSIGN_OR_RETURN(v1::AuthPolicy policy, LoadAuthPolicy(path_));
  const int n = policy.principals_size();
  LINKD_RETURN_IF_ERROR(Install(std::move(policy)));
  return n;
}

const v1::Principal* Authorizer::Find(std::string_view name) const {
  auto it = by_name_.find(AV(name));
  return it == by_name_.end() ? nullptr : it->second;
}

v1::Limits Authorizer::LimitsOf(const v1::Principal& p) const {
  const v1::Limits& own = p.limits();
  const v1::Limits& def = policy_.default_limits();
  auto pick = [](auto a, auto b, auto fallback) { return a != 0 ? a : (b != 0 ? b : fallback); };
  v1::Limits l;
  l.set_requests_per_second(pick(own.requests_per_second(), def.requests_per_second(), 0.0));
  l.set_records_per_second(pick(own.records_per_second(), def.records_per_second(), 0.0));
  l.set_verify_attempts_per_id(pick(own.verify_attempts_per_id(), def.verify_attempts_per_id(),
                                    kDefaultVerifyAttemptsPerId));
  l.set_verify_window_seconds(
      pick(own.verify_window_seconds(), def.verify_window_seconds(), kDefaultVerifyWindowSeconds));
  l.set_max_candidates_per_query(
      pick(own.max_candidates_per_query(), def.max_candidates_per_query(), kDefaultMaxCandidates));
  return l;
}

bool Authorizer::Bucket::Take(double n, double rate, absl::Time now) {
  const double capacity = std::max(1.0, rate);
  if (!started) {
    started = true;
    tokens = capacity;
    last = now;
  }
  tokens = std::min(capacity, tokens + rate * absl::ToDoubleSeconds(now - last));
  last = now;
  if (tokens < std::min(n, capacity)) return false;
  tokens -= n;
  return true;
}

absl::StatusOr<std::string> Authorizer::Admit(std::string_view path, std::string_view bearer_token,
                                              std::string_view cert_identity, bool secure) {
  const MethodAccess access = AccessFor(path);
  if (access.open) return std::string();
  const std::string_view method = MethodName(path);
  if (!bearer_token.empty() && !secure) {
    return absl::UnauthenticatedError(
        "a bearer token is accepted over TLS only; the call was refused");
  }
  std::string name;
  v1::Limits limits;
  {
    absl::ReaderMutexLock lock(&mu_);
    const v1::Principal* p = nullptr;
    if (!bearer_token.empty()) {
      auto it = by_token_.find(Sha256Hex(bearer_token));
      if (it == by_token_.end())
        return absl::UnauthenticatedError("the bearer token is not in linkd's access policy");
      p = it->second;
    } else if (!cert_identity.empty()) {
      auto it = by_cert_.find(AV(cert_identity));
      if (it == by_cert_.end()) {
        return absl::UnauthenticatedError(absl::StrCat("client certificate \"", AV(cert_identity),
                                                       "\" is not in linkd's access policy"));
      }
      p = it->second;
    } else {
      return absl::UnauthenticatedError(
          absl::StrCat(AV(method), " needs credentials: a client certificate or a bearer token"));
    }
    if (!access.known) {
      return absl::PermissionDeniedError(
          absl::StrCat(AV(method), " is not open to any role in linkd's access policy"));
    }
    if (access.role != v1::ROLE_UNSPECIFIED &&
        std::find(p->roles().begin(), p->roles().end(), access.role) == p->roles().end()) {
      return absl::PermissionDeniedError(absl::StrCat("principal \"", p->name(), "\" may not call ",
                                                      AV(method), ": it needs role ",
                                                      v1::Role_Name(access.role)));
    }
    name = p->name();
    limits = LimitsOf(*p);
  }
  if (limits.requests_per_second() > 0) {
    absl::MutexLock lock(&state_mu_);
    if (!state_[name].requests.Take(1, limits.requests_per_second(), now_())) {
      return absl::ResourceExhaustedError(
          absl::StrCat("principal \"", name, "\" is over its requests_per_second limit (",
                       limits.requests_per_second(), "); retry with backoff"));
    }
  }
  return name;
}

bool Authorizer::HasRole(std::string_view principal, v1::Role role) const {
  absl::ReaderMutexLock lock(&mu_);
  const v1::Principal* p = Find(principal);
  return p != nullptr && std::find(p->roles().begin(), p->roles().end(), role) != p->roles().end();
}

int Authorizer::MaxCandidates(std::string_view principal) const {
  absl::ReaderMutexLock lock(&mu_);
  const v1::Principal* p = Find(principal);
  return p == nullptr ? 0 : LimitsOf(*p).max_candidates_per_query();
}

absl::Status Authorizer::ChargeRecords(std::string_view principal, int64_t records) {
  double rate = 0;
  {
    absl::ReaderMutexLock lock(&mu_);
    const v1::Principal* p = Find(principal);
    if (p == nullptr) return absl::OkStatus();
    rate = LimitsOf(*p).records_per_second();
  }
  if (rate <= 0) return absl::OkStatus();
  absl::MutexLock lock(&state_mu_);
  if (!state_[std::string(principal)].records.Take(static_cast<double>(records), rate, now_())) {
    return absl::ResourceExhaustedError(absl::StrCat("principal \"", AV(principal),
                                                     "\" is over its records_per_second limit (",
                                                     rate, "); retry with backoff"));
  }
  return absl::OkStatus();
}

absl::Status Authorizer::ChargeVerifyAttempt(std::string_view principal,
                                             std::string_view national_id) {
  v1::Limits limits;
  {
    absl::ReaderMutexLock lock(&mu_);
    const v1::Principal* p = Find(principal);
    if (p == nullptr) return absl::OkStatus();
    limits = LimitsOf(*p);
  }
  const absl::Time now = now_();
  const absl::Duration window = absl::Seconds(limits.verify_window_seconds());
  const size_t allowed = static_cast<size_t>(limits.verify_attempts_per_id());
  // "006 148 003 121" is the same claimed ID as "006148003121".
  std::string digits;
  for (char c : national_id) {
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  }
  const uint64_t key = absl::Hash<std::pair<uint64_t, std::string>>{}({id_key_, digits});
  absl::MutexLock lock(&state_mu_);
  State& s = state_[std::string(principal)];
  auto expire = [&](std::vector<absl::Time>& times) {
    times.erase(times.begin(), std::find_if(times.begin(), times.end(),
                                            [&](absl::Time t) { return now - t < window; }));
  };
  // Drop the IDs whose attempts all left the window, now and then, and
  // whenever the table is full.
  if (++s.attempts_since_sweep >= 65536 || s.attempts.size() >= kMaxTrackedIds) {
    s.attempts_since_sweep = 0;
    for (auto e = s.attempts.begin(); e != s.attempts.end();) {
      expire(e->second);
      if (e->second.empty()) {
        s.attempts.erase(e++);
      } else {
        ++e;
      }
    }
  }
  auto it = s.attempts.find(key);
  if (it == s.attempts.end()) {
    if (s.attempts.size() >= kMaxTrackedIds) {
      return absl::ResourceExhaustedError(
          absl::StrCat("principal \"", AV(principal), "\" has verified ", kMaxTrackedIds,
                       " distinct IDs within verify_window_seconds; retry later"));
    }
    it = s.attempts.emplace(key, std::vector<absl::Time>()).first;
  }
  expire(it->second);
  if (it->second.size() >= allowed) {
    return absl::ResourceExhaustedError(
        absl::StrCat("principal \"", AV(principal), "\" has made ", allowed,
                     " Verify attempts with this ID within ", limits.verify_window_seconds(),
                     " seconds (verify_attempts_per_id); retry after the window"));
  }
  it->second.push_back(now);
  return absl::OkStatus();
}

void Authorizer::SetClockForTest(absl::Time (*now)()) { now_ = now; }

grpc::Status AuthProcessor::Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                                    OutputMetadata* consumed_auth_metadata,
                                    OutputMetadata* /*response_metadata*/) {
  std::string_view path, token;
  bool has_authorization = false;
  for (const auto& [key, value] : auth_metadata) {
    const std::string_view k(key.data(), key.size()), v(value.data(), value.size());
    if (k == ":path") {
      path = v;
    } else if (k == "authorization") {
      has_authorization = true;
      if (absl::StartsWithIgnoreCase(AV(v), "bearer ")) token = v.substr(7);
      consumed_auth_metadata->insert({std::string(k), std::string(v)});
    }
  }
  if (has_authorization && token.empty()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "the authorization header must be \"Bearer TOKEN\"");
  }
  std::string identity, held;
  bool secure = false;
  {
    absl::MutexLock lock(&AuthContextMutex());
    for (const char* property : {GRPC_PEER_DNS_PROPERTY_NAME, GRPC_X509_CN_PROPERTY_NAME}) {
      std::vector<grpc::string_ref> values = context->FindPropertyValues(property);
      if (!values.empty()) {
        identity.assign(values[0].data(), values[0].size());
        break;
      }
    }
    for (const grpc::string_ref& t :
         context->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME)) {
      secure = secure || t == "ssl" || t == "tls";
    }
    std::vector<grpc::string_ref> values = context->FindPropertyValues(kPrincipalProperty);
    if (!values.empty()) held.assign(values[0].data(), values[0].size());
  }
  absl::StatusOr<std::string> principal = authorizer_->Admit(path, token, identity, secure);
  if (!principal.ok()) {
    return grpc::Status(static_cast<grpc::StatusCode>(principal.status().code()),
                        std::string(principal.status().message()));
  }
  if (principal->empty() || *principal == held) return grpc::Status::OK;
  absl::MutexLock lock(&AuthContextMutex());
  std::vector<grpc::string_ref> values = context->FindPropertyValues(kPrincipalProperty);
  if (values.empty()) {
    context->AddProperty(kPrincipalProperty, *principal);
    return grpc::Status::OK;
  }
  if (std::string_view(values[0].data(), values[0].size()) == *principal) return grpc::Status::OK;
  // The connection's context holds one principal for all its calls.
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      "this connection already carries another principal's calls; use one "
                      "connection per principal (token)");
}

absl::Mutex& AuthContextMutex() {
  static absl::Mutex* mu = new absl::Mutex();
  return *mu;
}

}  // namespace linkage::service
