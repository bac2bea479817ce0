// End-to-end audit: the real linkd and linkctl on a bulk verification, then
// the stopped server's audit rows changed, removed and cut off with RocksDB
// itself (what an operator with shell access can do), and `linkctl audit
// verify` through the restarted server and offline (--db) catching each.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>

#include "audit_tamper.h"
#include "linkage/v1/audit.pb.h"
#include "linkd_test.h"
#include "test_util.h"

namespace linkage {
namespace {

using testing::ReadFile;

class AuditE2ETest : public testing::LinkdBinaryTest {
 protected:
  bool StartLinkd() { return StartLinkdOn(dir_.Sub("db"), {"--workers", "2"}); }
  // The "head COUNT:HASH" line of `audit verify`.
  std::string HeadOf(const std::string& out) {
    std::smatch m;
    if (!std::regex_search(out, m, std::regex("head ([0-9]+:[0-9a-f]*)"))) return "";
    return m[1];
  }
};

TEST_F(AuditE2ETest, BulkVerifyIsAuditedAndEveryKindOfTamperingIsCaught) {
  ASSERT_TRUE(StartLinkd()) << ReadFile(dir_.Sub("linkd.log"));
  const std::string reg = dir_.Sub("reg.csv"), list = dir_.Sub("list.csv");
  ASSERT_EQ(
      Linkctl({"gen", "--size", "2000", "--register", reg, "--list", list, "--list-size", "300"}),
      0)
      << err_;
  ASSERT_EQ(Linkctl({"import", "--dataset", "register", reg}), 0) << err_;
  ASSERT_EQ(Linkctl({"verify", "--against", "register", "--input", list, "--output",
                     dir_.Sub("verified.csv")}),
            0)
      << err_;
  ASSERT_EQ(Linkctl({"audit", "verify"}), 0) << out_ << err_;
  EXPECT_NE(out_.find("chain whole"), std::string::npos) << out_;
  const std::string head = HeadOf(out_);
  ASSERT_FALSE(head.empty()) << out_;
  const uint64_t count = std::stoull(head.substr(0, head.find(':')));
  // Bulk verification: one entry per batch of 64, not per record.
  ASSERT_EQ(Linkctl({"audit", "list", "--method", "MatchBatchStream"}), 0) << err_;
  const size_t batches = static_cast<size_t>(std::count(out_.begin(), out_.end(), '\n'));
  EXPECT_GE(batches, 300u / 64);
  EXPECT_LE(batches, 300u / 64 + 4);
  ASSERT_EQ(Linkctl({"audit", "export", "--output", dir_.Sub("audit.jsonl")}), 0) << err_;
  const std::string exported = ReadFile(dir_.Sub("audit.jsonl"));
  EXPECT_EQ(static_cast<uint64_t>(std::count(exported.begin(), exported.end(), '\n')), count);
  EXPECT_NE(exported.find("\"method\":\"MatchBatchStream\""), std::string::npos);

  // The head is also in the log at stop, where the operator's later edits
  // cannot reach it.
  ASSERT_EQ(StopLinkd(), 0);
  EXPECT_NE(ReadFile(dir_.Sub("linkd.log")).find("\"audit_head\":\"" + head + "\""),
            std::string::npos);
  const auto rows = testing::AuditRows(dir_.Sub("db"));
  ASSERT_EQ(rows.size(), count);

  // 1. An entry edited in place: the principal rewritten.
  v1::AuditEntry e;
  ASSERT_TRUE(e.ParseFromString(rows.at(2)));
  e.set_principal("someone-else");
  ASSERT_TRUE(testing::PutAuditRow(dir_.Sub("db"), 2, e.SerializeAsString()));
  ASSERT_TRUE(StartLinkd()) << ReadFile(dir_.Sub("linkd.log"));
  EXPECT_EQ(Linkctl({"audit", "verify"}), 1) << out_;
  EXPECT_NE(out_.find("BROKEN at entry 2"), std::string::npos) << out_;
  // Offline too, while linkd runs on the directory.
  EXPECT_EQ(Linkctl({"audit", "verify", "--db", dir_.Sub("db")}), 1) << out_ << err_;
  EXPECT_NE(out_.find("BROKEN at entry 2"), std::string::npos) << out_;
  ASSERT_EQ(StopLinkd(), 0);

  // 2. The edit undone, an entry in the middle deleted: a gap.
  ASSERT_TRUE(testing::PutAuditRow(dir_.Sub("db"), 2, rows.at(2)));
  ASSERT_EQ(Linkctl({"audit", "verify", "--db", dir_.Sub("db")}), 0) << out_ << err_;
  ASSERT_TRUE(testing::DeleteAuditRows(dir_.Sub("db"), 3, 3));
  ASSERT_TRUE(StartLinkd()) << ReadFile(dir_.Sub("linkd.log"));
  EXPECT_EQ(Linkctl({"audit", "verify"}), 1) << out_;
  EXPECT_NE(out_.find("BROKEN at entry 3: entry 3 is missing"), std::string::npos) << out_;
  ASSERT_EQ(StopLinkd(), 0);

  // 3. Restored, then the newest two entries cut off: the chain alone is
  // whole, only the head recorded earlier shows the cut.
  ASSERT_TRUE(testing::PutAuditRow(dir_.Sub("db"), 3, rows.at(3)));
  ASSERT_TRUE(testing::DeleteAuditRows(dir_.Sub("db"), count - 1, count));
  ASSERT_EQ(Linkctl({"audit", "verify", "--db", dir_.Sub("db")}), 0) << out_ << err_;
  EXPECT_EQ(HeadOf(out_).substr(0, HeadOf(out_).find(':')), std::to_string(count - 2));
  EXPECT_EQ(Linkctl({"audit", "verify", "--db", dir_.Sub("db"), "--expect-head", head}), 1) << out_;
  EXPECT_NE(out_.find("removed"), std::string::npos) << out_;
  ASSERT_TRUE(StartLinkd()) << ReadFile(dir_.Sub("linkd.log"));
  EXPECT_EQ(Linkctl({"audit", "verify"}), 0) << out_;
  EXPECT_EQ(Linkctl({"audit", "verify", "--expect-head", head}), 1) << out_;
  EXPECT_NE(out_.find("BROKEN at entry " + std::to_string(count - 1)), std::string::npos) << out_;
  EXPECT_EQ(Linkctl({"audit", "verify", "--expect-head", "x"}), 1);
  EXPECT_NE(err_.find("COUNT:HASH"), std::string::npos) << err_;
  ASSERT_EQ(StopLinkd(), 0);
}

}  // namespace
}  // namespace linkage
