// linkage.v1.AdminService: statistics, the model, index checks and the long
// admin jobs (training, reindex, duplicates, conflicts, backups). Internal to the
// service layer.
#pragma once

#include "context.h"
#include "linkage/v1/service.grpc.pb.h"

namespace linkage::service {

class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  explicit AdminServiceImpl(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* call,
                                     const v1::GetStatsRequest* request,
                                     v1::GetStatsResponse* response) override;
  grpc::ServerUnaryReactor* GetReviewLabels(grpc::CallbackServerContext* call,
                                            const v1::GetReviewLabelsRequest* request,
                                            v1::GetReviewLabelsResponse* response) override;
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
  grpc::ServerUnaryReactor* Backup(grpc::CallbackServerContext* call,
                                   const v1::BackupRequest* request,
                                   v1::BackupResponse* response) override;

 private:
  ServiceContext* ctx_;
};

}  // namespace linkage::service
