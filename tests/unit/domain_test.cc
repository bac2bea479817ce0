#include "linkage/domain.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "linkage/address.h"
#include "linkage/normalize.h"

namespace linkage::domain {
namespace {

v1::PartialDate Date(std::string_view s) {
  auto d = ParsePartialDate(s);
  EXPECT_TRUE(d.ok()) << s << ": " << d.status();
  return d.ok() ? *d : v1::PartialDate();
}

TEST(Dates, Formats) {
  for (const char* s :
       {"05/03/1948", "5/3/1948", "05-03-1948", "05.03.1948", "1948-03-05", "19480305"}) {
    v1::PartialDate d = Date(s);
    EXPECT_EQ(d.year(), 1948) << s;
    EXPECT_EQ(d.month(), 3) << s;
    EXPECT_EQ(d.day(), 5) << s;
  }
  v1::PartialDate my = Date("03/1948");
  EXPECT_EQ(my.year(), 1948);
  EXPECT_EQ(my.month(), 3);
  EXPECT_EQ(my.day(), 0);
  v1::PartialDate y = Date("1948");
  EXPECT_EQ(y.year(), 1948);
  EXPECT_EQ(y.month(), 0);
  EXPECT_EQ(Date("").year(), 0);
}

TEST(Dates, PlaceholderIsMarked) {
  EXPECT_TRUE(Date("01/01/1950").possible_placeholder());
  EXPECT_FALSE(Date("02/01/1950").possible_placeholder());
}

TEST(Dates, ImpossibleDatesArePartialNotFatal) {
  for (const char* s : {"29/02/1951", "30/02/1960", "31/04/1955"}) {
    v1::PartialDate d = Date(s);
    EXPECT_TRUE(d.impossible_day()) << s;
    EXPECT_EQ(d.day(), 0) << s;
    EXPECT_NE(d.month(), 0) << s;
    EXPECT_NE(d.year(), 0) << s;
  }
  v1::PartialDate leap = Date("29/02/1952");
  EXPECT_FALSE(leap.impossible_day());
  EXPECT_EQ(leap.day(), 29);
}

TEST(Dates, SwappedDayMonth) {
  v1::PartialDate d = Date("03/25/1950");
  EXPECT_TRUE(d.swapped_day_month());
  EXPECT_EQ(d.day(), 25);
  EXPECT_EQ(d.month(), 3);
}

TEST(Dates, GarbageIsAnErrorNamingTheValue) {
  for (const char* s : {"31/13/1950", "abc", "1/2/3", "1750", "12/34/56/78"}) {
    auto d = ParsePartialDate(s);
    EXPECT_FALSE(d.ok()) << s;
    EXPECT_NE(d.status().message().find(s), std::string::npos) << d.status();
  }
}

TEST(Dates, LenientKeepsWhatCanBeRead) {
  auto a = ParsePartialDate("19450493", /*lenient=*/true);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->year(), 1945);
  EXPECT_EQ(a->month(), 4);
  EXPECT_EQ(a->day(), 0);
  EXPECT_TRUE(a->impossible_day());  // Day 93: dropped, the rest kept.
  auto b = ParsePartialDate("31/13/1950", true);
  EXPECT_EQ(b->year(), 1950);
  EXPECT_EQ(b->month(), 0);
  auto c = ParsePartialDate("abc", true);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->year(), 0);
  EXPECT_FALSE(ParsePartialDate("19450493").ok());  // Strict by default.
  auto d = ParsePartialDate("05/03/1948", true);    // Good dates are not touched.
  EXPECT_FALSE(d->partly_read());
  EXPECT_EQ(d->day(), 5);
}

// What lists show (issue 13): one impossible part costs that part, never the
// record; a mistyped year outside 1880..2100 is kept to compare by digits.
TEST(Dates, LenientKeepsTheReadablePartsOfWhatListsShow) {
  struct Case {
    const char* text;
    int year, month, day;
    bool impossible_day, impossible_month, implausible;
  } cases[] = {
      {"46/04/1939", 1939, 4, 0, true, false, false},
      {"23/42/1988", 1988, 0, 0, false, true, false},
      {"12/85/1932", 1932, 0, 0, false, true, false},
      {"26/11/1879", 1879, 11, 26, false, false, true},
      {"18/10/1557", 1557, 10, 18, false, false, true},
      {"1557", 1557, 0, 0, false, false, true},
  };
  for (const Case& c : cases) {
    auto d = ParsePartialDate(c.text, /*lenient=*/true);
    ASSERT_TRUE(d.ok()) << c.text;
    EXPECT_EQ(d->year(), c.year) << c.text;
    EXPECT_EQ(d->month(), c.month) << c.text;
    EXPECT_EQ(d->day(), c.day) << c.text;
    EXPECT_EQ(d->impossible_day(), c.impossible_day) << c.text;
    EXPECT_EQ(d->impossible_month(), c.impossible_month) << c.text;
    EXPECT_EQ(d->year_implausible(), c.implausible) << c.text;
    EXPECT_FALSE(ParsePartialDate(c.text).ok()) << c.text << " is an error when strict";
  }
  // A year not of four digits is no year to keep.
  EXPECT_EQ(ParsePartialDate("12/05/195", true)->year(), 0);
  // Swapping needs a day that can be a day.
  auto swapped = ParsePartialDate("05/25/1950", true);
  EXPECT_TRUE(swapped->swapped_day_month());
  EXPECT_EQ(swapped->month(), 5);
  EXPECT_EQ(swapped->day(), 25);
}

TEST(Normalize, DatesAreLenientUnlessStrictIsAskedFor) {
  v1::PersonRecord r;
  r.set_record_id("B1");
  r.set_full_name("Nguyễn Văn A");
  r.set_national_id("001079000001");  // Encodes 1979.
  r.set_sex(v1::SEX_MALE);
  r.set_birth_date("26/11/1879");
  auto n = NormalizeRecord(r);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->birth_date().year(), 1879);
  std::vector<std::string> flags(n->flags().begin(), n->flags().end());
  EXPECT_NE(std::find(flags.begin(), flags.end(), "DATE_YEAR_IMPLAUSIBLE"), flags.end());
  // The ID's year is what the typo lost, not evidence against the ID.
  EXPECT_EQ(std::find(flags.begin(), flags.end(), "CCCD_YEAR_MISMATCH"), flags.end());
  r.set_birth_date("23/42/1988");
  n = NormalizeRecord(r);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->birth_date().year(), 1988);
  flags.assign(n->flags().begin(), n->flags().end());
  EXPECT_NE(std::find(flags.begin(), flags.end(), "DATE_IMPOSSIBLE_MONTH"), flags.end());
  NormalizeOptions strict;
  strict.strict_dates = true;
  EXPECT_FALSE(NormalizeRecord(r, strict).ok());
}

// Found by tests/fuzz/dates_fuzz: a lenient read of a long digit run next
// to a four-digit year overflowed an int (UB) reading it as the month;
// 4294967303 is 2^32 + 7, which wrapped to month 7.
TEST(Dates, LenientLongDigitRunIsNoMonth) {
  for (const char* s : {"2332-22121232 33.121", "1/4294967303/1950", "1950-4294967303",
                        "1950-99999999999999999999"}) {
    auto d = ParsePartialDate(s, /*lenient=*/true);
    ASSERT_TRUE(d.ok()) << s;
    EXPECT_EQ(d->month(), 0) << s;
  }
  auto e = ParsePartialDate("1/4294967303/1950", true);
  EXPECT_EQ(e->year(), 1950);
  EXPECT_TRUE(e->partly_read());
}

TEST(Dates, FuzzNeverCrashes) {
  std::mt19937 rng(7);
  const std::string alphabet = "0123456789/-. a";
  for (int i = 0; i < 5000; ++i) {
    std::string s;
    for (int j = 0, n = static_cast<int>(rng() % 14); j < n; ++j)
      s += alphabet[rng() % alphabet.size()];
    auto d = ParsePartialDate(s, i % 2 == 0);
    if (d.ok() && d->year() != 0) {
      // Outside 1880..2100 only as a flagged four-digit year of a lenient read.
      EXPECT_EQ(d->year() < 1880 || d->year() > 2100, d->year_implausible()) << s;
      EXPECT_TRUE(!d->year_implausible() || (i % 2 == 0 && d->year() >= 1000)) << s;
      EXPECT_LE(d->month(), 12);
      if (d->day() != 0) {
        EXPECT_LE(d->day(), DaysInMonth(d->year(), d->month()));
      }
    }
  }
}

TEST(Ids, DecodesCccd) {
  v1::NormalizedId id = ParseNationalId("006 148 012345");
  EXPECT_EQ(id.kind(), v1::ID_KIND_CCCD);
  EXPECT_EQ(id.province_code(), "06");
  EXPECT_TRUE(id.province_known());
  EXPECT_EQ(id.encoded_sex(), v1::SEX_FEMALE);
  EXPECT_EQ(id.encoded_birth_year(), 1948);
  v1::NormalizedId young = ParseNationalId("001205012345");
  EXPECT_EQ(young.encoded_sex(), v1::SEX_MALE);
  EXPECT_EQ(young.encoded_birth_year(), 2005);
  EXPECT_FALSE(ParseNationalId("999048012345").province_known());
}

TEST(Ids, CmndAndMalformed) {
  EXPECT_EQ(ParseNationalId("095123456").kind(), v1::ID_KIND_CMND);
  EXPECT_EQ(ParseNationalId("12345").kind(), v1::ID_KIND_MALFORMED);
  EXPECT_EQ(ParseNationalId("0061480A2345").kind(), v1::ID_KIND_MALFORMED);
  EXPECT_EQ(ParseNationalId("").kind(), v1::ID_KIND_UNSPECIFIED);
}

// Issue 11: an ID with letters (and no digit) or written in full-width
// digits was stored as no ID at all, without a flag.
TEST(Ids, FullWidthDigitsAreFoldedAndLettersAreMalformed) {
  // "００６１４８０１２３４５" (U+FF10..U+FF19).
  v1::NormalizedId wide = ParseNationalId(
      "\xEF\xBC\x90\xEF\xBC\x90\xEF\xBC\x96\xEF\xBC\x91\xEF\xBC\x94\xEF\xBC\x98"
      "\xEF\xBC\x90\xEF\xBC\x91\xEF\xBC\x92\xEF\xBC\x93\xEF\xBC\x94\xEF\xBC\x95");
  EXPECT_EQ(wide.kind(), v1::ID_KIND_CCCD);
  EXPECT_EQ(wide.digits(), "006148012345");
  EXPECT_EQ(ParseNationalId("006\xE3\x80\x80"
                            "148\xEF\xBC\x8D"
                            "012345")
                .digits(),
            "006148012345");
  EXPECT_EQ(ParseNationalId("ABCDEF").kind(), v1::ID_KIND_MALFORMED);
  EXPECT_EQ(ParseNationalId("ch\xC6\xB0"
                            "a c\xC3\xB3")
                .kind(),
            v1::ID_KIND_MALFORMED);
  EXPECT_EQ(ParseNationalId("  ").kind(), v1::ID_KIND_UNSPECIFIED);

  v1::PersonRecord r;
  r.set_record_id("X1");
  r.set_full_name("Nguyễn Văn A");
  r.set_national_id("ABCDEF");
  r.set_old_id("CMND-XY");
  auto n = NormalizeRecord(r, {});
  ASSERT_TRUE(n.ok()) << n.status();
  std::vector<std::string> flags(n->flags().begin(), n->flags().end());
  EXPECT_NE(std::find(flags.begin(), flags.end(), "NATIONAL_ID_MALFORMED"), flags.end());
  EXPECT_NE(std::find(flags.begin(), flags.end(), "OLD_ID_MALFORMED"), flags.end());
  EXPECT_EQ(n->national_id().kind(), v1::ID_KIND_MALFORMED);
}

TEST(Ids, ConsistencyFlags) {
  std::vector<std::string> flags;
  v1::PartialDate d;
  d.set_year(1950);
  CheckIdConsistency(ParseNationalId("006048012345"), v1::SEX_FEMALE, d, flags);
  EXPECT_EQ(flags, (std::vector<std::string>{"CCCD_SEX_MISMATCH", "CCCD_YEAR_MISMATCH"}));
  flags.clear();
  CheckIdConsistency(ParseNationalId("006150012345"), v1::SEX_FEMALE, d, flags);
  EXPECT_TRUE(flags.empty());
}

TEST(Sex, Spellings) {
  EXPECT_EQ(*ParseSex("Nam"), v1::SEX_MALE);
  EXPECT_EQ(*ParseSex("NỮ"), v1::SEX_FEMALE);
  EXPECT_EQ(*ParseSex("Nu\xCC\x9B\xCC\x83"), v1::SEX_FEMALE);
  EXPECT_EQ(*ParseSex("F"), v1::SEX_FEMALE);
  EXPECT_EQ(*ParseSex(""), v1::SEX_UNSPECIFIED);
  EXPECT_FALSE(ParseSex("abc").ok());
}

class AddressTest : public ::testing::Test {
 protected:
  static AddressInput Text(std::string_view text) {
    AddressInput in;
    in.text = text;
    return in;
  }
  static AddressInput Code(std::string_view code, v1::UnitVersion version,
                           std::string_view text = "") {
    AddressInput in;
    in.text = text;
    in.commune_code = code;
    in.version = version;
    return in;
  }
  v1::NormalizedAddress Resolve(AddressInput in) {
    flags.clear();
    return Gazetteer::Default().Resolve(in, flags);
  }
  std::vector<std::string> flags;
};

TEST_F(AddressTest, CrosswalkOldToNew) {
  const Gazetteer& g = Gazetteer::Default();
  EXPECT_EQ(g.CurrentCommunes("01834"),
            std::vector<std::string>{"01840"});      // Nguyễn Thị Minh Khai -> Đức Xuân
  EXPECT_GT(g.CurrentCommunes("00007").size(), 1u);  // Cống Vị was split.
  EXPECT_EQ(g.CurrentProvince("06"), "19");          // Bắc Kạn -> Thái Nguyên.
}

TEST_F(AddressTest, FreeTextPre2025WithAbbreviations) {
  for (const char* text : {"Tổ 12, P. Đức Xuân, TP. Bắc Kạn", "To 12, P.Duc Xuan, TP Bac Kan",
                           "tổ 12, phường Đức Xuân, thành phố Bắc Kạn, tỉnh Bắc Kạn"}) {
    v1::NormalizedAddress a = Resolve(Text(text));
    ASSERT_EQ(a.commune_codes_2025_size(), 1) << text;
    EXPECT_EQ(a.commune_codes_2025(0), "01840") << text;
    EXPECT_EQ(a.province_code_2025(), "19") << text;
    EXPECT_EQ(a.source_version(), v1::UNIT_VERSION_PRE2025) << text;
    EXPECT_EQ(a.old_commune_code(), "01840") << text;
    EXPECT_EQ(a.hamlet(), "12") << text;
  }
}

TEST_F(AddressTest, FreeText2025) {
  v1::NormalizedAddress a = Resolve(Text("Phường Đức Xuân, Thái Nguyên"));
  ASSERT_EQ(a.commune_codes_2025_size(), 1);
  EXPECT_EQ(a.commune_codes_2025(0), "01840");
  EXPECT_EQ(a.source_version(), v1::UNIT_VERSION_2025);
  EXPECT_GT(a.old_district_codes_size(), 0);  // Via the reverse crosswalk.
}

TEST_F(AddressTest, CodeWithVersion) {
  v1::NormalizedAddress old = Resolve(Code("01834", v1::UNIT_VERSION_PRE2025));
  ASSERT_EQ(old.commune_codes_2025_size(), 1);
  EXPECT_EQ(old.commune_codes_2025(0), "01840");
  v1::NormalizedAddress cur = Resolve(Code("01840", v1::UNIT_VERSION_2025));
  EXPECT_EQ(cur.commune_codes_2025(0), "01840");
}

TEST_F(AddressTest, CodeWithoutVersionDecidedByText) {
  // 01843 is Phùng Chí Kiên before 2025 and Bắc Kạn after.
  v1::NormalizedAddress a =
      Resolve(Code("01843", v1::UNIT_VERSION_UNSPECIFIED, "P. Phùng Chí Kiên"));
  EXPECT_EQ(a.source_version(), v1::UNIT_VERSION_PRE2025);
  EXPECT_TRUE(flags.empty()) << flags[0];
}

TEST_F(AddressTest, NoCommasBetweenUnits) {
  v1::NormalizedAddress a = Resolve(Text("P. Đức Xuân TP Bắc Kạn"));
  ASSERT_EQ(a.commune_codes_2025_size(), 1);
  EXPECT_EQ(a.commune_codes_2025(0), "01840");
}

TEST_F(AddressTest, TypeWordsInsideNamesAreNotSplit) {
  // "Xã Xà Phiên" folds to "xa xa phien"; "P. Phương Liên" to "p phuong lien".
  v1::NormalizedAddress a = Resolve(Text("Xóm 25, Xã Xà Phiên, Cần Thơ"));
  EXPECT_EQ(a.commune_codes_2025_size(), 1);
  EXPECT_EQ(a.source_version(), v1::UNIT_VERSION_2025);
}

TEST_F(AddressTest, WrittenTypeSeparatesSameNamedUnits) {
  v1::NormalizedAddress town = Resolve(Text("TT. Long Phú, H. Long Phú, Tỉnh Sóc Trăng"));
  v1::NormalizedAddress commune = Resolve(Text("X. Long Phú, H. Long Phú, Tỉnh Sóc Trăng"));
  ASSERT_NE(town.old_commune_code(), "");
  ASSERT_NE(commune.old_commune_code(), "");
  EXPECT_NE(town.old_commune_code(), commune.old_commune_code());
  EXPECT_EQ(Gazetteer::Default().CommunePre2025(town.old_commune_code())->type, "Thị trấn");
}

TEST_F(AddressTest, TonesSeparateNamesThatFoldAlike) {
  v1::NormalizedAddress van = Resolve(Text("X. Nghi Văn, H. Nghi Lộc, Nghệ An"));
  v1::NormalizedAddress van2 = Resolve(Text("X. Nghi Vạn, H. Nghi Lộc, Nghệ An"));
  EXPECT_EQ(van.old_commune_code(), "17830");
  EXPECT_EQ(van2.old_commune_code(), "17911");
  // Without diacritics the two cannot be told apart: the district remains.
  v1::NormalizedAddress folded = Resolve(Text("X. Nghi Van, H. Nghi Loc, Nghe An"));
  EXPECT_EQ(folded.commune_codes_2025_size(), 0);
  EXPECT_EQ(folded.old_district_codes_size(), 1);
  EXPECT_NE(std::find(flags.begin(), flags.end(), "ADDRESS_AMBIGUOUS"), flags.end());
}

TEST_F(AddressTest, CommuneSettlesAnAmbiguousDistrict) {
  // Many provinces had a district named Châu Thành; only one had Hòa Hội.
  v1::NormalizedAddress a = Resolve(Text("Xã Hòa Hội, H. Châu Thành"));
  EXPECT_EQ(a.commune_codes_2025_size(), 1);
  EXPECT_EQ(a.old_district_codes_size(), 1);
}

TEST_F(AddressTest, UnknownStaysEmptyWithFlag) {
  v1::NormalizedAddress a = Resolve(Text("Nowhere street"));
  EXPECT_EQ(a.commune_codes_2025_size(), 0);
  EXPECT_EQ(flags, std::vector<std::string>{"ADDRESS_UNRESOLVED"});
}

TEST(Normalize, ErrorsNameRecordAndField) {
  v1::PersonRecord r;
  r.set_record_id("B0042");
  r.set_full_name("Nguyễn Văn A");
  r.set_birth_date("31/13/1950");
  NormalizeOptions strict;
  strict.strict_dates = true;
  auto n = NormalizeRecord(r, strict);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().message(),
            "record \"B0042\": birth_date \"31/13/1950\": month 13 is not 1..12");
  r.set_birth_date("1950");
  r.set_full_name("  ");
  EXPECT_NE(NormalizeRecord(r).status().message().find("full_name"), std::string::npos);
  r.set_full_name("Nguy\xE1\xBB");
  EXPECT_NE(NormalizeRecord(r).status().message().find("not valid UTF-8"), std::string::npos);
  r.set_full_name(std::string(300, 'a'));
  EXPECT_NE(NormalizeRecord(r).status().message().find("limit"), std::string::npos);
  r.set_full_name("Nguyễn Văn A");
  r.set_record_id("B00\n42");
  EXPECT_EQ(NormalizeRecord(r).status().message(),
            "record \"B00\\n42\": record_id has a control character (line break, tab...)");
  r.set_record_id(std::string(129, 'x'));
  EXPECT_EQ(NormalizeRecord(r).status().message(),
            "record \"" + std::string(32, 'x') +
                "...\": record_id is 129 bytes, more than the limit of 128");
  r.set_record_id("");
  EXPECT_EQ(NormalizeRecord(r).status().message(),
            "record \"\": record_id is empty (full_name \"Nguyễn Văn A\")");
  r.set_record_id("B0042");
  r.set_address(std::string(1025, 'a'));
  EXPECT_EQ(NormalizeRecord(r).status().message(),
            "record \"B0042\": address is 1025 bytes, more than the limit of 1024");
}

TEST(Normalize, FullRecord) {
  v1::PersonRecord r;
  r.set_record_id("R1");
  r.set_full_name("Lý Kim §µi");
  r.set_national_id("095123456");
  r.set_birth_date("01/01/1948");
  r.set_sex(v1::SEX_FEMALE);
  r.set_address("Tổ 12, P. Đức Xuân, TP. Bắc Kạn");
  auto n = NormalizeRecord(r);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->name().tokens(2), "đài");
  EXPECT_EQ(n->old_id().digits(), "095123456");
  EXPECT_EQ(n->national_id().digits(), "");
  EXPECT_TRUE(n->birth_date().possible_placeholder());
  EXPECT_EQ(n->address().commune_codes_2025(0), "01840");
  std::vector<std::string> flags(n->flags().begin(), n->flags().end());
  EXPECT_NE(std::find(flags.begin(), flags.end(), "NAME_LEGACY_TCVN3"), flags.end());
  EXPECT_NE(std::find(flags.begin(), flags.end(), "CMND_IN_NATIONAL_ID"), flags.end());
}

}  // namespace
}  // namespace linkage::domain
