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
// a caller cannot set it. Takes the base of both context kinds (the callback
// API's CallbackServerContext is not a grpc::ServerContext). gRPC makes a
// call's AuthContext lazily and without a lock: call it first from the
// call's own thread (a stream reactor's constructor), not first from pool
// tasks.
std::string PrincipalName(const grpc::ServerContextBase& ctx);

}  // namespace linkage::service
