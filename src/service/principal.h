// Who is calling: the name of the principal the auth policy matched for a
// call. Internal to the service layer; the audit log records it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

namespace linkage::service {

// The caller's principal name; "anonymous" while linkd runs without an
// auth policy. Takes the base of both context kinds (the callback API's
// CallbackServerContext is not a grpc::ServerContext).
std::string PrincipalName(const grpc::ServerContextBase& ctx);

}  // namespace linkage::service
