// The review desk's page and its JSON API, on linkd's HTTP port
// (--metrics-listen) under /review/. Internal to the service layer.
//
//   GET  /review/                 the page (HTML, CSS and JavaScript
//                                 embedded in the binary; nothing is
//                                 fetched from anywhere else)
//   POST /review/api/session      {} -> who the caller is, whether a policy
//                                 is in force
//   POST /review/api/datasets     {} -> the lists on the desk, with counts
//   POST /review/api/list         ListReviewRequest -> ListReviewResponse
//   POST /review/api/item         GetReviewItemRequest -> ...Response
//   POST /review/api/decide       DecideReviewRequest -> ...Response
//   POST /review/api/undo         UndoReviewRequest -> ...Response
//   POST /review/api/calibration  GetReviewCalibrationRequest -> ...Response
//
// Bodies are the review.proto messages in protobuf's JSON mapping (field
// names as in the .proto). Each API call is authorized as the gRPC method
// of the same name would be (ReviewService, the REVIEW role): with an
// access policy, an `Authorization: Bearer TOKEN` header naming a
// principal that holds REVIEW. On a plaintext port a token is accepted
// only from a loopback peer (a browser on the node, kubectl port-forward,
// an SSH tunnel or a TLS-terminating proxy beside linkd), as gRPC accepts
// tokens only over TLS; with `tls` (--metrics-tls) from any peer. Without
// a policy every caller is "anonymous", so the API answers loopback peers
// only (any peer with --insecure), and only requests whose Host is a
// loopback name (no page of another site rebound to 127.0.0.1). Every call must carry
// `X-Linkd-Desk: 1` and a JSON body, which a page of another origin
// cannot send without a CORS preflight (never answered): no cross-site
// request can decide. Errors: {"code": "NOT_FOUND", "message": ...} with
// the HTTP status of the code.
#pragma once

namespace httplib {
class Server;
}  // namespace httplib

namespace linkage::service {

struct ServiceContext;

void AddReviewRoutes(httplib::Server* http, ServiceContext* ctx, bool tls);

}  // namespace linkage::service
