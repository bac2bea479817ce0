// The store's key encoding on its own, as leveldb tests dbformat: every
// key built splits back into what it was built from, and orders as the
// scans rely on.
#include "keys.h"

#include <gtest/gtest.h>

namespace linkage::index::keys {
namespace {

TEST(KeysTest, Int64RoundTripsAndShortValuesAreZero) {
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{1} << 40, INT64_MIN, INT64_MAX})
    EXPECT_EQ(DecodeInt64(EncodeInt64(v)), v);
  EXPECT_EQ(EncodeInt64(1).size(), 8u);
  EXPECT_EQ(DecodeInt64("abc"), 0);
}

TEST(KeysTest, BlockKeysCarryTheirGenerationAndDatasetAndSortByGeneration) {
  std::string k = BlockPrefix(7, "register", "fgy", "nguyen|an|1950") + "P1";
  EXPECT_EQ(GenerationOf(k), 7u);
  EXPECT_EQ(BlockDatasetOf(k), "register");
  EXPECT_EQ(TrailingId(k), "P1");
  EXPECT_LT(GenerationPrefix(1), GenerationPrefix(2));
  EXPECT_LT(GenerationPrefix(255), GenerationPrefix(256));  // Big-endian.
  EXPECT_LT(BlockPrefix(1, "z", "r", "k"), GenerationPrefix(2));
  EXPECT_EQ(GenerationOf("ab"), 0u);
}

TEST(KeysTest, UpperBoundClosesEveryKeyOfAPrefixAndNoOther) {
  std::string prefix = IdPrefix("register", "c:001190012345");
  std::string upper = UpperBound(prefix);
  EXPECT_LT(prefix + "P1", upper);
  EXPECT_LT(prefix + std::string(3, '\xff'), upper);
  EXPECT_GT(IdPrefix("register", "c:001190012346"), upper);
  EXPECT_LT(RecordKey("register", "\xff\xff"), MaxKey());
}

TEST(KeysTest, RecordAndCounterKeys) {
  EXPECT_EQ(DatasetOf(RecordKey("list", "B-7")), "list");
  EXPECT_EQ(TrailingId(RecordKey("list", "B-7")), "B-7");
  // Record counters sort before every dataset's terms.
  EXPECT_LT(CountKey("zzz"), TermKey("a", "t"));
  EXPECT_EQ(CountKey("reg").substr(0, kCountPrefix.size()), kCountPrefix);
  EXPECT_TRUE(ContainsNul(std::string("a\0b", 3)));
  EXPECT_FALSE(ContainsNul("ab"));
}

TEST(KeysTest, ReindexAndRepairStatesRoundTripAndRejectDamage) {
  ReindexState r;
  r.target_generation = 3;
  r.done = 12345;
  r.cursor = std::string("register\0P9", 11);
  r.model = std::string(1000, 'm');
  ReindexState back;
  std::string bytes = SerializeReindex(r);
  ASSERT_TRUE(ParseReindex(bytes, &back));
  EXPECT_EQ(back.target_generation, 3u);
  EXPECT_EQ(back.done, 12345);
  EXPECT_EQ(back.cursor, r.cursor);
  EXPECT_EQ(back.model, r.model);
  EXPECT_FALSE(ParseReindex(bytes.substr(0, bytes.size() - 1), &back));
  EXPECT_FALSE(ParseReindex(bytes + "x", &back));

  RepairRecord p{42, std::string("list\0X", 6)};
  RepairRecord q;
  ASSERT_TRUE(ParseRepair(SerializeRepair(p), &q));
  EXPECT_EQ(q.done, 42);
  EXPECT_EQ(q.cursor, p.cursor);
  EXPECT_FALSE(ParseRepair("short", &q));
}

}  // namespace
}  // namespace linkage::index::keys
