#include "linkage/person_io.h"

#include <array>
#include <cstdint>
#include <functional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "linkage/domain.h"

namespace linkage::domain {
namespace {

enum Field {
  kRecordId,
  kNationalId,
  kOldId,
  kFullName,
  kSex,
  kBirthDate,
  kEthnicity,
  kAddress,
  kCommuneCode,
  kDistrictCode,
  kProvinceCode,
  kPhone,
  kUnitVersion,
  kNumFields
};

constexpr std::array<std::string_view, kNumFields> kFieldNames = {
    "record_id",     "national_id", "old_id",      "full_name",    "sex",
    "birth_date",    "ethnicity",   "address",     "commune_code", "district_code",
    "province_code", "phone",       "unit_version"};

int FieldIndex(std::string_view name) {
  for (size_t i = 0; i < kFieldNames.size(); ++i) {
    if (kFieldNames[i] == name) return static_cast<int>(i);
  }
  return -1;
}

// Sets one field from text; errors carry no location (the caller adds it).
absl::Status SetField(v1::PersonRecord& r, int field, std::string_view name, std::string value) {
  switch (field) {
    case kRecordId:
      r.set_record_id(std::move(value));
      break;
    case kNationalId:
      r.set_national_id(std::move(value));
      break;
    case kOldId:
      r.set_old_id(std::move(value));
      break;
    case kFullName:
      r.set_full_name(std::move(value));
      break;
    case kSex: {
      LINKD_ASSIGN_OR_RETURN(auto sex, ParseSex(value));
      r.set_sex(sex);
      break;
    }
    case kBirthDate:
      r.set_birth_date(std::move(value));
      break;
    case kEthnicity:
      r.set_ethnicity(std::move(value));
      break;
    case kAddress:
      r.set_address(std::move(value));
      break;
    case kCommuneCode:
      r.set_commune_code(std::move(value));
      break;
    case kDistrictCode:
      r.set_district_code(std::move(value));
      break;
    case kProvinceCode:
      r.set_province_code(std::move(value));
      break;
    case kPhone:
      r.set_phone(std::move(value));
      break;
    case kUnitVersion: {
      LINKD_ASSIGN_OR_RETURN(auto v, ParseUnitVersion(value));
      r.set_unit_version(v);
      break;
    }
    default:
      if (!value.empty()) (*r.mutable_attributes())[std::string(name)] = std::move(value);
      break;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::UnitVersion> ParseUnitVersion(std::string_view text) {
  std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(AV(text)));
  if (s.empty()) return v1::UNIT_VERSION_UNSPECIFIED;
  if (s == "2025" || s == "new") return v1::UNIT_VERSION_2025;
  if (s == "pre2025" || s == "pre-2025" || s == "old") return v1::UNIT_VERSION_PRE2025;
  return absl::InvalidArgumentError(
      absl::StrCat("unit_version \"", AV(text), "\": expected 2025 or pre2025"));
}

absl::StatusOr<PersonCsvSchema> PersonCsvSchema::Create(const std::vector<std::string>& header) {
  PersonCsvSchema schema;
  CsvHeader h(header);  // Strips a byte-order mark.
  std::set<std::string> seen;
  for (const std::string& raw : h.names()) {
    std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(raw));
    if (name.empty()) return absl::InvalidArgumentError("header has an empty column name");
    if (!seen.insert(name).second)
      return absl::InvalidArgumentError(absl::StrCat("header repeats column \"", name, "\""));
    schema.columns_.push_back(name);
    schema.field_of_column_.push_back(FieldIndex(name));
  }
  for (int required : {kRecordId, kFullName}) {
    if (!seen.count(std::string(kFieldNames[static_cast<size_t>(required)]))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "header has no ", AV(kFieldNames[static_cast<size_t>(required)]), " column"));
    }
  }
  return schema;
}

absl::StatusOr<v1::PersonRecord> PersonCsvSchema::ToRecord(const CsvRow& row) const {
  if (row.fields.size() != columns_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("line ", row.line_number, ": has ",
                                                   row.fields.size(), " fields, the header has ",
                                                   columns_.size()));
  }
  v1::PersonRecord r;
  for (size_t i = 0; i < columns_.size(); ++i) {
    absl::Status st = SetField(r, field_of_column_[i], columns_[i], row.fields[i]);
    if (!st.ok())
      return absl::InvalidArgumentError(absl::StrCat("line ", row.line_number, ": ", st.message()));
  }
  return r;
}

namespace {

// A reader for the one JSON shape a person line has: a flat object whose
// values are strings, numbers, true, false or null. Hand-written because
// protobuf's JSON parser (google.protobuf.Struct) turns numbers into
// doubles and the text is lost: "record_id": 1234567 came back as
// "1.23457e+06", the same as 1234568, and an 11-digit national ID lost its
// last digits. Here a number is kept exactly as written. A nested object or
// array is refused at its opening bracket, so nesting costs nothing however
// deep it goes (protobuf's parser recursed through 100,000 levels for over a
// minute), and the line's length is bounded by kMaxJsonLineBytes.
class FlatJsonReader {
 public:
  explicit FlatJsonReader(std::string_view text) : s_(text) {}

  // Calls on_member(key, value-as-text) for each member in order.
  absl::Status Read(const std::function<absl::Status(std::string, std::string)>& on_member) {
    SkipSpace();
    if (!Eat('{')) return Error("not a JSON object (expected '{')");
    SkipSpace();
    if (!Eat('}')) {
      for (;;) {
        SkipSpace();
        if (Peek() != '"') return Error("expected a field name in quotes");
        std::string key;
        LINKD_RETURN_IF_ERROR(ReadString(&key));
        SkipSpace();
        if (!Eat(':')) return Error(absl::StrCat("expected ':' after \"", key, "\""));
        SkipSpace();
        std::string value;
        LINKD_RETURN_IF_ERROR(ReadValue(key, &value));
        LINKD_RETURN_IF_ERROR(on_member(std::move(key), std::move(value)));
        SkipSpace();
        if (Eat(',')) continue;
        if (Eat('}')) break;
        return Error("expected ',' or '}'");
      }
    }
    SkipSpace();
    if (pos_ != s_.size()) return Error("text after the closing '}'");
    return absl::OkStatus();
  }

 private:
  char Peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool Eat(char c) {
    if (Peek() != c || pos_ >= s_.size()) return false;
    ++pos_;
    return true;
  }
  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r' || s_[pos_] == '\n'))
      ++pos_;
  }
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(what, " at character ", pos_ + 1));
  }

  absl::Status ReadValue(const std::string& key, std::string* out) {
    const char c = Peek();
    if (c == '"') return ReadString(out);
    if (c == '{' || c == '[') {
      return absl::InvalidArgumentError(
          absl::StrCat("field \"", key, "\" is ", c == '{' ? "an object" : "an array",
                       "; values must be strings, numbers, true, false or null"));
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ReadNumber(key, out);
    for (std::string_view word : {"true", "false", "null"}) {
      if (s_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        if (word != "null") *out = std::string(word);
        return absl::OkStatus();
      }
    }
    return Error(absl::StrCat("field \"", key, "\": not a JSON value"));
  }

  // The number's text as written, checked against JSON's grammar.
  absl::Status ReadNumber(const std::string& key, std::string* out) {
    const size_t start = pos_;
    auto digits = [&] {
      size_t from = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - from;
    };
    Eat('-');
    if (Peek() == '0') {
      ++pos_;
    } else if (digits() == 0) {
      return Error(absl::StrCat("field \"", key, "\": malformed number"));
    }
    if (Eat('.') && digits() == 0)
      return Error(absl::StrCat("field \"", key, "\": malformed number"));
    if (Peek() == 'e' || Peek() == 'E') {
      ++pos_;
      if (!Eat('+')) Eat('-');
      if (digits() == 0) return Error(absl::StrCat("field \"", key, "\": malformed number"));
    }
    const char next = Peek();
    if (next >= '0' && next <= '9')  // "0123": a leading zero (an ID written as a number?).
      return Error(
          absl::StrCat("field \"", key, "\": a number with a leading zero (write it as a string)"));
    *out = std::string(s_.substr(start, pos_ - start));
    return absl::OkStatus();
  }

  absl::Status ReadString(std::string* out) {
    ++pos_;  // Opening quote.
    out->clear();
    for (;;) {
      if (pos_ >= s_.size()) return Error("string not closed");
      const char c = s_[pos_++];
      if (c == '"') return absl::OkStatus();
      if (static_cast<unsigned char>(c) < 0x20) {
        --pos_;
        return Error("control character inside a string (escape it)");
      }
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return Error("string not closed");
      const char e = s_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out->push_back(e);
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!Hex4(&cp)) return Error("malformed \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (!Eat('\\') || !Eat('u') || !Hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF)
              return Error("\\u escape of a lone surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return Error("\\u escape of a lone surrogate");
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          --pos_;
          return Error("unknown escape in a string");
      }
    }
  }

  bool Hex4(uint32_t* cp) {
    if (pos_ + 4 > s_.size()) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = s_[pos_ + static_cast<size_t>(i)];
      v <<= 4;
      if (h >= '0' && h <= '9') {
        v |= static_cast<uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        v |= static_cast<uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        v |= static_cast<uint32_t>(h - 'A' + 10);
      } else {
        return false;
      }
    }
    pos_ += 4;
    *cp = v;
    return true;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<v1::PersonRecord> PersonFromJson(std::string_view line, int64_t line_number) {
  auto located = [line_number](absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat("line ", line_number, ": ", message));
  };
  if (line.size() > kMaxJsonLineBytes) {
    return located(absl::StrCat("longer than ", kMaxJsonLineBytes, " bytes"));
  }
  v1::PersonRecord r;
  std::set<std::string> seen;
  FlatJsonReader reader(line);
  absl::Status st = reader.Read([&](std::string key, std::string value) -> absl::Status {
    if (!seen.insert(key).second)
      return absl::InvalidArgumentError(absl::StrCat("field \"", key, "\" appears twice"));
    return SetField(r, FieldIndex(key), key, std::move(value));
  });
  if (!st.ok()) return located(st.message());
  return r;
}

}  // namespace linkage::domain
