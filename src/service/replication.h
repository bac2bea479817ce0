// The service's side of the replicated change log (DESIGN §11): the
// writer, which puts every change through the log before it applies it,
// the reader, which applies the log's changes as they come, and the one
// function both apply an entry with. Internal to the service layer.
//
// Writer: a change is checked, published (expected-last-sequence, so a
// second writer is fenced), acknowledged by JetStream, then applied here
// with its sequence number in the same WriteBatch, then answered. A crash
// between publish and apply is repaired at the next start, which applies
// the log's tail first: the log is the truth.
// Reader: one thread follows the log from the last change the store
// applied and applies each change with its sequence number in the same
// WriteBatch, so a reader killed at any instant resumes exactly there.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "linkage/change_log.h"
#include "linkage/engine.h"
#include "linkage/v1/replication.pb.h"
#include "linkage/v1/service.pb.h"

namespace linkage::service {

// Applies one log entry to `engine`, recording `seq` with the change (or
// alone, when the change writes nothing). `stop` ends a long apply (a
// reindex) with Cancelled; applying the entry again resumes it.
absl::Status ApplyEntry(engine::Engine* engine, uint64_t seq, int64_t unix_micros,
                        const v1::LogEntry& entry, const std::atomic<bool>* stop);

// What writer and reader share: the position applied, and waiting for it.
class Replica {
 public:
  virtual ~Replica() = default;
  virtual std::string_view role() const = 0;
  uint64_t applied() const;
  // Returns once this node has applied the log up to `seq`; Unavailable
  // (naming both positions) if that has not happened by `deadline`.
  absl::Status WaitFor(uint64_t seq, absl::Time deadline) const;
  // Whether reads here answer as the writer would within the configured
  // lag (readers); a writer is always caught up with its own log.
  virtual bool CaughtUp() const = 0;
  virtual v1::GetStatsResponse::Replication Status() const = 0;
  // Ends the reader's thread; idempotent.
  virtual void Stop() {}

 protected:
  void Advance(uint64_t seq);
  mutable absl::Mutex mu_;
  uint64_t applied_ ABSL_GUARDED_BY(mu_) = 0;
};

class LogWriter final : public Replica {
 public:
  // Takes over `log` for `engine`'s store: checks the store follows this
  // stream (or none yet), applies every change in the log the store has
  // not applied (a crash between publish and apply, or another writer's
  // changes), and records the stream. Errors: the store follows another
  // stream, or is ahead of the log (the log was replaced), or the log no
  // longer holds the changes the store lacks.
  static absl::StatusOr<std::unique_ptr<LogWriter>> Start(std::unique_ptr<changelog::ChangeLog> log,
                                                          engine::Engine* engine,
                                                          std::string stream);

  std::string_view role() const override { return "writer"; }
  bool CaughtUp() const override { return true; }
  v1::GetStatsResponse::Replication Status() const override;

  // Puts one change through the log and applies it, one change at a time
  // (the log's order is the order applied here). `apply` makes the engine
  // call with the hook it is given; the hook fills in `entry`'s writer and
  // time, publishes it and answers the tag to write it with. Returns the
  // change's sequence number, 0 when `apply` finished without publishing
  // (it refused the change, or there was nothing to write). Errors:
  // apply's own (nothing published); FailedPrecondition when fenced (a
  // second writer appended; nothing is accepted from then on);
  // Unavailable when the log's outcome is unknown or the change is in
  // the log but could not be applied here yet (it will be, before the
  // next change: the log is the truth).
  absl::StatusOr<uint64_t> Commit(
      v1::LogEntry entry, const std::function<absl::Status(const engine::WriteHook&)>& apply);

 private:
  LogWriter(std::unique_ptr<changelog::ChangeLog> log, engine::Engine* engine, std::string stream);
  // Applies the log's entries after the store's position; with
  // `fence_others`, another writer's entry fences this one instead.
  absl::Status CatchUpLocked(bool fence_others) ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);

  std::unique_ptr<changelog::ChangeLog> log_;
  engine::Engine* engine_;
  const std::string stream_;
  const std::string id_;           // host:pid:start, in every entry's `writer`.
  const bool crash_after_append_;  // LINKD_FAILPOINT=crash_after_log_append (tests).
  absl::Mutex commit_mu_;
  uint64_t last_seq_ ABSL_GUARDED_BY(commit_mu_) = 0;  // The log's last entry, as known.
  // Counts this writer's changes: each gets its own message id, so the
  // log's duplicate check can only ever match a retry of the same change.
  uint64_t changes_ ABSL_GUARDED_BY(commit_mu_) = 0;
  bool behind_ ABSL_GUARDED_BY(commit_mu_) = false;  // The log may hold what is not applied.
  std::atomic<bool> fenced_{false};
  std::string fence_reason_ ABSL_GUARDED_BY(commit_mu_);
};

struct ReaderOptions {
  int64_t max_lag_changes = 1000;
  absl::Duration max_lag = absl::Seconds(10);
};

class LogReader final : public Replica {
 public:
  // Checks the store follows `stream` (or none yet) and starts following
  // the log from the change after the store's position.
  static absl::StatusOr<std::unique_ptr<LogReader>> Start(std::unique_ptr<changelog::ChangeLog> log,
                                                          engine::Engine* engine,
                                                          std::string stream,
                                                          const ReaderOptions& options);
  ~LogReader() override;

  std::string_view role() const override { return "reader"; }
  bool CaughtUp() const override;
  v1::GetStatsResponse::Replication Status() const override;
  void Stop() override;

 private:
  LogReader(std::unique_ptr<changelog::ChangeLog> log, engine::Engine* engine, std::string stream,
            const ReaderOptions& options);
  void Run();
  // The lag as of now, under mu_.
  struct Lag {
    uint64_t changes = 0;
    absl::Duration behind;
  };
  Lag LagLocked(absl::Time now) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  std::unique_ptr<changelog::ChangeLog> log_;
  engine::Engine* engine_;
  const std::string stream_;
  const ReaderOptions options_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  // The log's last change, as heard, and when it was last heard from.
  uint64_t log_last_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time heard_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // When the last change applied was stored in the log, and since when
  // this reader has been behind without a break.
  absl::Time applied_stored_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time behind_since_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // What is wrong, in words, if anything: the link to the log (cleared by
  // the next entry or contact), the last change refused here (cleared
  // when it applies), the log no longer holding the next change.
  std::string link_error_ ABSL_GUARDED_BY(mu_);
  std::string apply_error_ ABSL_GUARDED_BY(mu_);
  std::string truncated_ ABSL_GUARDED_BY(mu_);
  void NoteBehindLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
};

}  // namespace linkage::service
