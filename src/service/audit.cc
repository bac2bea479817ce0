#include "audit.h"

#include "absl/strings/str_cat.h"
#include "linkage/audit.h"
#include "log.h"
#include "metrics.h"
#include "principal.h"

namespace linkage::service {
namespace {

// The digits of an identity number as written (spaces, dots, dashes
// dropped), the form that is hashed.
std::string Digits(std::string_view id) {
  std::string out;
  for (char c : id)
    if (c >= '0' && c <= '9') out.push_back(c);
  return out;
}

}  // namespace

v1::AuditEntry NewEntry(const grpc::ServerContextBase& call, std::string_view method,
                        std::string_view dataset) {
  v1::AuditEntry entry;
  entry.set_principal(PrincipalName(call));
  entry.set_method(std::string(method));
  entry.set_dataset(std::string(dataset));
  return entry;
}

v1::AuditItem QueryItem(const ServiceContext& ctx, const v1::PersonRecord& query) {
  v1::AuditItem item;
  item.set_record_id(query.record_id());
  if (ctx.audit == nullptr) return item;
  // A 9-digit number in national_id is an old CMND (as normalization reads it).
  const std::string cccd = Digits(query.national_id());
  const std::string cmnd = Digits(query.old_id());
  if (cccd.size() == 9) {
    item.set_old_id_hmac(ctx.audit->HashId(absl::StrCat("m:", cccd)));
  } else if (!cccd.empty()) {
    item.set_national_id_hmac(ctx.audit->HashId(absl::StrCat("c:", cccd)));
  }
  if (!cmnd.empty() && item.old_id_hmac().empty())
    item.set_old_id_hmac(ctx.audit->HashId(absl::StrCat("m:", cmnd)));
  return item;
}

void AddResult(const v1::MatchResult& result, v1::AuditItem* item) {
  for (const v1::Candidate& c : result.candidates()) item->add_returned_ids(c.record_id());
  item->set_decision(v1::Band_Name(result.band()));
}

void AddVerification(const v1::Verification& v, v1::AuditItem* item) {
  if (!v.record_id().empty()) item->add_returned_ids(v.record_id());
  if (!v.id_holder().empty() && v.id_holder() != v.record_id())
    item->add_returned_ids(v.id_holder());
  item->set_decision(v1::VerifyDecision_Name(v.decision()));
}

namespace {

// The error a call answers when its entry could not be written.
absl::Status AuditError(const absl::Status& st) {
  Log("error", "audit_failed", {Str("code", absl::StatusCodeToString(st.code()))});
  return absl::Status(st.code() == absl::StatusCode::kResourceExhausted
                          ? absl::StatusCode::kResourceExhausted
                          : absl::StatusCode::kUnavailable,
                      absl::StrCat("the audit log could not be written (", st.message(),
                                   "); the answer is withheld"));
}

}  // namespace

absl::Status Audited(ServiceContext* ctx, v1::AuditEntry entry, absl::Status outcome) {
  if (ctx->metrics != nullptr) ctx->metrics->CountDecisions(entry);
  if (ctx->audit == nullptr) return outcome;
  entry.set_status(absl::StatusCodeToString(outcome.code()));
  absl::Status st = ctx->audit->Append(std::move(entry));
  return st.ok() ? outcome : AuditError(st);
}

void AuditedThen(ServiceContext* ctx, v1::AuditEntry entry, absl::Status outcome,
                 std::function<void(const absl::Status&)> finish) {
  if (ctx->metrics != nullptr) ctx->metrics->CountDecisions(entry);
  if (ctx->audit == nullptr) {
    finish(outcome);
    return;
  }
  entry.set_status(absl::StatusCodeToString(outcome.code()));
  ctx->audit->AppendThen(std::move(entry),
                         [outcome = std::move(outcome), finish = std::move(finish)](
                             absl::Status st) { finish(st.ok() ? outcome : AuditError(st)); });
}

}  // namespace linkage::service
