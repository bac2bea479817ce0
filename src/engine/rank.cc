// Retrieve (blocking), compare, score, rank and decide the band of a
// query's candidates.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "decide.h"
#include "internal.h"
#include "linkage/engine.h"
#include "linkage/flags.h"
#include "linkage/name_likeness.h"

namespace linkage::engine {
namespace {

struct Scored {
  const std::string* record_id;
  const v1::NormalizedRecord* normalized;
  double weight;
  std::vector<model::FieldOutcome> outcomes;
  std::vector<int> rules;
};

}  // namespace

using internal::BandFacts;
using internal::BandFor;
using internal::CandidateBand;
using internal::DecideBand;
using internal::IdKey;
using internal::kQueryId;
using internal::NameDiffers;
using internal::Ranked;
using internal::RankExtras;

absl::StatusOr<v1::MatchResult> Engine::Match(const v1::PersonRecord& query,
                                              std::string_view dataset,
                                              const MatchOptions& options) const {
  domain::NormalizeOptions normalize = options_.normalize;
  normalize.strict_dates = normalize.strict_dates || options.strict_dates;
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

RetrievalStats Engine::retrieval_stats() const {
  RetrievalStats s;
  const RetrievalCounters& c = retrieval_counters_;
  for (size_t i = 0; i < c.buckets.size(); ++i)
    s.candidate_buckets[i] = c.buckets[i].load(std::memory_order_relaxed);
  s.queries = c.queries.load(std::memory_order_relaxed);
  s.candidates = c.candidates.load(std::memory_order_relaxed);
  s.blocks_skipped_oversized = c.oversized.load(std::memory_order_relaxed);
  s.queries_capped = c.capped.load(std::memory_order_relaxed);
  return s;
}

absl::StatusOr<Engine::Retrieved> Engine::Retrieve(const v1::NormalizedRecord& query,
                                                   std::string_view dataset,
                                                   const model::CompiledModel& m,
                                                   uint32_t generation, const std::string& exclude,
                                                   std::set<std::string>* flags) const {
  const v1::LinkageSpec& spec = m.proto().spec();
  Retrieved out;
  std::vector<std::string> ids;
  index::Store::ReadHints hints;
  size_t keys = 0, skipped = 0, skipped_oversized = 0;
  for (const model::BlockingKey& k : model::ComputeBlockingKeys(spec, query)) {
    ++keys;
    ids.clear();
    hints.clear();
    const v1::BlockingRule& rule = spec.blocking_rules(k.rule);
    const size_t cap =
        rule.max_block_size() > 0
            ? std::min<size_t>(static_cast<size_t>(rule.max_block_size()), options_.max_block_size)
            : options_.max_block_size;
    LINKD_ASSIGN_OR_RETURN(auto complete, store_->ScanBlock(generation, dataset, rule.name(), k.key,
                                                            cap, &ids, &hints));
    if (!complete) {
      // A rule's own cap skips its common keys by design; only the
      // server-wide cap means a block was too big to use.
      if (cap == options_.max_block_size) {
        if (flags) flags->insert(flag::kBlockOversized);
        ++skipped_oversized;
      }
      ++skipped;
      continue;
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      Retrieved::Found& f = out.found[ids[i]];
      if (f.rules.empty() || f.rules.back() != k.rule) f.rules.push_back(k.rule);
      f.hint = hints[i];
    }
  }
  // The query's identity numbers: who holds them.
  for (const v1::NormalizedId* id : {&query.national_id(), &query.old_id()}) {
    std::string key = IdKey(*id);
    if (key.empty()) continue;
    std::vector<std::string>& holders =
        id == &query.national_id() ? out.national_holders : out.old_holders;
    const size_t start = holders.size();
    hints.clear();
    LINKD_RETURN_IF_ERROR(
        store_->LookupId(dataset, key, options_.max_id_holders, &holders, &hints));
    for (size_t i = start; i < holders.size(); ++i) {
      out.id_holders.push_back(holders[i]);
      out.found[holders[i]].hint = hints[i - start];
    }
  }
  // Every block too big to read and nothing found otherwise: "nobody
  // matched" would be a guess, so say that nothing could be looked at.
  if (flags && keys > 0 && skipped == keys && out.found.empty())
    flags->insert(flag::kBlockOversized);
  if (!exclude.empty()) out.found.erase(exclude);
  // In id order, so that the cap below and ties in scoring fall the same
  // way whatever order the blocks were read in.
  out.ids.reserve(out.found.size());
  for (const auto& [id, f] : out.found) out.ids.push_back(id);
  std::sort(out.ids.begin(), out.ids.end());
  {
    RetrievalCounters& c = retrieval_counters_;
    const auto n = static_cast<int64_t>(out.ids.size());
    const auto& bounds = RetrievalStats::kCandidateBounds;
    const size_t bucket = std::lower_bound(bounds.begin(), bounds.end(), n) - bounds.begin();
    c.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
    c.queries.fetch_add(1, std::memory_order_relaxed);
    c.candidates.fetch_add(n, std::memory_order_relaxed);
    if (skipped_oversized > 0)
      c.oversized.fetch_add(static_cast<int64_t>(skipped_oversized), std::memory_order_relaxed);
    if (out.ids.size() > options_.max_candidates) c.capped.fetch_add(1, std::memory_order_relaxed);
  }
  if (out.ids.size() > options_.max_candidates) {
    if (flags) flags->insert(flag::kCandidatesCapped);
    std::stable_sort(out.ids.begin(), out.ids.end(),
                     [&out](const std::string& a, const std::string& b) {
                       return out.found[a].rules.size() > out.found[b].rules.size();
                     });
    out.ids.resize(options_.max_candidates);
  }
  out.hints.reserve(out.ids.size());
  for (const std::string& id : out.ids) out.hints.push_back(out.found[id].hint);
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

  LINKD_ASSIGN_OR_RETURN(Retrieved retrieved, Retrieve(query, dataset, *m, serving_now.generation,
                                                       options.exclude_record_id, &flags));
  std::vector<std::string>& candidate_ids = retrieved.ids;
  std::vector<std::string>& id_holders = retrieved.id_holders;
  auto& found = retrieved.found;

  // Compare and score. Candidates are parsed into an arena for this query:
  // at 1M records, heap allocation and destruction of their strings took a
  // third of the CPU.
  google::protobuf::ArenaOptions arena_options;
  arena_options.start_block_size = 64 << 10;
  arena_options.max_block_size = 1 << 20;
  google::protobuf::Arena arena(arena_options);
  LINKD_ASSIGN_OR_RETURN(
      std::vector<const v1::NormalizedRecord*> stored,
      store_->MultiGetNormalized(dataset, candidate_ids, &retrieved.hints, &arena));
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
    const v1::NormalizedRecord* s = stored[i];
    if (s == nullptr) continue;  // Deleted since the block was read.
    Scored sc{&candidate_ids[i], s, 0.0, std::vector<model::FieldOutcome>(m->num_fields()),
              found[candidate_ids[i]].rules};
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
    const std::string& best_id = *best.record_id;
    BandFacts facts;
    facts.best_probability = m->Probability(best.weight);
    facts.margin_bits = margin;
    facts.best_outcomes = best.outcomes.data();
    facts.id_held_by_other = std::any_of(id_holders.begin(), id_holders.end(),
                                         [&best_id](const std::string& h) { return h != best_id; });
    facts.best_holds_id =
        std::find(id_holders.begin(), id_holders.end(), best_id) != id_holders.end();
    if (NameDiffers(*m, best.outcomes.data())) {
      // The typo level held only if the names are typing variants; a model
      // without that level leaves them at ELSE, so ask directly then.
      const int name_field = m->FieldIndex(v1::FIELD_SOURCE_FULL_NAME);
      facts.name_typo = m->LevelKindOf(static_cast<size_t>(name_field),
                                       best.outcomes[static_cast<size_t>(name_field)].level) ==
                            v1::LEVEL_NAME_TYPO ||
                        model::IsTypingVariant(query.name(), best.normalized->name());
      facts.name_typos =
          facts.name_typo || model::WithinTypingEdits(query.name(), best.normalized->name(), 2);
      facts.typo_makes_no_other_name =
          facts.name_typo && model::TypoMakesNoOtherName(query.name(), best.normalized->name());
      // Whom else the name fits, among the candidates a decision reads.
      for (size_t i = 1; i < std::min<size_t>(scored.size(), 20); ++i) {
        const Scored& other = scored[i];
        if (BandFor(m->Probability(other.weight), policy) == v1::BAND_NO_MATCH) continue;
        if (!NameDiffers(*m, other.outcomes.data())) {
          facts.other_fits_name = true;
          break;
        }
        if (facts.typo_makes_no_other_name &&
            model::IsTypingVariant(query.name(), other.normalized->name())) {
          facts.other_typing_variant = true;
        }
      }
    }
    band = DecideBand(*m, facts, &flags);
  }
  if (flags.count(flag::kCccdSexMismatch) || flags.count(flag::kCccdYearMismatch))
    flags.insert(flag::kIdInconsistent);
  result.set_band(band);
  result.set_margin_bits(margin);

  const size_t k = std::min(scored.size(), static_cast<size_t>(options.top_k));
  // Full stored records only for the candidates returned, and only if asked.
  std::vector<const v1::StoredRecord*> full(k, nullptr);
  if (options.include_records && k > 0) {
    std::vector<std::string> ids;
    for (size_t i = 0; i < k; ++i) ids.push_back(*scored[i].record_id);
    LINKD_ASSIGN_OR_RETURN(auto records, store_->MultiGet(dataset, ids, &arena));
    full = std::move(records);
  }
  for (size_t i = 0; i < k; ++i) {
    const Scored& sc = scored[i];
    v1::Candidate* c = result.add_candidates();
    c->set_record_id(*sc.record_id);
    c->set_dataset(std::string(dataset));
    c->set_match_weight(sc.weight);
    c->set_probability(m->Probability(sc.weight));
    // Only the best candidate can be a match; the others are at most REVIEW.
    c->set_band(CandidateBand(i, band, BandFor(c->probability(), policy)));
    if (options.explain) {
      m->Explain(query, *sc.normalized, sc.outcomes.data(), c->mutable_contributions(),
                 options.explain_values);
    }
    if (full[i] != nullptr) *c->mutable_record() = full[i]->record();
    for (int r : sc.rules) c->add_blocking_rules(spec.blocking_rules(r).name());
  }
  if (extras != nullptr) {
    extras->national_holders = std::move(retrieved.national_holders);
    extras->old_holders = std::move(retrieved.old_holders);
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
      ranked->push_back(
          {*sc.record_id, p, sc.weight, CandidateBand(i, band, BandFor(p, policy)), sc.outcomes});
    }
  }
  for (const std::string& f : flags) result.add_flags(f);
  if (options.include_query) *result.mutable_query() = query;
  return result;
}

}  // namespace linkage::engine
