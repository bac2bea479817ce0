// What a backup records of the database it holds (v1::BackupMetadata), and
// the check a restore makes of it. Shared by AdminService.Backup and
// `linkd restore`.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "linkage/store.h"
#include "linkage/v1/service.pb.h"

namespace linkage::service {

// The metadata of `store` as it is now: the stored model's version (the
// default model's when none is stored), index generation, records per
// dataset, the audit chain's head (count and hash of the last row), the
// key layout version, the time and this build's version.
absl::StatusOr<v1::BackupMetadata> BackupMetadataOf(index::Store& store);

// Compares a restored database with the metadata of the backup it came
// from: the layout version must be this build's, and the model version,
// index generation, every dataset's record count and the audit head must
// be equal. FailedPrecondition naming the first difference.
absl::Status CheckRestored(index::Store& store, const v1::BackupMetadata& expected);

// One line for logs and linkctl: "model=... generation=N records=A:n,B:m
// audit_head=COUNT:HASH layout=3".
std::string Describe(const v1::BackupMetadata& metadata);

}  // namespace linkage::service
