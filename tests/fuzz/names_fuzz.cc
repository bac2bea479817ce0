// Name normalization (text::NormalizeName and the text functions it is
// built from) on arbitrary bytes. For valid UTF-8 every output is valid
// UTF-8, and a normalized name's parts line up.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "linkage/names.h"
#include "linkage/text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using linkage::fuzz::Check;
  namespace text = linkage::text;
  std::string_view in = linkage::fuzz::AsText(data, size);
  const bool valid = text::IsValidUtf8(in);
  auto utf8 = [valid](const std::string& out, const char* what) {
    if (valid) Check(out.empty() || text::IsValidUtf8(out), what, out);
  };

  auto name = text::NormalizeName(in);
  if (name.ok()) {
    Check(name->tokens_size() > 0, "a name has tokens");
    Check(name->folded_tokens_size() == name->tokens_size() &&
              name->phonetic_tokens_size() == name->tokens_size(),
          "one folded and one phonetic token per token");
    Check(name->tokens_size() == 1 ? name->family_len() == 0
                                   : name->family_len() >= 1 && name->family_len() <= 2 &&
                                         name->family_len() < name->tokens_size(),
          "the family name leaves a given name");
    for (const std::string& t : name->tokens()) {
      Check(!t.empty() && t.find(' ') == std::string::npos, "tokens are words");
      utf8(t, "token is UTF-8");
    }
    (void)text::FoldedFamily(*name);
    (void)text::FoldedGiven(*name);
    (void)text::AreFamilyVariants(text::FoldedFamily(*name), name->family_group());
  } else {
    Check(name.status().code() == absl::StatusCode::kInvalidArgument, "errors are invalid");
  }

  utf8(text::Nfc(in), "Nfc");
  utf8(text::Nfd(in), "Nfd");
  utf8(text::FoldCase(in), "FoldCase");
  utf8(text::ToUpper(in), "ToUpper");
  const std::string folded = text::FoldDiacritics(in);
  utf8(folded, "FoldDiacritics");
  utf8(text::CleanPunctuation(in), "CleanPunctuation");
  const std::string canonical = text::CanonicalText(in);
  utf8(canonical, "CanonicalText");
  for (const std::string& w : text::SplitWords(canonical)) {
    Check(!w.empty(), "SplitWords drops empty pieces");
    utf8(text::CanonicalWord(w), "CanonicalWord");
    (void)text::IsVietnameseSyllable(w);
  }
  for (const std::string& w : text::SplitWords(folded)) {
    std::string key = text::PhoneticKey(w);
    utf8(key, "PhoneticKey");
    (void)text::FamilyGroup(w);
  }
  return 0;
}
