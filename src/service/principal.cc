// Without an auth policy every caller is the same principal. The policy's
// implementation (certificate identity, bearer token) replaces this file.
#include "principal.h"

namespace linkage::service {

std::string PrincipalName(const grpc::ServerContextBase& /*ctx*/) { return "anonymous"; }

}  // namespace linkage::service
