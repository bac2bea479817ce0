#include "review_service.h"

#include "principal.h"
#include "review_desk.h"

namespace linkage::service {
namespace {

// Runs one desk call on the pool: the principal is read first, on the
// call's own thread (principal.h), and the answer moved into `response`.
template <typename Request, typename Response, typename Fn>
grpc::ServerUnaryReactor* DeskCall(ServiceContext* ctx, grpc::CallbackServerContext* call,
                                   const char* method, const Request* request, Response* response,
                                   Fn fn) {
  std::string principal = PrincipalName(*call);
  return OnPool(ctx, call, method,
                [ctx, request, response, fn, principal = std::move(principal)]() -> absl::Status {
                  if (ctx->review == nullptr)
                    return absl::UnavailableError("the review desk is not open");
                  absl::StatusOr<Response> r = fn(*ctx->review, *request, principal);
                  if (!r.ok()) return r.status();
                  *response = std::move(*r);
                  return absl::OkStatus();
                });
}

}  // namespace

grpc::ServerUnaryReactor* ReviewServiceImpl::ListReviewDatasets(
    grpc::CallbackServerContext* call, const v1::ListReviewDatasetsRequest* request,
    v1::ListReviewDatasetsResponse* response) {
  return DeskCall(ctx_, call, "ListReviewDatasets", request, response,
                  [](ReviewDesk& d, const v1::ListReviewDatasetsRequest&, const std::string&) {
                    return d.Datasets();
                  });
}

grpc::ServerUnaryReactor* ReviewServiceImpl::ListReview(grpc::CallbackServerContext* call,
                                                        const v1::ListReviewRequest* request,
                                                        v1::ListReviewResponse* response) {
  return DeskCall(ctx_, call, "ListReview", request, response,
                  [](ReviewDesk& d, const v1::ListReviewRequest& r, const std::string& p) {
                    return d.List(r, p);
                  });
}

grpc::ServerUnaryReactor* ReviewServiceImpl::GetReviewItem(grpc::CallbackServerContext* call,
                                                           const v1::GetReviewItemRequest* request,
                                                           v1::GetReviewItemResponse* response) {
  return DeskCall(ctx_, call, "GetReviewItem", request, response,
                  [](ReviewDesk& d, const v1::GetReviewItemRequest& r, const std::string& p) {
                    return d.Get(r, p);
                  });
}

grpc::ServerUnaryReactor* ReviewServiceImpl::DecideReview(grpc::CallbackServerContext* call,
                                                          const v1::DecideReviewRequest* request,
                                                          v1::DecideReviewResponse* response) {
  return DeskCall(ctx_, call, "DecideReview", request, response,
                  [](ReviewDesk& d, const v1::DecideReviewRequest& r, const std::string& p) {
                    return d.Decide(r, p);
                  });
}

grpc::ServerUnaryReactor* ReviewServiceImpl::UndoReview(grpc::CallbackServerContext* call,
                                                        const v1::UndoReviewRequest* request,
                                                        v1::UndoReviewResponse* response) {
  return DeskCall(ctx_, call, "UndoReview", request, response,
                  [](ReviewDesk& d, const v1::UndoReviewRequest& r, const std::string& p) {
                    return d.Undo(r, p);
                  });
}

grpc::ServerUnaryReactor* ReviewServiceImpl::GetReviewCalibration(
    grpc::CallbackServerContext* call, const v1::GetReviewCalibrationRequest* request,
    v1::GetReviewCalibrationResponse* response) {
  return DeskCall(ctx_, call, "GetReviewCalibration", request, response,
                  [](ReviewDesk& d, const v1::GetReviewCalibrationRequest& r, const std::string&) {
                    return d.Calibration(r);
                  });
}

}  // namespace linkage::service
