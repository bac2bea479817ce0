#include "principal.h"

#include "auth.h"

namespace linkage::service {
std::string PrincipalName(const grpc::ServerContextBase& ctx) {
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (auth != nullptr) {
    absl::MutexLock lock(&AuthContextMutex());
    std::vector<grpc::string_ref> values = auth->FindPropertyValues(kPrincipalProperty);
    if (!values.empty()) return std::string(values[0].data(), values[0].size());
  }
  return "anonymous";
}

}  // namespace linkage::service
