// linkctl backup create | list | verify | purge. `create` asks linkd for an
// online backup (AdminService.Backup) into a directory on the server's
// machine; the others open that backup directory directly (no server
// needed), so they run where the directory is.
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "command.h"
#include "linkage/store.h"

namespace linkage::cli {
namespace {

std::string Summary(const v1::BackupMetadata& m) {
  std::vector<std::string> counts;
  for (const auto& d : m.datasets()) counts.push_back(absl::StrCat(d.name(), "=", d.records()));
  return absl::StrCat(
      "model ", m.model_version(), ", generation ", m.index_generation(), ", records ",
      counts.empty() ? "none" : absl::StrJoin(counts, " "), ", audit head ", m.audit_head().count(),
      ":", m.audit_head().hash(), ", layout ", m.layout_version(),
      m.log_stream().empty() ? "" : absl::StrCat(", log=", m.log_stream(), ":", m.log_seq()));
}

std::string Describe(const index::BackupInfo& info) {
  v1::BackupMetadata m;
  const std::string metadata =
      m.ParseFromString(info.metadata) ? Summary(m) : std::string("no linkd metadata");
  return absl::StrCat(
      "backup ", info.id, "  ",
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(info.unix_seconds),
                       absl::UTCTimeZone()),
      "  ", FormatCount(static_cast<int64_t>(info.size_bytes)), " bytes in ", info.files,
      " files  ", metadata);
}

absl::Status Create(CommandContext& ctx, const std::string& dest) {
  v1::BackupRequest req;
  req.set_dest(dest);
  LINKD_ASSIGN_OR_RETURN(v1::BackupResponse resp,
                         Call(ctx, "Backup", &AdminStub::Backup, req, ctx.job_timeout()));
  std::printf("backup %u in %s: %s bytes (%s new) in %.1f s; %s\n", resp.backup_id(), dest.c_str(),
              FormatCount(static_cast<int64_t>(resp.size_bytes())).c_str(),
              FormatCount(static_cast<int64_t>(resp.new_bytes())).c_str(), resp.seconds(),
              Summary(resp.metadata()).c_str());
  return absl::OkStatus();
}

absl::Status List(const std::string& dest) {
  LINKD_ASSIGN_OR_RETURN(std::vector<index::BackupInfo> infos, index::ListBackups(dest));
  for (const auto& info : infos) std::printf("%s\n", Describe(info).c_str());
  if (infos.empty()) std::printf("no backups in %s\n", dest.c_str());
  return absl::OkStatus();
}

absl::Status Verify(const std::string& dest, uint32_t id) {
  LINKD_ASSIGN_OR_RETURN(index::BackupInfo info, index::VerifyBackup(dest, id));
  std::printf("verified (sizes and checksums): %s\n", Describe(info).c_str());
  return absl::OkStatus();
}

absl::Status Purge(const std::string& dest, uint32_t keep) {
  LINKD_ASSIGN_OR_RETURN(int deleted, index::PurgeBackups(dest, keep));
  std::printf("deleted %d backup(s) from %s, kept the newest %u\n", deleted, dest.c_str(), keep);
  return absl::OkStatus();
}

void RegisterBackup(CLI::App& app, CommandContext& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "backup", "Online incremental backups (create asks linkd; list, verify, purge read DIR)");
  cmd->require_subcommand(1);
  auto dest = std::make_shared<std::string>();
  auto id = std::make_shared<uint32_t>(0);
  auto keep = std::make_shared<uint32_t>(0);

  CLI::App* create = cmd->add_subcommand(
      "create", "Back up the server's database into DIR (on the server's machine) while it serves");
  create->add_option("--dest", *dest, "Backup directory")->required();
  ctx.OnRun(create, [&ctx, dest] { return Create(ctx, *dest); });

  CLI::App* list = cmd->add_subcommand("list", "The complete backups in DIR, oldest first");
  list->add_option("--dest", *dest, "Backup directory")->required();
  ctx.OnRun(list, [dest] { return List(*dest); });

  CLI::App* verify = cmd->add_subcommand(
      "verify", "Re-read a backup's files and check their sizes and checksums; 1 if damaged");
  verify->add_option("--dest", *dest, "Backup directory")->required();
  verify->add_option("--backup-id", *id, "Backup to verify (default: the newest)");
  ctx.OnRun(verify, [dest, id] { return Verify(*dest, *id); });

  CLI::App* purge = cmd->add_subcommand("purge", "Delete all but the newest N backups");
  purge->add_option("--dest", *dest, "Backup directory")->required();
  purge->add_option("--keep", *keep, "Backups to keep (at least 1)")->required();
  ctx.OnRun(purge, [dest, keep] { return Purge(*dest, *keep); });
}

}  // namespace

LINKCTL_COMMAND(175, RegisterBackup);

}  // namespace linkage::cli
