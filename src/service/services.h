// The gRPC service implementations. Thin: decode, check limits, run the core
// call on the worker pool, convert the status. Internal to the service layer.
#pragma once

#include <atomic>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "linkage/engine.h"
#include "linkage/v1/config.pb.h"
#include "linkage/v1/service.grpc.pb.h"
#include "worker_pool.h"

namespace linkage::service {

// canonical absl codes and gRPC codes share their numbers.
grpc::Status ToGrpc(const absl::Status& status);

// What the services share: the core, the pool, limits and counters.
struct ServiceContext {
  engine::Engine* engine = nullptr;
  std::atomic<bool> training{false};  // A TrainModel or Reindex call is running.
  std::atomic<int64_t> reindex_total{0};
  std::atomic<int> background{0};  // Threads outside the pool still running.
  WorkerPool* pool = nullptr;
  v1::ServerConfig config;  // With defaults filled in.
  absl::Time started = absl::Now();
  std::atomic<bool> shutting_down{false};

  void Count(const std::string& method);
  std::map<std::string, int64_t> Counts() const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, int64_t> calls_ ABSL_GUARDED_BY(mu_);
};

class LinkageServiceImpl final : public v1::LinkageService::CallbackService {
 public:
  explicit LinkageServiceImpl(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* Match(grpc::CallbackServerContext* call,
                                  const v1::MatchRequest* request,
                                  v1::MatchResponse* response) override;
  grpc::ServerUnaryReactor* Verify(grpc::CallbackServerContext* call,
                                   const v1::VerifyRequest* request,
                                   v1::VerifyResponse* response) override;
  grpc::ServerBidiReactor<v1::MatchStreamRequest, v1::MatchStreamResponse>* MatchStream(
      grpc::CallbackServerContext* call) override;
  grpc::ServerBidiReactor<v1::MatchBatchRequest, v1::MatchBatchResponse>* MatchBatchStream(
      grpc::CallbackServerContext* call) override;
  grpc::ServerUnaryReactor* UpsertRecords(grpc::CallbackServerContext* call,
                                          const v1::UpsertRecordsRequest* request,
                                          v1::UpsertRecordsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteRecord(grpc::CallbackServerContext* call,
                                         const v1::DeleteRecordRequest* request,
                                         v1::DeleteRecordResponse* response) override;
  grpc::ServerUnaryReactor* GetRecord(grpc::CallbackServerContext* call,
                                      const v1::GetRecordRequest* request,
                                      v1::GetRecordResponse* response) override;

 private:
  ServiceContext* ctx_;
};

class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  explicit AdminServiceImpl(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* call,
                                     const v1::GetStatsRequest* request,
                                     v1::GetStatsResponse* response) override;
  grpc::ServerUnaryReactor* GetModel(grpc::CallbackServerContext* call,
                                     const v1::GetModelRequest* request,
                                     v1::GetModelResponse* response) override;
  grpc::ServerUnaryReactor* CheckIndex(grpc::CallbackServerContext* call,
                                       const v1::CheckIndexRequest* request,
                                       v1::CheckIndexResponse* response) override;
  grpc::ServerUnaryReactor* SetModel(grpc::CallbackServerContext* call,
                                     const v1::SetModelRequest* request,
                                     v1::SetModelResponse* response) override;
  grpc::ServerUnaryReactor* TrainModel(grpc::CallbackServerContext* call,
                                       const v1::TrainModelRequest* request,
                                       v1::TrainModelResponse* response) override;
  grpc::ServerUnaryReactor* Reindex(grpc::CallbackServerContext* call,
                                    const v1::ReindexRequest* request,
                                    v1::ReindexResponse* response) override;
  grpc::ServerUnaryReactor* FindDuplicates(grpc::CallbackServerContext* call,
                                           const v1::FindDuplicatesRequest* request,
                                           v1::FindDuplicatesResponse* response) override;
  grpc::ServerUnaryReactor* FindConflicts(grpc::CallbackServerContext* call,
                                          const v1::FindConflictsRequest* request,
                                          v1::FindConflictsResponse* response) override;

 private:
  ServiceContext* ctx_;
};

}  // namespace linkage::service
