#include "linkage/csv.h"

#include <csv.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace linkage {

struct CsvParser::State {
  csv_parser parser{};
  RowCallback on_row;
  CsvRow row;
  int64_t next_row_index = 0;
  int64_t line = 1;  // Line of the byte being parsed.
  int64_t row_start_line = 1;
  bool stopped = false;
  bool row_open = false;
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
  if (!s->on_row(s->row)) s->stopped = true;
}

}  // namespace

CsvParser::CsvParser(RowCallback on_row) : state_(std::make_unique<State>()) {
  csv_init(&state_->parser, CSV_APPEND_NULL);
  state_->on_row = std::move(on_row);
}

CsvParser::~CsvParser() { csv_free(&state_->parser); }

absl::Status CsvParser::Feed(std::string_view chunk) {
  // Feed line by line so each row knows the line it started on: libcsv
  // reports rows, not positions.
  size_t pos = 0;
  while (pos < chunk.size() && !state_->stopped) {
    size_t nl = chunk.find('\n', pos);
    size_t end = nl == std::string_view::npos ? chunk.size() : nl + 1;
    if (!state_->row_open && state_->parser.pstate == 0) state_->row_start_line = state_->line;
    size_t n = end - pos;
    if (csv_parse(&state_->parser, chunk.data() + pos, n, OnField, OnRowEnd, state_.get()) != n) {
      return absl::InvalidArgumentError(
          absl::StrCat("CSV line ", state_->line, ": ", csv_strerror(csv_error(&state_->parser))));
    }
    if (nl != std::string_view::npos) ++state_->line;
    pos = end;
  }
  return absl::OkStatus();
}

absl::Status CsvParser::Finish() {
  if (state_->stopped) return absl::OkStatus();
  if (csv_fini(&state_->parser, OnField, OnRowEnd, state_.get()) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("CSV line ", state_->line, ": ", csv_strerror(csv_error(&state_->parser))));
  }
  return absl::OkStatus();
}

absl::Status CsvParser::ParseAll(std::string_view content, RowCallback on_row) {
  CsvParser parser(std::move(on_row));
  absl::Status st = parser.Feed(content);
  if (!st.ok()) return st;
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
