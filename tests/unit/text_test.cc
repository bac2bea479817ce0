#include "linkage/text.h"

#include <gtest/gtest.h>

#include <random>

#include "absl/strings/escaping.h"
#include "linkage/csv.h"
#include "linkage/names.h"
#include "linkage_data.h"

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

struct Collected {
  std::vector<CsvRow> rows;
  absl::Status status;
};

// Parses `content` fed in chunks of `chunk` bytes (0: all at once).
Collected ParseResync(std::string_view content, size_t chunk = 0, size_t max_row_bytes = 1 << 20) {
  Collected c;
  CsvOptions options;
  options.resync_after_errors = true;
  options.max_row_bytes = max_row_bytes;
  CsvParser parser(
      [&](const CsvRow& r) {
        c.rows.push_back(r);
        return true;
      },
      options);
  if (chunk == 0) chunk = content.size() + 1;
  for (size_t pos = 0; pos < content.size() && c.status.ok(); pos += chunk)
    c.status = parser.Feed(content.substr(pos, chunk));
  if (c.status.ok()) c.status = parser.Finish();
  return c;
}

TEST(Csv, StrayCharacterAfterClosingQuoteIsOneBadRowNotTheRestOfTheFile) {
  const std::string csv =
      "record_id,full_name,birth\nQ0,A,1\nQ1,\"L\xC3\xAA V\xC4\x83n "
      "A\"x,1950\nQ2,B,2\nQ3,\"C\",3\n";
  for (size_t chunk : {size_t{0}, size_t{1}, size_t{5}}) {
    Collected c = ParseResync(csv, chunk);
    ASSERT_TRUE(c.status.ok()) << c.status;
    ASSERT_EQ(c.rows.size(), 5u) << "chunk " << chunk;
    EXPECT_TRUE(c.rows[1].error.empty());
    EXPECT_EQ(c.rows[2].line_number, 3);
    EXPECT_NE(c.rows[2].error.find("'x' after the closing quote of field 2"), std::string::npos)
        << c.rows[2].error;
    EXPECT_EQ(c.rows[2].fields, (std::vector<std::string>{"Q1"}));
    EXPECT_EQ(c.rows[3].fields, (std::vector<std::string>{"Q2", "B", "2"}));
    EXPECT_EQ(c.rows[3].line_number, 4);
    EXPECT_EQ(c.rows[4].fields, (std::vector<std::string>{"Q3", "C", "3"}));
    EXPECT_EQ(c.rows[4].row_index, 4);
  }
  // Without resync (reference tables) the parse stops, naming the line.
  absl::Status st = CsvParser::ParseAll(csv, [](const CsvRow&) { return true; });
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("CSV line 3"), std::string::npos) << st;
}

TEST(Csv, QuoteInsideUnquotedFieldIsKeptLiterally) {
  for (size_t chunk : {size_t{0}, size_t{1}}) {
    Collected c = ParseResync("a,b\nx,Le \"Van\" A\"\ny,z\n", chunk);
    ASSERT_TRUE(c.status.ok());
    ASSERT_EQ(c.rows.size(), 3u);
    EXPECT_TRUE(c.rows[1].error.empty()) << c.rows[1].error;
    EXPECT_EQ(c.rows[1].fields, (std::vector<std::string>{"x", "Le \"Van\" A\""}));
    EXPECT_EQ(c.rows[2].fields, (std::vector<std::string>{"y", "z"}));
  }
  EXPECT_TRUE(CsvParser::ParseAll("a\n5\" tall\n", [](const CsvRow&) { return true; }).ok());
}

TEST(Csv, UnterminatedQuoteIsReportedAndTheLinesItTookAreReadAgain) {
  // The quote opened on line 2 is never closed: reported, then lines 3-4
  // are read as rows.
  for (size_t chunk : {size_t{0}, size_t{1}, size_t{7}}) {
    Collected c = ParseResync("a,b\nQ1,\"open\nQ2,B\nQ3,C", chunk);
    ASSERT_TRUE(c.status.ok());
    ASSERT_EQ(c.rows.size(), 4u) << "chunk " << chunk;
    EXPECT_EQ(c.rows[1].line_number, 2);
    EXPECT_NE(c.rows[1].error.find("not closed before the end of the file"), std::string::npos)
        << c.rows[1].error;
    EXPECT_EQ(c.rows[2].fields, (std::vector<std::string>{"Q2", "B"}));
    EXPECT_EQ(c.rows[2].line_number, 3);
    EXPECT_EQ(c.rows[3].fields, (std::vector<std::string>{"Q3", "C"}));
  }
  // A later quoted field closes the stray quote; the lines between are
  // still rows of their own.
  Collected c = ParseResync("a,b\nQ1,\"open\nQ2,B\nQ3,\"C\"\n");
  ASSERT_EQ(c.rows.size(), 4u);
  EXPECT_NE(c.rows[1].error.find("(at line 4)"), std::string::npos) << c.rows[1].error;
  EXPECT_EQ(c.rows[2].fields, (std::vector<std::string>{"Q2", "B"}));
  EXPECT_EQ(c.rows[3].fields, (std::vector<std::string>{"Q3", "C"}));
  EXPECT_FALSE(CsvParser::ParseAll("a\n\"open\n", [](const CsvRow&) { return true; }).ok());
}

TEST(Csv, RowOverTheSizeLimitIsABadRow) {
  std::string csv =
      "a,b\nQ1,\"" + std::string(100, 'x') + "\nQ2,B\n" + std::string(100, 'y') + "\nQ3,C\n";
  Collected c = ParseResync(csv, 16, 64);
  ASSERT_TRUE(c.status.ok());
  ASSERT_GE(c.rows.size(), 4u);
  EXPECT_NE(c.rows[1].error.find("longer than 64 bytes"), std::string::npos) << c.rows[1].error;
  EXPECT_EQ(c.rows[2].fields, (std::vector<std::string>{"Q2", "B"}));
  EXPECT_EQ(c.rows.back().fields, (std::vector<std::string>{"Q3", "C"}));
  // Quoted newlines within the limit are one row, as before.
  Collected ok = ParseResync("a,b\n\"x\ny\",z\n", 1);
  ASSERT_EQ(ok.rows.size(), 2u);
  EXPECT_EQ(ok.rows[1].fields, (std::vector<std::string>{"x\ny", "z"}));
}

// Random inputs: the rows (fields, lines, errors) do not depend on how the
// input is cut into chunks, line numbers never go back, and nothing
// crashes, with the row size limit small enough to be hit.
TEST(Csv, ResyncIsIndependentOfChunkingFuzz) {
  std::mt19937 rng(11);
  const std::string alphabet = "ab,,\"\"\n\n\r x";
  for (int i = 0; i < 3000; ++i) {
    std::string input;
    const int len = static_cast<int>(rng() % 80);
    for (int j = 0; j < len; ++j) input += alphabet[rng() % alphabet.size()];
    Collected whole = ParseResync(input, 0, 24);
    ASSERT_TRUE(whole.status.ok()) << whole.status;
    for (size_t chunk : {size_t{1}, size_t{3}, size_t{7}}) {
      Collected cut = ParseResync(input, chunk, 24);
      ASSERT_TRUE(cut.status.ok()) << cut.status;
      ASSERT_EQ(cut.rows.size(), whole.rows.size()) << absl::CEscape(input) << " chunk " << chunk;
      for (size_t k = 0; k < cut.rows.size(); ++k) {
        EXPECT_EQ(cut.rows[k].fields, whole.rows[k].fields) << absl::CEscape(input);
        EXPECT_EQ(cut.rows[k].line_number, whole.rows[k].line_number) << absl::CEscape(input);
        EXPECT_EQ(cut.rows[k].error, whole.rows[k].error) << absl::CEscape(input);
      }
    }
    for (size_t k = 1; k < whole.rows.size(); ++k)
      EXPECT_LE(whole.rows[k - 1].line_number, whole.rows[k].line_number) << absl::CEscape(input);
  }
}

// The loaders of the embedded reference tables ignore the parse status;
// with the strict parser a malformed table would load only up to its bad
// row, so every table must parse cleanly, to its last row.
TEST(Csv, EveryEmbeddedTableParsesStrictly) {
  for (std::string_view table :
       {data::k_vn_legacy_charset_table_csv, data::k_cccd_province_codes_csv,
        data::k_admin_2025_provinces_csv, data::k_admin_2025_communes_csv,
        data::k_admin_pre2025_districts_gso_csv, data::k_admin_pre2025_wards_gso_csv,
        data::k_admin_map_old_to_new_tnmh_csv, data::k_name_component_freq_uit_sample_csv,
        data::k_given_names_by_gender_duyet_csv}) {
    int64_t rows = 0;
    size_t width = 0;
    bool same_width = true;
    absl::Status st = CsvParser::ParseAll(table, [&](const CsvRow& r) {
      if (rows++ == 0) width = r.fields.size();
      same_width = same_width && r.fields.size() == width;
      return true;
    });
    EXPECT_TRUE(st.ok()) << st << "\n" << table.substr(0, 120);
    EXPECT_TRUE(same_width) << table.substr(0, 120);
    EXPECT_GT(rows, 1);
  }
}

}  // namespace
}  // namespace linkage::text
