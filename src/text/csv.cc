#include "linkage/csv.h"

#include <csv.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace linkage {
namespace {

// libcsv's parser states (defined in libcsv.c, not in its header; stable
// since 3.0).
constexpr int kRowNotBegun = 0;
constexpr int kFieldBegun = 2;
constexpr int kFieldMightHaveEnded = 3;

// Strict: a character after a closing quote or a quote inside an unquoted
// field stops csv_parse instead of being folded into an open quoted field
// (which, without CSV_STRICT, swallows every following line up to the next
// quote). STRICT_FINI: a quoted field still open at the end is an error.
constexpr unsigned char kLibcsvOptions = CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL;

}  // namespace

struct CsvParser::State {
  csv_parser parser{};
  RowCallback on_row;
  CsvOptions options;
  CsvRow row;
  int64_t next_row_index = 0;
  int64_t line = 1;  // Line of the byte at `pos`.
  int64_t row_start_line = 1;
  bool stopped = false;
  bool row_open = false;  // A field of the current row was submitted.
  // Input not discarded yet: from the start of the open row (so a malformed
  // row can be read again from its second line) to the end of what was fed.
  std::string buf;
  size_t pos = 0;             // Next byte of buf to parse.
  size_t row_start = 0;       // Where the open row starts in buf.
  bool skip_line = false;     // Drop input up to the next line break.
  bool prev_cr = false;       // The last byte parsed was a CR (an LF after it ends no line).
  bool at_line_start = true;  // The next byte starts a line.

  bool InRow() const { return row_open || parser.pstate != kRowNotBegun; }
  // The bytes from row_start on belong to a row being read (libcsv may not
  // have begun it yet if so far they are spaces).
  bool RowPending() const { return InRow() || (!at_line_start && !skip_line); }
  // Counts lines: LF, CRLF and a lone CR each end one.
  void Consumed(char last) {
    at_line_start = last == '\n' || last == '\r';
    if (last == '\n') {
      if (!prev_cr) ++line;
      prev_cr = false;
    } else if (last == '\r') {
      ++line;
      prev_cr = true;
    } else {
      prev_cr = false;
    }
  }
};

namespace {

void OnField(void* data, size_t len, void* ctx) {
  auto* s = static_cast<CsvParser::State*>(ctx);
  if (s->stopped) return;
  if (!s->row_open) {
    s->row_open = true;
    s->row.fields.clear();
  }
  s->row.fields.emplace_back(data == nullptr ? "" : std::string(static_cast<char*>(data), len));
}

void OnRowEnd(int /*terminator*/, void* ctx) {
  auto* s = static_cast<CsvParser::State*>(ctx);
  if (s->stopped) return;
  if (!s->row_open) return;  // Blank line.
  s->row_open = false;
  s->row.row_index = s->next_row_index++;
  s->row.line_number = s->row_start_line;
  s->row.error.clear();
  if (!s->on_row(s->row)) s->stopped = true;
}

std::string Shown(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7F) return absl::StrCat("'", std::string(1, c), "'");
  return absl::StrCat("byte 0x", absl::Hex(u, absl::kZeroPad2));
}

}  // namespace

CsvParser::CsvParser(RowCallback on_row, CsvOptions options) : state_(std::make_unique<State>()) {
  csv_init(&state_->parser, kLibcsvOptions);
  state_->on_row = std::move(on_row);
  state_->options = options;
}

CsvParser::~CsvParser() { csv_free(&state_->parser); }

absl::Status CsvParser::Fault(std::string reason, bool name_fault_line) {
  State& s = *state_;
  if (name_fault_line && s.line != s.row_start_line)
    absl::StrAppend(&reason, " (at line ", s.line, ")");
  if (!s.options.resync_after_errors) {
    return absl::InvalidArgumentError(absl::StrCat("CSV line ", s.row_start_line, ": ", reason));
  }
  CsvRow bad;
  if (s.row_open) bad.fields = std::move(s.row.fields);
  s.row.fields.clear();
  s.row_open = false;
  bad.row_index = s.next_row_index++;
  bad.line_number = s.row_start_line;
  bad.error = std::move(reason);
  csv_free(&s.parser);
  csv_init(&s.parser, kLibcsvOptions);
  if (!s.on_row(bad)) s.stopped = true;
  // Resume at the row's second line: its first line is the rejected row,
  // and whatever an unclosed quote took after it is read again as rows.
  size_t br = s.buf.find_first_of("\r\n", s.row_start);
  if (br == std::string::npos) {
    s.pos = s.buf.size();
    s.skip_line = true;
    s.prev_cr = false;
    s.at_line_start = false;
  } else {
    s.pos = br + 1;
    s.line = s.row_start_line + 1;
    s.prev_cr = s.buf[br] == '\r';
    s.at_line_start = true;
  }
  return absl::OkStatus();
}

absl::Status CsvParser::Process(bool at_end) {
  State& s = *state_;
  for (;;) {
    while (s.pos < s.buf.size() && !s.stopped) {
      // Parse up to each line break (LF, CRLF or a lone CR) so each row
      // knows the line it started on and ends where a piece ends: libcsv
      // reports rows, not positions.
      size_t br = s.buf.find_first_of("\r\n", s.pos);
      if (s.skip_line) {
        if (br == std::string::npos) {
          s.pos = s.buf.size();
          continue;
        }
        if (br > s.pos) s.prev_cr = false;
        s.pos = br + 1;
        s.Consumed(s.buf[br]);
        s.skip_line = false;
        continue;
      }
      size_t end = br == std::string::npos ? s.buf.size() : br + 1;
      // A row starts at a line start (leading spaces, which libcsv skips
      // before it reports a row begun, are part of it).
      if (!s.RowPending()) {
        s.row_start = s.pos;
        s.row_start_line = s.line;
      }
      // Never feed a row past its size limit, so the limit trips at the
      // same byte however the input is cut into chunks.
      end = std::min(end, s.row_start + s.options.max_row_bytes + 1);
      size_t n = end - s.pos;
      size_t done = csv_parse(&s.parser, s.buf.data() + s.pos, n, OnField, OnRowEnd, &s);
      if (done != n) {
        if (csv_error(&s.parser) != CSV_EPARSE) {
          return absl::InternalError(
              absl::StrCat("CSV line ", s.line, ": ", csv_strerror(csv_error(&s.parser))));
        }
        const size_t field = s.row_open ? s.row.fields.size() + 1 : 1;
        const char c = s.buf[s.pos + done];
        if (s.parser.pstate != kFieldMightHaveEnded) {
          // A quote inside an unquoted field (Nguyễn Văn "Tí"): harmless,
          // since the field never becomes quoted, and common in hand-made
          // lists. Taken literally, as lenient libcsv does, by feeding that
          // one byte without CSV_STRICT.
          s.parser.status = 0;
          csv_set_opts(&s.parser, kLibcsvOptions & ~CSV_STRICT & ~CSV_STRICT_FINI);
          const size_t one =
              csv_parse(&s.parser, s.buf.data() + s.pos + done, 1, OnField, OnRowEnd, &s);
          csv_set_opts(&s.parser, kLibcsvOptions);
          if (one != 1) {
            return absl::InternalError(
                absl::StrCat("CSV line ", s.line, ": ", csv_strerror(csv_error(&s.parser))));
          }
          s.pos += done + 1;
          s.prev_cr = false;
          s.at_line_start = false;
          continue;
        }
        LINKD_RETURN_IF_ERROR(
            Fault(absl::StrCat(Shown(c), " after the closing quote of field ", field,
                               " (a quote inside a quoted field is written twice)")));
        continue;
      }
      if (n > 1) s.prev_cr = false;  // The byte before the last is no CR.
      s.pos = end;
      s.Consumed(s.buf[end - 1]);
      if (s.RowPending() && s.pos - s.row_start > s.options.max_row_bytes) {
        LINKD_RETURN_IF_ERROR(Fault(absl::StrCat("row longer than ", s.options.max_row_bytes,
                                                 " bytes (a quote that is never closed?)")));
      }
    }
    if (!at_end || s.stopped) break;
    s.skip_line = false;
    if (s.parser.pstate == kFieldBegun && s.parser.quoted) {
      const size_t field = s.row_open ? s.row.fields.size() + 1 : 1;
      LINKD_RETURN_IF_ERROR(
          Fault(absl::StrCat("quoted field ", field, " is not closed before the end of the file"),
                /*name_fault_line=*/false));
      continue;  // Read what the open quote took again.
    }
    if (csv_fini(&s.parser, OnField, OnRowEnd, &s) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("CSV line ", s.line, ": ", csv_strerror(csv_error(&s.parser))));
    }
    break;
  }
  // Keep only the open row's bytes.
  size_t keep_from = s.RowPending() ? std::min(s.row_start, s.pos) : s.pos;
  s.buf.erase(0, keep_from);
  s.pos -= keep_from;
  s.row_start = s.row_start >= keep_from ? s.row_start - keep_from : 0;
  return absl::OkStatus();
}

absl::Status CsvParser::Feed(std::string_view chunk) {
  if (state_->stopped) return absl::OkStatus();
  state_->buf.append(chunk);
  return Process(/*at_end=*/false);
}

absl::Status CsvParser::Finish() {
  if (state_->stopped) return absl::OkStatus();
  return Process(/*at_end=*/true);
}

absl::Status CsvParser::ParseAll(std::string_view content, RowCallback on_row) {
  CsvParser parser(std::move(on_row));
  LINKD_RETURN_IF_ERROR(parser.Feed(content));
  return parser.Finish();
}
CsvHeader::CsvHeader(const std::vector<std::string>& names) : names_(names) {
  // A UTF-8 byte-order mark on the first column name is not part of it.
  if (!names_.empty() && names_[0].rfind("\xEF\xBB\xBF", 0) == 0) names_[0].erase(0, 3);
}

int CsvHeader::Index(std::string_view name) const {
  auto it = std::find(names_.begin(), names_.end(), name);
  return it == names_.end() ? -1 : static_cast<int>(it - names_.begin());
}

std::string_view CsvHeader::Get(const CsvRow& row, std::string_view name) const {
  int i = Index(name);
  if (i < 0 || static_cast<size_t>(i) >= row.fields.size()) return {};
  return row.fields[static_cast<size_t>(i)];
}

std::string CsvQuote(std::string_view field) {
  if (field.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace linkage
