// Unicode handling for Vietnamese person data: validation, NFC, case and
// diacritic folding, one canonical tone placement, and repair of text that
// was written in a legacy 8-bit encoding (TCVN3/ABC, VNI, CP1258) and later
// decoded as Windows-1252.
//
// All functions take and return UTF-8. None of them throws; invalid UTF-8 is
// reported by IsValidUtf8 and otherwise passed through byte-for-byte where a
// function cannot interpret it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace linkage::text {

// True if `s` is well-formed UTF-8 with no NUL bytes and no surrogates.
bool IsValidUtf8(std::string_view s);

// NFC normalization. Also maps the look-alike U+00D0 "Ð" (ETH) to U+0110 "Đ"
// and U+00F0 "ð" to U+0111 "đ", which Vietnamese data uses interchangeably.
std::string Nfc(std::string_view s);

// NFC, then Unicode case folding (full folding, as utf8proc does).
std::string FoldCase(std::string_view s);

// Lower-case text with every diacritic removed and đ/Đ folded to d
// ("Nguyễn Thị Ðào" -> "nguyen thi dao"). Characters outside Latin pass
// through lower-cased.
std::string FoldDiacritics(std::string_view s);

// NFD normalization (used to produce decomposed test data).
std::string Nfd(std::string_view s);

// Upper-cases every letter (simple Unicode case mapping), NFC.
std::string ToUpper(std::string_view s);

// Replaces every character that is not a letter or digit by a space, then
// trims and collapses runs of spaces to one.
std::string CleanPunctuation(std::string_view s);

// Splits on ASCII spaces, dropping empty pieces.
std::vector<std::string> SplitWords(std::string_view s);

// The canonical spelling of one lower-case word: NFC, the tone mark placed by
// the traditional rule ("hoà" -> "hòa", "thuỷ" -> "thủy", "quí" stays on the
// vowel after "qu"), and the i/y spelling variant of a lone vowel after a
// consonant unified to "i" ("lý" -> "lí", "quý" -> "quí"). Words that are not
// Vietnamese syllables keep their letters; only their tone mark moves.
std::string CanonicalWord(std::string_view word);

// The whole pipeline for free text: legacy repair is NOT applied here.
// NFC, case fold, punctuation cleanup, CanonicalWord on every word.
std::string CanonicalText(std::string_view s);

// Legacy encodings whose Windows-1252 rendering RepairLegacyEncoding undoes.
enum class LegacyEncoding { kNone, kTcvn3, kVni, kCp1258 };

// Short upper-case name: "TCVN3", "VNI", "CP1258" or "" for kNone.
std::string_view LegacyEncodingName(LegacyEncoding encoding);

struct RepairResult {
  std::string text;  // Repaired (or original) text, NFC.
  LegacyEncoding repaired_from = LegacyEncoding::kNone;
};

// Detects text that is a legacy encoding's bytes shown as Windows-1252
// ("Lý Kim §µi" is TCVN3 for "Lý Kim Đài") and decodes it. Each candidate
// decoding is scored by how many of its words are well-formed Vietnamese
// syllables; a decoding is taken only when the input has ill-formed words and
// the decoding has strictly more well-formed ones. Text that is already
// Vietnamese (with or without diacritics) is returned unchanged (as NFC).
RepairResult RepairLegacyEncoding(std::string_view s);

// The inverse of RepairLegacyEncoding: renders Unicode text as a legacy
// encoding's bytes shown as Windows-1252 (for generating test data).
// Characters the encoding lacks pass through.
std::string EncodeLegacy(std::string_view s, LegacyEncoding encoding);

// True if `word` (any case, any normalization form) is a well-formed
// Vietnamese syllable: an allowed initial, a vowel nucleus, an allowed final,
// at most one tone mark. Unaccented syllables ("nguyen") count.
bool IsVietnameseSyllable(std::string_view word);

}  // namespace linkage::text
