#include "linkage/text.h"

#include <gtest/gtest.h>

#include <random>

#include "linkage/csv.h"
#include "linkage/names.h"

namespace linkage::text {
namespace {

// NFD of "Nguyễn" written with combining marks.
constexpr char kNguyenNfd[] = "Nguye\xCC\x82\xCC\x83n";

TEST(Unicode, NfcComposesAndFixesEthLookAlike) {
  EXPECT_EQ(Nfc(kNguyenNfd), "Nguyễn");
  EXPECT_EQ(Nfc("\xC3\x90\xE1\xBA\xB7ng"), "Đặng");  // U+00D0 + ặng
}

TEST(Unicode, FoldDiacriticsFoldsDStroke) {
  EXPECT_EQ(FoldDiacritics("Nguyễn Thị Ðào"), "nguyen thi dao");
  EXPECT_EQ(FoldDiacritics("ĐẶNG VĂN ĐỨC"), "dang van duc");
  EXPECT_EQ(FoldDiacritics(kNguyenNfd), "nguyen");
}

TEST(Unicode, CanonicalToneplacementUnifiesOldAndNewStyle) {
  EXPECT_EQ(CanonicalWord("hoà"), CanonicalWord("hòa"));
  EXPECT_EQ(CanonicalWord("hòa"), "hòa");
  EXPECT_EQ(CanonicalWord("thuỷ"), "thủy");
  EXPECT_EQ(CanonicalWord("khoẻ"), "khỏe");
  EXPECT_EQ(CanonicalWord("ngoài"), "ngoài");    // Three vowels: the middle one.
  EXPECT_EQ(CanonicalWord("hoàng"), "hoàng");    // Closed syllable: the last vowel.
  EXPECT_EQ(CanonicalWord("nguyễn"), "nguyễn");  // Quality-marked vowel wins.
  EXPECT_EQ(CanonicalWord("người"), "người");
  EXPECT_EQ(CanonicalWord("quốc"), "quốc");
  EXPECT_EQ(CanonicalWord("giữ"), "giữ");
  EXPECT_EQ(CanonicalWord("gìn"), "gìn");
}

TEST(Unicode, IYVariantsUnify) {
  EXPECT_EQ(CanonicalWord("lý"), CanonicalWord("lí"));
  EXPECT_EQ(CanonicalWord("quý"), CanonicalWord("quí"));
  EXPECT_EQ(CanonicalWord("mỹ"), CanonicalWord("mĩ"));
  EXPECT_NE(CanonicalWord("huy"), CanonicalWord("hui"));  // "uy" is a diphthong.
}

TEST(Unicode, CanonicalTextCleansPunctuationAndCase) {
  EXPECT_EQ(CanonicalText("  NGUYỄN   văn. Hoà-Bình "), "nguyễn văn hòa bình");
  EXPECT_EQ(CanonicalText(kNguyenNfd), "nguyễn");
}

TEST(Unicode, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8("Nguyễn"));
  EXPECT_FALSE(IsValidUtf8("Nguy\xE1\xBB"));
  EXPECT_FALSE(IsValidUtf8(std::string("a\0b", 3)));
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));  // Overlong.
}

TEST(Syllables, RecognizesVietnamese) {
  for (const char* w :
       {"nguyễn", "Nguyen", "thị", "khuyến", "quốc", "giàng", "ngoài", "hoàng", "phủ"}) {
    EXPECT_TRUE(IsVietnameseSyllable(w)) << w;
  }
  for (const char* w : {"§µi", "nguyeãn", "xyz", "aeiou", "strong"}) {
    EXPECT_FALSE(IsVietnameseSyllable(w)) << w;
  }
}

TEST(Legacy, RepairsTcvn3) {
  RepairResult r = RepairLegacyEncoding("Lý Kim §µi");
  EXPECT_EQ(r.text, "Lý Kim Đài");
  EXPECT_EQ(r.repaired_from, LegacyEncoding::kTcvn3);
  EXPECT_EQ(RepairLegacyEncoding("NguyÔn ThÞ Hoa").text, "Nguyễn Thị Hoa");
  EXPECT_EQ(RepairLegacyEncoding("TrÇn V¨n §øc").text, "Trần Văn Đức");
}

TEST(Legacy, RepairsVni) {
  RepairResult r = RepairLegacyEncoding("Nguyeãn Vaên Tuaán");
  EXPECT_EQ(r.text, "Nguyễn Văn Tuấn");
  EXPECT_EQ(r.repaired_from, LegacyEncoding::kVni);
  EXPECT_EQ(RepairLegacyEncoding("Ñoã Thò Hoàng").text, "Đỗ Thị Hồng");
}

TEST(Legacy, RepairsCp1258) {
  // "Nguyễn Thị" in CP1258: base letters + combining tone bytes, as cp1252.
  RepairResult r = RepairLegacyEncoding("NguyêÞn Thiò");
  EXPECT_EQ(r.text, "Nguyễn Thị");
  EXPECT_EQ(r.repaired_from, LegacyEncoding::kCp1258);
}

TEST(Legacy, VniNotMistakenForTcvn3) {
  RepairResult r = RepairLegacyEncoding("Hoaøng Thò Mai");
  EXPECT_EQ(r.text, "Hoàng Thị Mai");
  EXPECT_EQ(r.repaired_from, LegacyEncoding::kVni);
}

TEST(Legacy, EncodeThenRepairRoundTrips) {
  for (const char* name :
       {"Nguyễn Thị Hòa", "Trần Văn Đức", "Lý Kim Đài", "Phùng Chí Kiên", "Đặng Thị Thu Hương",
        "Hoàng Phủ Ngọc Tường", "Lục Văn Toại", "Giàng A Dính", "Vương Thị Ngọc Ánh"}) {
    for (LegacyEncoding e :
         {LegacyEncoding::kTcvn3, LegacyEncoding::kVni, LegacyEncoding::kCp1258}) {
      std::string encoded = EncodeLegacy(name, e);
      EXPECT_NE(encoded, name) << LegacyEncodingName(e);
      RepairResult r = RepairLegacyEncoding(encoded);
      EXPECT_EQ(r.text, name) << LegacyEncodingName(e) << " " << encoded;
      EXPECT_EQ(r.repaired_from, e) << name << " " << encoded;
    }
  }
}

TEST(Legacy, LeavesGoodTextAlone) {
  for (const char* s : {"Nguyễn Thị Hòa", "Nguyen Thi Hoa", "Đặng Văn Đức", "Lò Văn Páo",
                        "Giàng A Dính", "Hoàng Phủ Ngọc Tường"}) {
    RepairResult r = RepairLegacyEncoding(s);
    EXPECT_EQ(r.text, Nfc(s)) << s;
    EXPECT_EQ(r.repaired_from, LegacyEncoding::kNone) << s;
  }
}

TEST(Names, SplitsFamilyMiddleGiven) {
  auto n = NormalizeName("Nông Viết Toại");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->tokens_size(), 3);
  EXPECT_EQ(n->family_len(), 1);
  EXPECT_EQ(FoldedFamily(*n), "nong");
  EXPECT_EQ(FoldedGiven(*n), "toai");
}

TEST(Names, DoubleFamilyName) {
  auto n = NormalizeName("Hoàng Phủ Ngọc Tường");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->family_len(), 2);
  EXPECT_EQ(FoldedFamily(*n), "hoang phu");
  auto two = NormalizeName("Hoàng Phủ");  // A person named Phủ of family Hoàng.
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->family_len(), 1);
}

TEST(Names, RegionalVariantsShareAGroup) {
  EXPECT_TRUE(AreFamilyVariants("huynh", "hoang"));
  EXPECT_TRUE(AreFamilyVariants("vo", "vu"));
  EXPECT_FALSE(AreFamilyVariants("nguyen", "nguyen"));
  EXPECT_FALSE(AreFamilyVariants("tran", "le"));
  auto a = NormalizeName("Huỳnh Văn Ba");
  auto b = NormalizeName("Hoàng Văn Ba");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->family_group(), b->family_group());
  EXPECT_NE(a->folded_tokens(0), b->folded_tokens(0));  // Not silently rewritten.
}

TEST(Names, PhoneticKeyMergesDialectConfusions) {
  EXPECT_EQ(PhoneticKey("trung"), PhoneticKey("chung"));
  EXPECT_EQ(PhoneticKey("dung"), PhoneticKey("giung"));
  EXPECT_EQ(PhoneticKey("rung"), PhoneticKey("dung"));
  EXPECT_EQ(PhoneticKey("sang"), PhoneticKey("xang"));
  EXPECT_EQ(PhoneticKey("lan"), PhoneticKey("nan"));
  EXPECT_EQ(PhoneticKey("ly"), PhoneticKey("li"));
  EXPECT_EQ(PhoneticKey("nghia"), PhoneticKey("ngia"));
  EXPECT_NE(PhoneticKey("hung"), PhoneticKey("dung"));
}

TEST(Names, EmptyNameIsAnError) {
  EXPECT_FALSE(NormalizeName("  ...  ").ok());
  EXPECT_FALSE(NormalizeName("").ok());
}

TEST(Names, SameNameInEveryEncodingNormalizesAlike) {
  // The NFD form is split after \x80 only to end the hex escape; the
  // parentheses tell clang the concatenation is meant (-Wstring-concatenation).
  const char* forms[] = {"Nguyễn Thị Hoà", "NGUYỄN THỊ HÒA",
                         ("Nguye\xCC\x82\xCC\x83n Thi\xCC\xA3 Ho\xCC\x80"
                          "a"),
                         "NguyÔn ThÞ Hoµ", "Nguyeãn Thò Hoøa"};
  auto ref = NormalizeName(forms[0]);
  ASSERT_TRUE(ref.ok());
  for (const char* f : forms) {
    auto n = NormalizeName(f);
    ASSERT_TRUE(n.ok()) << f;
    EXPECT_EQ(n->tokens(0), ref->tokens(0)) << f;
    EXPECT_EQ(n->tokens(2), ref->tokens(2)) << f;
  }
}

// Property test: on random strings (mixed ASCII, Vietnamese letters, cp1252
// symbols, invalid bytes) the normalizers never crash, output valid UTF-8,
// and folding / canonicalization are idempotent.
TEST(Properties, NormalizersAreTotalAndIdempotent) {
  const std::vector<std::string> alphabet = {"a", "n",        "g",        "h", " ",    ".", "-",
                                             "ễ", "ơ",        "Đ",        "ð", "§",    "µ", "ø",
                                             "Ô", "\xCC\x81", "\xCC\xA3", "1", "\xFF", "y"};
  std::mt19937 rng(42);
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    int len = static_cast<int>(rng() % 16);
    for (int j = 0; j < len; ++j) s += alphabet[rng() % alphabet.size()];
    std::string folded = FoldDiacritics(s);
    std::string canonical = CanonicalText(s);
    RepairResult repaired = RepairLegacyEncoding(s);
    if (IsValidUtf8(s)) {
      EXPECT_TRUE(IsValidUtf8(folded)) << s;
      EXPECT_TRUE(IsValidUtf8(canonical)) << s;
      EXPECT_TRUE(IsValidUtf8(repaired.text)) << s;
      EXPECT_EQ(FoldDiacritics(folded), folded) << s;
      EXPECT_EQ(CanonicalText(canonical), canonical) << s;
    }
  }
}

TEST(Csv, QuotedFieldsCrlfAndSpaces) {
  std::vector<CsvRow> rows;
  ASSERT_TRUE(
      CsvParser::ParseAll("a, b,c\r\n\"x, y\", \"multi\nline\",3\r\n1,2,3", [&](const CsvRow& r) {
        rows.push_back(r);
        return true;
      }).ok());
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].fields, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(rows[1].fields, (std::vector<std::string>{"x, y", "multi\nline", "3"}));
  EXPECT_EQ(rows[1].line_number, 2);
  EXPECT_EQ(rows[2].line_number, 4);
  EXPECT_EQ(rows[2].fields[2], "3");
}

}  // namespace
}  // namespace linkage::text
