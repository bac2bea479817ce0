// Conversions between linkage::v1 messages and the engine's structs, in
// both directions: requests decoded into engine options, engine results and
// reports encoded into responses. Handlers decode, call the engine and
// encode with these; they copy nothing field by field themselves. Internal
// to the service layer.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "linkage/engine.h"
#include "linkage/store.h"
#include "linkage/v1/service.pb.h"

namespace linkage::service {

// --- Requests into engine options. ---

// top_k 0 means 5; omit_explanation drops both the per-field contributions
// and the normalized query.
engine::MatchOptions MatchOptionsFrom(const v1::MatchRequest& request);
// A stream request's match (stored records are never attached).
engine::MatchOptions MatchOptionsFrom(const v1::MatchStreamRequest& request);
// A stream request's verification, its ranking written to `match`.
engine::Engine::VerifyOptions VerifyOptionsFrom(const v1::MatchStreamRequest& request,
                                                v1::MatchResult* match);
// Everything but `before_write`, which depends on the call.
engine::UpsertOptions UpsertOptionsFrom(const v1::UpsertRecordsRequest& request);
// InvalidArgument if max_queries or u_pairs is outside its bounds
// (service.proto); 0 leaves the engine's default. `stop` is not set.
absl::StatusOr<engine::TrainOptions> TrainOptionsFrom(const v1::TrainModelRequest& request);
// `threads`, `progress` and `stop` are not set.
engine::DedupeOptions DedupeOptionsFrom(const v1::FindDuplicatesRequest& request);
// `threads` and `stop` are not set.
engine::ConflictOptions ConflictOptionsFrom(const v1::FindConflictsRequest& request);

// --- Engine results into responses. ---

// One result per record of `request`, in order.
void ToResponse(const std::vector<engine::UpsertResult>& results,
                const v1::UpsertRecordsRequest& request, v1::UpsertRecordsResponse* response);
void ToResponse(const v1::StoredRecord& stored, bool include_normalized,
                v1::GetRecordResponse* response);
// The store's part of GetStats: datasets, column families, match views.
void ToResponse(const index::StoreStats& stats, v1::GetStatsResponse* response);
// A reindex in progress: `state` from the store, `total` records to index.
void ToResponse(const index::ReindexState& state, int64_t total, v1::GetStatsResponse* response);
void ToResponse(const index::CheckReport& report, v1::CheckIndexResponse* response);
void ToResponse(const engine::TrainedModel& trained, v1::TrainModelResponse* response);
void ToResponse(const engine::ReindexReport& report, v1::ReindexResponse* response);
void ToResponse(const engine::DedupeReport& report, v1::FindDuplicatesResponse* response);
void ToResponse(const engine::ConflictReport& report, v1::FindConflictsResponse* response);

// What a verify-only caller (role VERIFY without MATCH) is told: the
// decision, the probability rounded down to a tenth, the model version and
// whether it is calibrated, and coarse reason codes in `reasons`, one per
// decision (CLAIM_MATCHES, CLAIM_UNCERTAIN, CLAIM_DIFFERS, NOT_IN_REGISTER)
// plus ID_NOT_IN_REGISTER and ID_INCONSISTENT when flagged (facts about the
// claimed ID, not about a register person). `flags` keeps only those two
// and the DATE_* flags of the claim's own date. Everything that would say
// which field disagreed, who holds the ID or that a second person exists
// is removed: record_id, id_holder, the per-field contributions, the
// engine's reasons, NAME_*, ID_CONFLICT, ID_TYPO, AMBIGUOUS.
void RedactForVerifyOnly(v1::Verification* verification);

// A stream answer's error, as its code and message (no-op for OK).
void SetError(const absl::Status& status, v1::MatchStreamResponse* response);

}  // namespace linkage::service
