#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <semaphore>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "commands.h"
#include "linkage/csv.h"
#include "linkage/flags.h"
#include "linkage/v1/service.grpc.pb.h"
#include "person_reader.h"

namespace linkage::cli {
namespace {

// One output row (DESIGN.md §6).
struct OutputRow {
  std::string record_id;
  std::string decision;  // MATCH | REVIEW | NO_MATCH
  double probability = 0;
  double match_weight = 0;
  std::string best, second;
  double second_probability = 0;
  std::vector<std::string> flags;
  std::string error;  // For the errors file.
  int64_t line = 0;
};

std::string BandName(v1::Band b) {
  return b == v1::BAND_MATCH ? "MATCH" : b == v1::BAND_REVIEW ? "REVIEW" : "NO_MATCH";
}

OutputRow FromResponse(const std::string& record_id, const v1::MatchStreamResponse& r) {
  OutputRow row;
  row.record_id = record_id;
  if (r.error_code() != 0) {
    row.decision = "NO_MATCH";
    row.flags.push_back(r.error_code() == static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT)
                            ? flag::kInvalidRecord
                            : "ERROR");
    row.error = r.error_message();
    return row;
  }
  const v1::MatchResult& m = r.result();
  std::set<std::string> flags(m.flags().begin(), m.flags().end());
  const v1::Candidate* best = m.candidates_size() > 0 ? &m.candidates(0) : nullptr;
  if (r.has_verification()) {
    const v1::Verification& v = r.verification();
    flags = std::set<std::string>(v.flags().begin(), v.flags().end());
    row.decision = v.decision() == v1::VERIFIED ? "MATCH"
                   : v.decision() == v1::REVIEW ? "REVIEW"
                                                : "NO_MATCH";
    row.probability = v.probability();
    row.best = v.record_id();
    best = nullptr;
    for (const v1::Candidate& c : m.candidates()) {
      if (c.record_id() == v.record_id()) best = &c;
    }
    if (best != nullptr) row.match_weight = best->match_weight();
  } else {
    row.decision = BandName(m.band());
    if (best != nullptr) {
      row.probability = best->probability();
      row.match_weight = best->match_weight();
      row.best = best->record_id();
    }
  }
  for (const v1::Candidate& c : m.candidates()) {
    if (c.record_id() != row.best && (best == nullptr || c.record_id() != best->record_id())) {
      row.second = c.record_id();
      row.second_probability = c.probability();
      break;
    }
  }
  row.flags.assign(flags.begin(), flags.end());
  return row;
}

// Keeps the header and the complete rows of an interrupted output file
// (truncating a torn last line) and returns how many rows it holds.
absl::StatusOr<int64_t> KeepCompleteRows(const std::string& path, std::string_view header) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string content = ss.str();
  if (content.empty()) return 0;
  if (content.compare(0, header.size(), header) != 0) {
    return absl::FailedPreconditionError(
        path + " is not a verify output file: refusing to resume into it");
  }
  // Rows are one line each (quoted fields never hold line breaks here).
  const size_t end = content.rfind('\n') + 1;
  int64_t rows = -1;  // The header.
  for (size_t i = 0; i < end; ++i) rows += content[i] == '\n';
  std::filesystem::resize_file(path, end);
  return rows;
}

}  // namespace

int RunVerify(const GlobalOptions& global, const VerifyOptions& options) {
  if (options.streams < 1 || options.in_flight < 1 || options.batch < 1 || options.batch > 10000) {
    return Fail("--streams and --in-flight must be at least 1, --batch 1..10000");
  }
  auto reader = PersonReader::Open(options.input, options.format);
  if (!reader.ok()) return Fail(std::string(reader.status().message()));
  absl::Status mapped = (*reader)->SetMappings(options.maps);
  if (!mapped.ok()) return Fail(std::string(mapped.message()));
  static constexpr char kHeader[] =
      "record_id,decision,probability,match_weight,best_record_id,second_record_id,second_"
      "probability,flags\n";
  // Rows are written in input order, so an interrupted output file is a
  // prefix of the full one: a resumed run keeps its complete lines and
  // skips as many input records.
  int64_t skip = 0;
  if (options.resume && std::filesystem::exists(options.output)) {
    auto kept = KeepCompleteRows(options.output, kHeader);
    if (!kept.ok()) return Fail(std::string(kept.status().message()));
    skip = *kept;
  }
  std::ofstream out(options.output, skip > 0 || options.resume ? std::ios::app : std::ios::trunc);
  if (!out) return Fail("cannot write " + options.output);
  if (out.tellp() == 0) out << kHeader;
  const std::string errors_path =
      options.errors_file.empty() ? options.output + ".errors.csv" : options.errors_file;
  std::ofstream errors;

  // Results by input index; the emitter writes them in order.
  std::mutex mu;
  std::condition_variable ready;
  std::map<int64_t, OutputRow> results;
  int64_t dispatched = 0;
  bool input_done = false;
  std::atomic<bool> failed{false};
  std::string failure;
  int64_t written = 0;

  auto put = [&](int64_t index, OutputRow row) {
    std::lock_guard<std::mutex> lock(mu);
    results.emplace(index, std::move(row));
    ready.notify_all();
  };
  auto fail = [&](const std::string& why) {
    std::lock_guard<std::mutex> lock(mu);
    if (!failed.exchange(true)) failure = why;
    ready.notify_all();
  };

  Progress progress("verified");
  const auto start = std::chrono::steady_clock::now();
  std::thread emitter([&] {
    int64_t next = 0;
    for (;;) {
      std::unique_lock<std::mutex> lock(mu);
      ready.wait(lock, [&] {
        return results.count(next) || failed.load() || (input_done && next == dispatched);
      });
      if (!results.count(next)) return;  // Failed, or everything written.
      OutputRow row = std::move(results[next]);
      results.erase(next++);
      lock.unlock();
      // One line per row, always (resume counts lines): an unreadable row's
      // id may hold control characters.
      for (char& c : row.record_id) {
        if (static_cast<unsigned char>(c) < 0x20) c = ' ';
      }
      out << CsvQuote(row.record_id) << ',' << row.decision << ','
          << absl::StrFormat("%.6f", row.probability) << ','
          << absl::StrFormat("%.3f", row.match_weight) << ',' << CsvQuote(row.best) << ','
          << CsvQuote(row.second) << ',' << absl::StrFormat("%.6f", row.second_probability) << ','
          << CsvQuote(absl::StrJoin(row.flags, ";")) << '\n';
      if (++written % 500 == 0) out.flush();  // Progress a resumed run can keep.
      if (!row.error.empty()) {
        if (!errors.is_open()) {
          errors.open(errors_path, options.resume ? std::ios::app : std::ios::trunc);
          if (errors.tellp() == 0) errors << "line,record_id,error\n";
        }
        errors << row.line << ',' << CsvQuote(row.record_id) << ',' << CsvQuote(row.error) << '\n';
      }
      double fraction = (*reader)->file_size() > 0 ? static_cast<double>((*reader)->bytes_read()) /
                                                         static_cast<double>((*reader)->file_size())
                                                   : -1;
      progress.Update(written, fraction);
    }
  });

  // One stream per --streams, each with a writer (this thread) and a reader
  // thread. Records go in batches of --batch, one message each.
  struct Stream {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReaderWriter<v1::MatchBatchRequest, v1::MatchBatchResponse>> rw;
    std::unique_ptr<std::counting_semaphore<1 << 20>> permits;  // Batches in flight.
    std::mutex ids_mu;
    std::map<int64_t, std::pair<std::string, int64_t>> pending;  // index -> (record_id, line)
    std::thread reader;
  };
  const int batches_in_flight = std::max(1, options.in_flight / options.batch);
  auto channel = Connect(global);
  auto stub = v1::LinkageService::NewStub(channel);
  std::vector<std::unique_ptr<Stream>> streams;
  for (int s = 0; s < options.streams; ++s) {
    auto st = std::make_unique<Stream>();
    st->rw = stub->MatchBatchStream(&st->ctx);
    st->permits = std::make_unique<std::counting_semaphore<1 << 20>>(batches_in_flight);
    Stream* raw = st.get();
    st->reader = std::thread([&, raw] {
      v1::MatchBatchResponse batch;
      while (raw->rw->Read(&batch)) {
        for (const v1::MatchStreamResponse& response : batch.responses()) {
          int64_t index = std::stoll(response.request_id());
          std::pair<std::string, int64_t> meta;
          {
            std::lock_guard<std::mutex> lock(raw->ids_mu);
            meta = raw->pending[index];
            raw->pending.erase(index);
          }
          OutputRow row = FromResponse(meta.first, response);
          row.line = meta.second;
          put(index, std::move(row));
        }
        raw->permits->release();
      }
      // The stream ended. If requests are still unanswered the server went
      // away: fail, and free the dispatcher if it waits for a permit.
      bool unanswered;
      {
        std::lock_guard<std::mutex> lock(raw->ids_mu);
        unanswered = !raw->pending.empty();
      }
      if (unanswered) fail("the server closed a verification stream before answering every record");
      raw->permits->release(batches_in_flight);
    });
    streams.push_back(std::move(st));
  }

  int64_t index = 0;
  int64_t batches_sent = 0;
  std::string read_error;
  std::vector<ReadRow> chunk;
  v1::MatchBatchRequest batch;
  std::vector<std::pair<int64_t, std::pair<std::string, int64_t>>>
      batch_meta;  // index -> (record_id, line)
  // Sends the batch being filled on the next stream; false if that failed.
  auto send = [&]() {
    if (batch.requests_size() == 0) return true;
    Stream& st = *streams[static_cast<size_t>(batches_sent++ % options.streams)];
    st.permits->acquire();
    if (failed.load()) return false;
    {
      std::lock_guard<std::mutex> lock(st.ids_mu);
      for (auto& [i, meta] : batch_meta) st.pending[i] = std::move(meta);
    }
    bool ok = st.rw->Write(batch);
    batch.clear_requests();
    batch_meta.clear();
    if (!ok) fail("the server closed a verification stream");
    return ok;
  };
  bool more = true;
  while (more && !failed.load()) {
    chunk.clear();
    auto next = (*reader)->Next(512, &chunk);
    if (!next.ok()) {
      read_error = std::string(next.status().message());
      break;
    }
    more = *next;
    for (ReadRow& row : chunk) {
      if (skip > 0) {  // Already in the output from an earlier run.
        --skip;
        continue;
      }
      const int64_t i = index++;
      {
        std::lock_guard<std::mutex> lock(mu);
        dispatched = index;
      }
      if (!row.error.empty()) {
        OutputRow bad;
        bad.record_id = row.record.record_id();
        bad.decision = "NO_MATCH";
        bad.flags.push_back(flag::kInvalidRecord);
        bad.error = row.error;
        bad.line = row.line;
        put(i, std::move(bad));
        continue;
      }
      v1::MatchStreamRequest* req = batch.add_requests();
      req->set_request_id(std::to_string(i));
      req->set_dataset(options.against);
      req->set_verify_claimed_id(true);
      req->set_omit_explanation(true);
      req->set_top_k(2);
      req->set_lenient_dates(options.lenient_dates);
      if (options.exclude_self) req->set_exclude_record_id(row.record.record_id());
      batch_meta.push_back({i, {row.record.record_id(), row.line}});
      *req->mutable_record() = std::move(row.record);
      if (batch.requests_size() >= options.batch && !send()) break;
    }
  }
  if (!failed.load()) send();
  for (auto& st : streams) st->rw->WritesDone();
  for (auto& st : streams) {
    st->reader.join();
    grpc::Status status = st->rw->Finish();
    if (!status.ok()) {
      fail(absl::StrFormat("MatchBatchStream: %s: %s", CodeName(status.error_code()),
                           status.error_message()));
    } else if (!st->pending.empty()) {
      fail(absl::StrFormat("MatchBatchStream ended with %d requests unanswered",
                           st->pending.size()));
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    input_done = true;
    ready.notify_all();
  }
  emitter.join();
  progress.Finish();
  out.close();

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The summary covers the whole output file, so a resumed job ends with
  // the same summary as an uninterrupted one.
  std::map<std::string, int64_t> decisions, flag_counts;
  int64_t total = 0;
  {
    auto table = ReadCsvTable(options.output);
    if (!table.ok()) return Fail(std::string(table.status().message()));
    for (auto& row : *table) {
      ++total;
      ++decisions[row["decision"]];
      for (absl::string_view f : absl::StrSplit(row["flags"], ';', absl::SkipEmpty()))
        ++flag_counts[std::string(f)];
    }
  }
  std::printf(
      "verify %s against \"%s\": %s records (%s in this run) in %.1fs (%s records/s)\n",
      options.input.c_str(), options.against.c_str(), FormatCount(total).c_str(),
      FormatCount(written).c_str(), seconds,
      FormatCount(static_cast<int64_t>(static_cast<double>(written) / std::max(seconds, 1e-3)))
          .c_str());
  for (const char* d : {"MATCH", "REVIEW", "NO_MATCH"}) {
    int64_t n = decisions[d];
    std::printf("  %-9s %10s  %5.1f%%\n", d, FormatCount(n).c_str(),
                total > 0 ? 100.0 * static_cast<double>(n) / static_cast<double>(total) : 0.0);
  }
  if (!flag_counts.empty()) {
    std::vector<std::pair<int64_t, std::string>> sorted;
    for (const auto& [f, n] : flag_counts) sorted.emplace_back(-n, f);
    std::sort(sorted.begin(), sorted.end());
    std::printf("  flags:");
    for (const auto& [n, f] : sorted) std::printf(" %s=%s", f.c_str(), FormatCount(-n).c_str());
    std::printf("\n");
  }
  std::printf("results: %s\n", options.output.c_str());
  if (errors.is_open())
    std::printf("records that could not be checked, with line and reason: %s\n",
                errors_path.c_str());
  if (!read_error.empty()) return Fail("reading " + options.input + " stopped: " + read_error);
  if (failed.load()) {
    return Fail(failure +
                absl::StrFormat(" (%s rows written; continue with --resume)", FormatCount(total)));
  }
  // One output row per input row read, readable or not.
  if (written != index) {
    return Fail(absl::StrFormat("%s input rows read but %s output rows written", FormatCount(index),
                                FormatCount(written)));
  }
  return kOk;
}

}  // namespace linkage::cli
