// Who is calling: the principal linkd's access policy authenticated for a
// call (auth.h). For handlers, logs and the audit log.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

namespace linkage::service {

// The authenticated principal's name (as the policy file spells it), or
// "anonymous" when linkd runs without an access policy (--auth), and for
// calls that need no credentials (health checks). The name is what
// AuthProcessor recorded on the call's AuthContext (kPrincipalProperty);
// a caller cannot set it.
std::string PrincipalName(const grpc::ServerContext& ctx);
// The same for the callback API's calls.
std::string PrincipalName(const grpc::CallbackServerContext& ctx);

}  // namespace linkage::service
