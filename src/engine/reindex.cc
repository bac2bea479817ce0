// Rebuilding the blocking index for new rules while the service runs.
#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "linkage/engine.h"

namespace linkage::engine {
namespace {
constexpr std::string_view kModelKey = "model/current";  // As in engine.cc.
constexpr size_t kStep = 1000;                           // Records per step.
}  // namespace

absl::StatusOr<ReindexReport> Engine::Reindex(const v1::Model* model,
                                              const std::function<void(int64_t, int64_t)>& progress,
                                              const std::atomic<bool>* stop,
                                              const SwitchHook& around_switch) {
  // Under a replicated log (around_switch set) a reindex may be asked for
  // while the log's commit lock is held by an installation waiting here;
  // refuse rather than wait (see InstallModel).
  if (around_switch) {
    if (!install_mu_.TryLock()) {
      return absl::FailedPreconditionError(
          "a model installation or another reindex is running; reindex after it");
    }
  } else {
    install_mu_.Lock();
  }
  absl::Cleanup unlock = [this] { install_mu_.Unlock(); };
  ReindexReport report;
  std::shared_ptr<const model::CompiledModel> target;
  {
    // Start (or resume) with no upsert in flight, so every write from now
    // on carries the new generation's entries.
    absl::WriterMutexLock no_upserts(&upsert_mu_);
    LINKD_ASSIGN_OR_RETURN(auto state, store_->GetReindexState());
    if (state.has_value()) {
      v1::Model in_progress;
      if (!in_progress.ParseFromString(state->model))
        return absl::DataLossError("the reindex model is unreadable");
      if (model != nullptr && model->SerializeAsString() != state->model) {
        return absl::FailedPreconditionError(absl::StrCat(
            "a reindex for model ", in_progress.version(), " is in progress: resume it first"));
      }
      LINKD_ASSIGN_OR_RETURN(auto compiled, model::CompiledModel::Create(in_progress));
      target = std::move(compiled);
      report.resumed = true;
    } else {
      v1::Model wanted = model != nullptr ? *model : this->model()->proto();
      LINKD_ASSIGN_OR_RETURN(auto compiled, model::CompiledModel::Create(wanted));
      target = std::move(compiled);
      LINKD_RETURN_IF_ERROR(store_->StartReindex(wanted.SerializeAsString()));
    }
    absl::MutexLock lock(&model_mu_);
    next_model_ = target;
  }

  // Index every record into the new generation, a step at a time; queries
  // and upserts go on between steps.
  int64_t total = 0;
  for (const auto& d : store_->Stats().datasets) total += d.records;
  const index::Store::BlocksOf blocks_of = [&target](const v1::StoredRecord& r) {
    return Entries(*target, r.normalized()).blocks;
  };
  for (;;) {
    if (stop != nullptr && stop->load()) {
      return absl::CancelledError("reindex interrupted; run it again to resume where it stopped");
    }
    LINKD_ASSIGN_OR_RETURN(auto more, store_->ReindexStep(kStep, blocks_of));
    auto state = store_->GetReindexState();
    if (state.ok() && state->has_value()) report.records = (*state)->done;
    if (progress) progress(report.records, total);
    if (!more) break;
  }

  // Switch rules and generation together.
  std::shared_ptr<const Serving> old;
  auto do_switch = [&](const index::WriteTag& tag) -> absl::Status {
    absl::WriterMutexLock no_upserts(&upsert_mu_);
    LINKD_RETURN_IF_ERROR(store_->FinishReindex(kModelKey, tag));
    absl::MutexLock lock(&model_mu_);
    old = serving_;
    auto now = std::make_shared<Serving>();
    now->model = target;
    now->generation = store_->generation();
    serving_ = now;
    next_model_.reset();
    report.generation = now->generation;
    return absl::OkStatus();
  };
  LINKD_RETURN_IF_ERROR(around_switch ? around_switch(target->proto(), do_switch)
                                      : do_switch(index::WriteTag{}));
  report.previous_version = old->model->proto().version();
  report.version = target->proto().version();
  // Queries that started on the old generation finish on it: drop it once
  // none holds it (bounded wait; a leftover generation is harmless).
  const uint32_t old_generation = old->generation;
  std::weak_ptr<const Serving> watch = old;
  old.reset();
  for (int i = 0; i < 600 && !watch.expired(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  LINKD_RETURN_IF_ERROR(store_->DropGeneration(old_generation));
  return report;
}

absl::StatusOr<index::CheckReport> Engine::CheckIndex() const {
  std::shared_ptr<const Serving> now = serving();
  std::shared_ptr<const model::CompiledModel> next;
  {
    absl::MutexLock lock(&model_mu_);
    next = next_model_;
  }
  index::CheckRules rules;
  rules.generation = now->generation;
  rules.current = [&now](const v1::StoredRecord& r) {
    return Entries(*now->model, r.normalized());
  };
  if (next != nullptr) {
    rules.next = [&next](const v1::StoredRecord& r) {
      return Entries(*next, r.normalized()).blocks;
    };
  }
  return store_->Check(&rules);
}

absl::StatusOr<int64_t> Engine::Repair(const std::function<void(int64_t, int64_t)>& progress,
                                       const std::atomic<bool>* stop) {
  absl::MutexLock install(&install_mu_);
  absl::WriterMutexLock no_upserts(&upsert_mu_);
  // The total for progress, read before StartRepair drops the record
  // counters with the other derived data (0 if they were what was lost).
  int64_t total = 0;
  for (const auto& d : store_->Stats().datasets) total += d.records;
  LINKD_RETURN_IF_ERROR(store_->StartRepair());
  {
    absl::MutexLock lock(&model_mu_);
    next_model_.reset();  // A reindex in progress starts over after a repair.
  }
  const std::shared_ptr<const Serving> now = serving();
  const index::Store::EntriesOf entries_of = [&now](const v1::StoredRecord& r) {
    return Entries(*now->model, r.normalized());
  };
  int64_t done = store_->RepairProgress().value_or(0);
  for (;;) {
    if (stop != nullptr && stop->load())
      return absl::CancelledError("repair interrupted; run it again to resume where it stopped");
    LINKD_ASSIGN_OR_RETURN(auto more, store_->RepairStep(kStep, entries_of));
    if (!more) break;
    done = store_->RepairProgress().value_or(done);
    if (progress) progress(done, std::max(total, done));
  }
  done = 0;
  for (const auto& d : store_->Stats().datasets) done += d.records;
  if (progress) progress(done, done);
  return done;
}

}  // namespace linkage::engine
