// The engine's life and its write path: creation, model installation and
// serving, upserts. Retrieval and ranking are in rank.cc, the verification
// of a claimed identity in verify.cc.
#include "linkage/engine.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "internal.h"

namespace linkage::engine {

using internal::BandFor;
using internal::IdKey;
using internal::kQueryId;

Engine::Engine(const EngineOptions& options, index::Store* store,
               std::shared_ptr<const model::CompiledModel> model)
    : options_(options), store_(store) {
  auto serving = std::make_shared<Serving>();
  serving->model = std::move(model);
  serving->generation = store->generation();
  serving_ = std::move(serving);
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options,
                                                       index::Store* store,
                                                       const v1::Model& model) {
  if (store == nullptr) return absl::InvalidArgumentError("engine needs a store");
  LINKD_ASSIGN_OR_RETURN(auto compiled, model::CompiledModel::Create(model));
  std::unique_ptr<Engine> engine(new Engine(options, store, std::move(compiled)));
  // An interrupted reindex: upserts must keep writing its generation.
  LINKD_ASSIGN_OR_RETURN(auto state, store->GetReindexState());
  if (state.has_value()) {
    v1::Model next;
    if (!next.ParseFromString(state->model))
      return absl::DataLossError("the reindex model is unreadable");
    LINKD_ASSIGN_OR_RETURN(auto next_compiled, model::CompiledModel::Create(next));
    absl::MutexLock lock(&engine->model_mu_);
    engine->next_model_ = std::move(next_compiled);
  }
  return engine;
}

std::shared_ptr<const Engine::Serving> Engine::serving() const {
  absl::MutexLock lock(&model_mu_);
  return serving_;
}

std::shared_ptr<const model::CompiledModel> Engine::model() const { return serving()->model; }

absl::Status Engine::SetModel(const v1::Model& model) {
  LINKD_ASSIGN_OR_RETURN(auto compiled, model::CompiledModel::Create(model));
  absl::MutexLock lock(&model_mu_);
  auto next = std::make_shared<Serving>(*serving_);
  next->model = std::move(compiled);
  serving_ = std::move(next);
  return absl::OkStatus();
}

namespace {
constexpr std::string_view kModelKey = "model/current";
}  // namespace

absl::StatusOr<std::string> Engine::InstallModel(const v1::Model& model, const WriteHook& log) {
  LINKD_ASSIGN_OR_RETURN(auto compiled, model::CompiledModel::Create(model));
  // One installation at a time; queries go on. Through a replicated log the
  // caller holds the log's commit lock, which a reindex takes while it
  // holds install_mu_ (at its switch): waiting here could deadlock, so a
  // busy install_mu_ is refused instead.
  if (log) {
    if (!install_mu_.TryLock()) {
      return absl::FailedPreconditionError(
          "a reindex or another model installation is running; install the model after it");
    }
  } else {
    install_mu_.Lock();
  }
  absl::Cleanup unlock = [this] { install_mu_.Unlock(); };
  std::shared_ptr<const model::CompiledModel> current = this->model();
  const v1::LinkageSpec& old_spec = current->proto().spec();
  // Only what shapes index keys matters; a query-time block cap does not.
  auto key_shape = [](v1::BlockingRule rule) {
    rule.clear_max_block_size();
    return rule.SerializeAsString();
  };
  bool same_rules = old_spec.blocking_rules_size() == model.spec().blocking_rules_size();
  for (int i = 0; same_rules && i < old_spec.blocking_rules_size(); ++i) {
    same_rules = key_shape(old_spec.blocking_rules(i)) == key_shape(model.spec().blocking_rules(i));
  }
  if (!same_rules && !store_->Stats().datasets.empty()) {
    return absl::FailedPreconditionError(
        "the new model changes the blocking rules, and the index holds records built with the old "
        "ones; "
        "install it on an empty database or reindex");
  }
  LINKD_ASSIGN_OR_RETURN(auto state, store_->GetReindexState());
  if (state.has_value())
    return absl::FailedPreconditionError("a reindex is in progress; install the model after it");
  index::WriteTag tag;
  if (log) {
    LINKD_ASSIGN_OR_RETURN(tag, log());
  }
  LINKD_RETURN_IF_ERROR(store_->PutMeta(kModelKey, model.SerializeAsString(), tag));
  absl::MutexLock lock(&model_mu_);
  auto next = std::make_shared<Serving>(*serving_);
  next->model = std::move(compiled);
  serving_ = std::move(next);
  return current->proto().version();
}

absl::StatusOr<std::optional<v1::Model>> Engine::LoadStoredModel(index::Store* store) {
  auto stored = store->GetMeta(kModelKey);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return std::optional<v1::Model>();
  v1::Model m;
  if (!m.ParseFromString(**stored))
    return absl::DataLossError("the model stored with the data is unreadable");
  return std::optional<v1::Model>(std::move(m));
}

index::IndexEntries Engine::Entries(const model::CompiledModel& m, const v1::NormalizedRecord& n) {
  index::IndexEntries e;
  const v1::LinkageSpec& spec = m.proto().spec();
  for (model::BlockingKey& k : model::ComputeBlockingKeys(spec, n)) {
    e.blocks.push_back({spec.blocking_rules(k.rule).name(), std::move(k.key)});
  }
  for (const v1::NormalizedId* id : {&n.national_id(), &n.old_id()}) {
    std::string key = IdKey(*id);
    if (!key.empty()) e.ids.push_back(std::move(key));
  }
  for (size_t f = 0; f < m.num_fields(); ++f) {
    std::string key = m.TermKey(f, n);
    if (!key.empty()) e.terms.push_back(std::move(key));
  }
  return e;
}

absl::StatusOr<std::vector<index::WriteOutcome>> Engine::Upsert(
    std::string_view dataset, std::vector<v1::PersonRecord> records) const {
  LINKD_ASSIGN_OR_RETURN(auto results, Upsert(dataset, std::move(records), UpsertOptions{}));
  std::vector<index::WriteOutcome> outcomes;
  outcomes.reserve(results.size());
  for (const UpsertResult& r : results) outcomes.push_back(r.outcome);
  return outcomes;
}

absl::StatusOr<std::vector<UpsertResult>> Engine::Upsert(std::string_view dataset,
                                                         std::vector<v1::PersonRecord> records,
                                                         const UpsertOptions& options) const {
  if (!domain::IsValidDatasetName(dataset)) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset \"", AV(dataset), "\" is not 1..64 of [a-z0-9._-]"));
  }
  domain::NormalizeOptions normalize = options_.normalize;
  if (options.default_unit_version != v1::UNIT_VERSION_UNSPECIFIED) {
    normalize.default_unit_version = options.default_unit_version;
  }
  normalize.strict_dates = normalize.strict_dates || options.strict_dates;
  absl::ReaderMutexLock upserting(&upsert_mu_);
  std::shared_ptr<const model::CompiledModel> current, next;
  {
    absl::MutexLock lock(&model_mu_);
    current = serving_->model;
    next = next_model_;
  }
  std::vector<UpsertResult> results(records.size());
  std::vector<index::RecordWrite> writes;
  std::vector<size_t> written;  // Index in `records` of each write.
  writes.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    v1::PersonRecord& r = records[i];
    auto n = domain::NormalizeRecord(r, normalize);
    if (!n.ok()) {
      if (!options.allow_partial) return n.status();
      results[i].status = n.status();
      continue;
    }
    index::RecordWrite w;
    w.entries = Entries(*current, *n);
    if (next != nullptr) {
      w.next_blocks = Entries(*next, *n).blocks;
      w.has_next = true;
    }
    w.normalized = *std::move(n);
    w.record = std::move(r);
    writes.push_back(std::move(w));
    written.push_back(i);
  }
  if (writes.empty()) return results;
  if (options.before_write) {
    LINKD_RETURN_IF_ERROR(options.before_write());
  }
  index::WriteTag tag;
  if (options.log) {
    LINKD_ASSIGN_OR_RETURN(tag, options.log());
  }
  LINKD_ASSIGN_OR_RETURN(auto outcomes, store_->Upsert(dataset, std::move(writes), tag));
  for (size_t k = 0; k < written.size(); ++k) results[written[k]].outcome = outcomes[k];
  return results;
}

absl::StatusOr<std::vector<UpsertResult>> Engine::BulkAdd(index::Store::BulkLoad* load,
                                                          std::vector<v1::PersonRecord> records,
                                                          const UpsertOptions& options,
                                                          int threads) const {
  domain::NormalizeOptions normalize = options_.normalize;
  if (options.default_unit_version != v1::UNIT_VERSION_UNSPECIFIED) {
    normalize.default_unit_version = options.default_unit_version;
  }
  normalize.strict_dates = normalize.strict_dates || options.strict_dates;
  std::shared_ptr<const model::CompiledModel> current;
  {
    absl::MutexLock lock(&model_mu_);
    current = serving_->model;
  }
  std::vector<UpsertResult> results(records.size());
  std::vector<std::optional<index::RecordWrite>> prepared(records.size());
  // Thread t takes records t, t+n, ...: normalization is most of the work.
  const size_t n = static_cast<size_t>(std::max(1, threads));
  auto work = [&](size_t t) {
    for (size_t i = t; i < records.size(); i += n) {
      auto norm = domain::NormalizeRecord(records[i], normalize);
      if (!norm.ok()) {
        results[i].status = norm.status();
        continue;
      }
      index::RecordWrite w;
      w.entries = Entries(*current, *norm);
      w.normalized = *std::move(norm);
      w.record = std::move(records[i]);
      prepared[i] = std::move(w);
      results[i].outcome = index::WriteOutcome::kCreated;
    }
  };
  std::vector<std::thread> workers;
  for (size_t t = 1; t < n; ++t) workers.emplace_back(work, t);
  work(0);
  for (std::thread& w : workers) w.join();
  std::vector<index::RecordWrite> writes;
  writes.reserve(records.size());
  for (auto& w : prepared) {
    if (w.has_value()) writes.push_back(*std::move(w));
  }
  LINKD_RETURN_IF_ERROR(load->Add(std::move(writes)));
  return results;
}

absl::StatusOr<bool> Engine::Delete(std::string_view dataset, std::string_view record_id,
                                    const WriteHook& log) const {
  if (!log) return store_->Delete(dataset, record_id);
  // Only a delete that deletes goes into the log. The log's writer lets
  // no other change in between, so the record is still there below.
  LINKD_ASSIGN_OR_RETURN(std::optional<v1::StoredRecord> stored, store_->Get(dataset, record_id));
  if (!stored.has_value()) return false;
  LINKD_ASSIGN_OR_RETURN(index::WriteTag tag, log());
  return store_->Delete(dataset, record_id, tag);
}

absl::StatusOr<std::optional<v1::StoredRecord>> Engine::Get(std::string_view dataset,
                                                            std::string_view record_id) const {
  return store_->Get(dataset, record_id);
}

}  // namespace linkage::engine
