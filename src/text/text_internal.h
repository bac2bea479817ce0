// Helpers shared by the text layer's sources; not part of the public API.
#pragma once

#include <string>
#include <string_view>

namespace linkage::text::internal {

std::u32string Decode(std::string_view s);  // Invalid bytes become U+FFFD.
std::string Encode(std::u32string_view s);
void AppendUtf8(char32_t c, std::string& out);
std::string Map(std::string_view s, int utf8proc_options);

bool IsToneMark(char32_t c);
bool IsVowel(char32_t c);         // Lower-case, toneless, NFC.
bool HasQualityMark(char32_t c);  // ă â ê ô ơ ư

// A word split into its toneless letters (NFC) and its tone mark.
struct ToneSplit {
  std::u32string base;
  char32_t tone = 0;  // 0 if none; otherwise the combining mark.
  int tone_count = 0;
};
ToneSplit SplitTone(std::string_view word);

// The vowel nucleus [start, end) of a toneless lower-case word, with "qu"
// and "gi" counted as consonants when a vowel follows.
struct Nucleus {
  size_t start = 0;
  size_t end = 0;
};
Nucleus FindNucleus(const std::u32string& w);

}  // namespace linkage::text::internal
