// The audit log: one entry per call that reads or writes a person, kept in
// the store's `audit` column family and chained: every entry holds the
// SHA-256 of the previous entry's stored bytes, so changing or removing an
// entry breaks the chain at that entry and a walk (VerifyChain) finds it.
// Cutting off the newest entries leaves a whole chain; a head (count and
// hash) recorded earlier, where the operator cannot rewrite it, catches
// that (VerifyChain's `expect`). docs/DESIGN.md §9 and §10 "Audit".
//
// National ID numbers never enter an entry: only HashId's keyed hash of
// them, with a key that is not in the audit column family.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "linkage/store.h"
#include "linkage/v1/audit.pb.h"

namespace linkage::audit {

// SHA-256 of an entry's stored bytes.
std::string EntryHash(std::string_view stored);
// Lowercase hex of `bytes`.
std::string Hex(std::string_view bytes);

// The head of the chain: `count` entries (seq 1..count) and the hash of
// the last one (32 raw bytes; empty when count is 0).
struct Head {
  uint64_t count = 0;
  std::string hash;
  bool operator==(const Head&) const = default;
};
// "COUNT:HEX" (e.g. "1234:9f86d0...") and back. An empty log is "0:".
std::string HeadText(const Head& head);
absl::StatusOr<Head> ParseHead(std::string_view text);

// What a walk of the chain found.
struct VerifyReport {
  uint64_t entries = 0;  // Rows walked.
  uint64_t bytes = 0;    // Their stored bytes (values, without keys).
  Head head;             // The last row's seq and hash, as found.
  // The first problem (0 / empty when none): the seq at which the chain
  // breaks and what is wrong there.
  uint64_t first_bad_seq = 0;
  std::string problem;
  bool ok() const { return problem.empty(); }
};

// Walks every row in seq order: the seqs must run 1, 2, ... without a gap,
// each row must parse with its own seq, and its prev_hash must be the hash
// of the row before (32 zero bytes for seq 1). A changed entry k shows as
// the link k -> k+1 broken (reported as seq k); a removed entry k as a gap
// at k. With `expect`, entry expect->count must also exist and hash to
// expect->hash (a cut-off tail or a rewritten prefix fails). Errors only
// when the rows cannot be read; a broken chain is a report, not an error.
absl::StatusOr<VerifyReport> VerifyChain(const index::AuditReader& reader,
                                         const Head* expect = nullptr);

// Which entries List passes on; unset fields do not filter.
struct ListFilter {
  std::string principal;
  std::string method;
  // The caller's record id or a returned register record id.
  std::string record_id;
  // HashId of a national ID (c:...) or old ID (m:...).
  std::string id_hmac;
  int64_t since_unix_micros = 0;  // Inclusive; 0: unbounded.
  int64_t until_unix_micros = 0;  // Exclusive; 0: unbounded.
  uint64_t from_seq = 0;
  uint64_t limit = 0;  // 0: no limit.
};
bool Passes(const v1::AuditEntry& entry, const ListFilter& filter);

// Calls fn(entry, hash) for each entry that passes `filter`, in seq order,
// until fn returns false. An unreadable row is DataLoss naming its seq.
absl::Status List(const index::AuditReader& reader, const ListFilter& filter,
                  const std::function<bool(const v1::AuditEntry&, const std::string& hash)>& fn);

// The key national IDs are hashed with (32 bytes): read from `key_file`
// (64 hex digits, surrounding whitespace ignored) when one is named, else
// the one kept in the store's meta column family ("audit_key"), made from
// the system's random source the first time. Not the audit column family:
// an audit export or a copy of the audit rows alone never holds it.
absl::StatusOr<std::string> LoadKey(index::Store* store, const std::string& key_file);

// The writer side. Thread-safe; appends are serialized.
class AuditLog {
 public:
  // Reads the head (the last row) from `store`, which must outlive the log.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(index::Store* store, std::string key);

  // Appends `entry` with the next seq, the current head's hash as
  // prev_hash and, if unset, the time now; returns once it is durable (as
  // the store's other writes are). An error means the entry may not be
  // kept: the caller must not answer the call it describes.
  absl::Status Append(v1::AuditEntry entry);

  // The same without waiting: the entry is written (not yet durable) before
  // this returns, and `done` runs on the log's syncer thread once it is
  // durable, with the error if it is not. Concurrent appends share one
  // sync of the write-ahead log, and the caller's thread is free
  // meanwhile (a worker need not sit out the sync of every lookup).
  void AppendThen(v1::AuditEntry entry, std::function<void(absl::Status)> done);

  ~AuditLog();  // Runs every pending `done` first.

  Head head() const;

  // The first 16 bytes of HMAC-SHA256(key, id_key), id_key "c:<CCCD>" or
  // "m:<CMND>" (digits only): what entries and ListFilter::id_hmac hold.
  std::string HashId(std::string_view id_key) const;

  const index::AuditReader& reader() const { return *store_; }

 private:
  AuditLog(index::Store* store, std::string key, Head head);
  // Writes the entry under mu_; returns the token for Store::AwaitAudit.
  absl::StatusOr<uint64_t> Write(v1::AuditEntry entry);
  void SyncLoop();
  bool SyncDue() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_) {
    return stopping_ || !pending_.empty();
  }

  struct Pending {
    uint64_t token;
    std::function<void(absl::Status)> done;
  };

  index::Store* const store_;
  const std::string key_;
  mutable absl::Mutex mu_;
  Head head_ ABSL_GUARDED_BY(mu_);
  mutable absl::Mutex sync_mu_;
  std::vector<Pending> pending_ ABSL_GUARDED_BY(sync_mu_);
  bool stopping_ ABSL_GUARDED_BY(sync_mu_) = false;
  std::thread syncer_;
};

}  // namespace linkage::audit
