// linkctl audit list | verify | export: the audit log, through linkd's
// AuditService or, with --db DIR, straight from a database directory
// (read-only, while linkd runs or after it stopped).
#include "linkage/audit.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "command.h"
#include "linkage/store.h"

namespace linkage::cli {
namespace {

using AuditStub = v1::AuditService::Stub;

struct AuditOptions {
  std::string db;  // --db: offline, on a database directory.
  // list
  std::string principal, record_id, national_id, method, since, until;
  uint64_t limit = 0;
  bool json = false;
  // verify
  std::string expect_head;
  // export
  std::string output;
  uint64_t from_seq = 0;
};

// A time given as RFC 3339 ("2026-12-02T04:00:00Z") or a UTC day
// ("2026-12-02"), as microseconds since the epoch; "" is 0 (unbounded).
absl::StatusOr<int64_t> ParseWhen(const std::string& text, const char* flag) {
  if (text.empty()) return 0;
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err) ||
      absl::ParseTime("%Y-%m-%d", text, &t, &err)) {
    return absl::ToUnixMicros(t);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(flag, " \"", text, "\": use 2026-12-02T04:00:00Z or 2026-12-02"));
}

// One entry as a JSON line: {"hash": ..., "entry": {...}} (bytes fields in
// base64, as proto3's JSON mapping has them).
std::string JsonLine(const v1::AuditRecord& record) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(record, &out, o);
  return out;
}

// One entry as a line for a reader: seq, time, who, what, and per item the
// caller's record -> the records returned and the decision.
std::string TextLine(const v1::AuditRecord& record) {
  const v1::AuditEntry& e = record.entry();
  std::vector<std::string> items;
  for (const v1::AuditItem& item : e.items()) {
    std::string s = item.record_id().empty() ? "-" : item.record_id();
    if (!item.national_id_hmac().empty() || !item.old_id_hmac().empty()) s += "(id)";
    if (item.returned_ids_size() > 0)
      absl::StrAppend(&s, "->", absl::StrJoin(item.returned_ids(), ","));
    if (!item.decision().empty()) absl::StrAppend(&s, " ", item.decision());
    items.push_back(std::move(s));
  }
  std::string datasets = e.dataset();
  for (const std::string& d : e.other_datasets()) absl::StrAppend(&datasets, "+", d);
  return absl::StrCat(
      e.seq(), " ",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixMicros(e.time_unix_micros()),
                       absl::UTCTimeZone()),
      " ", e.principal(), " ", e.method(), " ", datasets, " ", e.status(),
      e.detail().empty() ? "" : absl::StrCat(" [", e.detail(), "]"), " ",
      absl::StrJoin(items, "; "));
}

absl::StatusOr<std::unique_ptr<index::AuditReader>> OpenOffline(const std::string& db) {
  return index::OpenAuditReadOnly(db);
}

// Reads a server stream of records into fn. Errors: the call failed.
template <typename Request>
absl::Status ReadStream(CommandContext& ctx, std::string_view what,
                        std::unique_ptr<grpc::ClientReader<v1::AuditRecord>> (AuditStub::*method)(
                            grpc::ClientContext*, const Request&),
                        const Request& request,
                        const std::function<void(const v1::AuditRecord&)>& fn) {
  AuditStub stub(ctx.channel());
  grpc::ClientContext call;
  SetDeadline(call, ctx.job_timeout());
  auto reader = (stub.*method)(&call, request);
  v1::AuditRecord record;
  while (reader->Read(&record)) fn(record);
  grpc::Status status = reader->Finish();
  if (!status.ok()) return RpcError(what, status);
  return absl::OkStatus();
}

absl::Status List(CommandContext& ctx, const AuditOptions& o) {
  v1::ListAuditRequest req;
  req.set_principal(o.principal);
  req.set_record_id(o.record_id);
  req.set_national_id(o.national_id);
  req.set_method(o.method);
  LINKD_ASSIGN_OR_RETURN(int64_t since, ParseWhen(o.since, "--since"));
  LINKD_ASSIGN_OR_RETURN(int64_t until, ParseWhen(o.until, "--until"));
  req.set_since_unix_micros(since);
  req.set_until_unix_micros(until);
  req.set_limit(o.limit);
  auto print = [&o](const v1::AuditRecord& r) {
    std::printf("%s\n", (o.json ? JsonLine(r) : TextLine(r)).c_str());
  };
  if (o.db.empty()) return ReadStream(ctx, "ListAudit", &AuditStub::ListAudit, req, print);
  if (!o.national_id.empty()) {
    return absl::InvalidArgumentError(
        "--national-id needs the server (it holds the key the numbers are hashed with); "
        "leave out --db");
  }
  LINKD_ASSIGN_OR_RETURN(auto reader, OpenOffline(o.db));
  audit::ListFilter f;
  f.principal = o.principal;
  f.method = o.method;
  f.record_id = o.record_id;
  f.since_unix_micros = since;
  f.until_unix_micros = until;
  f.limit = o.limit;
  return audit::List(*reader, f, [&print](const v1::AuditEntry& e, const std::string& hash) {
    v1::AuditRecord r;
    *r.mutable_entry() = e;
    r.set_hash(hash);
    print(r);
    return true;
  });
}

absl::Status Verify(CommandContext& ctx, const AuditOptions& o) {
  std::optional<audit::Head> expect;
  if (!o.expect_head.empty()) {
    LINKD_ASSIGN_OR_RETURN(expect, audit::ParseHead(o.expect_head));
  }
  v1::VerifyAuditResponse r;
  if (o.db.empty()) {
    v1::VerifyAuditRequest req;
    if (expect.has_value()) {
      req.mutable_expect_head()->set_count(expect->count);
      req.mutable_expect_head()->set_hash(audit::Hex(expect->hash));
    }
    LINKD_ASSIGN_OR_RETURN(
        r, Call(ctx, "VerifyAudit", &AuditStub::VerifyAudit, req, ctx.job_timeout()));
  } else {
    LINKD_ASSIGN_OR_RETURN(auto reader, OpenOffline(o.db));
    LINKD_ASSIGN_OR_RETURN(audit::VerifyReport report,
                           audit::VerifyChain(*reader, expect.has_value() ? &*expect : nullptr));
    r.set_ok(report.ok());
    r.set_entries(report.entries);
    r.mutable_head()->set_count(report.head.count);
    r.mutable_head()->set_hash(audit::Hex(report.head.hash));
    r.set_first_bad_seq(report.first_bad_seq);
    r.set_problem(report.problem);
    r.set_bytes(report.bytes);
  }
  std::printf("entries %llu (%llu bytes)\nhead %llu:%s\n",
              static_cast<unsigned long long>(r.entries()),
              static_cast<unsigned long long>(r.bytes()),
              static_cast<unsigned long long>(r.head().count()), r.head().hash().c_str());
  if (r.ok()) {
    std::printf("chain whole%s\n", expect.has_value() ? ", holds the expected head" : "");
    return absl::OkStatus();
  }
  std::printf("BROKEN at entry %llu: %s\n", static_cast<unsigned long long>(r.first_bad_seq()),
              r.problem().c_str());
  return AlreadyReported();
}

absl::Status Export(CommandContext& ctx, const AuditOptions& o) {
  std::ofstream file;
  if (!o.output.empty()) {
    file.open(o.output, std::ios::trunc);
    if (!file) return absl::UnavailableError(absl::StrCat("cannot write ", o.output));
  }
  std::ostream& out = o.output.empty() ? std::cout : file;
  int64_t n = 0;
  auto write = [&out, &n](const v1::AuditRecord& r) {
    out << JsonLine(r) << '\n';
    ++n;
  };
  if (o.db.empty()) {
    v1::ExportAuditRequest req;
    req.set_from_seq(o.from_seq);
    LINKD_RETURN_IF_ERROR(ReadStream(ctx, "ExportAudit", &AuditStub::ExportAudit, req, write));
  } else {
    LINKD_ASSIGN_OR_RETURN(auto reader, OpenOffline(o.db));
    audit::ListFilter f;
    f.from_seq = o.from_seq;
    LINKD_RETURN_IF_ERROR(
        audit::List(*reader, f, [&write](const v1::AuditEntry& e, const std::string& hash) {
          v1::AuditRecord r;
          *r.mutable_entry() = e;
          r.set_hash(hash);
          write(r);
          return true;
        }));
  }
  out.flush();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", o.output));
  if (!o.output.empty())
    std::fprintf(stderr, "%s entries written to %s\n", FormatCount(n).c_str(), o.output.c_str());
  return absl::OkStatus();
}

void RegisterAudit(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<AuditOptions>();
  CLI::App* cmd = app.add_subcommand(
      "audit", "The audit log of person lookups: list, verify the hash chain, export");
  cmd->require_subcommand(1);
  auto add_db = [&o](CLI::App* sub) {
    sub->add_option("--db", o->db,
                    "Read the log from this database directory (read-only; linkd may be running) "
                    "instead of through the server");
  };

  CLI::App* list = cmd->add_subcommand("list", "Entries in order, filtered");
  list->add_option("--principal", o->principal, "Only this caller's calls");
  list->add_option("--record-id", o->record_id,
                   "Only calls naming this record (asked about or returned)");
  list->add_option("--national-id", o->national_id,
                   "Only claims of this CCCD/CMND (hashed by the server)");
  list->add_option("--method", o->method, "Only this method (Verify, GetRecord, ...)");
  list->add_option("--since", o->since, "From this time (2026-12-02T04:00:00Z or 2026-12-02)");
  list->add_option("--until", o->until, "Before this time");
  list->add_option("--limit", o->limit, "At most this many entries");
  list->add_flag("--json", o->json, "JSON Lines instead of text");
  add_db(list);
  ctx.OnRun(list, [&ctx, o] { return List(ctx, *o); });

  CLI::App* verify = cmd->add_subcommand(
      "verify", "Walk the hash chain; print the count and head; exit 1 on a break or gap");
  verify->add_option("--expect-head", o->expect_head,
                     "COUNT:HASH recorded earlier (log line audit_head, stats): fail unless the "
                     "chain still holds it (catches a cut-off tail)");
  add_db(verify);
  ctx.OnRun(verify, [&ctx, o] { return Verify(ctx, *o); });

  CLI::App* exp = cmd->add_subcommand("export", "Every entry as JSON Lines, with its hash");
  exp->add_option("--output,-o", o->output, "Output file (default: stdout)");
  exp->add_option("--from-seq", o->from_seq, "Start at this entry");
  add_db(exp);
  ctx.OnRun(exp, [&ctx, o] { return Export(ctx, *o); });
}

}  // namespace

LINKCTL_COMMAND(170, RegisterAudit);

}  // namespace linkage::cli
