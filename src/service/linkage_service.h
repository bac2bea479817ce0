// linkage.v1.LinkageService: matching, verification and record writes.
// Thin: decode, check limits, run the core call on the worker pool, convert
// the status. Internal to the service layer.
#pragma once

#include "context.h"
#include "linkage/v1/service.grpc.pb.h"

namespace linkage::service {

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

}  // namespace linkage::service
