// Key encoding of the store's column families, apart from the database so
// it can be tested on its own (as leveldb's dbformat). Internal to the
// index layer.
//
//   records, match   dataset \0 record_id
//   blocks           generation(4 bytes, big-endian) dataset \0 rule \0 key \0 record_id
//   ids              dataset \0 id_key \0 record_id       (id_key "c:<12>" or "m:<9>")
//   terms            dataset \0 term                       (int64 counter)
//                    \0 records \0 dataset                 (record counter)
//   meta             plain names (schema_version, index_generation, ...)
//   audit            seq (8 bytes, big-endian)                 (one AuditEntry)
//
// Dataset names, rules, keys and record ids never hold '\0' (checked on
// write), so every key splits back unambiguously.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "linkage/store.h"

namespace linkage::index::keys {

inline constexpr char kSep = '\0';

// Per-dataset record counters live in the terms column family under a
// prefix that starts with the separator, so they sort before every
// dataset's terms and are listed without scanning the terms.
inline constexpr std::string_view kCountPrefix{"\0records\0", 9};

// Names in the meta column family.
inline constexpr std::string_view kSchemaKey = "schema_version";
// 1: first layout. 2: adds the match column family (migrated on open).
// 3: adds the audit column family (empty at first: nothing to migrate).
inline constexpr std::string_view kSchemaVersion = "3";
inline constexpr std::string_view kGenerationKey = "index_generation";
inline constexpr std::string_view kReindexKey = "reindex";
// The replicated log's position applied (decimal) and its stream's name.
inline constexpr std::string_view kLogSeqKey = "log/applied_seq";
inline constexpr std::string_view kLogStreamKey = "log/stream";
inline constexpr std::string_view kRepairKey = "repair";

// Audit rows: the sequence number, 8 bytes big-endian (sorts in seq order).
std::string AuditKey(uint64_t seq);
// The seq of an audit key; 0 for a key that is not 8 bytes.
uint64_t AuditSeq(std::string_view key);

// Counters: little-endian int64.
std::string EncodeInt64(int64_t v);
// 0 unless `s` is 8 bytes.
int64_t DecodeInt64(std::string_view s);

std::string RecordKey(std::string_view dataset, std::string_view record_id);
// The dataset of a records / match / ids / terms key (what precedes the
// first separator).
std::string_view DatasetOf(std::string_view key);

std::string GenerationPrefix(uint32_t generation);
// 0 for a key shorter than a generation prefix.
uint32_t GenerationOf(std::string_view block_key);
// The prefix of every entry of one block; append a record id for the entry.
std::string BlockPrefix(uint32_t generation, std::string_view dataset, std::string_view rule,
                        std::string_view key);
// The dataset of a block entry.
std::string_view BlockDatasetOf(std::string_view block_key);

std::string IdPrefix(std::string_view dataset, std::string_view id_key);
std::string CountKey(std::string_view dataset);
std::string TermKey(std::string_view dataset, std::string_view term);

// The smallest key greater than every key starting with `prefix`, which
// must end in the separator.
std::string UpperBound(std::string prefix);
// A key greater than every key the store writes (for whole-family ranges).
std::string MaxKey();

// The record id of an index entry: what follows its last separator.
std::string_view TrailingId(std::string_view key);

bool ContainsNul(std::string_view s);

// A reindex in progress, as kept in meta: target generation, records
// done, then the cursor and the model, each with an 8-byte length.
std::string SerializeReindex(const ReindexState& r);
bool ParseReindex(std::string_view in, ReindexState* r);

// A repair in progress, as kept in meta: records done, then the cursor.
struct RepairRecord {
  int64_t done = 0;
  std::string cursor;
};
std::string SerializeRepair(const RepairRecord& r);
bool ParseRepair(std::string_view in, RepairRecord* r);

}  // namespace linkage::index::keys
