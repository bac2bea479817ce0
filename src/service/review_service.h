// linkage.v1.ReviewService: the review desk over gRPC (the REVIEW role),
// each call a thin wrapper over ReviewDesk (review_desk.h), which audits.
// Internal to the service layer.
#pragma once

#include "context.h"
#include "linkage/v1/service.grpc.pb.h"

namespace linkage::service {

class ReviewServiceImpl final : public v1::ReviewService::CallbackService {
 public:
  explicit ReviewServiceImpl(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* ListReviewDatasets(grpc::CallbackServerContext* call,
                                               const v1::ListReviewDatasetsRequest* request,
                                               v1::ListReviewDatasetsResponse* response) override;
  grpc::ServerUnaryReactor* ListReview(grpc::CallbackServerContext* call,
                                       const v1::ListReviewRequest* request,
                                       v1::ListReviewResponse* response) override;
  grpc::ServerUnaryReactor* GetReviewItem(grpc::CallbackServerContext* call,
                                          const v1::GetReviewItemRequest* request,
                                          v1::GetReviewItemResponse* response) override;
  grpc::ServerUnaryReactor* DecideReview(grpc::CallbackServerContext* call,
                                         const v1::DecideReviewRequest* request,
                                         v1::DecideReviewResponse* response) override;
  grpc::ServerUnaryReactor* UndoReview(grpc::CallbackServerContext* call,
                                       const v1::UndoReviewRequest* request,
                                       v1::UndoReviewResponse* response) override;
  grpc::ServerUnaryReactor* GetReviewCalibration(
      grpc::CallbackServerContext* call, const v1::GetReviewCalibrationRequest* request,
      v1::GetReviewCalibrationResponse* response) override;

 private:
  ServiceContext* ctx_;
};

}  // namespace linkage::service
