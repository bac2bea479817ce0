#include "linkage/synth.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "linkage/normalize.h"

namespace linkage::synth {
namespace {

TEST(Synth, DeterministicForASeed) {
  PopulationOptions o;
  o.size = 500;
  o.seed = 7;
  Population a(o), b(o);
  ASSERT_EQ(a.people().size(), 500u);
  for (size_t i = 0; i < 500; ++i) {
    EXPECT_EQ(a.people()[i].record.SerializeAsString(), b.people()[i].record.SerializeAsString());
  }
  o.seed = 8;
  Population c(o);
  EXPECT_NE(a.people()[0].record.full_name() + a.people()[1].record.full_name(),
            c.people()[0].record.full_name() + c.people()[1].record.full_name());
}

TEST(Synth, RegisterRecordsAreConsistentAndUnique) {
  PopulationOptions o;
  o.size = 3000;
  o.province_2025 = "19";
  Population pop(o);
  std::set<std::string> ids, cccds;
  int twins = 0, absent = 0;
  for (const Person& p : pop.people()) {
    EXPECT_TRUE(ids.insert(p.record.record_id()).second);
    EXPECT_TRUE(cccds.insert(p.record.national_id()).second) << p.record.national_id();
    auto n = domain::NormalizeRecord(p.record);
    ASSERT_TRUE(n.ok()) << n.status();
    for (const std::string& f : n->flags()) {
      EXPECT_NE(f.rfind("CCCD_", 0), 0u)
          << f << " " << p.record.national_id() << " " << p.record.birth_date();
    }
    EXPECT_EQ(n->address().commune_codes_2025_size(), 1);
    EXPECT_EQ(n->address().province_code_2025(), "19");
    twins += p.twin_of >= 0;
    absent += !p.in_register;
  }
  EXPECT_GT(twins, 0);
  EXPECT_GT(absent, 30);
}

TEST(Synth, ListRecordsAlwaysNormalizeAndCarryTruth) {
  PopulationOptions o;
  o.size = 5000;
  Population pop(o);
  ListOptions lo;
  lo.size = 2000;
  std::vector<ListEntry> list = MakeList(pop, lo);
  ASSERT_EQ(list.size(), 2000u);
  std::map<std::string, int> applied;
  int resolved = 0, with_address = 0;
  domain::NormalizeOptions lenient;
  lenient.strict_dates = false;
  for (const ListEntry& e : list) {
    // Read strictly, only the dates made impossible fail; bulk lists read
    // them leniently, and then every record normalizes.
    auto n = domain::NormalizeRecord(e.record, lenient);
    ASSERT_TRUE(n.ok()) << n.status() << " " << e.record.full_name();
    if (!domain::NormalizeRecord(e.record).ok()) {
      EXPECT_TRUE(std::any_of(e.applied.begin(), e.applied.end(), [](const std::string& a) {
        return a == "impossible_day" || a == "impossible_month" || a == "year_out_of_range";
      })) << e.record.birth_date();
    }
    for (const auto& a : e.applied) ++applied[a];
    if (!e.record.address().empty()) {
      ++with_address;
      resolved += n->address().commune_codes_2025_size() > 0;
    }
  }
  for (const char* kind :
       {"diacritics_lost", "tcvn3", "vni", "year_only", "pre2025_address", "id_missing",
        "middle_dropped", "duplicate", "relative_id", "absent_namesake", "absent_twin"}) {
    EXPECT_GT(applied[kind], 0) << kind;
  }
  // Generated pre-2025 and 2025 addresses resolve to a commune nearly always.
  EXPECT_GT(resolved, with_address * 95 / 100) << resolved << " of " << with_address;
}

TEST(Synth, CsvLineQuotes) {
  v1::PersonRecord r;
  r.set_record_id("X1");
  r.set_full_name("A \"B\"");
  r.set_address("Tổ 1, Phường Đức Xuân");
  r.set_sex(v1::SEX_FEMALE);
  EXPECT_EQ(ToCsvLine(r), "X1,,,\"A \"\"B\"\"\",Nữ,,,\"Tổ 1, Phường Đức Xuân\",,,,,");
}

}  // namespace
}  // namespace linkage::synth
