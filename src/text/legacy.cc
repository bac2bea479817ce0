// Repair of Vietnamese text written in a legacy 8-bit encoding and decoded as
// Windows-1252. No Debian package knows TCVN3 or VNI as they appear after that
// mis-decoding (iconv knows TCVN5712-1 bytes, not their cp1252 rendering), so
// the decoders are built here from the shipped charset table.
#include <algorithm>
#include <array>
#include <map>
#include <string>

#include "linkage/csv.h"
#include "linkage/text.h"
#include "linkage_data.h"
#include "text_internal.h"

namespace linkage::text {
namespace {

using internal::Decode;
using internal::Encode;

// A decoder: sequences of 1-2 cp1252 characters -> one Unicode character.
struct Decoder {
  std::map<std::u32string, char32_t> table;
  size_t max_len = 1;

  void Add(const std::u32string& seq, char32_t target) {
    if (seq.empty()) return;
    auto [it, inserted] = table.emplace(seq, target);
    // The source table maps a few sequences twice (VNI "ì" for both ì and ỹ):
    // the identity reading wins, it is what the bytes mean in that encoding.
    if (!inserted && seq.size() == 1 && seq[0] == target) it->second = target;
    max_len = std::max(max_len, seq.size());
  }

  std::string Apply(const std::u32string& in) const {
    std::u32string out;
    out.reserve(in.size());
    size_t i = 0;
    while (i < in.size()) {
      bool matched = false;
      for (size_t len = std::min(max_len, in.size() - i); len >= 1; --len) {
        auto it = table.find(in.substr(i, len));
        if (it != table.end()) {
          out.push_back(it->second);
          i += len;
          matched = true;
          break;
        }
      }
      if (!matched) out.push_back(in[i++]);
    }
    return Nfc(Encode(out));
  }
};

struct Decoders {
  Decoder tcvn3;
  Decoder vni;
  Decoder cp1258;
  std::map<char32_t, std::u32string> tcvn3_encode;
  std::map<char32_t, std::u32string> vni_encode;
};

const Decoders& GetDecoders() {
  static const Decoders* decoders = [] {
    auto* d = new Decoders();
    CsvHeader header;
    absl::Status st =
        CsvParser::ParseAll(data::k_vn_legacy_charset_table_csv, [&](const CsvRow& row) {
          if (row.row_index == 0) {
            header = CsvHeader(row.fields);
            return true;
          }
          std::u32string target = Decode(header.Get(row, "unicode"));
          if (target.size() != 1) return true;
          d->vni.Add(Decode(header.Get(row, "vni_as_cp1252")), target[0]);
          d->tcvn3.Add(Decode(header.Get(row, "tcvn3_as_cp1252")), target[0]);
          d->vni_encode[target[0]] = Decode(header.Get(row, "vni_as_cp1252"));
          d->tcvn3_encode[target[0]] = Decode(header.Get(row, "tcvn3_as_cp1252"));
          return true;
        });
    (void)st;  // The table is compiled in and covered by tests.
    // CP1258 keeps tone marks as separate combining bytes and has a few
    // letters at Latin-1 positions; everything else is Latin-1 already.
    static constexpr std::array<std::pair<char32_t, char32_t>, 13> kCp1258 = {{
        {U'Ã', U'Ă'},
        {U'ã', U'ă'},
        {U'Õ', U'Ơ'},
        {U'õ', U'ơ'},
        {U'Ý', U'Ư'},
        {U'ý', U'ư'},
        {U'Ð', U'Đ'},
        {U'ð', U'đ'},
        {U'Ì', 0x0300},
        {U'ì', 0x0301},
        {U'Ò', 0x0309},
        {U'ò', 0x0323},
        {U'Þ', 0x0303},
    }};
    for (const auto& [from, to] : kCp1258) d->cp1258.Add(std::u32string(1, from), to);
    return d;
  }();
  return *decoders;
}

int CountSyllables(std::string_view s) {
  int n = 0;
  for (const std::string& w : SplitWords(s)) n += IsVietnameseSyllable(w) ? 1 : 0;
  return n;
}

bool HasNonAscii(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

}  // namespace

std::string_view LegacyEncodingName(LegacyEncoding encoding) {
  switch (encoding) {
    case LegacyEncoding::kTcvn3:
      return "TCVN3";
    case LegacyEncoding::kVni:
      return "VNI";
    case LegacyEncoding::kCp1258:
      return "CP1258";
    case LegacyEncoding::kNone:
      break;
  }
  return "";
}

std::string EncodeLegacy(std::string_view s, LegacyEncoding encoding) {
  const Decoders& d = GetDecoders();
  const std::map<char32_t, std::u32string>* table =
      encoding == LegacyEncoding::kTcvn3 ? &d.tcvn3_encode
      : encoding == LegacyEncoding::kVni ? &d.vni_encode
                                         : nullptr;
  if (encoding == LegacyEncoding::kCp1258) {
    // CP1258 has the letters with quality marks but keeps tone marks as
    // separate combining bytes.
    std::u32string out;
    for (char32_t c : Decode(Nfc(s))) {
      internal::ToneSplit split = internal::SplitTone(Encode(std::u32string(1, c)));
      for (char32_t b : split.base) {
        static constexpr std::pair<char32_t, char32_t> kLetters[] = {
            {U'Ă', U'Ã'}, {U'ă', U'ã'}, {U'Ơ', U'Õ'}, {U'ơ', U'õ'},
            {U'Ư', U'Ý'}, {U'ư', U'ý'}, {U'Đ', U'Ð'}, {U'đ', U'ð'}};
        char32_t mapped = b;
        for (const auto& [from, to] : kLetters) {
          if (b == from) mapped = to;
        }
        out.push_back(mapped);
      }
      switch (split.tone) {
        case 0x0300:
          out.push_back(U'Ì');
          break;
        case 0x0301:
          out.push_back(U'ì');
          break;
        case 0x0309:
          out.push_back(U'Ò');
          break;
        case 0x0323:
          out.push_back(U'ò');
          break;
        case 0x0303:
          out.push_back(U'Þ');
          break;
        default:
          break;
      }
    }
    return Encode(out);
  }
  if (table == nullptr) return Nfc(s);
  std::u32string out;
  for (char32_t c : Decode(Nfc(s))) {
    auto it = table->find(c);
    if (it == table->end() || it->second.empty()) {
      out.push_back(c);
    } else {
      out += it->second;
    }
  }
  return Encode(out);
}

RepairResult RepairLegacyEncoding(std::string_view s) {
  RepairResult result{Nfc(s), LegacyEncoding::kNone};
  if (!HasNonAscii(s)) return result;
  // Words are split on spaces only: legacy letters include cp1252 symbols
  // ("§", "µ", "¸") that punctuation cleanup would otherwise remove.
  const size_t words = SplitWords(result.text).size();
  const int baseline = CountSyllables(result.text);
  if (static_cast<size_t>(baseline) == words) return result;  // Already well-formed.

  const Decoders& d = GetDecoders();
  std::u32string raw = Decode(s);
  int best = baseline;
  const std::pair<const Decoder*, LegacyEncoding> candidates[] = {
      {&d.tcvn3, LegacyEncoding::kTcvn3},
      {&d.vni, LegacyEncoding::kVni},
      {&d.cp1258, LegacyEncoding::kCp1258}};
  for (const auto& [decoder, encoding] : candidates) {
    std::string decoded = decoder->Apply(raw);
    int score = CountSyllables(decoded);
    if (score > best) {
      best = score;
      result.text = std::move(decoded);
      result.repaired_from = encoding;
    }
  }
  return result;
}

}  // namespace linkage::text
