// What every handler of the gRPC services shares: the ServiceContext (core,
// pool, limits, counters) and the two ways a call runs, on the worker pool
// (OnPool) or as a long admin job on its own thread (InBackground). Internal
// to the service layer.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "auth.h"
#include "linkage/audit.h"
#include "linkage/engine.h"
#include "linkage/v1/config.pb.h"
#include "linkage/v1/replication.pb.h"
#include "worker_pool.h"

namespace linkage::service {

// canonical absl codes and gRPC codes share their numbers.
grpc::Status ToGrpc(const absl::Status& status);

// What the services share: the core, the pool, limits and counters.
class Metrics;
class Replica;
class LogWriter;
class ReviewDesk;

// The long admin jobs (InBackground: TrainModel, Reindex, Backup,
// FindDuplicates, FindConflicts) as monitoring sees them: whether one runs,
// how far it got, when each kind last succeeded and failed, and how each
// run ended. Keyed by the job's RPC name, a fixed set.
class JobBoard {
 public:
  struct Job {
    bool running = false;
    // Of the running (or last) run, in the job's own units (records,
    // EM iterations, bytes); total 0 while unknown.
    int64_t done = 0, total = 0;
    absl::Time started = absl::InfinitePast();
    absl::Time last_success = absl::InfinitePast();
    absl::Time last_failure = absl::InfinitePast();
    // Runs by outcome: the canonical status code name (OK, CANCELLED, ...).
    std::map<std::string, int64_t> outcomes;
  };

  // Reads the times of the last success and failure kept in `store`'s
  // meta (so a restart does not make "no backup for a day" look true or
  // false), and keeps them there from now on. Without it they live in
  // memory only.
  void Attach(index::Store* store);

  void Started(const std::string& job);
  void Progress(const std::string& job, int64_t done, int64_t total);
  void Finished(const std::string& job, const absl::Status& outcome);
  std::map<std::string, Job> Snapshot() const;

 private:
  mutable absl::Mutex mu_;
  index::Store* store_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::map<std::string, Job> jobs_ ABSL_GUARDED_BY(mu_);
};

struct ServiceContext {
  engine::Engine* engine = nullptr;
  // Every call that reads or writes a person appends to it (audit.h);
  // null only where no server runs (tools, some tests).
  audit::AuditLog* audit = nullptr;
  std::atomic<bool> training{false};  // A TrainModel or Reindex call is running.
  std::atomic<int64_t> reindex_total{0};
  std::atomic<int> background{0};  // Threads outside the pool still running.
  WorkerPool* pool = nullptr;
  v1::ServerConfig config;  // With defaults filled in.
  // The access policy; null without one (every caller anonymous, no
  // per-principal limits).
  Authorizer* auth = nullptr;
  // Prometheus counters (metrics.h); null without metrics_listen.
  Metrics* metrics = nullptr;
  // The replicated log (replication.h): null for a standalone node; the
  // writer's or the reader's side of it otherwise. `writer` is set on a
  // writer only.
  Replica* replica = nullptr;
  LogWriter* writer = nullptr;
  // The review desk (review_desk.h); null only where no server runs.
  ReviewDesk* review = nullptr;
  absl::Time started = absl::Now();
  std::atomic<bool> shutting_down{false};
  JobBoard jobs;

  void Count(const std::string& method);
  std::map<std::string, int64_t> Counts() const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, int64_t> calls_ ABSL_GUARDED_BY(mu_);
};

// Charges `records` to the caller's records_per_second limit (auth.h);
// RESOURCE_EXHAUSTED over it, OK without a policy.
absl::Status ChargeRecords(ServiceContext* ctx, const grpc::CallbackServerContext& call,
                           int64_t records);

// Cuts `result`'s candidates to the caller's max_candidates_per_query
// (nothing without a policy).
void CapCandidates(ServiceContext* ctx, const grpc::CallbackServerContext& call,
                   v1::MatchResult* result);

// FailedPrecondition on a read replica (writes go to the writer), naming
// the role; OK elsewhere.
absl::Status CheckWritable(const ServiceContext* ctx);

// Runs one change: on a writer through its log (LogWriter::Commit: `apply`
// gets the hook that publishes the change), elsewhere directly (`apply`
// gets an empty hook). Returns the change's log sequence number (0
// without a log or when nothing was published).
absl::StatusOr<uint64_t> CommitChange(
    ServiceContext* ctx, v1::LogEntry entry,
    const std::function<absl::Status(const engine::WriteHook&)>& apply);

// Read-your-writes (min_log_seq): returns once this node has applied the
// log up to `seq`, waiting at most max_log_wait_ms and never past the
// call's deadline (then UNAVAILABLE). OK at once for seq 0; on a
// standalone node, INVALID_ARGUMENT for any other seq.
absl::Status AwaitLogSeq(const ServiceContext* ctx, const grpc::CallbackServerContext& call,
                         uint64_t seq);

// InvalidArgument unless `dataset` is a valid dataset name.
absl::Status CheckDataset(const std::string& dataset);

bool DeadlinePassed(grpc::CallbackServerContext* call);

// Runs `work` on the pool and finishes the call with its status. Nothing
// heavy runs on gRPC's threads.
grpc::ServerUnaryReactor* OnPool(ServiceContext* ctx, grpc::CallbackServerContext* call,
                                 const char* method, std::function<absl::Status()> work);

// Runs `work` on the pool, for a call that reads or writes a person: `work`
// fills the response and, unless it refuses the call before looking
// anything up, the call's audit entry (audit.h). The entry is appended with
// work's outcome as its status, and the call finishes once the entry is
// durable, from the audit log's syncer thread, so the worker goes on to
// the next call meanwhile. An entry that cannot be written replaces the
// answer by an error (audit.h, Audited).
grpc::ServerUnaryReactor* OnPoolAudited(
    ServiceContext* ctx, grpc::CallbackServerContext* call, const char* method,
    std::function<absl::Status(std::optional<v1::AuditEntry>* entry)> work);

// OnPool and OnPoolAudited: exactly one of work, audited_work.
grpc::ServerUnaryReactor* OnPool(
    ServiceContext* ctx, grpc::CallbackServerContext* call, const char* method,
    std::function<absl::Status()> work,
    std::function<absl::Status(std::optional<v1::AuditEntry>* entry)> audited_work);

// Runs a long admin job (training, reindex, duplicates, conflicts) on its
// own thread so the scoring workers keep answering queries; one such job at
// a time. The job gets a stop flag that becomes true when the call is
// cancelled, its deadline passes or linkd shuts down; every job checks it
// between steps, so a stop takes effect within a fraction of a second.
grpc::ServerUnaryReactor* InBackground(ServiceContext* ctx, grpc::CallbackServerContext* call,
                                       const char* method,
                                       std::function<absl::Status(const std::atomic<bool>*)> job);

}  // namespace linkage::service
