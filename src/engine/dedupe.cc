// Duplicate detection: every record of a dataset is matched against the
// dataset itself (or another one), links above a threshold are clustered by
// connected components, strongest links first.
#include <algorithm>
#include <cmath>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "decide.h"
#include "linkage/engine.h"
#include "parallel.h"

namespace linkage::engine {
namespace {

// Union-find over record indices.
class Components {
 public:
  int Add() {
    parent_.push_back(static_cast<int>(parent_.size()));
    return parent_.back();
  }
  int Find(int x) {
    while (parent_[static_cast<size_t>(x)] != x) {
      int& p = parent_[static_cast<size_t>(x)];
      p = parent_[static_cast<size_t>(p)];  // Path halving.
      x = p;
    }
    return x;
  }
  bool Union(int a, int b) {
    a = Find(a);
    b = Find(b);
    if (a == b) return false;
    parent_[static_cast<size_t>(std::max(a, b))] = std::min(a, b);
    return true;
  }

 private:
  std::vector<int> parent_;
};

}  // namespace

absl::StatusOr<DedupeReport> Engine::FindDuplicates(const DedupeOptions& options) const {
  const bool within = options.against.empty() || options.against == options.dataset;
  const std::string against = within ? options.dataset : options.against;
  for (const std::string& d : {options.dataset, against, options.register_dataset}) {
    if (d.empty()) continue;  // No register given.
    if (store_->RecordCount(d) <= 0)
      return absl::NotFoundError(absl::StrCat("dataset \"", d, "\" has no records"));
  }
  if (options.top_k < 1 || options.top_k > 1000)
    return absl::InvalidArgumentError("top_k must be 1..1000");
  // One model for every record of the job (its version is the report's).
  const std::shared_ptr<const Serving> pinned = serving();
  const std::shared_ptr<const model::CompiledModel>& m = pinned->model;
  DedupeReport report;
  report.model_version = m->proto().version();
  report.threshold =
      options.threshold > 0 ? options.threshold : m->proto().policy().review_probability();
  const int64_t total = store_->RecordCount(options.dataset);

  // Links, keyed "a\0b" (a < b within one dataset); the higher probability
  // of the two directions is kept.
  absl::flat_hash_map<std::string, DuplicateLink> links;
  absl::Mutex links_mu;
  // With a register: each record's register person, when it is a MATCH.
  struct Resolved {
    std::string register_id;
    double probability = 0;
  };
  absl::flat_hash_map<std::string, Resolved> resolved;  // "dataset\0id"
  auto node_key = [](const std::string& dataset, const std::string& id) {
    return absl::StrCat(dataset, std::string(1, '\0'), id);
  };
  // Resolves thread t's share of `chunk` (records of `dataset`) against the
  // register.
  auto resolve = [&](const std::vector<v1::StoredRecord>& chunk, const std::string& dataset,
                     size_t t, size_t n) -> absl::Status {
    MatchOptions mo;
    mo.top_k = 1;
    mo.explain = false;
    mo.include_query = false;
    std::vector<std::pair<std::string, Resolved>> found;
    for (size_t i = t; i < chunk.size(); i += n) {
      LINKD_ASSIGN_OR_RETURN(
          auto r, Rank(*pinned, chunk[i].normalized(), options.register_dataset, mo, 0, nullptr));
      if (r.band() == v1::BAND_MATCH && r.candidates_size() > 0) {
        found.push_back({node_key(dataset, chunk[i].record().record_id()),
                         {r.candidates(0).record_id(), r.candidates(0).probability()}});
      }
    }
    absl::MutexLock lock(&links_mu);
    for (auto& [k, v] : found) resolved[k] = std::move(v);
    return absl::OkStatus();
  };
  absl::Status st = ForEachRecordInParallel(
      *store_, options.dataset, options.threads, options.stop,
      [&](const std::vector<v1::StoredRecord>& chunk, size_t t, size_t n) -> absl::Status {
        MatchOptions mo;
        mo.top_k = 1;
        mo.explain = false;
        mo.include_query = false;
        std::vector<internal::Ranked> ranked;
        std::vector<DuplicateLink> found;
        for (size_t i = t; i < chunk.size(); i += n) {
          const std::string& id = chunk[i].record().record_id();
          mo.exclude_record_id = within ? id : "";
          LINKD_ASSIGN_OR_RETURN(auto r, Rank(*pinned, chunk[i].normalized(), against, mo,
                                              static_cast<size_t>(options.top_k), &ranked));
          for (const internal::Ranked& c : ranked) {
            if (c.probability < report.threshold) break;  // Ranked.
            DuplicateLink l{options.dataset, id, against, c.record_id, c.probability, c.weight, ""};
            if (within && l.record_b < l.record_a) std::swap(l.record_a, l.record_b);
            found.push_back(std::move(l));
          }
        }
        if (!options.register_dataset.empty()) {
          LINKD_RETURN_IF_ERROR(resolve(chunk, options.dataset, t, n));
        }
        absl::MutexLock lock(&links_mu);
        for (DuplicateLink& l : found) {
          std::string key = absl::StrCat(l.record_a, std::string(1, '\0'), l.record_b);
          auto [it, inserted] = links.try_emplace(key, l);
          if (!inserted && l.probability > it->second.probability) it->second = std::move(l);
        }
        return absl::OkStatus();
      },
      [&](int64_t done) {
        report.records = done;
        if (options.progress) options.progress(done, total);
      });
  if (!st.ok()) return st;
  if (!options.register_dataset.empty()) {
    // The other dataset's records are resolved too.
    if (!within) {
      st = ForEachRecordInParallel(*store_, against, options.threads, options.stop,
                                   [&](const std::vector<v1::StoredRecord>& chunk, size_t t,
                                       size_t n) { return resolve(chunk, against, t, n); });
      if (!st.ok()) return st;
    }
    // Two records the register resolves to different people are not one;
    // two it resolves to the same person are, however unlike they look.
    for (auto it = links.begin(); it != links.end();) {
      auto a = resolved.find(node_key(it->second.dataset_a, it->second.record_a));
      auto b = resolved.find(node_key(it->second.dataset_b, it->second.record_b));
      if (a != resolved.end() && b != resolved.end() &&
          a->second.register_id != b->second.register_id) {
        links.erase(it++);
      } else {
        ++it;
      }
    }
    std::map<std::string, std::vector<std::pair<std::string, const Resolved*>>> by_person;
    for (const auto& [key, r] : resolved) by_person[r.register_id].emplace_back(key, &r);
    for (auto& [person, members] : by_person) {
      std::sort(members.begin(), members.end());
      for (size_t i = 0; i < members.size(); ++i) {
        for (size_t j = i + 1; j < members.size(); ++j) {
          const std::string& ka = members[i].first;
          const std::string& kb = members[j].first;
          DuplicateLink l;
          l.dataset_a = ka.substr(0, ka.find('\0'));
          l.record_a = ka.substr(ka.find('\0') + 1);
          l.dataset_b = kb.substr(0, kb.find('\0'));
          l.record_b = kb.substr(kb.find('\0') + 1);
          if (!within) {
            if (l.dataset_a == l.dataset_b) continue;  // Only pairs across the two.
            if (l.dataset_a != options.dataset) {
              std::swap(l.dataset_a, l.dataset_b);
              std::swap(l.record_a, l.record_b);
            }
          }
          l.probability = std::min(members[i].second->probability, members[j].second->probability);
          l.match_weight = std::log2(l.probability / std::max(1e-12, 1 - l.probability));
          l.via_register = person;
          auto [it, inserted] =
              links.try_emplace(absl::StrCat(l.record_a, std::string(1, '\0'), l.record_b), l);
          if (!inserted && it->second.probability < l.probability) it->second = l;
        }
      }
    }
  }
  report.links = static_cast<int64_t>(links.size());

  // Strongest links first: each link that joins two components is a tree
  // link of the merged cluster (Kruskal's maximum spanning forest).
  std::vector<DuplicateLink> sorted;
  sorted.reserve(links.size());
  for (auto& [key, l] : links) sorted.push_back(std::move(l));
  std::sort(sorted.begin(), sorted.end(), [](const DuplicateLink& a, const DuplicateLink& b) {
    if (a.probability != b.probability) return a.probability > b.probability;
    return std::tie(a.record_a, a.record_b) < std::tie(b.record_a, b.record_b);
  });
  absl::flat_hash_map<std::string, int> node_of;
  std::vector<std::pair<std::string, std::string>> nodes;
  Components components;
  auto node = [&](const std::string& dataset, const std::string& id) {
    auto [it, inserted] = node_of.try_emplace(absl::StrCat(dataset, std::string(1, '\0'), id), 0);
    if (inserted) {
      it->second = components.Add();
      nodes.emplace_back(dataset, id);
    }
    return it->second;
  };
  std::vector<std::pair<int, const DuplicateLink*>> tree_links;  // (a's node, link)
  for (const DuplicateLink& l : sorted) {
    int a = node(l.dataset_a, l.record_a), b = node(l.dataset_b, l.record_b);
    if (components.Union(a, b)) tree_links.emplace_back(a, &l);
  }
  absl::flat_hash_map<int, size_t> cluster_of_root;
  for (int n = 0; n < static_cast<int>(nodes.size()); ++n) {
    int root = components.Find(n);
    auto [it, inserted] = cluster_of_root.try_emplace(root, report.clusters.size());
    if (inserted) report.clusters.emplace_back();
    report.clusters[it->second].members.push_back(nodes[static_cast<size_t>(n)]);
  }
  for (const auto& [a, l] : tree_links) {
    DuplicateCluster& c = report.clusters[cluster_of_root[components.Find(a)]];
    c.tree.push_back(*l);  // Strongest first, so the last is the weakest.
  }
  for (DuplicateCluster& c : report.clusters) {
    c.weakest = c.tree.back();
    // Why the weakest link holds: its fields, with values.
    LINKD_ASSIGN_OR_RETURN(auto a, store_->Get(c.weakest.dataset_a, c.weakest.record_a));
    if (!a.has_value()) continue;  // Deleted meanwhile.
    MatchOptions mo;
    mo.top_k = std::max(options.top_k, 50);
    if (within) mo.exclude_record_id = c.weakest.record_a;
    LINKD_ASSIGN_OR_RETURN(auto r,
                           Rank(*pinned, a->normalized(), c.weakest.dataset_b, mo, 0, nullptr));
    for (const v1::Candidate& cand : r.candidates()) {
      if (cand.record_id() == c.weakest.record_b) {
        c.weakest_explanation.assign(cand.contributions().begin(), cand.contributions().end());
      }
    }
  }
  std::sort(report.clusters.begin(), report.clusters.end(),
            [](const DuplicateCluster& a, const DuplicateCluster& b) {
              if (a.weakest.probability != b.weakest.probability)
                return a.weakest.probability < b.weakest.probability;
              return a.members < b.members;
            });
  return report;
}

}  // namespace linkage::engine
