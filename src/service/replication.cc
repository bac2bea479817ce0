#include "replication.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "convert.h"
#include "log.h"

namespace linkage::service {
namespace {

// Each store write of an applied entry carries the entry's position.
engine::WriteHook TagHook(const index::WriteTag& tag) {
  return [tag]() -> absl::StatusOr<index::WriteTag> { return tag; };
}

std::string ThisWriter() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat(host, ":", getpid(), ":", absl::ToUnixMicros(absl::Now()));
}

bool FailpointSet(std::string_view name) {
  const char* v = std::getenv("LINKD_FAILPOINT");
  return v != nullptr && std::string_view(v) == name;
}

// The store's position, checked against the stream it is to follow.
absl::StatusOr<index::Store::LogPosition> PositionFor(engine::Engine* engine,
                                                      const std::string& stream) {
  LINKD_ASSIGN_OR_RETURN(index::Store::LogPosition pos, engine->store()->GetLogPosition());
  if (!pos.stream.empty() && pos.stream != stream) {
    return absl::FailedPreconditionError(
        absl::StrCat("the database follows log stream \"", pos.stream, "\", not \"", stream,
                     "\": use its own stream, or another database"));
  }
  return pos;
}

absl::Status Unreadable(uint64_t seq) {
  return absl::DataLossError(absl::StrCat("change ", seq, " of the log is unreadable"));
}

}  // namespace

absl::Status ApplyEntry(engine::Engine* engine, uint64_t seq, int64_t unix_micros,
                        const v1::LogEntry& entry, const std::atomic<bool>* stop) {
  const index::WriteTag tag{.log_seq = seq, .unix_micros = unix_micros};
  absl::Status st;
  switch (entry.change_case()) {
    case v1::LogEntry::kUpsert: {
      const v1::UpsertRecordsRequest& r = entry.upsert();
      engine::UpsertOptions uo = UpsertOptionsFrom(r);
      uo.log = TagHook(tag);
      std::vector<v1::PersonRecord> records(r.records().begin(), r.records().end());
      st = engine->Upsert(r.dataset(), std::move(records), uo).status();
      break;
    }
    case v1::LogEntry::kDeleteRecord:
      st = engine
               ->Delete(entry.delete_record().dataset(), entry.delete_record().record_id(),
                        TagHook(tag))
               .status();
      break;
    case v1::LogEntry::kInstallModel:
      st = engine->InstallModel(entry.install_model(), TagHook(tag)).status();
      break;
    case v1::LogEntry::kReindex:
      st = engine
               ->Reindex(&entry.reindex(), {}, stop,
                         [&tag](const v1::Model&, const auto& do_switch) { return do_switch(tag); })
               .status();
      break;
    case v1::LogEntry::CHANGE_NOT_SET:
      return absl::UnimplementedError(absl::StrCat(
          "change ", seq, " is of a kind this linkd does not know: run the writer's version"));
  }
  LINKD_RETURN_IF_ERROR(st);
  // A change that wrote nothing (every record unchanged or rejected, a
  // delete of a missing record) still moves the position.
  LINKD_ASSIGN_OR_RETURN(index::Store::LogPosition pos, engine->store()->GetLogPosition());
  if (pos.seq < seq) {
    LINKD_RETURN_IF_ERROR(engine->store()->SetLogPosition({.seq = seq, .stream = ""}));
  }
  return absl::OkStatus();
}

// --- Replica.

uint64_t Replica::applied() const {
  absl::MutexLock lock(&mu_);
  return applied_;
}

void Replica::Advance(uint64_t seq) {
  absl::MutexLock lock(&mu_);
  if (seq > applied_) applied_ = seq;
}

absl::Status Replica::WaitFor(uint64_t seq, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, seq]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return applied_ >= seq; };
  if (mu_.AwaitWithDeadline(absl::Condition(&reached), deadline)) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("this ", AV(role()), " has applied the log up to change ", applied_,
                   ", not yet change ", seq, " (min_log_seq): retry, or read from the writer"));
}

// --- LogWriter.

LogWriter::LogWriter(std::unique_ptr<changelog::ChangeLog> log, engine::Engine* engine,
                     std::string stream)
    : log_(std::move(log)),
      engine_(engine),
      stream_(std::move(stream)),
      id_(ThisWriter()),
      crash_after_append_(FailpointSet("crash_after_log_append")) {}

absl::StatusOr<std::unique_ptr<LogWriter>> LogWriter::Start(
    std::unique_ptr<changelog::ChangeLog> log, engine::Engine* engine, std::string stream) {
  LINKD_ASSIGN_OR_RETURN(index::Store::LogPosition pos, PositionFor(engine, stream));
  LINKD_ASSIGN_OR_RETURN(changelog::ChangeLog::State state, log->GetState());
  if (pos.seq > state.last_seq) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the database has applied change ", pos.seq, " of log stream \"", stream,
        "\" but the log ends at ", state.last_seq,
        ": the stream was recreated; start the writer on a database restored from its backup"));
  }
  if (pos.seq == 0 && pos.stream.empty() && state.last_seq > 0 &&
      !engine->store()->Stats().datasets.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the database holds records but follows no log, and stream \"", stream, "\" already has ",
        state.last_seq,
        " changes: merging the two is not safe; start the writer on a database restored from the "
        "stream's backups, or on an empty one"));
  }
  if (state.messages > 0 && pos.seq + 1 < state.first_seq) {
    return absl::FailedPreconditionError(
        absl::StrCat("the log no longer holds change ", pos.seq + 1, " (its first is ",
                     state.first_seq, "): restore a newer backup into this database"));
  }
  auto w = std::unique_ptr<LogWriter>(new LogWriter(std::move(log), engine, std::move(stream)));
  w->Advance(pos.seq);
  {
    absl::MutexLock lock(&w->commit_mu_);
    LINKD_RETURN_IF_ERROR(w->CatchUpLocked(/*fence_others=*/false));
  }
  LINKD_RETURN_IF_ERROR(
      engine->store()->SetLogPosition({.seq = w->applied(), .stream = w->stream_}));
  if (state.last_seq == 0) {
    // A new stream's first change is the model in force, so that every
    // replica runs this writer's model and rules, not whatever default
    // its own build would install.
    const v1::Model model = engine->model()->proto();
    v1::LogEntry first;
    *first.mutable_install_model() = model;
    LINKD_RETURN_IF_ERROR(w->Commit(std::move(first), [&](const engine::WriteHook& hook) {
                             return engine->InstallModel(model, hook).status();
                           }).status());
  }
  Log("info", "log_writer_ready",
      {Str("stream", w->stream_), Int("applied_seq", static_cast<int64_t>(w->applied())),
       Int("caught_up_from", static_cast<int64_t>(pos.seq))});
  return w;
}

absl::Status LogWriter::CatchUpLocked(bool fence_others) {
  LINKD_ASSIGN_OR_RETURN(changelog::ChangeLog::State state, log_->GetState());
  const uint64_t from = applied() + 1;
  if (from > state.last_seq) {
    last_seq_ = state.last_seq;
    behind_ = false;
    return absl::OkStatus();
  }
  LINKD_ASSIGN_OR_RETURN(std::unique_ptr<changelog::ChangeLog::Cursor> cursor, log_->Follow(from));
  while (applied() < state.last_seq) {
    LINKD_ASSIGN_OR_RETURN(std::optional<changelog::ChangeLog::Entry> e,
                           cursor->Next(absl::Seconds(10)));
    if (!e.has_value()) {
      return absl::UnavailableError(
          absl::StrCat("the log did not deliver change ", applied() + 1, " within 10 s"));
    }
    if (e->seq <= applied()) continue;
    if (e->seq != applied() + 1) {
      return absl::DataLossError(absl::StrCat("the log no longer holds change ", applied() + 1,
                                              " (it delivered ", e->seq, ")"));
    }
    v1::LogEntry entry;
    if (!entry.ParseFromString(e->bytes)) return Unreadable(e->seq);
    if (fence_others && entry.writer() != id_) {
      fenced_.store(true);
      fence_reason_ = absl::StrCat("another writer (", entry.writer(), ") appended change ", e->seq,
                                   " to the log: this writer is fenced and refuses writes");
      Log("error", "log_writer_fenced", {Int("seq", static_cast<int64_t>(e->seq))});
      return absl::FailedPreconditionError(fence_reason_);
    }
    LINKD_RETURN_IF_ERROR(ApplyEntry(engine_, e->seq, entry.unix_micros(), entry, nullptr));
    Advance(e->seq);
  }
  last_seq_ = state.last_seq;
  behind_ = false;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> LogWriter::Commit(
    v1::LogEntry entry, const std::function<absl::Status(const engine::WriteHook&)>& apply) {
  absl::MutexLock lock(&commit_mu_);
  if (fenced_.load()) return absl::FailedPreconditionError(fence_reason_);
  if (behind_) {
    absl::Status caught_up = CatchUpLocked(/*fence_others=*/true);
    if (!caught_up.ok()) {
      if (fenced_.load()) return caught_up;
      return absl::UnavailableError(absl::StrCat(
          "this writer is catching up with its log before the next change: ", caught_up.message()));
    }
  }
  uint64_t published = 0;
  const engine::WriteHook hook =
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_) -> absl::StatusOr<index::WriteTag> {
    const int64_t micros = absl::ToUnixMicros(absl::Now());
    entry.set_writer(id_);
    entry.set_unix_micros(micros);
    const std::string bytes = entry.SerializeAsString();
    absl::StatusOr<uint64_t> seq =
        log_->Append(bytes, last_seq_, absl::StrCat(id_, "/", ++changes_));
    if (!seq.ok()) {
      if (seq.status().code() == changelog::kFencedCode) {
        fenced_.store(true);
        fence_reason_ = std::string(seq.status().message());
        Log("error", "log_writer_fenced", {Int("expected_last", static_cast<int64_t>(last_seq_))});
      } else if (seq.status().code() == absl::StatusCode::kUnavailable) {
        behind_ = true;  // It may be in the log: read the log before the next change.
      }
      return seq.status();
    }
    if (*seq != last_seq_ + 1) {
      // Acknowledged somewhere else than right after the last change
      // known: the log holds what this writer has not seen.
      behind_ = true;
      return absl::UnavailableError(
          absl::StrCat("the change log placed the change at ", *seq, ", not at ", last_seq_ + 1,
                       ": this writer reads the log before its next change"));
    }
    // Tests: die between the log's acknowledgement and the local apply.
    if (crash_after_append_) std::raise(SIGKILL);
    last_seq_ = *seq;
    published = *seq;
    return index::WriteTag{.log_seq = *seq, .unix_micros = micros};
  };
  const absl::Status applied_here = apply(hook);
  if (published == 0) return applied_here.ok() ? absl::StatusOr<uint64_t>(0) : applied_here;
  if (!applied_here.ok()) {
    behind_ = true;
    Log("error", "log_apply_failed",
        {Int("seq", static_cast<int64_t>(published)), Str("message", SV(applied_here.message()))});
    return absl::UnavailableError(absl::StrCat(
        "change ", published, " is in the log but could not be applied here yet (",
        applied_here.message(), "); it will be before the next change, and a retry is safe"));
  }
  Advance(published);
  return published;
}

v1::GetStatsResponse::Replication LogWriter::Status() const {
  v1::GetStatsResponse::Replication r;
  r.set_role("writer");
  r.set_stream(stream_);
  r.set_applied_seq(applied());
  r.set_log_last_seq(applied());
  r.set_caught_up(true);
  r.set_fenced(fenced_.load());
  if (r.fenced()) r.set_detail("fenced: another writer appended to the log");
  return r;
}

// --- LogReader.

LogReader::LogReader(std::unique_ptr<changelog::ChangeLog> log, engine::Engine* engine,
                     std::string stream, const ReaderOptions& options)
    : log_(std::move(log)), engine_(engine), stream_(std::move(stream)), options_(options) {}

absl::StatusOr<std::unique_ptr<LogReader>> LogReader::Start(
    std::unique_ptr<changelog::ChangeLog> log, engine::Engine* engine, std::string stream,
    const ReaderOptions& options) {
  LINKD_ASSIGN_OR_RETURN(index::Store::LogPosition pos, PositionFor(engine, stream));
  if (pos.stream.empty()) {
    LINKD_RETURN_IF_ERROR(engine->store()->SetLogPosition({.seq = pos.seq, .stream = stream}));
  }
  auto r =
      std::unique_ptr<LogReader>(new LogReader(std::move(log), engine, std::move(stream), options));
  r->Advance(pos.seq);
  LogReader* raw = r.get();
  r->thread_ = std::thread([raw] { raw->Run(); });
  Log("info", "log_reader_started",
      {Str("stream", r->stream_), Int("applied_seq", static_cast<int64_t>(pos.seq))});
  return r;
}

LogReader::~LogReader() { Stop(); }

void LogReader::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void LogReader::Run() {
  std::unique_ptr<changelog::ChangeLog::Cursor> cursor;
  absl::Time state_checked = absl::InfinitePast();
  // The log's end is asked for well within max_lag, so that a reader in
  // touch never looks out of touch between two asks.
  const absl::Duration probe = std::min(absl::Seconds(1), options_.max_lag / 4);
  // A cursor that delivers nothing while the log is ahead (its consumer's
  // server went away while this reader stayed connected elsewhere) is
  // replaced after this long.
  const absl::Duration stalled = absl::Seconds(5);
  absl::Time delivered = absl::Now();
  auto trouble = [this](std::string* slot, std::string why) {
    absl::MutexLock lock(&mu_);
    if (why != *slot) Log("error", "log_reader_trouble", {Str("message", why)});
    *slot = std::move(why);
  };
  auto pause = [this](absl::Duration d) {
    for (absl::Time end = absl::Now() + d; !stop_.load() && absl::Now() < end;)
      absl::SleepFor(absl::Milliseconds(20));
  };
  while (!stop_.load()) {
    const uint64_t next = applied() + 1;
    const absl::Time now = absl::Now();
    // Every `probe`: the log's end, which the lag is measured against,
    // and whether the log still holds what this reader needs.
    if (now - state_checked >= probe) {
      state_checked = now;
      absl::StatusOr<changelog::ChangeLog::State> st = log_->GetState();
      if (st.ok()) {
        absl::MutexLock lock(&mu_);
        log_last_ = std::max(log_last_, st->last_seq);
        heard_ = now;
        link_error_.clear();
        truncated_.clear();
        if (applied_ > st->last_seq) {
          truncated_ =
              absl::StrCat("this reader has applied change ", applied_, " but the log ends at ",
                           st->last_seq, ": the stream was recreated; bootstrap this reader again");
        } else if (st->messages > 0 && next < st->first_seq) {
          truncated_ = absl::StrCat("the log no longer holds change ", next, " (its first is ",
                                    st->first_seq, "): bootstrap this reader from a newer backup");
        }
        NoteBehindLocked(now);
      } else {
        absl::MutexLock lock(&mu_);
        link_error_ = std::string(st.status().message());
      }
    }
    if (cursor != nullptr && absl::Now() - delivered > stalled) {
      absl::MutexLock lock(&mu_);
      if (log_last_ > applied_) {
        link_error_ = absl::StrCat("no change delivered for ", absl::FormatDuration(stalled),
                                   " while the log is ahead: following it again");
        cursor.reset();
      }
    }
    if (cursor == nullptr) {
      delivered = absl::Now();
      auto c = log_->Follow(next);
      if (!c.ok()) {
        trouble(&link_error_, std::string(c.status().message()));
        pause(absl::Milliseconds(500));
        continue;
      }
      cursor = *std::move(c);
    }
    absl::StatusOr<std::optional<changelog::ChangeLog::Entry>> e =
        cursor->Next(std::min(absl::Milliseconds(200), probe / 2));
    if (!e.ok()) {
      trouble(&link_error_, std::string(e.status().message()));
      cursor.reset();
      pause(absl::Milliseconds(500));
      continue;
    }
    if (!e->has_value()) continue;
    delivered = absl::Now();
    changelog::ChangeLog::Entry& got = **e;
    if (got.seq < next) continue;  // Already applied.
    if (got.seq > next) {
      trouble(&link_error_, absl::StrCat("the log skipped from change ", next, " to ", got.seq));
      cursor.reset();
      pause(absl::Seconds(1));
      continue;
    }
    v1::LogEntry entry;
    absl::Status applied_here =
        entry.ParseFromString(got.bytes)
            ? ApplyEntry(engine_, got.seq, entry.unix_micros(), entry, &stop_)
            : Unreadable(got.seq);
    if (!applied_here.ok()) {
      // Nothing is skipped: the same change is tried again (a full disk
      // passes; a change this build refuses needs the writer's version).
      trouble(&apply_error_,
              absl::StrCat("change ", got.seq, " not applied: ", applied_here.message()));
      cursor.reset();
      pause(absl::Seconds(1));
      continue;
    }
    Advance(got.seq);
    absl::MutexLock lock(&mu_);
    const absl::Time t = absl::Now();
    log_last_ = std::max(log_last_, got.seq + got.pending);
    heard_ = t;
    applied_stored_ = absl::FromUnixNanos(got.unix_nanos);
    link_error_.clear();
    apply_error_.clear();
    NoteBehindLocked(t);
  }
}

void LogReader::NoteBehindLocked(absl::Time now) {
  if (log_last_ <= applied_) {
    behind_since_ = absl::InfinitePast();
  } else if (behind_since_ == absl::InfinitePast()) {
    behind_since_ = now;
  }
}

LogReader::Lag LogReader::LagLocked(absl::Time now) const {
  Lag lag;
  lag.changes = log_last_ > applied_ ? log_last_ - applied_ : 0;
  if (lag.changes == 0) return lag;
  // Behind: by the age of the newest change applied, or since first seen
  // behind, whichever is less (a long-idle log's first new change is not
  // an hour of lag; a reader that stopped applying grows on both).
  lag.behind = std::min(now - applied_stored_, now - behind_since_);
  return lag;
}

bool LogReader::CaughtUp() const {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  const Lag lag = LagLocked(now);
  return apply_error_.empty() && truncated_.empty() && now - heard_ <= options_.max_lag &&
         lag.changes <= static_cast<uint64_t>(options_.max_lag_changes) &&
         lag.behind <= options_.max_lag;
}

v1::GetStatsResponse::Replication LogReader::Status() const {
  v1::GetStatsResponse::Replication r;
  const bool caught_up = CaughtUp();
  absl::MutexLock lock(&mu_);
  const Lag lag = LagLocked(absl::Now());
  r.set_role("reader");
  r.set_stream(stream_);
  r.set_applied_seq(applied_);
  r.set_log_last_seq(log_last_);
  r.set_lag_changes(lag.changes);
  r.set_lag_seconds(absl::ToDoubleSeconds(lag.behind));
  r.set_caught_up(caught_up);
  for (const std::string* d : {&truncated_, &apply_error_, &link_error_}) {
    if (!d->empty()) {
      r.set_detail(*d);
      break;
    }
  }
  return r;
}

}  // namespace linkage::service
