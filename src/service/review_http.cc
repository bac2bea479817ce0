#include "review_http.h"

#include <google/protobuf/util/json_util.h>
#include <httplib.h>

#include <functional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "context.h"
#include "linkage_review_page.h"
#include "log.h"
#include "review_desk.h"

namespace linkage::service {
namespace {

constexpr size_t kMaxBody = 64 << 10;

// The page may load only what linkd itself serves, and talk only to it.
constexpr char kCsp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

int HttpStatus(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

// A JSON string literal of `s` (principal names, messages).
std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      absl::StrAppend(&out, "\\u00", std::string(1, "0123456789abcdef"[c >> 4]),
                      std::string(1, "0123456789abcdef"[c & 15]));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  return out;
}

void Fail(httplib::Response& res, const absl::Status& st) {
  res.status = HttpStatus(st.code());
  res.set_content(absl::StrCat("{\"code\":", JsonQuote(absl::StatusCodeToString(st.code())),
                               ",\"message\":", JsonQuote(SV(st.message())), "}"),
                  "application/json");
}

bool IsLoopback(const std::string& addr) {
  return absl::StartsWith(addr, "127.") || addr == "::1" || absl::StartsWith(addr, "::ffff:127.");
}

// The caller's principal for `method`, as the gRPC method of that name
// would admit it.
absl::StatusOr<std::string> Admit(ServiceContext* ctx, bool tls, const httplib::Request& req,
                                  std::string_view method) {
  if (ctx->auth == nullptr) {
    // No policy, no credentials: the desk then answers this machine only
    // (like the gRPC port, off loopback only with --insecure), and only a
    // page it served itself: a Host that is not a loopback name is a page
    // of another site rebound to this address (DNS rebinding).
    if (!IsLoopback(req.remote_addr) && !ctx->config.insecure()) {
      return absl::PermissionDeniedError(
          "without an access policy (--auth) the review desk answers this machine only");
    }
    std::string host = req.get_header_value("Host");
    if (absl::StartsWith(host, "[")) {
      host = host.substr(0, host.find(']') + 1);
    } else {
      host = host.substr(0, host.find(':'));
    }
    if (!ctx->config.insecure() && host != "localhost" && host != "[::1]" &&
        !absl::StartsWith(host, "127.")) {
      return absl::PermissionDeniedError(
          "without an access policy the review desk answers pages of localhost / 127.0.0.1 only");
    }
    return std::string("anonymous");
  }
  std::string token;
  const std::string header = req.get_header_value("Authorization");
  if (absl::StartsWith(header, "Bearer ")) token = header.substr(7);
  if (!token.empty() && !tls && !IsLoopback(req.remote_addr)) {
    return absl::UnauthenticatedError(
        "the review desk's port is plaintext: a token is accepted only from this machine "
        "(open the page through kubectl port-forward or an SSH tunnel, or run linkd with "
        "--metrics-tls)");
  }
  return ctx->auth->Admit(absl::StrCat("/linkage.v1.ReviewService/", AV(method)), token, "",
                          /*secure=*/true);
}

template <typename Request, typename Response>
using DeskFn =
    std::function<absl::StatusOr<Response>(ReviewDesk&, const Request&, const std::string&)>;

// One API route: the checks every call gets, the body parsed into
// `Request`, the desk call, the answer as JSON.
template <typename Request, typename Response>
void Route(httplib::Server* http, ServiceContext* ctx, bool tls, const std::string& path,
           std::string method, DeskFn<Request, Response> fn) {
  http->Post(path, [ctx, tls, method, fn](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Content-Type-Options", "nosniff");
    if (req.get_header_value("X-Linkd-Desk") != "1" ||
        !absl::StartsWith(req.get_header_value("Content-Type"), "application/json")) {
      Fail(res, absl::PermissionDeniedError(
                    "a review desk call needs the X-Linkd-Desk: 1 header and a JSON body"));
      return;
    }
    if (req.body.size() > kMaxBody) {
      Fail(res, absl::OutOfRangeError("request body over 64 KiB"));
      return;
    }
    if (ctx->review == nullptr) {
      Fail(res, absl::UnavailableError("the review desk is not open"));
      return;
    }
    absl::StatusOr<std::string> principal = Admit(ctx, tls, req, method);
    if (!principal.ok()) {
      Fail(res, principal.status());
      return;
    }
    Request request;
    google::protobuf::util::JsonParseOptions po;
    po.ignore_unknown_fields = false;
    if (auto st = google::protobuf::util::JsonStringToMessage(
            req.body.empty() ? std::string("{}") : req.body, &request, po);
        !st.ok()) {
      Fail(res, absl::InvalidArgumentError(absl::StrCat("request body: ", st.ToString())));
      return;
    }
    absl::StatusOr<Response> answer = fn(*ctx->review, request, *principal);
    if (!answer.ok()) {
      Fail(res, answer.status());
      return;
    }
    google::protobuf::util::JsonPrintOptions jo;
    jo.always_print_primitive_fields = true;
    jo.preserve_proto_field_names = true;
    std::string json;
    if (auto st = google::protobuf::util::MessageToJsonString(*answer, &json, jo); !st.ok()) {
      Fail(res, absl::InternalError("answer could not be written as JSON"));
      return;
    }
    res.set_content(json, "application/json");
  });
}

void Static(httplib::Server* http, const std::string& path, std::string_view body,
            const char* type) {
  http->Get(path, [body, type](const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Security-Policy", kCsp);
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::string(body), type);
  });
}

}  // namespace

void AddReviewRoutes(httplib::Server* http, ServiceContext* ctx, bool tls) {
  http->set_payload_max_length(kMaxBody);
  http->Get("/review",
            [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/review/"); });
  Static(http, "/review/", data::k_index_html, "text/html; charset=utf-8");
  Static(http, "/review/app.js", data::k_app_js, "text/javascript; charset=utf-8");
  Static(http, "/review/app.css", data::k_app_css, "text/css; charset=utf-8");
  http->Post(
      "/review/api/session", [ctx, tls](const httplib::Request& req, httplib::Response& res) {
        res.set_header("Cache-Control", "no-store");
        absl::StatusOr<std::string> principal = Admit(ctx, tls, req, "ListReview");
        if (!principal.ok()) {
          Fail(res, principal.status());
          return;
        }
        res.set_content(absl::StrCat("{\"principal\":", JsonQuote(*principal),
                                     ",\"policy\":", ctx->auth != nullptr ? "true" : "false", "}"),
                        "application/json");
      });
  Route<v1::ListReviewDatasetsRequest, v1::ListReviewDatasetsResponse>(
      http, ctx, tls, "/review/api/datasets", "ListReviewDatasets",
      [](ReviewDesk& d, const v1::ListReviewDatasetsRequest&, const std::string&) {
        return d.Datasets();
      });
  Route<v1::ListReviewRequest, v1::ListReviewResponse>(
      http, ctx, tls, "/review/api/list", "ListReview",
      [](ReviewDesk& d, const v1::ListReviewRequest& r, const std::string& p) {
        return d.List(r, p);
      });
  Route<v1::GetReviewItemRequest, v1::GetReviewItemResponse>(
      http, ctx, tls, "/review/api/item", "GetReviewItem",
      [](ReviewDesk& d, const v1::GetReviewItemRequest& r, const std::string& p) {
        return d.Get(r, p);
      });
  Route<v1::DecideReviewRequest, v1::DecideReviewResponse>(
      http, ctx, tls, "/review/api/decide", "DecideReview",
      [](ReviewDesk& d, const v1::DecideReviewRequest& r, const std::string& p) {
        return d.Decide(r, p);
      });
  Route<v1::UndoReviewRequest, v1::UndoReviewResponse>(
      http, ctx, tls, "/review/api/undo", "UndoReview",
      [](ReviewDesk& d, const v1::UndoReviewRequest& r, const std::string& p) {
        return d.Undo(r, p);
      });
  Route<v1::GetReviewCalibrationRequest, v1::GetReviewCalibrationResponse>(
      http, ctx, tls, "/review/api/calibration", "GetReviewCalibration",
      [](ReviewDesk& d, const v1::GetReviewCalibrationRequest& r, const std::string&) {
        return d.Calibration(r);
      });
}

}  // namespace linkage::service
