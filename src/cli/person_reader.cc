#include "person_reader.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "linkage/strings.h"
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
    r->csv_ = std::make_unique<CsvParser>([self](const CsvRow& row) {
      self->AddCsvRow(row);
      return true;
    });
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
  if (!text::IsValidUtf8(line)) {
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
      std::string line;
      if (!std::getline(in_, line)) {
        eof_ = true;
        break;
      }
      bytes_read_ += static_cast<int64_t>(line.size()) + 1;
      AddJsonLine(line, ++json_line_);
      continue;
    }
    buffer.resize(kChunk);
    in_.read(buffer.data(), static_cast<std::streamsize>(kChunk));
    buffer.resize(static_cast<size_t>(in_.gcount()));
    bytes_read_ += static_cast<int64_t>(buffer.size());
    if (buffer.empty()) {
      eof_ = true;
      absl::Status st = csv_->Finish();
      if (!st.ok()) return st;
    } else {
      absl::Status st = csv_->Feed(buffer);
      if (!st.ok()) return st;
    }
    if (!header_error_.ok()) return header_error_;
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
  auto reader = PersonReader::Open(path, "");
  if (!reader.ok()) return reader.status();
  std::vector<v1::PersonRecord> records;
  std::vector<ReadRow> chunk;
  for (bool more = true; more;) {
    chunk.clear();
    auto next = (*reader)->Next(4096, &chunk);
    if (!next.ok()) return next.status();
    more = *next;
    for (ReadRow& r : chunk) {
      if (r.error.empty() && (!keep || keep(r.record))) records.push_back(std::move(r.record));
    }
  }
  return records;
}

}  // namespace linkage::cli
