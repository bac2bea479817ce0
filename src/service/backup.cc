#include "backup.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "linkage/audit.h"
#include "linkage/engine.h"
#include "linkage/model.h"

namespace linkage::service {

absl::StatusOr<v1::BackupMetadata> BackupMetadataOf(index::Store& store) {
  v1::BackupMetadata m;
  LINKD_ASSIGN_OR_RETURN(std::optional<v1::Model> model, engine::Engine::LoadStoredModel(&store));
  m.set_model_version(model.has_value() ? model->version()
                                        : model::DefaultVietnameseModel().version());
  m.set_index_generation(store.generation());
  for (const index::DatasetStats& d : store.Stats().datasets) {
    v1::BackupMetadata::Dataset* out = m.add_datasets();
    out->set_name(d.dataset);
    out->set_records(d.records);
  }
  LINKD_ASSIGN_OR_RETURN(auto last, store.LastAudit());
  if (last.has_value()) {
    m.mutable_audit_head()->set_count(last->first);
    m.mutable_audit_head()->set_hash(audit::Hex(audit::EntryHash(last->second)));
  } else {
    m.mutable_audit_head()->set_count(0);
  }
  LINKD_ASSIGN_OR_RETURN(std::optional<std::string> layout, store.GetMeta("schema_version"));
  m.set_layout_version(layout.value_or(""));
  m.set_created_unix_micros(absl::ToUnixMicros(absl::Now()));
  m.set_server_version(LINKD_VERSION);
  LINKD_ASSIGN_OR_RETURN(index::Store::LogPosition log, store.GetLogPosition());
  m.set_log_seq(log.seq);
  m.set_log_stream(log.stream);
  return m;
}

absl::Status CheckRestored(index::Store& store, const v1::BackupMetadata& expected) {
  if (expected.layout_version() != index::LayoutVersion())
    return absl::FailedPreconditionError(
        absl::StrCat("the backup has key layout version '", expected.layout_version(),
                     "'; this linkd reads version ", std::string(index::LayoutVersion())));
  LINKD_ASSIGN_OR_RETURN(v1::BackupMetadata found, BackupMetadataOf(store));
  auto differs = [](const std::string& what, const auto& want, const auto& got) {
    return absl::FailedPreconditionError(
        absl::StrCat("the restored database differs from its backup's metadata: ", what, " is ",
                     got, ", the backup recorded ", want));
  };
  if (found.layout_version() != expected.layout_version())
    return differs("layout version", expected.layout_version(), found.layout_version());
  if (found.model_version() != expected.model_version())
    return differs("model version", expected.model_version(), found.model_version());
  if (found.index_generation() != expected.index_generation())
    return differs("index generation", expected.index_generation(), found.index_generation());
  std::map<std::string, int64_t> want, got;
  for (const auto& d : expected.datasets()) want[d.name()] = d.records();
  for (const auto& d : found.datasets()) got[d.name()] = d.records();
  for (const auto& [name, n] : want)
    if (got[name] != n)
      return differs(absl::StrCat("dataset ", name, "'s record count"), n, got[name]);
  for (const auto& [name, n] : got)
    if (!want.contains(name) && n != 0)
      return differs(absl::StrCat("dataset ", name, "'s record count"), 0, n);
  if (found.log_seq() != expected.log_seq() || found.log_stream() != expected.log_stream()) {
    return differs("the log position", absl::StrCat(expected.log_stream(), ":", expected.log_seq()),
                   absl::StrCat(found.log_stream(), ":", found.log_seq()));
  }
  const auto head = [](const v1::AuditHead& h) { return absl::StrCat(h.count(), ":", h.hash()); };
  if (head(found.audit_head()) != head(expected.audit_head()))
    return differs("the audit head", head(expected.audit_head()), head(found.audit_head()));
  return absl::OkStatus();
}

std::string Describe(const v1::BackupMetadata& m) {
  std::vector<std::string> counts;
  for (const auto& d : m.datasets()) counts.push_back(absl::StrCat(d.name(), ":", d.records()));
  return absl::StrCat(
      "model=", m.model_version(), " generation=", m.index_generation(),
      " records=", absl::StrJoin(counts, ","), " audit_head=", m.audit_head().count(), ":",
      m.audit_head().hash(), " layout=", m.layout_version(),
      m.log_stream().empty() ? "" : absl::StrCat(" log=", m.log_stream(), ":", m.log_seq()));
}

}  // namespace linkage::service
