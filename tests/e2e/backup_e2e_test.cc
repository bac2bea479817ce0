// End-to-end backup: the real linkd and linkctl. `linkctl backup create`
// while linkd serves, `backup list | verify | purge` on the directory,
// `linkd restore` into a new directory (refusing a non-empty one), then a
// linkd on the restored directory passes `linkctl check` and holds the
// same record counts.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "linkd_test.h"
#include "test_util.h"

namespace linkage {
namespace {

using testing::ReadFile;

class BackupE2ETest : public testing::LinkdBinaryTest {
 protected:
  bool StartLinkd(const std::string& db) { return StartLinkdOn(db, {"--workers", "2"}); }
  // "register=N" from `linkctl stats`-like output lines: the count of the
  // register dataset as `linkctl stats` prints it.
  std::string Stats() {
    EXPECT_EQ(Linkctl({"stats"}), 0) << err_;
    std::smatch m;
    if (!std::regex_search(out_, m, std::regex("register[^\\n]*"))) return "";
    return m[0];
  }
};

TEST_F(BackupE2ETest, CreateListVerifyRestoreCheck) {
  ASSERT_TRUE(StartLinkd(dir_.Sub("db"))) << ReadFile(dir_.Sub("linkd.log"));
  const std::string reg = dir_.Sub("reg.csv"), list = dir_.Sub("list.csv");
  const std::string backups = dir_.Sub("backups");
  ASSERT_EQ(
      Linkctl({"gen", "--size", "1500", "--register", reg, "--list", list, "--list-size", "50"}), 0)
      << err_;
  ASSERT_EQ(Linkctl({"import", "--dataset", "register", reg}), 0) << err_;
  ASSERT_EQ(Linkctl({"backup", "create", "--dest", backups}), 0) << out_ << err_;
  EXPECT_NE(out_.find("backup 1 in"), std::string::npos) << out_;
  EXPECT_NE(out_.find("records register="), std::string::npos) << out_;
  ASSERT_EQ(Linkctl({"backup", "create", "--dest", backups}), 0) << out_ << err_;
  const std::string stats = Stats();
  ASSERT_FALSE(stats.empty());
  EXPECT_EQ(StopLinkd(), 0);

  ASSERT_EQ(Run({LINKCTL_BIN, "backup", "list", "--dest", backups}), 0) << err_;
  EXPECT_NE(out_.find("backup 1 "), std::string::npos) << out_;
  EXPECT_NE(out_.find("backup 2 "), std::string::npos) << out_;
  ASSERT_EQ(Run({LINKCTL_BIN, "backup", "verify", "--dest", backups, "--backup-id", "1"}), 0)
      << err_;
  EXPECT_NE(out_.find("verified"), std::string::npos) << out_;
  ASSERT_EQ(Run({LINKCTL_BIN, "backup", "purge", "--dest", backups, "--keep", "1"}), 0) << err_;
  ASSERT_EQ(Run({LINKCTL_BIN, "backup", "list", "--dest", backups}), 0) << err_;
  EXPECT_EQ(out_.find("backup 1 "), std::string::npos) << out_;
  EXPECT_NE(out_.find("backup 2 "), std::string::npos) << out_;
  EXPECT_NE(Run({LINKCTL_BIN, "backup", "verify", "--dest", dir_.Sub("nothing")}), 0);

  // Restore refuses a directory with something in it.
  std::filesystem::create_directories(dir_.Sub("busy"));
  testing::WriteFile(dir_.Sub("busy/x"), "x");
  EXPECT_EQ(Run({LINKD_BIN, "restore", "--from", backups, "--db", dir_.Sub("busy")}), 1);
  EXPECT_NE(err_.find("not empty"), std::string::npos) << err_;

  const std::string restored = dir_.Sub("restored");
  ASSERT_EQ(Run({LINKD_BIN, "restore", "--from", backups, "--db", restored}), 0) << out_ << err_;
  EXPECT_NE(err_.find("restore_done"), std::string::npos) << err_;
  EXPECT_NE(err_.find("\"problems\":0"), std::string::npos) << err_;

  ASSERT_TRUE(StartLinkd(restored)) << ReadFile(dir_.Sub("linkd.log"));
  ASSERT_EQ(Linkctl({"check"}), 0) << out_ << err_;
  EXPECT_EQ(Stats(), stats);
  EXPECT_EQ(StopLinkd(), 0);
}

}  // namespace
}  // namespace linkage
