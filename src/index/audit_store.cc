// The audit column family: rows written by the audit log (linkage/audit.h),
// outside the records' write lock, and a read-only view of a database
// directory for verifying the log offline.
#include <rocksdb/db.h>
#include <stdlib.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "rocks_store.h"

namespace linkage::index {

using namespace keys;  // NOLINT(build/namespaces)

namespace {

absl::Status ScanAuditFamily(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, uint64_t from,
                             const std::function<bool(uint64_t seq, std::string_view bytes)>& fn) {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;  // A walk of the whole log should not evict the records.
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf));
  for (it->Seek(AuditKey(from)); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key(), v = it->value();
    if (!fn(AuditSeq(std::string_view(k.data(), k.size())), std::string_view(v.data(), v.size())))
      break;
  }
  return FromRocks(it->status(), "read the audit log");
}

absl::StatusOr<std::optional<std::pair<uint64_t, std::string>>> LastAuditRow(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
  it->SeekToLast();
  if (!it->Valid()) {
    LINKD_RETURN_IF_ERROR(FromRocks(it->status(), "read the audit log"));
    return std::nullopt;
  }
  return std::make_pair(AuditSeq(std::string_view(it->key().data(), it->key().size())),
                        it->value().ToString());
}

// A secondary RocksDB instance on another process's database, holding only
// the column families it needs; its own files live in a temporary
// directory removed on close.
class SecondaryAuditReader final : public AuditReader {
 public:
  SecondaryAuditReader(std::unique_ptr<rocksdb::DB> db,
                       std::vector<rocksdb::ColumnFamilyHandle*> handles, std::string scratch)
      : db_(std::move(db)), handles_(std::move(handles)), scratch_(std::move(scratch)) {}
  ~SecondaryAuditReader() override {
    for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
    (void)db_->Close();
    db_.reset();
    std::error_code ec;
    std::filesystem::remove_all(scratch_, ec);
  }
  absl::Status ScanAudit(
      uint64_t from,
      const std::function<bool(uint64_t seq, std::string_view bytes)>& fn) const override {
    return ScanAuditFamily(db_.get(), handles_[1], from, fn);
  }
  absl::StatusOr<std::optional<std::pair<uint64_t, std::string>>> LastAudit() const override {
    return LastAuditRow(db_.get(), handles_[1]);
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // default, audit.
  std::string scratch_;
};

}  // namespace

absl::Status RocksStore::ScanAudit(
    uint64_t from, const std::function<bool(uint64_t seq, std::string_view bytes)>& fn) const {
  absl::Status s = ScanAuditFamily(db_.get(), H(Cf::kAudit), from, fn);
  if (s.code() == absl::StatusCode::kDataLoss) health_->damaged.store(true);
  return s;
}

absl::StatusOr<std::optional<std::pair<uint64_t, std::string>>> RocksStore::LastAudit() const {
  return LastAuditRow(db_.get(), H(Cf::kAudit));
}

absl::StatusOr<uint64_t> RocksStore::WriteAudit(uint64_t seq, std::string_view bytes) {
  if (health_->damaged.load()) {
    return absl::DataLossError(
        "data on disk is damaged: the audit log cannot be written, so calls that read or write "
        "a person are refused until the database is restored or repaired");
  }
  rocksdb::WriteBatch batch;
  (void)batch.Put(H(Cf::kAudit), AuditKey(seq), rocksdb::Slice(bytes.data(), bytes.size()));
  LINKD_RETURN_IF_ERROR(R(db_->Write(write_options_, &batch), "write the audit log"));
  return db_->GetLatestSequenceNumber();
}

absl::Status RocksStore::AwaitAudit(uint64_t token) { return AwaitDurable(token); }

absl::StatusOr<std::unique_ptr<AuditReader>> OpenAuditReadOnly(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(fs::path(path) / "CURRENT", ec))
    return absl::NotFoundError(absl::StrCat("no database at ", path, " (no CURRENT file)"));
  std::string scratch = (fs::temp_directory_path(ec) / "linkd-audit-XXXXXX").string();
  if (mkdtemp(scratch.data()) == nullptr)
    return absl::UnavailableError("cannot create a temporary directory for the secondary instance");
  rocksdb::Options options;
  options.max_open_files = -1;  // Required of a secondary instance.
  options.create_if_missing = false;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {"default", rocksdb::ColumnFamilyOptions()},
      {"audit", rocksdb::ColumnFamilyOptions()},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenAsSecondary(options, path, scratch, cfs, &handles, &raw);
  if (s.ok()) s = raw->TryCatchUpWithPrimary();
  if (!s.ok()) {
    if (raw != nullptr) {
      for (auto* h : handles) (void)raw->DestroyColumnFamilyHandle(h);
      delete raw;
    }
    fs::remove_all(scratch, ec);
    return absl::Status(FromRocks(s, "").code(),
                        absl::StrCat("cannot open the audit log of ", path, ": ", s.ToString()));
  }
  return std::unique_ptr<AuditReader>(std::make_unique<SecondaryAuditReader>(
      std::unique_ptr<rocksdb::DB>(raw), std::move(handles), std::move(scratch)));
}

// --- The review desk's rows: like the audit log, written outside the
// records' lock and below the disk reserve.

absl::Status RocksStore::WriteReview(const std::vector<std::pair<std::string, std::string>>& puts,
                                     bool durable) {
  if (health_->damaged.load()) {
    return absl::DataLossError(
        "data on disk is damaged: review decisions cannot be written until the database is "
        "restored or repaired");
  }
  rocksdb::WriteBatch batch;
  for (const auto& [k, v] : puts) (void)batch.Put(H(Cf::kReview), k, v);
  LINKD_RETURN_IF_ERROR(R(db_->Write(write_options_, &batch), "write the review desk"));
  if (!durable) return absl::OkStatus();
  return AwaitDurable(db_->GetLatestSequenceNumber());
}

absl::StatusOr<std::optional<std::string>> RocksStore::GetReview(std::string_view key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), H(Cf::kReview),
                               rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::nullopt;
  LINKD_RETURN_IF_ERROR(FromRocks(s, "read the review desk"));
  return value;
}

absl::Status RocksStore::ScanReview(
    std::string_view prefix,
    const std::function<bool(std::string_view key, std::string_view value)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), H(Cf::kReview)));
  const rocksdb::Slice p(prefix.data(), prefix.size());
  for (it->Seek(p); it->Valid() && it->key().starts_with(p); it->Next()) {
    const rocksdb::Slice k = it->key(), v = it->value();
    if (!fn(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size()))) break;
  }
  absl::Status s = FromRocks(it->status(), "read the review desk");
  if (s.code() == absl::StatusCode::kDataLoss) health_->damaged.store(true);
  return s;
}

}  // namespace linkage::index
