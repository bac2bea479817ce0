#include "audit_service.h"

#include <deque>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "linkage/audit.h"

namespace linkage::service {
namespace {

// Streams the entries passing a filter. Entries are read on the worker
// pool, a chunk at a time (at most 256 entries passed, 10,000 rows
// scanned), and written one by one; exactly one of a read or a write is in
// flight, so the reactor needs no lock.
class EntryStream final : public grpc::ServerWriteReactor<v1::AuditRecord> {
 public:
  EntryStream(ServiceContext* ctx, audit::ListFilter filter)
      : ctx_(ctx), filter_(std::move(filter)), next_seq_(filter_.from_seq) {
    if (ctx_->audit == nullptr) {
      Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "linkd runs without audit log"));
      return;
    }
    Fetch();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::CANCELLED);
      return;
    }
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (!chunk_.empty()) {
      current_ = std::move(chunk_.front());
      chunk_.pop_front();
      StartWrite(&current_);
    } else if (!status_.ok()) {
      Finish(ToGrpc(status_));
    } else if (done_) {
      Finish(grpc::Status::OK);
    } else {
      Fetch();
    }
  }
  void Fetch() {
    bool queued = ctx_->pool->Submit([this] {
      Fill();
      Next();
    });
    if (!queued) {
      Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "linkd is at capacity (worker queue full); retry with backoff"));
    }
  }
  void Fill() {
    bool more = false;
    int scanned = 0;
    v1::AuditEntry entry;
    absl::Status bad;
    absl::Status scan =
        ctx_->audit->reader().ScanAudit(next_seq_, [&](uint64_t seq, std::string_view b) {
          if (++scanned > 10000 || chunk_.size() >= 256) {
            more = true;
            return false;
          }
          next_seq_ = seq + 1;
          if (!entry.ParseFromArray(b.data(), static_cast<int>(b.size()))) {
            bad = absl::DataLossError(
                absl::StrCat("audit entry ", seq, " is unreadable; run `linkctl audit verify`"));
            return false;
          }
          if (!audit::Passes(entry, filter_)) return true;
          v1::AuditRecord record;
          *record.mutable_entry() = entry;
          record.set_hash(audit::Hex(audit::EntryHash(b)));
          chunk_.push_back(std::move(record));
          if (filter_.limit != 0 && ++sent_ >= filter_.limit) return false;  // done_ below.
          return true;
        });
    status_ = scan.ok() ? bad : scan;
    if (!more) done_ = true;
  }

  ServiceContext* const ctx_;
  const audit::ListFilter filter_;
  uint64_t next_seq_;
  uint64_t sent_ = 0;
  std::deque<v1::AuditRecord> chunk_;
  v1::AuditRecord current_;
  absl::Status status_;
  bool done_ = false;
};

std::string IdKeyOf(std::string_view id) {
  std::string digits;
  for (char c : id)
    if (c >= '0' && c <= '9') digits.push_back(c);
  return absl::StrCat(digits.size() == 9 ? "m:" : "c:", digits);
}

}  // namespace

grpc::ServerWriteReactor<v1::AuditRecord>* AuditServiceImpl::ListAudit(
    grpc::CallbackServerContext* /*call*/, const v1::ListAuditRequest* request) {
  ctx_->Count("ListAudit");
  audit::ListFilter f;
  f.principal = request->principal();
  f.method = request->method();
  f.record_id = request->record_id();
  if (!request->national_id().empty() && ctx_->audit != nullptr)
    f.id_hmac = ctx_->audit->HashId(IdKeyOf(request->national_id()));
  f.since_unix_micros = request->since_unix_micros();
  f.until_unix_micros = request->until_unix_micros();
  f.from_seq = request->from_seq();
  f.limit = request->limit();
  return new EntryStream(ctx_, std::move(f));
}

grpc::ServerWriteReactor<v1::AuditRecord>* AuditServiceImpl::ExportAudit(
    grpc::CallbackServerContext* /*call*/, const v1::ExportAuditRequest* request) {
  ctx_->Count("ExportAudit");
  audit::ListFilter f;
  f.from_seq = request->from_seq();
  return new EntryStream(ctx_, std::move(f));
}

grpc::ServerUnaryReactor* AuditServiceImpl::VerifyAudit(grpc::CallbackServerContext* call,
                                                        const v1::VerifyAuditRequest* request,
                                                        v1::VerifyAuditResponse* response) {
  return OnPool(ctx_, call, "VerifyAudit", [this, request, response]() -> absl::Status {
    if (ctx_->audit == nullptr)
      return absl::FailedPreconditionError("linkd runs without audit log");
    std::optional<audit::Head> expect;
    if (request->has_expect_head()) {
      LINKD_ASSIGN_OR_RETURN(expect,
                             audit::ParseHead(absl::StrCat(request->expect_head().count(), ":",
                                                           request->expect_head().hash())));
    }
    LINKD_ASSIGN_OR_RETURN(
        audit::VerifyReport report,
        audit::VerifyChain(ctx_->audit->reader(), expect.has_value() ? &*expect : nullptr));
    response->set_ok(report.ok());
    response->set_entries(report.entries);
    response->mutable_head()->set_count(report.head.count);
    response->mutable_head()->set_hash(audit::Hex(report.head.hash));
    response->set_first_bad_seq(report.first_bad_seq);
    response->set_problem(report.problem);
    response->set_bytes(report.bytes);
    return absl::OkStatus();
  });
}

}  // namespace linkage::service
