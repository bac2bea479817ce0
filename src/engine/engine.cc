#include "linkage/engine.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "linkage/names.h"
#include "linkage/similarity.h"
#include "linkage/strings.h"

namespace linkage::engine {
namespace {

constexpr std::string_view kQueryId = "(query)";

std::string IdKey(const v1::NormalizedId& id) {
  if (id.kind() == v1::ID_KIND_CCCD) return "c:" + id.digits();
  if (id.kind() == v1::ID_KIND_CMND) return "m:" + id.digits();
  return "";
}

v1::Band BandFor(double p, const v1::DecisionPolicy& policy) {
  if (p >= policy.match_probability()) return v1::BAND_MATCH;
  if (p >= policy.review_probability()) return v1::BAND_REVIEW;
  return v1::BAND_NO_MATCH;
}

// Whether `a` holds every family word and the given name of `b`, in any
// order: "Hoa Nguyen" written given-name first, middle name dropped, is
// still the words of "Nguyễn Thị Hòa".
bool HoldsNameWords(const v1::NormalizedName& a, const v1::NormalizedName& b) {
  if (b.folded_tokens_size() == 0) return false;
  auto holds = [&a](const std::string& word) {
    return std::find(a.folded_tokens().begin(), a.folded_tokens().end(), word) !=
           a.folded_tokens().end();
  };
  for (int i = 0; i < b.family_len() && i < b.folded_tokens_size(); ++i) {
    if (!holds(b.folded_tokens(i))) return false;
  }
  return holds(b.folded_tokens(b.folded_tokens_size() - 1));
}

struct Scored {
  const std::string* record_id;
  const v1::NormalizedRecord* normalized;
  double weight;
  std::vector<model::FieldOutcome> outcomes;
  std::vector<int> rules;
};

}  // namespace

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
  auto compiled = model::CompiledModel::Create(model);
  if (!compiled.ok()) return compiled.status();
  std::unique_ptr<Engine> engine(new Engine(options, store, *std::move(compiled)));
  // An interrupted reindex: upserts must keep writing its generation.
  auto state = store->GetReindexState();
  if (!state.ok()) return state.status();
  if (state->has_value()) {
    v1::Model next;
    if (!next.ParseFromString((*state)->model))
      return absl::DataLossError("the reindex model is unreadable");
    auto next_compiled = model::CompiledModel::Create(next);
    if (!next_compiled.ok()) return next_compiled.status();
    absl::MutexLock lock(&engine->model_mu_);
    engine->next_model_ = *std::move(next_compiled);
  }
  return engine;
}

std::shared_ptr<const Engine::Serving> Engine::serving() const {
  absl::MutexLock lock(&model_mu_);
  return serving_;
}

std::shared_ptr<const model::CompiledModel> Engine::model() const { return serving()->model; }

absl::Status Engine::SetModel(const v1::Model& model) {
  auto compiled = model::CompiledModel::Create(model);
  if (!compiled.ok()) return compiled.status();
  absl::MutexLock lock(&model_mu_);
  auto next = std::make_shared<Serving>(*serving_);
  next->model = *std::move(compiled);
  serving_ = std::move(next);
  return absl::OkStatus();
}

namespace {
constexpr std::string_view kModelKey = "model/current";
}  // namespace

absl::StatusOr<std::string> Engine::InstallModel(const v1::Model& model) {
  auto compiled = model::CompiledModel::Create(model);
  if (!compiled.ok()) return compiled.status();
  absl::MutexLock install(&install_mu_);  // One installation at a time; queries go on.
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
  auto state = store_->GetReindexState();
  if (!state.ok()) return state.status();
  if (state->has_value())
    return absl::FailedPreconditionError("a reindex is in progress; install the model after it");
  absl::Status st = store_->PutMeta(kModelKey, model.SerializeAsString());
  if (!st.ok()) return st;
  absl::MutexLock lock(&model_mu_);
  auto next = std::make_shared<Serving>(*serving_);
  next->model = *std::move(compiled);
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
  auto results = Upsert(dataset, std::move(records), UpsertOptions{});
  if (!results.ok()) return results.status();
  std::vector<index::WriteOutcome> outcomes;
  outcomes.reserve(results->size());
  for (const UpsertResult& r : *results) outcomes.push_back(r.outcome);
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
  normalize.lenient_dates = normalize.lenient_dates || options.lenient_dates;
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
    absl::Status go = options.before_write();
    if (!go.ok()) return go;
  }
  auto outcomes = store_->Upsert(dataset, std::move(writes));
  if (!outcomes.ok()) return outcomes.status();
  for (size_t k = 0; k < written.size(); ++k) results[written[k]].outcome = (*outcomes)[k];
  return results;
}

absl::StatusOr<bool> Engine::Delete(std::string_view dataset, std::string_view record_id) const {
  return store_->Delete(dataset, record_id);
}

absl::StatusOr<std::optional<v1::StoredRecord>> Engine::Get(std::string_view dataset,
                                                            std::string_view record_id) const {
  return store_->Get(dataset, record_id);
}

absl::StatusOr<v1::MatchResult> Engine::Match(const v1::PersonRecord& query,
                                              std::string_view dataset,
                                              const MatchOptions& options) const {
  domain::NormalizeOptions normalize = options_.normalize;
  normalize.lenient_dates = normalize.lenient_dates || options.lenient_dates;
  absl::StatusOr<v1::NormalizedRecord> n;
  if (query.record_id().empty()) {
    v1::PersonRecord copy = query;
    copy.set_record_id(std::string(kQueryId));
    n = domain::NormalizeRecord(copy, normalize);
  } else {
    n = domain::NormalizeRecord(query, normalize);
  }
  if (!n.ok()) return n.status();
  return MatchNormalized(*n, dataset, options);
}

absl::StatusOr<Engine::Retrieved> Engine::Retrieve(const v1::NormalizedRecord& query,
                                                   std::string_view dataset,
                                                   const model::CompiledModel& m,
                                                   uint32_t generation, const std::string& exclude,
                                                   std::set<std::string>* flags) const {
  const v1::LinkageSpec& spec = m.proto().spec();
  Retrieved out;
  std::vector<std::string> ids;
  size_t keys = 0, skipped = 0;
  for (const model::BlockingKey& k : model::ComputeBlockingKeys(spec, query)) {
    ++keys;
    ids.clear();
    const v1::BlockingRule& rule = spec.blocking_rules(k.rule);
    const size_t cap =
        rule.max_block_size() > 0
            ? std::min<size_t>(static_cast<size_t>(rule.max_block_size()), options_.max_block_size)
            : options_.max_block_size;
    auto complete = store_->ScanBlock(generation, dataset, rule.name(), k.key, cap, &ids);
    if (!complete.ok()) return complete.status();
    if (!*complete) {
      // A rule's own cap skips its common keys by design; only the
      // server-wide cap means a block was too big to use.
      if (flags && cap == options_.max_block_size) flags->insert("BLOCK_OVERSIZED");
      ++skipped;
      continue;
    }
    for (std::string& id : ids) {
      std::vector<int>& rules = out.rules[id];
      if (rules.empty() || rules.back() != k.rule) rules.push_back(k.rule);
    }
  }
  // The query's identity numbers: who holds them.
  for (const v1::NormalizedId* id : {&query.national_id(), &query.old_id()}) {
    std::string key = IdKey(*id);
    if (key.empty()) continue;
    std::vector<std::string>& holders =
        id == &query.national_id() ? out.national_holders : out.old_holders;
    absl::Status st = store_->LookupId(dataset, key, options_.max_id_holders, &holders);
    if (!st.ok()) return st;
    out.id_holders.insert(out.id_holders.end(), holders.begin(), holders.end());
  }
  for (const std::string& h : out.id_holders) out.rules.try_emplace(h);
  // Every block too big to read and nothing found otherwise: "nobody
  // matched" would be a guess, so say that nothing could be looked at.
  if (flags && keys > 0 && skipped == keys && out.rules.empty()) flags->insert("BLOCK_OVERSIZED");
  if (!exclude.empty()) out.rules.erase(exclude);
  out.ids.reserve(out.rules.size());
  for (const auto& [id, rules] : out.rules) out.ids.push_back(id);
  if (out.ids.size() > options_.max_candidates) {
    if (flags) flags->insert("CANDIDATES_CAPPED");
    std::stable_sort(out.ids.begin(), out.ids.end(),
                     [&out](const std::string& a, const std::string& b) {
                       return out.rules[a].size() > out.rules[b].size();
                     });
    out.ids.resize(options_.max_candidates);
  }
  return out;
}

absl::StatusOr<v1::MatchResult> Engine::MatchNormalized(const v1::NormalizedRecord& query,
                                                        std::string_view dataset,
                                                        const MatchOptions& options) const {
  return Rank(*serving(), query, dataset, options, 0, nullptr);
}

absl::StatusOr<v1::MatchResult> Engine::Rank(const Serving& serving_now,
                                             const v1::NormalizedRecord& query,
                                             std::string_view dataset, const MatchOptions& options,
                                             size_t keep, std::vector<Ranked>* ranked,
                                             RankExtras* extras) const {
  if (options.top_k < 1 || options.top_k > 1000)
    return absl::InvalidArgumentError("top_k must be 1..1000");
  const int64_t population = store_->RecordCount(dataset);
  if (population <= 0)
    return absl::NotFoundError(absl::StrCat("dataset \"", AV(dataset), "\" has no records"));
  // One model and the generation built with it for the whole query.
  const std::shared_ptr<const model::CompiledModel>& m = serving_now.model;
  const v1::Model& mp = m->proto();
  const v1::LinkageSpec& spec = mp.spec();

  v1::MatchResult result;
  result.set_model_version(mp.version());
  result.set_uncalibrated(!mp.calibrated());
  std::set<std::string> flags(query.flags().begin(), query.flags().end());

  auto retrieved =
      Retrieve(query, dataset, *m, serving_now.generation, options.exclude_record_id, &flags);
  if (!retrieved.ok()) return retrieved.status();
  std::vector<std::string>& candidate_ids = retrieved->ids;
  std::vector<std::string>& id_holders = retrieved->id_holders;
  std::map<std::string, std::vector<int>>& found = retrieved->rules;

  // Compare and score. Candidates are parsed into an arena for this query:
  // at 1M records, heap allocation and destruction of their strings took a
  // third of the CPU.
  google::protobuf::ArenaOptions arena_options;
  arena_options.start_block_size = 64 << 10;
  arena_options.max_block_size = 1 << 20;
  google::protobuf::Arena arena(arena_options);
  auto stored = store_->MultiGetNormalized(dataset, candidate_ids, &arena);
  if (!stored.ok()) return stored.status();
  const double prior_bits = m->PriorBits(population);
  // Term frequencies of the query's values in the searched dataset.
  model::QueryTermFrequencies tf;
  tf.log2_tf.assign(m->num_fields(), std::nan(""));
  for (size_t f = 0; f < m->num_fields(); ++f) {
    std::string key = m->TermKey(f, query);
    if (key.empty()) continue;
    int64_t count = std::max<int64_t>(store_->TermCount(dataset, key), 1);
    tf.log2_tf[f] = std::log2(static_cast<double>(count) / static_cast<double>(population));
  }
  std::vector<Scored> scored;
  scored.reserve(candidate_ids.size());
  for (size_t i = 0; i < candidate_ids.size(); ++i) {
    const v1::NormalizedRecord* s = (*stored)[i];
    if (s == nullptr) continue;  // Deleted since the block was read.
    Scored sc{&candidate_ids[i], s, 0.0, std::vector<model::FieldOutcome>(m->num_fields()),
              found[candidate_ids[i]]};
    sc.weight = prior_bits + m->Compare(query, *s, sc.outcomes.data(), &tf);
    scored.push_back(std::move(sc));
  }
  result.set_candidates_scored(static_cast<int32_t>(scored.size()));
  std::sort(scored.begin(), scored.end(), [](const Scored& a, const Scored& b) {
    if (a.weight != b.weight) return a.weight > b.weight;
    return *a.record_id < *b.record_id;
  });

  // Decide.
  const v1::DecisionPolicy& policy = mp.policy();
  v1::Band band = v1::BAND_NO_MATCH;
  double margin = std::numeric_limits<double>::infinity();
  if (!scored.empty()) {
    const Scored& best = scored[0];
    if (scored.size() > 1) margin = best.weight - scored[1].weight;
    band = BandFor(m->Probability(best.weight), policy);
    if (band == v1::BAND_MATCH && margin < policy.min_margin_bits()) {
      band = v1::BAND_REVIEW;
      flags.insert("AMBIGUOUS");
    }
    // Names that disagree entirely never make an automatic match, however
    // strong the rest: a twin or sibling at the same address with the same
    // date of birth looks exactly like that.
    const int name_field = m->FieldIndex(v1::FIELD_SOURCE_FULL_NAME);
    if (name_field >= 0 &&
        m->LevelKindOf(static_cast<size_t>(name_field),
                       best.outcomes[static_cast<size_t>(name_field)].level) == v1::LEVEL_ELSE) {
      flags.insert("NAME_DIFFERS");
      if (band == v1::BAND_MATCH) band = v1::BAND_REVIEW;
    }
    // The claimed identity number belongs to someone other than the best
    // candidate: never an automatic match.
    const std::string& best_id = *best.record_id;
    bool conflict = std::any_of(id_holders.begin(), id_holders.end(),
                                [&best_id](const std::string& h) { return h != best_id; });
    if (conflict) {
      flags.insert("ID_CONFLICT");
      if (band == v1::BAND_MATCH) band = v1::BAND_REVIEW;
    }
  }
  if (flags.count("CCCD_SEX_MISMATCH") || flags.count("CCCD_YEAR_MISMATCH"))
    flags.insert("ID_INCONSISTENT");
  result.set_band(band);
  result.set_margin_bits(margin);

  const size_t k = std::min(scored.size(), static_cast<size_t>(options.top_k));
  // Full stored records only for the candidates returned, and only if asked.
  std::vector<const v1::StoredRecord*> full(k, nullptr);
  if (options.include_records && k > 0) {
    std::vector<std::string> ids;
    for (size_t i = 0; i < k; ++i) ids.push_back(*scored[i].record_id);
    auto records = store_->MultiGet(dataset, ids, &arena);
    if (!records.ok()) return records.status();
    full = *std::move(records);
  }
  for (size_t i = 0; i < k; ++i) {
    const Scored& sc = scored[i];
    v1::Candidate* c = result.add_candidates();
    c->set_record_id(*sc.record_id);
    c->set_dataset(std::string(dataset));
    c->set_match_weight(sc.weight);
    c->set_probability(m->Probability(sc.weight));
    // Only the best candidate can be a match; the others are at most REVIEW.
    v1::Band own = BandFor(c->probability(), policy);
    c->set_band(i == 0 ? band : own == v1::BAND_MATCH ? v1::BAND_REVIEW : own);
    if (options.explain) {
      m->Explain(query, *sc.normalized, sc.outcomes.data(), c->mutable_contributions(),
                 options.explain_values);
    }
    if (full[i] != nullptr) *c->mutable_record() = full[i]->record();
    for (int r : sc.rules) c->add_blocking_rules(spec.blocking_rules(r).name());
  }
  if (extras != nullptr) {
    extras->national_holders = std::move(retrieved->national_holders);
    extras->old_holders = std::move(retrieved->old_holders);
    const size_t n = std::min(scored.size(), keep);
    for (size_t i = 0; i < n; ++i) {
      const std::string& id = *scored[i].record_id;
      if (std::find(id_holders.begin(), id_holders.end(), id) != id_holders.end())
        extras->holder_names[id] = scored[i].normalized->name();
    }
  }
  if (ranked != nullptr) {
    const size_t n = std::min(scored.size(), keep);
    ranked->clear();
    ranked->reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const Scored& sc = scored[i];
      const double p = m->Probability(sc.weight);
      const v1::Band own = BandFor(p, policy);
      ranked->push_back({*sc.record_id, p, sc.weight,
                         i == 0                  ? band
                         : own == v1::BAND_MATCH ? v1::BAND_REVIEW
                                                 : own,
                         sc.outcomes});
    }
  }
  for (const std::string& f : flags) result.add_flags(f);
  if (options.include_query) *result.mutable_query() = query;
  return result;
}

}  // namespace linkage::engine

namespace linkage::engine {

absl::StatusOr<v1::Verification> Engine::Verify(const v1::PersonRecord& claim,
                                                std::string_view dataset,
                                                bool lenient_dates) const {
  VerifyOptions options;
  options.lenient_dates = lenient_dates;
  return Verify(claim, dataset, options);
}

absl::StatusOr<v1::Verification> Engine::Verify(const v1::PersonRecord& claim,
                                                std::string_view dataset,
                                                const VerifyOptions& options) const {
  if (claim.national_id().empty() && claim.old_id().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("record \"", claim.record_id(),
                     "\": national_id is required to verify a claimed identity"));
  }
  v1::PersonRecord copy = claim;
  if (copy.record_id().empty()) copy.set_record_id(std::string(kQueryId));
  domain::NormalizeOptions normalize = options_.normalize;
  normalize.lenient_dates = normalize.lenient_dates || options.lenient_dates;
  auto query = domain::NormalizeRecord(copy, normalize);
  if (!query.ok()) return query.status();
  if (IdKey(query->national_id()).empty() && IdKey(query->old_id()).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("record \"", claim.record_id(), "\": national_id \"", claim.national_id(),
                     "\" is neither a 12-digit CCCD nor a 9-digit CMND"));
  }
  // One model for the ranking and every decision made on it.
  return VerifyNormalized(*serving(), *query, claim.record_id(), dataset, options);
}

absl::StatusOr<v1::Verification> Engine::VerifyNormalized(const Serving& serving_now,
                                                          const v1::NormalizedRecord& normalized,
                                                          const std::string& claim_record_id,
                                                          std::string_view dataset,
                                                          const VerifyOptions& options) const {
  const v1::NormalizedRecord* query = &normalized;
  const bool use_national = !IdKey(query->national_id()).empty();
  if (!use_national && IdKey(query->old_id()).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "record \"", claim_record_id, "\": national_id is required to verify a claimed identity"));
  }
  // The decision reads the first 20 candidates' levels; explanations are
  // built only for the candidates handed back.
  MatchOptions mo;
  mo.top_k = std::max(1, std::min(options.match_top_k, 1000));
  mo.exclude_record_id = options.exclude_record_id;
  mo.explain = options.match != nullptr && options.match_explain;
  mo.include_query = options.match != nullptr && options.match_explain;
  std::vector<Ranked> ranked;
  RankExtras found;
  auto match = Rank(serving_now, *query, dataset, mo, 20, &ranked, &found);
  if (!match.ok()) return match.status();
  const std::shared_ptr<const model::CompiledModel>& m = serving_now.model;
  const std::vector<std::string>& holders =
      use_national ? found.national_holders : found.old_holders;

  v1::Verification v;
  v.set_model_version(match->model_version());
  v.set_uncalibrated(match->uncalibrated());
  std::set<std::string> flags(match->flags().begin(), match->flags().end());
  flags.erase("ID_CONFLICT");  // Re-derived below against the holder.

  const Ranked* best = ranked.empty() ? nullptr : &ranked[0];
  const Ranked* holder = nullptr;
  for (const Ranked& c : ranked) {
    if (std::find(holders.begin(), holders.end(), c.record_id) != holders.end()) {
      holder = &c;  // The best-scoring holder (candidates are ranked).
      break;
    }
  }
  const int name_field = m->FieldIndex(v1::FIELD_SOURCE_FULL_NAME);
  auto name_is_else = [&m, name_field](const Ranked& c) {
    return name_field >= 0 &&
           m->LevelKindOf(static_cast<size_t>(name_field),
                          c.outcomes[static_cast<size_t>(name_field)].level) == v1::LEVEL_ELSE;
  };
  const Ranked* target = nullptr;
  if (holder != nullptr) {
    v.set_id_holder(holder->record_id);
    // The ID holder's name at the "different" level. That level also takes
    // one-letter given-name differences (siblings and twins look like that),
    // so such a holder is never VERIFIED; if the names are wholly unlike
    // (other family name and given name) the claim is REJECTED; if another
    // register person fits the claim's name, the ID is probably a
    // relative's (ID_CONFLICT).
    const bool holder_name_differs = name_is_else(*holder);
    const Ranked* name_fits = nullptr;  // Best other candidate agreeing on the name.
    for (const Ranked& c : ranked) {
      if (&c != holder && !name_is_else(c) && c.band != v1::BAND_NO_MATCH) {
        name_fits = &c;
        break;
      }
    }
    bool wholly_unlike = false;
    if (holder_name_differs) {
      auto name = found.holder_names.find(holder->record_id);
      if (name != found.holder_names.end()) {
        const v1::NormalizedName& a = query->name();
        const v1::NormalizedName& b = name->second;
        std::string fa = text::FoldedFamily(a), fb = text::FoldedFamily(b);
        wholly_unlike =
            fa != fb && !text::AreFamilyVariants(fa, fb) &&
            model::DamerauLevenshtein(text::FoldedGiven(a), text::FoldedGiven(b), 1) > 1 &&
            !HoldsNameWords(a, b) && !HoldsNameWords(b, a);
      }
    }
    if (holder_name_differs && name_fits != nullptr) {
      target = name_fits;
      flags.insert("ID_CONFLICT");
      v.set_decision(v1::REVIEW);
      v.add_reasons(absl::StrCat("the ID belongs to record ", holder->record_id,
                                 ", but the claimed name fits record ", name_fits->record_id,
                                 " (a relative's ID?)"));
    } else if (holder_name_differs && wholly_unlike) {
      target = holder;
      v.set_decision(v1::REJECTED);
      v.add_reasons("the claimed name is not the ID holder's name");
    } else if (holder_name_differs && best == holder && match->band() != v1::BAND_NO_MATCH) {
      target = holder;
      v.set_decision(v1::REVIEW);
      v.add_reasons("the claimed given name differs from the ID holder's");
    } else if (best == holder) {
      target = holder;
      if (match->band() == v1::BAND_MATCH) {
        v.set_decision(v1::VERIFIED);
        v.add_reasons("the ID's holder matches the claim");
      } else if (match->band() == v1::BAND_REVIEW) {
        v.set_decision(v1::REVIEW);
        v.add_reasons(flags.count("AMBIGUOUS")
                          ? "the ID's holder matches, but another register person is close"
                          : "the ID's holder matches the claim only in part");
      } else {
        v.set_decision(v1::REJECTED);
        v.add_reasons("the ID's holder does not match the claimed name, date of birth or address");
      }
    } else {
      flags.insert("ID_CONFLICT");
      if (best->band != v1::BAND_NO_MATCH) {
        target = best;
        v.set_decision(v1::REVIEW);
        v.add_reasons(absl::StrCat("the ID belongs to record ", holder->record_id,
                                   ", but the claim describes record ", best->record_id));
      } else {
        target = holder;
        v.set_decision(v1::REJECTED);
        v.add_reasons(absl::StrCat("the ID belongs to record ", holder->record_id,
                                   ", whom the claim does not describe"));
      }
    }
  } else if (!holders.empty()) {
    // Holders exist but were not among the scored candidates (capped).
    flags.insert("ID_CONFLICT");
    v.set_id_holder(holders[0]);
    v.set_decision(v1::REVIEW);
    v.add_reasons("the ID's holder could not be compared with the claim");
  } else {
    // The claimant's own register record, with the ID one keystroke off:
    // a typo, not another person, when everything else makes it a match.
    bool id_typo = false;
    if (best != nullptr && match->band() == v1::BAND_MATCH) {
      int f = m->FieldIndex(query->national_id().digits().empty() ? v1::FIELD_SOURCE_OLD_ID
                                                                  : v1::FIELD_SOURCE_NATIONAL_ID);
      id_typo = f >= 0 && m->LevelKindOf(static_cast<size_t>(f),
                                         best->outcomes[static_cast<size_t>(f)].level) ==
                              v1::LEVEL_ID_ONE_EDIT;
    }
    if (id_typo) {
      target = best;
      flags.insert("ID_TYPO");
      v.set_decision(v1::VERIFIED);
      v.add_reasons(absl::StrCat("the claim matches record ", best->record_id,
                                 ", whose ID differs from the claimed one by one digit"));
    } else if (best != nullptr && best->band != v1::BAND_NO_MATCH) {
      flags.insert("ID_NOT_IN_REGISTER");
      target = best;
      v.set_decision(v1::REVIEW);
      v.add_reasons(absl::StrCat("no register person holds the ID; the claim describes record ",
                                 best->record_id));
    } else {
      flags.insert("ID_NOT_IN_REGISTER");
      v.set_decision(v1::NOT_FOUND);
      v.add_reasons("neither the ID nor the person is in the register");
    }
  }
  if (flags.count("CCCD_SEX_MISMATCH") || flags.count("CCCD_YEAR_MISMATCH")) {
    flags.insert("ID_INCONSISTENT");
    v.add_reasons("the ID's digits disagree with the claimed sex or birth year");
  }
  if (target != nullptr) {
    v.set_record_id(target->record_id);
    v.set_probability(target->probability);
    m->ExplainLevels(target->outcomes.data(), v.mutable_contributions());
  }
  for (const std::string& f : flags) v.add_flags(f);
  if (options.match != nullptr) *options.match = *std::move(match);
  return v;
}

}  // namespace linkage::engine
