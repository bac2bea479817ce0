// linkage.v1.AuditService: listing, verifying and exporting the audit log
// (the AUDIT role). Internal to the service layer.
#pragma once

#include "context.h"
#include "linkage/v1/service.grpc.pb.h"

namespace linkage::service {

class AuditServiceImpl final : public v1::AuditService::CallbackService {
 public:
  explicit AuditServiceImpl(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::ServerWriteReactor<v1::AuditRecord>* ListAudit(
      grpc::CallbackServerContext* call, const v1::ListAuditRequest* request) override;
  grpc::ServerUnaryReactor* VerifyAudit(grpc::CallbackServerContext* call,
                                        const v1::VerifyAuditRequest* request,
                                        v1::VerifyAuditResponse* response) override;
  grpc::ServerWriteReactor<v1::AuditRecord>* ExportAudit(
      grpc::CallbackServerContext* call, const v1::ExportAuditRequest* request) override;

 private:
  ServiceContext* ctx_;
};

}  // namespace linkage::service
