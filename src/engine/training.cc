// Unsupervised estimation of the Fellegi-Sunter parameters.
#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "linkage/engine.h"

namespace linkage::engine {
namespace {

// Up to `n` records of a dataset, chosen uniformly (reservoir sampling).
absl::StatusOr<std::vector<v1::StoredRecord>> Sample(index::Store* store, std::string_view dataset,
                                                     int64_t n, std::mt19937_64& rng) {
  std::vector<v1::StoredRecord> sample;
  int64_t seen = 0;
  absl::Status st = store->ForEachRecord(dataset, [&](const v1::StoredRecord& r) {
    ++seen;
    if (static_cast<int64_t>(sample.size()) < n) {
      sample.push_back(r);
    } else {
      std::uniform_int_distribution<int64_t> pick(0, seen - 1);
      int64_t j = pick(rng);
      if (j < n) sample[static_cast<size_t>(j)] = r;
    }
    return true;
  });
  if (!st.ok()) return st;
  return sample;
}

// Which fields a blocking rule fixes: pairs it finds agree on them by
// construction, so they say nothing about m in that rule's EM session.
std::vector<bool> FixedFields(const v1::BlockingRule& rule, const v1::LinkageSpec& spec) {
  std::vector<bool> fixed(static_cast<size_t>(spec.fields_size()), false);
  int attribute_part = 0;
  for (int p = 0; p < rule.parts_size(); ++p) {
    v1::FieldSource source = v1::FIELD_SOURCE_UNSPECIFIED;
    std::string attribute;
    switch (rule.parts(p)) {
      case v1::KEY_NATIONAL_ID:
        source = v1::FIELD_SOURCE_NATIONAL_ID;
        break;
      case v1::KEY_OLD_ID:
        source = v1::FIELD_SOURCE_OLD_ID;
        break;
      case v1::KEY_FAMILY_FOLDED:
      case v1::KEY_FAMILY_GROUP:
      case v1::KEY_GIVEN_FOLDED:
      case v1::KEY_PHONETIC_SORTED:
      case v1::KEY_GIVEN_PHONETIC:
      case v1::KEY_FAMILY_PHONETIC:
      case v1::KEY_FULL_NAME_FOLDED:
        source = v1::FIELD_SOURCE_FULL_NAME;
        break;
      case v1::KEY_BIRTH_YEAR:
      case v1::KEY_BIRTH_DATE:
        source = v1::FIELD_SOURCE_BIRTH_DATE;
        break;
      case v1::KEY_COMMUNE_2025:
      case v1::KEY_PROVINCE_2025:
        source = v1::FIELD_SOURCE_ADDRESS;
        break;
      case v1::KEY_ATTRIBUTE:
        source = v1::FIELD_SOURCE_ATTRIBUTE;
        attribute = rule.attributes_size() > attribute_part ? rule.attributes(attribute_part)
                                                            : rule.attribute();
        ++attribute_part;
        break;
      default:
        break;
    }
    for (int f = 0; f < spec.fields_size(); ++f) {
      const v1::FieldSpec& fs = spec.fields(f);
      if (fs.source() == source &&
          (source != v1::FIELD_SOURCE_ATTRIBUTE || fs.attribute() == attribute)) {
        fixed[static_cast<size_t>(f)] = true;
      }
    }
  }
  return fixed;
}

// A compared pair: the level of each field (-1 null) and the rules that
// found it (bit i = rule i).
// Floor of any fitted m (about -10 bits against u near 1).
constexpr double kMinM = 1e-3;

struct ComparedPair {
  std::vector<int8_t> levels;
  uint64_t rules = 0;
  size_t query = 0;  // Which training query it came from.
};

}  // namespace

absl::StatusOr<std::pair<v1::Model, TrainReport>> Engine::Train(const TrainOptions& o) const {
  std::shared_ptr<const Serving> serving_now = serving();
  const std::shared_ptr<const model::CompiledModel>& m = serving_now->model;
  const v1::Model& current = m->proto();
  const v1::LinkageSpec& spec = current.spec();
  const size_t nf = m->num_fields();
  if (spec.blocking_rules_size() > 64)
    return absl::InvalidArgumentError("training supports at most 64 blocking rules");
  std::mt19937_64 rng(o.seed);
  TrainReport report;

  // u: random pairs, one record from each side of the linkage (a list
  // record and a register record), so that the list's own quirks (year-only
  // dates, old addresses) occur in them as they do among non-matches.
  auto sample = Sample(store_, o.dataset, o.u_sample_records, rng);
  if (!sample.ok()) return sample.status();
  if (sample->size() < 2)
    return absl::NotFoundError(absl::StrCat("dataset \"", o.dataset, "\" has too few records"));
  absl::StatusOr<std::vector<v1::StoredRecord>> left = *sample;
  if (!o.link_dataset.empty()) {
    left = Sample(store_, o.link_dataset, o.u_sample_records, rng);
    if (!left.ok()) return left.status();
    if (left->empty())
      return absl::NotFoundError(absl::StrCat("dataset \"", o.link_dataset, "\" has no records"));
  }
  std::vector<std::vector<double>> u_count(nf);
  for (size_t f = 0; f < nf; ++f)
    u_count[f].assign(static_cast<size_t>(spec.fields(static_cast<int>(f)).levels_size()), 0);
  std::vector<model::FieldOutcome> out(nf);
  std::uniform_int_distribution<size_t> pick_left(0, left->size() - 1);
  std::uniform_int_distribution<size_t> pick(0, sample->size() - 1);
  const auto stopped = [&o] { return o.stop != nullptr && o.stop->load(); };
  const absl::Status cancelled = absl::CancelledError("training was cancelled");
  const int64_t steps = o.u_pairs + o.max_queries + spec.blocking_rules_size();
  const auto progress = [&o, steps](int64_t done) {
    if (o.progress) o.progress(done, steps);
  };
  for (int64_t k = 0; k < o.u_pairs; ++k) {
    if (k % 4096 == 0) {
      if (stopped()) return cancelled;
      progress(k);
    }
    size_t a = pick_left(rng), b = pick(rng);
    if (o.link_dataset.empty() && a == b) continue;
    m->Compare((*left)[a].normalized(), (*sample)[b].normalized(), out.data());
    for (size_t f = 0; f < nf; ++f) {
      if (out[f].level != model::kNullLevel) ++u_count[f][static_cast<size_t>(out[f].level)];
    }
    ++report.u_pairs;
  }
  std::vector<std::vector<double>> u(nf);
  for (size_t f = 0; f < nf; ++f) {
    double total = 0;
    for (double c : u_count[f]) total += c;
    for (double c : u_count[f])
      u[f].push_back((c + 0.5) / (total + 0.5 * static_cast<double>(u_count[f].size())));
  }

  // Blocked pairs of the list (or of the dataset with itself).
  const bool dedupe = o.link_dataset.empty();
  auto queries = Sample(store_, dedupe ? o.dataset : o.link_dataset, o.max_queries, rng);
  if (!queries.ok()) return queries.status();
  if (queries->empty()) return absl::NotFoundError("no records to train m on");
  std::vector<ComparedPair> pairs;
  for (const v1::StoredRecord& q : *queries) {
    if (stopped()) return cancelled;
    if (report.queries % 64 == 0) progress(o.u_pairs + report.queries);
    auto retrieved = Retrieve(q.normalized(), o.dataset, *m, serving_now->generation,
                              dedupe ? q.record().record_id() : "", nullptr);
    if (!retrieved.ok()) return retrieved.status();
    auto stored = store_->MultiGet(o.dataset, retrieved->ids);
    if (!stored.ok()) return stored.status();
    for (size_t i = 0; i < retrieved->ids.size(); ++i) {
      if (!(*stored)[i].has_value()) continue;
      ComparedPair p;
      m->Compare(q.normalized(), (*stored)[i]->normalized(), out.data());
      for (size_t f = 0; f < nf; ++f) p.levels.push_back(static_cast<int8_t>(out[f].level));
      for (int r : retrieved->found[retrieved->ids[i]].rules) p.rules |= uint64_t{1} << r;
      p.query = static_cast<size_t>(report.queries);
      pairs.push_back(std::move(p));
    }
    ++report.queries;
  }
  report.m_pairs = static_cast<int64_t>(pairs.size());

  // EM, one session per blocking rule.
  std::vector<std::vector<double>> m_sum(nf), m_init(nf);
  std::vector<double> weight_sum(nf, 0);
  for (size_t f = 0; f < nf; ++f) {
    m_sum[f].assign(u[f].size(), 0);
    for (const auto& l : current.fields(static_cast<int>(f)).levels()) m_init[f].push_back(l.m());
  }
  for (int r = 0; r < spec.blocking_rules_size(); ++r) {
    progress(o.u_pairs + o.max_queries + r);
    std::vector<const ComparedPair*> session;
    for (const ComparedPair& p : pairs) {
      if (p.rules & (uint64_t{1} << r)) session.push_back(&p);
    }
    if (session.size() < 50) continue;
    std::vector<bool> fixed = FixedFields(spec.blocking_rules(r), spec);
    std::vector<std::vector<double>> mm = m_init;
    double lambda = 0.3;
    int it = 0;
    double change = 1;
    std::vector<double> w(session.size());
    for (; it < o.max_iterations && change > o.tolerance; ++it) {
      if (stopped()) return cancelled;
      // E: posterior probability that each pair is a match.
      double w_total = 0;
      for (size_t i = 0; i < session.size(); ++i) {
        double logit = std::log(lambda / (1 - lambda));
        for (size_t f = 0; f < nf; ++f) {
          int l = session[i]->levels[f];
          if (fixed[f] || l < 0) continue;
          logit += std::log(mm[f][static_cast<size_t>(l)] / u[f][static_cast<size_t>(l)]);
        }
        w[i] = 1 / (1 + std::exp(-std::clamp(logit, -50.0, 50.0)));
        w_total += w[i];
      }
      // M: m from the expected matches; lambda their share.
      change = 0;
      for (size_t f = 0; f < nf; ++f) {
        if (fixed[f]) continue;
        std::vector<double> c(mm[f].size(), 0);
        double total = 0;
        for (size_t i = 0; i < session.size(); ++i) {
          int l = session[i]->levels[f];
          if (l < 0) continue;
          c[static_cast<size_t>(l)] += w[i];
          total += w[i];
        }
        if (total <= 0) continue;
        for (size_t l = 0; l < c.size(); ++l) {
          // No level is impossible for a true match in real data, even if
          // the sample never shows it: m is kept at or above kMinM.
          double next =
              std::max((c[l] + 1e-3) / (total + 1e-3 * static_cast<double>(c.size())), kMinM);
          change = std::max(change, std::abs(next - mm[f][l]));
          mm[f][l] = next;
        }
      }
      lambda = std::clamp(w_total / static_cast<double>(session.size()), 1e-6, 1 - 1e-6);
    }
    report.max_iterations_run = std::max(report.max_iterations_run, it);
    report.converged = report.converged && change <= o.tolerance;
    double expected = 0;
    for (double x : w) expected += x;
    std::vector<std::string> free_names;
    for (size_t f = 0; f < nf; ++f) {
      if (fixed[f]) continue;
      free_names.push_back(spec.fields(static_cast<int>(f)).name());
      for (size_t l = 0; l < mm[f].size(); ++l) m_sum[f][l] += expected * mm[f][l];
      weight_sum[f] += expected;
    }
    report.sessions.push_back(
        absl::StrFormat("rule %s: %d pairs, %d iterations, %.0f expected matches; m of %s",
                        spec.blocking_rules(r).name(), session.size(), it, expected,
                        absl::StrJoin(free_names, ", ")));
  }

  v1::Model trained = current;
  for (size_t f = 0; f < nf; ++f) {
    v1::FieldParams* params = trained.mutable_fields(static_cast<int>(f));
    for (int l = 0; l < params->levels_size(); ++l) {
      v1::LevelParams* lp = params->mutable_levels(l);
      lp->set_u(u[f][static_cast<size_t>(l)]);
      if (weight_sum[f] > 0)
        lp->set_m(std::clamp(m_sum[f][static_cast<size_t>(l)] / weight_sum[f], kMinM, 1.0));
    }
  }
  // The prior: the share of queries that have their person in the dataset,
  // estimated as the mean over training queries of their best pair's
  // posterior under the fitted model with a prior of 1 / dataset size,
  // spread over the dataset's records.
  const int64_t population = std::max<int64_t>(store_->RecordCount(o.dataset), 2);
  std::vector<double> best(static_cast<size_t>(report.queries), 0);
  const double prior_logit = std::log(1.0 / static_cast<double>(population - 1));
  for (const ComparedPair& p : pairs) {
    double logit = prior_logit;
    for (size_t f = 0; f < nf; ++f) {
      int l = p.levels[f];
      if (l < 0) continue;
      const v1::LevelParams& lp = trained.fields(static_cast<int>(f)).levels(l);
      logit += std::log(lp.m() / lp.u());
    }
    best[p.query] = std::max(best[p.query], 1 / (1 + std::exp(-std::clamp(logit, -50.0, 50.0))));
  }
  double share = 0;
  for (double b : best) share += b;
  share =
      report.queries > 0 ? std::clamp(share / static_cast<double>(report.queries), 0.01, 1.0) : 1.0;
  report.match_share = share;
  trained.set_prior(share / static_cast<double>(population));
  trained.set_version(absl::StrCat(
      "trained-", absl::FormatTime("%Y%m%d-%H%M%S", absl::Now(), absl::UTCTimeZone())));
  trained.set_calibrated(false);
  trained.clear_calibration();
  return std::make_pair(std::move(trained), std::move(report));
}

absl::StatusOr<TrainedModel> Engine::TrainAndInstall(const TrainOptions& options, bool dry_run,
                                                     const WriteHook& log) {
  LINKD_ASSIGN_OR_RETURN(auto trained, Train(options));
  TrainedModel out;
  out.model = std::move(trained.first);
  out.report = std::move(trained.second);
  if (!dry_run) {
    LINKD_ASSIGN_OR_RETURN(out.previous_version, InstallModel(out.model, log));
    out.installed = true;
  }
  return out;
}

}  // namespace linkage::engine
