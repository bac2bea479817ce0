#include "person_reader.h"

#include <cstdio>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "linkage/text.h"

namespace linkage::cli {

absl::Status CheckUtf8(const v1::PersonRecord& r) {
  const std::pair<const char*, const std::string*> fields[] = {
      {"record_id", &r.record_id()},
      {"national_id", &r.national_id()},
      {"old_id", &r.old_id()},
      {"full_name", &r.full_name()},
      {"birth_date", &r.birth_date()},
      {"ethnicity", &r.ethnicity()},
      {"address", &r.address()},
      {"commune_code", &r.commune_code()},
      {"district_code", &r.district_code()},
      {"province_code", &r.province_code()},
      {"phone", &r.phone()}};
  for (const auto& [name, value] : fields) {
    if (!text::IsValidUtf8(*value))
      return absl::InvalidArgumentError(absl::StrCat(name, " is not valid UTF-8"));
  }
  for (const auto& [key, value] : r.attributes()) {
    if (!text::IsValidUtf8(key) || !text::IsValidUtf8(value)) {
      return absl::InvalidArgumentError(absl::StrCat("column \"", key, "\" is not valid UTF-8"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PersonReader>> PersonReader::Open(const std::string& path,
                                                                 const std::string& format) {
  std::unique_ptr<PersonReader> r(new PersonReader());
  r->in_.open(path, std::ios::binary);
  if (!r->in_) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::error_code ec;
  r->file_size_ = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  if (format == "jsonl" ||
      (format.empty() && (absl::EndsWith(path, ".jsonl") || absl::EndsWith(path, ".ndjson") ||
                          absl::EndsWith(path, ".json")))) {
    r->format_ = Format::kJsonLines;
  } else if (format.empty() || format == "csv") {
    r->format_ = Format::kCsv;
    PersonReader* self = r.get();
    // A malformed row is rejected alone and the next line read (never
    // folded into the rows after it).
    CsvOptions csv_options;
    csv_options.resync_after_errors = true;
    r->csv_ = std::make_unique<CsvParser>(
        [self](const CsvRow& row) {
          self->AddCsvRow(row);
          return true;
        },
        csv_options);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown format \"", format, "\" (csv or jsonl)"));
  }
  return r;
}

absl::Status PersonReader::SetMappings(const std::vector<std::string>& mappings) {
  for (const std::string& m : mappings) {
    size_t eq = m.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == m.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--map \"", m, "\": expected target=source[ source...]"));
    }
    std::vector<std::string> sources;
    for (absl::string_view src : absl::StrSplit(m.substr(eq + 1), ' ', absl::SkipEmpty()))
      sources.emplace_back(src);
    mappings_.emplace_back(m.substr(0, eq), std::move(sources));
  }
  return absl::OkStatus();
}

void PersonReader::AddCsvRow(const CsvRow& raw) {
  if (!raw.error.empty()) {
    if (raw.row_index == 0) {
      header_error_ = absl::InvalidArgumentError(
          absl::StrCat("line ", raw.line_number, ": header: ", raw.error));
      return;
    }
    if (!schema_) return;
    ReadRow out;
    out.line = raw.line_number;
    out.error = absl::StrCat("line ", raw.line_number, ": ", raw.error);
    // The record_id, if the fields read before the fault include it, so
    // the rejection names the record.
    if (record_id_column_ >= 0 && static_cast<size_t>(record_id_column_) < raw.fields.size())
      out.record.set_record_id(raw.fields[static_cast<size_t>(record_id_column_)]);
    pending_.push_back(std::move(out));
    return;
  }
  CsvRow mapped;
  const CsvRow* use = &raw;
  if (!mappings_.empty()) {
    mapped = raw;
    if (raw.row_index == 0) {
      CsvHeader h(raw.fields);
      for (const auto& [target, sources] : mappings_) {
        std::vector<int> idx;
        for (const auto& src : sources) idx.push_back(h.Index(src));
        mapping_sources_.push_back(std::move(idx));
        mapped.fields.push_back(target);
      }
    } else {
      for (const std::vector<int>& idx : mapping_sources_) {
        std::string value;
        for (int i : idx) {
          if (i < 0 || static_cast<size_t>(i) >= raw.fields.size() ||
              raw.fields[static_cast<size_t>(i)].empty())
            continue;
          if (!value.empty()) value.push_back(' ');
          value += raw.fields[static_cast<size_t>(i)];
        }
        mapped.fields.push_back(std::move(value));
      }
    }
    use = &mapped;
  }
  const CsvRow& row = *use;
  if (row.row_index == 0) {
    for (size_t m = 0; m < mapping_sources_.size(); ++m) {
      for (size_t k = 0; k < mapping_sources_[m].size(); ++k) {
        if (mapping_sources_[m][k] < 0) {
          header_error_ = absl::InvalidArgumentError(absl::StrCat("--map ", mappings_[m].first,
                                                                  ": the file has no column \"",
                                                                  mappings_[m].second[k], "\""));
          return;
        }
      }
    }
    auto schema = domain::PersonCsvSchema::Create(row.fields);
    if (schema.ok()) {
      schema_ = *std::move(schema);
      record_id_column_ = CsvHeader(raw.fields).Index("record_id");
    } else {
      header_error_ = schema.status();
    }
    return;
  }
  if (!schema_) return;
  ReadRow out;
  out.line = row.line_number;
  auto record = schema_->ToRecord(row);
  if (!record.ok()) {
    out.error = std::string(record.status().message());
  } else {
    out.record = *std::move(record);
    absl::Status utf8 = CheckUtf8(out.record);
    if (!utf8.ok()) out.error = absl::StrCat("line ", row.line_number, ": ", utf8.message());
  }
  pending_.push_back(std::move(out));
}

void PersonReader::AddJsonLine(const std::string& line, int64_t line_number) {
  if (line.find_first_not_of(" \t\r") == std::string::npos) return;
  ReadRow out;
  out.line = line_number;
  if (line.size() > domain::kMaxJsonLineBytes) {
    out.error =
        absl::StrCat("line ", line_number, ": longer than ", domain::kMaxJsonLineBytes, " bytes");
  } else if (!text::IsValidUtf8(line)) {
    out.error = absl::StrCat("line ", line_number, ": not valid UTF-8");
  } else {
    auto record = domain::PersonFromJson(line, line_number);
    if (!record.ok()) {
      out.error = std::string(record.status().message());
    } else {
      out.record = *std::move(record);
      if (out.record.record_id().empty())
        out.error = absl::StrCat("line ", line_number, ": record_id is empty");
    }
  }
  pending_.push_back(std::move(out));
}

absl::StatusOr<bool> PersonReader::Next(size_t max, std::vector<ReadRow>* out) {
  constexpr size_t kChunk = 1 << 16;
  std::string buffer;
  while (pending_.size() - pending_pos_ < max && !eof_) {
    if (format_ == Format::kJsonLines) {
      // A line is kept up to kMaxJsonLineBytes (+1 so the parser sees it is
      // too long); the rest of a longer line is skipped unread.
      std::string line;
      bool any = false;
      std::streambuf* sb = in_.rdbuf();
      for (int c = sb->sbumpc(); c != std::char_traits<char>::eof(); c = sb->sbumpc()) {
        any = true;
        ++bytes_read_;
        if (c == '\n') break;
        if (line.size() <= domain::kMaxJsonLineBytes) line.push_back(static_cast<char>(c));
      }
      if (!any) {
        eof_ = true;
        break;
      }
      // A UTF-8 byte-order mark (Windows editors write one) is not JSON.
      if (json_line_ == 0 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
      AddJsonLine(line, ++json_line_);
      continue;
    }
    buffer.resize(kChunk);
    in_.read(buffer.data(), static_cast<std::streamsize>(kChunk));
    buffer.resize(static_cast<size_t>(in_.gcount()));
    bytes_read_ += static_cast<int64_t>(buffer.size());
    if (buffer.empty()) {
      eof_ = true;
      LINKD_RETURN_IF_ERROR(csv_->Finish());
    } else {
      LINKD_RETURN_IF_ERROR(csv_->Feed(buffer));
    }
    LINKD_RETURN_IF_ERROR(header_error_);
  }
  if (format_ == Format::kCsv && eof_ && !schema_ && header_error_.ok()) {
    return absl::InvalidArgumentError("the file is empty: no header row");
  }
  size_t n = std::min(max, pending_.size() - pending_pos_);
  for (size_t i = 0; i < n; ++i) out->push_back(std::move(pending_[pending_pos_ + i]));
  pending_pos_ += n;
  if (pending_pos_ == pending_.size()) {
    pending_.clear();
    pending_pos_ = 0;
  }
  return !(eof_ && pending_.empty());
}

absl::StatusOr<std::vector<v1::PersonRecord>> ReadAllRecords(
    const std::string& path, const std::function<bool(const v1::PersonRecord&)>& keep) {
  LINKD_ASSIGN_OR_RETURN(std::unique_ptr<PersonReader> reader, PersonReader::Open(path, ""));
  std::vector<v1::PersonRecord> records;
  std::vector<ReadRow> chunk;
  int64_t unreadable = 0;
  std::string first_error;
  for (bool more = true; more;) {
    chunk.clear();
    LINKD_ASSIGN_OR_RETURN(more, reader->Next(4096, &chunk));
    for (ReadRow& r : chunk) {
      if (!r.error.empty()) {
        if (unreadable++ == 0) first_error = r.error;
        continue;
      }
      if (!keep || keep(r.record)) records.push_back(std::move(r.record));
    }
  }
  // Said, not skipped quietly: the caller's numbers leave these rows out.
  if (unreadable > 0) {
    std::fprintf(stderr, "warning: %s: %lld rows could not be read and are left out (first: %s)\n",
                 path.c_str(), static_cast<long long>(unreadable), first_error.c_str());
  }
  return records;
}

}  // namespace linkage::cli
