// Legacy-encoding repair and rendering (TCVN3, VNI, CP1258 shown as
// Windows-1252) on arbitrary bytes. For valid UTF-8 the results are valid
// UTF-8, an unrepaired text comes back as its NFC, and repair of a
// rendering never crashes.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "linkage/text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using linkage::fuzz::Check;
  namespace text = linkage::text;
  std::string_view in = linkage::fuzz::AsText(data, size);
  const bool valid = text::IsValidUtf8(in);

  text::RepairResult repaired = text::RepairLegacyEncoding(in);
  if (repaired.repaired_from == text::LegacyEncoding::kNone) {
    Check(repaired.text == text::Nfc(in), "unrepaired text is its NFC");
  }
  if (valid) Check(repaired.text.empty() || text::IsValidUtf8(repaired.text), "repair is UTF-8");
  (void)text::LegacyEncodingName(repaired.repaired_from);

  for (text::LegacyEncoding encoding :
       {text::LegacyEncoding::kTcvn3, text::LegacyEncoding::kVni, text::LegacyEncoding::kCp1258}) {
    std::string rendered = text::EncodeLegacy(in, encoding);
    if (valid) Check(rendered.empty() || text::IsValidUtf8(rendered), "rendering is UTF-8");
    text::RepairResult back = text::RepairLegacyEncoding(rendered);
    if (valid) Check(back.text.empty() || text::IsValidUtf8(back.text), "repair is UTF-8");
  }
  for (const std::string& w : text::SplitWords(in)) (void)text::IsVietnameseSyllable(w);
  return 0;
}
