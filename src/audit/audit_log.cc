// The audit chain over the store's audit rows (linkage/audit.h).
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "linkage/audit.h"

namespace linkage::audit {
namespace {

constexpr size_t kHashBytes = 32;
constexpr size_t kIdHmacBytes = 16;
constexpr std::string_view kKeyMeta = "audit_key";

bool Mentions(const v1::AuditEntry& entry, const std::string& record_id) {
  for (const v1::AuditItem& item : entry.items()) {
    if (item.record_id() == record_id) return true;
    for (const std::string& r : item.returned_ids())
      if (r == record_id) return true;
  }
  return false;
}

bool CarriesId(const v1::AuditEntry& entry, const std::string& hmac) {
  for (const v1::AuditItem& item : entry.items())
    if (item.national_id_hmac() == hmac || item.old_id_hmac() == hmac) return true;
  return false;
}

absl::StatusOr<std::string> KeyFromHex(std::string_view text, std::string_view where) {
  std::string hex(absl::StripAsciiWhitespace(AV(text)));
  bool all_hex = hex.size() == 2 * kHashBytes;
  for (char c : hex) all_hex = all_hex && absl::ascii_isxdigit(static_cast<unsigned char>(c));
  if (!all_hex) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit key ", AV(where),
                     " must hold 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`"));
  }
  return absl::HexStringToBytes(hex);
}

}  // namespace

std::string EntryHash(std::string_view stored) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(stored.data(), stored.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string Hex(std::string_view bytes) { return absl::BytesToHexString(AV(bytes)); }

std::string HeadText(const Head& head) { return absl::StrCat(head.count, ":", Hex(head.hash)); }

absl::StatusOr<Head> ParseHead(std::string_view text) {
  const size_t colon = text.find(':');
  Head head;
  if (colon == std::string_view::npos ||
      !absl::SimpleAtoi(AV(text.substr(0, colon)), &head.count)) {
    return absl::InvalidArgumentError(
        absl::StrCat("head \"", AV(text), "\" is not COUNT:HASH (e.g. 1234:9f86d081...)"));
  }
  const std::string_view hex = text.substr(colon + 1);
  if (head.count == 0 && hex.empty()) return head;
  bool ok = hex.size() == 2 * kHashBytes;
  for (char c : hex) ok = ok && absl::ascii_isxdigit(static_cast<unsigned char>(c));
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "head \"", AV(text), "\": the hash must be 64 hex digits (the SHA-256 of entry COUNT)"));
  }
  head.hash = absl::HexStringToBytes(AV(hex));
  return head;
}

absl::StatusOr<VerifyReport> VerifyChain(const index::AuditReader& reader, const Head* expect) {
  VerifyReport report;
  std::string prev(kHashBytes, '\0');
  uint64_t expected = 1;
  bool expect_seen = false;
  auto problem = [&report](uint64_t seq, std::string what) {
    if (!report.problem.empty()) return;
    report.first_bad_seq = seq;
    report.problem = std::move(what);
  };
  v1::AuditEntry entry;
  LINKD_RETURN_IF_ERROR(reader.ScanAudit(0, [&](uint64_t seq, std::string_view bytes) {
    ++report.entries;
    report.bytes += bytes.size();
    const std::string hash = EntryHash(bytes);
    if (seq == 0) {
      problem(expected, absl::StrCat("a row with a malformed key follows entry ", expected - 1));
      return true;
    }
    if (seq != expected) {
      problem(expected, seq == expected + 1
                            ? absl::StrCat("entry ", expected, " is missing")
                            : absl::StrCat("entries ", expected, "..", seq - 1, " are missing"));
    } else if (!entry.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      problem(seq, absl::StrCat("entry ", seq, " is unreadable (changed on disk)"));
    } else if (entry.seq() != seq) {
      problem(seq, absl::StrCat("entry ", seq, " says it is entry ", entry.seq()));
    } else if (entry.prev_hash() != prev) {
      // Entry seq was written after entry seq-1 and holds its hash: one of
      // the two changed since, almost always the earlier one's content.
      if (seq == 1) {
        problem(1, "entry 1's previous hash is not zero (changed on disk)");
      } else {
        problem(seq - 1, absl::StrCat("entry ", seq - 1, " does not hash to what entry ", seq,
                                      " recorded: entry ", seq - 1, " (or ", seq,
                                      ") was changed after it was written"));
      }
    }
    if (expect != nullptr && seq == expect->count) {
      expect_seen = true;
      if (hash != expect->hash) {
        problem(seq, absl::StrCat("entry ", seq, " does not hash to the expected head ",
                                  HeadText(*expect), ": the chain up to it was rewritten"));
      }
    }
    prev = hash;
    report.head = {seq, hash};
    expected = seq + 1;
    return true;
  }));
  if (expect != nullptr && expect->count > 0 && !expect_seen) {
    problem(report.head.count + 1,
            absl::StrCat("the expected head ", HeadText(*expect),
                         " is not in the chain: it ends at ", HeadText(report.head),
                         ", so entries after ", report.head.count, " were removed"));
  }
  return report;
}

bool Passes(const v1::AuditEntry& entry, const ListFilter& f) {
  if (!f.principal.empty() && entry.principal() != f.principal) return false;
  if (!f.method.empty() && entry.method() != f.method) return false;
  if (f.since_unix_micros != 0 && entry.time_unix_micros() < f.since_unix_micros) return false;
  if (f.until_unix_micros != 0 && entry.time_unix_micros() >= f.until_unix_micros) return false;
  if (!f.record_id.empty() && !Mentions(entry, f.record_id)) return false;
  if (!f.id_hmac.empty() && !CarriesId(entry, f.id_hmac)) return false;
  return true;
}

absl::Status List(const index::AuditReader& reader, const ListFilter& filter,
                  const std::function<bool(const v1::AuditEntry&, const std::string& hash)>& fn) {
  absl::Status bad;
  uint64_t passed = 0;
  v1::AuditEntry entry;
  LINKD_RETURN_IF_ERROR(reader.ScanAudit(filter.from_seq, [&](uint64_t seq, std::string_view b) {
    if (!entry.ParseFromArray(b.data(), static_cast<int>(b.size()))) {
      bad = absl::DataLossError(
          absl::StrCat("audit entry ", seq, " is unreadable; run `linkctl audit verify`"));
      return false;
    }
    if (!Passes(entry, filter)) return true;
    if (!fn(entry, Hex(EntryHash(b)))) return false;
    return filter.limit == 0 || ++passed < filter.limit;
  }));
  return bad;
}

absl::StatusOr<std::string> LoadKey(index::Store* store, const std::string& key_file) {
  if (!key_file.empty()) {
    std::ifstream in(key_file);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot read audit key file ", key_file));
    std::stringstream text;
    text << in.rdbuf();
    return KeyFromHex(text.str(), absl::StrCat("file ", key_file));
  }
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> stored, store->GetMeta(kKeyMeta));
  if (stored.has_value()) {
    if (stored->size() != kHashBytes)
      return absl::DataLossError("the stored audit key is damaged (not 32 bytes)");
    return *stored;
  }
  std::string key(kHashBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1)
    return absl::UnavailableError("the system's random source gave no audit key");
  LINKD_RETURN_IF_ERROR(store->PutMeta(kKeyMeta, key));
  return key;
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(index::Store* store, std::string key) {
  if (key.size() != kHashBytes) return absl::InvalidArgumentError("the audit key must be 32 bytes");
  LINKD_ASSIGN_OR_RETURN(auto last, store->LastAudit());
  Head head;
  if (last.has_value()) head = {last->first, EntryHash(last->second)};
  return std::unique_ptr<AuditLog>(new AuditLog(store, std::move(key), std::move(head)));
}

AuditLog::AuditLog(index::Store* store, std::string key, Head head)
    : store_(store), key_(std::move(key)), head_(std::move(head)) {
  syncer_ = std::thread([this] { SyncLoop(); });
}

AuditLog::~AuditLog() {
  {
    absl::MutexLock lock(&sync_mu_);
    stopping_ = true;
  }
  syncer_.join();
}

absl::StatusOr<uint64_t> AuditLog::Write(v1::AuditEntry entry) {
  if (entry.time_unix_micros() == 0) entry.set_time_unix_micros(absl::ToUnixMicros(absl::Now()));
  absl::MutexLock lock(&mu_);
  entry.set_seq(head_.count + 1);
  entry.set_prev_hash(head_.hash.empty() ? std::string(kHashBytes, '\0') : head_.hash);
  const std::string bytes = entry.SerializeAsString();
  LINKD_ASSIGN_OR_RETURN(uint64_t token, store_->WriteAudit(entry.seq(), bytes));
  head_ = {entry.seq(), EntryHash(bytes)};
  return token;
}

absl::Status AuditLog::Append(v1::AuditEntry entry) {
  LINKD_ASSIGN_OR_RETURN(uint64_t token, Write(std::move(entry)));
  return store_->AwaitAudit(token);
}

void AuditLog::AppendThen(v1::AuditEntry entry, std::function<void(absl::Status)> done) {
  absl::StatusOr<uint64_t> token = Write(std::move(entry));
  if (!token.ok()) {
    done(token.status());
    return;
  }
  absl::MutexLock lock(&sync_mu_);
  pending_.push_back({*token, std::move(done)});
}

// One sync for every entry that arrived while the previous one ran.
void AuditLog::SyncLoop() {
  for (;;) {
    std::vector<Pending> batch;
    {
      absl::MutexLock lock(&sync_mu_);
      sync_mu_.Await(absl::Condition(this, &AuditLog::SyncDue));
      if (pending_.empty()) return;  // Stopping, nothing left.
      batch.swap(pending_);
    }
    uint64_t upto = 0;
    for (const Pending& p : batch) upto = std::max(upto, p.token);
    const absl::Status st = store_->AwaitAudit(upto);
    for (Pending& p : batch) p.done(st);
  }
}

Head AuditLog::head() const {
  absl::MutexLock lock(&mu_);
  return head_;
}

std::string AuditLog::HashId(std::string_view id_key) const {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(id_key.data()), id_key.size(), md, &len);
  return std::string(reinterpret_cast<const char*>(md), std::min<size_t>(len, kIdHmacBytes));
}

}  // namespace linkage::audit
