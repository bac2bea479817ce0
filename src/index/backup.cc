// Backups with RocksDB's BackupEngine: an online backup taken from a
// checkpoint of the live database, and the offline operations on a backup
// directory (list, verify, purge, restore) that need no database open.
#include <rocksdb/utilities/backup_engine.h>
#include <rocksdb/utilities/checkpoint.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "rocks_store.h"

namespace linkage::index {
namespace {

namespace fs = std::filesystem;

// The checkpoint a backup is taken from, inside the database directory
// (hard links need the same file system). RocksDB ignores subdirectories.
constexpr char kCheckpointDir[] = "backup-checkpoint.tmp";

// A RocksDB status from a backup operation, for an operator: the code says
// what happened, the message keeps RocksDB's words (they name the file).
absl::Status BackupStatus(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  const std::string message = absl::StrCat(what, ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(message);
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsIncomplete()) return absl::CancelledError(message);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(message);
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(message);
  if (s.IsBusy() || s.IsTryAgain()) return absl::UnavailableError(message);
  if (s.IsIOError()) return absl::UnavailableError(message);
  return absl::InternalError(message);
}

BackupInfo FromRocksInfo(const rocksdb::BackupInfo& info) {
  BackupInfo out;
  out.id = info.backup_id;
  out.unix_seconds = info.timestamp;
  out.size_bytes = info.size;
  out.files = info.number_files;
  out.metadata = info.app_metadata;
  return out;
}

// A backup directory that exists and holds BackupEngine's meta directory:
// BackupEngine would otherwise make an empty one where a typo points.
absl::Status RequireBackupDir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(fs::path(dir) / "meta", ec))
    return absl::NotFoundError(
        absl::StrCat("backup directory ", dir, " holds no backups (no meta subdirectory)"));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<rocksdb::BackupEngineReadOnly>> OpenReadOnly(
    const std::string& dir) {
  LINKD_RETURN_IF_ERROR(RequireBackupDir(dir));
  rocksdb::BackupEngineReadOnly* raw = nullptr;
  LINKD_RETURN_IF_ERROR(
      BackupStatus(rocksdb::BackupEngineReadOnly::Open(rocksdb::BackupEngineOptions(dir),
                                                       rocksdb::Env::Default(), &raw),
                   absl::StrCat("cannot open backup directory ", dir)));
  return std::unique_ptr<rocksdb::BackupEngineReadOnly>(raw);
}

absl::StatusOr<BackupInfo> FindBackup(const rocksdb::BackupEngineReadOnlyBase& engine,
                                      const std::string& dir, uint32_t id) {
  std::vector<rocksdb::BackupInfo> infos;
  engine.GetBackupInfo(&infos);
  if (infos.empty())
    return absl::NotFoundError(absl::StrCat("backup directory ", dir, " is empty"));
  if (id == 0) return FromRocksInfo(infos.back());
  for (const auto& info : infos)
    if (info.backup_id == id) return FromRocksInfo(info);
  return absl::NotFoundError(absl::StrCat("backup directory ", dir, " has no backup ", id));
}

}  // namespace

std::string_view LayoutVersion() { return keys::kSchemaVersion; }

absl::StatusOr<std::vector<BackupInfo>> ListBackups(const std::string& dir) {
  LINKD_ASSIGN_OR_RETURN(auto engine, OpenReadOnly(dir));
  std::vector<rocksdb::BackupInfo> infos;
  engine->GetBackupInfo(&infos);
  std::vector<BackupInfo> out;
  for (const auto& info : infos) out.push_back(FromRocksInfo(info));
  return out;
}

absl::StatusOr<BackupInfo> VerifyBackup(const std::string& dir, uint32_t id) {
  LINKD_ASSIGN_OR_RETURN(auto engine, OpenReadOnly(dir));
  LINKD_ASSIGN_OR_RETURN(BackupInfo info, FindBackup(*engine, dir, id));
  rocksdb::IOStatus s = engine->VerifyBackup(info.id, /*verify_with_checksum=*/true);
  if (!s.ok()) {
    // A size or checksum mismatch is damage, whatever RocksDB calls it.
    const std::string message =
        absl::StrCat("backup ", info.id, " in ", dir, " is damaged: ", s.ToString());
    if (s.IsNotFound()) return absl::DataLossError(message);
    if (s.IsCorruption() || s.IsInvalidArgument()) return absl::DataLossError(message);
    return BackupStatus(s, absl::StrCat("cannot verify backup ", info.id, " in ", dir));
  }
  return info;
}

absl::StatusOr<int> PurgeBackups(const std::string& dir, uint32_t keep) {
  if (keep == 0)
    return absl::InvalidArgumentError("purge must keep at least one backup (--keep 1 or more)");
  LINKD_RETURN_IF_ERROR(RequireBackupDir(dir));
  rocksdb::BackupEngine* raw = nullptr;
  LINKD_RETURN_IF_ERROR(BackupStatus(
      rocksdb::BackupEngine::Open(rocksdb::BackupEngineOptions(dir), rocksdb::Env::Default(), &raw),
      absl::StrCat("cannot open backup directory ", dir)));
  std::unique_ptr<rocksdb::BackupEngine> engine(raw);
  std::vector<rocksdb::BackupInfo> infos;
  engine->GetBackupInfo(&infos);
  LINKD_RETURN_IF_ERROR(
      BackupStatus(engine->PurgeOldBackups(keep), absl::StrCat("cannot purge backups in ", dir)));
  return infos.size() > keep ? static_cast<int>(infos.size() - keep) : 0;
}

absl::StatusOr<BackupInfo> RestoreBackup(const std::string& dir, uint32_t id,
                                         const std::string& db_dir) {
  std::error_code ec;
  if (fs::exists(db_dir, ec) && !fs::is_empty(db_dir, ec))
    return absl::FailedPreconditionError(absl::StrCat(
        "restore target ", db_dir, " is not empty: restore only into a new or empty directory"));
  LINKD_ASSIGN_OR_RETURN(auto engine, OpenReadOnly(dir));
  LINKD_ASSIGN_OR_RETURN(BackupInfo info, FindBackup(*engine, dir, id));
  fs::create_directories(db_dir, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("cannot create restore target ", db_dir, ": ", ec.message()));
  LINKD_RETURN_IF_ERROR(BackupStatus(
      engine->RestoreDBFromBackup(rocksdb::RestoreOptions(), info.id, db_dir, db_dir),
      absl::StrCat("cannot restore backup ", info.id, " from ", dir, " into ", db_dir)));
  return info;
}

absl::StatusOr<BackupInfo> RocksStore::Backup(const std::string& dir,
                                              const BackupMetadataOf& metadata_of,
                                              const std::atomic<bool>* stop,
                                              const std::function<void(uint64_t)>& copied) {
  if (!backup_mu_.TryLock()) return absl::AbortedError("a backup of this database is running");
  absl::Cleanup unlock = [this] { backup_mu_.Unlock(); };
  auto stopped = [stop] { return stop != nullptr && stop->load(); };
  if (dir.empty()) return absl::InvalidArgumentError("backup directory is empty");
  {
    // A backup inside the database directory would be lost with the
    // database it is meant to outlive.
    std::error_code canon_ec;
    const fs::path db = fs::weakly_canonical(path_, canon_ec);
    const fs::path target = fs::weakly_canonical(fs::absolute(dir), canon_ec);
    const auto end = std::mismatch(db.begin(), db.end(), target.begin(), target.end()).first;
    if (end == db.end())
      return absl::InvalidArgumentError(absl::StrCat("backup directory ", dir,
                                                     " is inside the database directory ", path_,
                                                     ": choose a directory outside it"));
  }
  const fs::path checkpoint = fs::path(path_) / kCheckpointDir;
  std::error_code ec;
  fs::remove_all(checkpoint, ec);  // Left by a crash in an earlier backup.
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("cannot remove stale checkpoint ", checkpoint.string(), ": ", ec.message()));
  absl::Cleanup remove_checkpoint = [&checkpoint] {
    std::error_code ignored;
    fs::remove_all(checkpoint, ignored);
  };
  if (stopped()) return absl::CancelledError("backup stopped before it began");

  // The instant backed up: the live database's memtables are flushed
  // first (RocksDB switches memtables and writes on meanwhile), so that what
  // was written since the last backup lands in table files that this and
  // later backups share; then live SSTs are hard-linked and the
  // write-ahead logs copied up to their length at one moment, with file
  // deletions disabled. Writes that arrive after the flush are in that log
  // copy, replayed when the checkpoint is opened below.
  {
    rocksdb::Checkpoint* raw = nullptr;
    LINKD_RETURN_IF_ERROR(
        BackupStatus(rocksdb::Checkpoint::Create(db_.get(), &raw), "cannot create a checkpoint"));
    std::unique_ptr<rocksdb::Checkpoint> cp(raw);
    LINKD_RETURN_IF_ERROR(
        BackupStatus(cp->CreateCheckpoint(checkpoint.string(), /*log_size_for_flush=*/0),
                     absl::StrCat("cannot create checkpoint ", checkpoint.string())));
  }

  StoreOptions copy_options;
  copy_options.create_if_missing = false;
  copy_options.sync_writes = false;
  copy_options.match_view = false;
  copy_options.disk_reserve_mib = 0;
  copy_options.block_cache_mib = 8;
  copy_options.env = options_.env;
  LINKD_ASSIGN_OR_RETURN(std::unique_ptr<Store> point, Store::Open(copy_options, checkpoint));
  LINKD_ASSIGN_OR_RETURN(std::string metadata, metadata_of(*point));
  if (stopped()) return absl::CancelledError("backup stopped");

  fs::create_directories(dir, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("cannot create backup directory ", dir, ": ", ec.message()));
  rocksdb::BackupEngine* raw_engine = nullptr;
  LINKD_RETURN_IF_ERROR(
      BackupStatus(rocksdb::BackupEngine::Open(rocksdb::BackupEngineOptions(dir),
                                               rocksdb::Env::Default(), &raw_engine),
                   absl::StrCat("cannot open backup directory ", dir)));
  std::unique_ptr<rocksdb::BackupEngine> engine(raw_engine);

  // StopBackup from a watcher: the copy stops at the next file chunk, and
  // the unfinished backup is never listed.
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done.load()) {
      if (stopped()) {
        engine->StopBackup();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  rocksdb::CreateBackupOptions create;
  // The checkpoint is private: flushing it stalls nobody and leaves the
  // backup with table files only, no log to replay on restore.
  create.flush_before_backup = true;
  uint64_t copied_bytes = 0;
  const uint64_t step = rocksdb::BackupEngineOptions(dir).callback_trigger_interval_size;
  if (copied) {
    create.progress_callback = [&copied, &copied_bytes, step] {
      copied_bytes += step;
      copied(copied_bytes);
    };
  }
  rocksdb::BackupID id = 0;
  auto* point_db = static_cast<RocksStore*>(point.get())->db_.get();
  rocksdb::IOStatus s = engine->CreateNewBackupWithMetadata(create, point_db, metadata, &id);
  done.store(true);
  watcher.join();
  if (s.IsIncomplete() || (!s.ok() && stopped()))
    return absl::CancelledError(absl::StrCat("backup into ", dir, " stopped; nothing was kept"));
  LINKD_RETURN_IF_ERROR(BackupStatus(s, absl::StrCat("backup into ", dir, " failed")));
  std::vector<rocksdb::BackupInfo> infos;
  engine->GetBackupInfo(&infos);
  for (const auto& info : infos)
    if (info.backup_id == id) return FromRocksInfo(info);
  return absl::InternalError(absl::StrCat("backup ", id, " in ", dir, " is missing once made"));
}

}  // namespace linkage::index
