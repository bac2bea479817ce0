// Store::Open: refusing damaged directories, telling a damaged WAL from
// other corruption, the merge operator and the health listener RocksDB is
// opened with.
#include <google/protobuf/util/message_differencer.h>
#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/table.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "rocks_store.h"

namespace linkage::index {

using namespace keys;  // NOLINT(build/namespaces): the key layout, used throughout.

namespace {

// Counters: values are little-endian int64, merges add.
class Int64AddOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    int64_t base = existing ? DecodeInt64(std::string_view(existing->data(), existing->size())) : 0;
    *new_value = EncodeInt64(base + DecodeInt64(std::string_view(value.data(), value.size())));
    return true;
  }
  const char* Name() const override { return "linkd.Int64Add"; }
};

// Background errors (a failed flush, compaction or WAL write) stop RocksDB's
// writes; they are recorded for health and the log, and cleared when
// RocksDB (or the store's monitor, via Resume) recovers.
class HealthListener : public rocksdb::EventListener {
 public:
  explicit HealthListener(std::shared_ptr<HealthState> health) : health_(std::move(health)) {}
  void OnBackgroundError(rocksdb::BackgroundErrorReason /*reason*/,
                         rocksdb::Status* error) override {
    absl::MutexLock lock(&health_->mu);
    ++health_->background_errors;
    health_->background_error = *error;
    health_->detail = error->ToString();
    if (error->IsCorruption()) health_->damaged.store(true);
  }
  void OnErrorRecoveryEnd(const rocksdb::BackgroundErrorRecoveryInfo& info) override {
    if (!info.new_bg_error.ok()) return;
    absl::MutexLock lock(&health_->mu);
    health_->background_error = rocksdb::Status::OK();
    health_->detail.clear();
  }

 private:
  std::shared_ptr<HealthState> health_;
};

// A directory that holds RocksDB files but no CURRENT is a damaged
// database; opening it with create_if_missing would write an empty one
// over it and then delete its files as obsolete.
absl::Status RefuseDamagedDirectory(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec) || fs::exists(fs::path(path) / "CURRENT", ec))
    return absl::OkStatus();
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == "IDENTITY" || absl::StartsWith(name, "MANIFEST-") || absl::EndsWith(name, ".sst") ||
        absl::EndsWith(name, ".log") || absl::EndsWith(name, ".blob")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database directory ", path, " holds RocksDB files (", name,
          ") but no CURRENT file: it is a damaged database, and linkd will not create a new "
          "one over it. Restore it from a backup into an empty directory (linkd restore), or "
          "rebuild CURRENT with RocksDB's `ldb repair --db=",
          path, "` and then run `linkd repair --db ", path, "`"));
    }
  }
  return absl::OkStatus();
}

// What a point-in-time recovery dropped, from RocksDB's own LOG of this
// open (RocksDB reports it nowhere else).
std::string DroppedByRecovery(const std::string& path) {
  std::ifstream log(std::filesystem::path(path) / "LOG");
  std::string line;
  int64_t bytes = 0, places = 0;
  while (std::getline(log, line)) {
    size_t at = line.find("dropping ");
    if (at == std::string::npos) continue;
    ++places;
    bytes += std::atoll(line.c_str() + at + 9);
  }
  if (places == 0) return "";
  return absl::StrCat("the write-ahead log was damaged: ", bytes, " bytes in ", places,
                      " place(s) were dropped (acknowledged writes after the damage are lost)");
}

std::vector<std::string> WalFiles(const std::string& path) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    if (entry.path().extension() == ".log") out.push_back(entry.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// After an open refused for corruption: whether the write-ahead log is the
// damaged part, i.e. a read-only open that stops replaying at the damage
// succeeds (it changes no file).
bool WalIsWhatIsDamaged(rocksdb::Options options, const std::string& path,
                        const std::vector<rocksdb::ColumnFamilyDescriptor>& descriptors) {
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  options.listeners.clear();
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::OpenForReadOnly(options, path, descriptors, &handles, &raw).ok()) return false;
  for (auto* h : handles) (void)raw->DestroyColumnFamilyHandle(h);
  delete raw;
  return true;
}

}  // namespace

// --- Open.

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options,
                                                   const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("database path is empty");
  LINKD_RETURN_IF_ERROR(RefuseDamagedDirectory(path));
  if (options.create_if_missing) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec)
      return absl::UnavailableError(
          absl::StrCat("cannot create database directory ", path, ": ", ec.message()));
  }
  auto health = std::make_shared<HealthState>();
  rocksdb::Options db_options;
  if (options.env != nullptr) db_options.env = options.env;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);
  db_options.max_background_jobs = 2;
  db_options.bytes_per_sync = 1 << 20;
  // Damage in the middle of the write-ahead log stops the open instead of
  // silently dropping every acknowledged write after it; a torn last
  // record (a crash mid-write, never acknowledged) is tolerated.
  db_options.wal_recovery_mode = options.accept_wal_loss
                                     ? rocksdb::WALRecoveryMode::kPointInTimeRecovery
                                     : rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // Preallocating the write-ahead log (~70 MiB) made the first write fail
  // on a nearly full volume; appends need no preallocation on ext4/xfs.
  db_options.allow_fallocate = false;
  db_options.listeners.push_back(std::make_shared<HealthListener>(health));

  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(options.block_cache_mib << 20);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const CfSpec& cf : kColumnFamilies) {
    rocksdb::ColumnFamilyOptions cfo;
    cfo.OptimizeLevelStyleCompaction(64 << 20);
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = cache;
    table.cache_index_and_filter_blocks = true;
    if (cf.point_reads) table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    cfo.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    if (cf.counters) cfo.merge_operator = std::make_shared<Int64AddOperator>();
    descriptors.emplace_back(cf.name, cfo);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, path, descriptors, &handles, &raw);
  if (!s.ok()) {
    std::string detail = s.ToString();
    if (s.IsCorruption() && !options.accept_wal_loss &&
        WalIsWhatIsDamaged(db_options, path, descriptors)) {
      return absl::DataLossError(absl::StrCat(
          "database ", path, ": the write-ahead log (", absl::StrJoin(WalFiles(path), ", "),
          ") is damaged (", detail,
          "); replaying it past the damage would silently lose acknowledged writes. Restore "
          "from a backup, or start once with --accept-wal-loss to keep what precedes the "
          "damage (the loss is logged)"));
    }
    return absl::Status(FromRocks(s, "").code(),
                        absl::StrCat("cannot open database ", path, ": ", detail));
  }
  auto store = std::make_unique<RocksStore>(options, path, std::unique_ptr<rocksdb::DB>(raw),
                                            std::move(handles), health);
  if (options.accept_wal_loss) store->set_recovery_note(DroppedByRecovery(path));
  for (auto step : {&RocksStore::LoadGenerations, &RocksStore::MigrateSchema,
                    &RocksStore::DropStaleGenerations}) {
    LINKD_RETURN_IF_ERROR(((*store).*step)());
  }
  store->StartMatchViews();
  store->StartMonitor();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace linkage::index
