// Building and appending the audit entries of the calls that read or write
// a person (docs/DESIGN.md §10 "Audit"). Internal to the service layer: the
// handlers describe what was asked and answered, these helpers turn it into
// an AuditEntry (identity numbers hashed) and append it before the answer
// leaves.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "context.h"
#include "linkage/v1/audit.pb.h"
#include "linkage/v1/match.pb.h"
#include "linkage/v1/record.pb.h"

namespace linkage::service {

// An entry for `method` on `dataset` by the call's principal.
v1::AuditEntry NewEntry(const grpc::ServerContextBase& call, std::string_view method,
                        std::string_view dataset);

// An item for a query or claim: its record id and its identity numbers
// hashed with the audit key.
v1::AuditItem QueryItem(const ServiceContext& ctx, const v1::PersonRecord& query);
// What an answer told: returned register ids and the decision.
void AddResult(const v1::MatchResult& result, v1::AuditItem* item);
void AddVerification(const v1::Verification& verification, v1::AuditItem* item);

// Appends `entry` with `outcome` as its status and returns `outcome`, or,
// when the entry could not be written, an error in its place (the answer
// must not leave unaudited). Without an audit log (tools, tests that build
// no server), returns `outcome`.
absl::Status Audited(ServiceContext* ctx, v1::AuditEntry entry, absl::Status outcome);

// Audited without waiting: `finish` gets the outcome (or the error in its
// place) on the audit log's syncer thread once the entry is durable.
// Without an audit log, runs `finish` at once.
void AuditedThen(ServiceContext* ctx, v1::AuditEntry entry, absl::Status outcome,
                 std::function<void(const absl::Status&)> finish);

}  // namespace linkage::service
