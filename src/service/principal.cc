#include "principal.h"

#include "auth.h"

namespace linkage::service {
namespace {

std::string NameOn(const grpc::ServerContextBase& ctx) {
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (auth != nullptr) {
    std::vector<grpc::string_ref> values = auth->FindPropertyValues(kPrincipalProperty);
    if (!values.empty()) return std::string(values[0].data(), values[0].size());
  }
  return "anonymous";
}

}  // namespace

std::string PrincipalName(const grpc::ServerContext& ctx) { return NameOn(ctx); }
std::string PrincipalName(const grpc::CallbackServerContext& ctx) { return NameOn(ctx); }

}  // namespace linkage::service
