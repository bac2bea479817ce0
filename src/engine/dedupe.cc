// Duplicate detection: every record of a dataset is matched against the
// dataset itself (or another one), links above a threshold are clustered by
// connected components, strongest links first.
#include <algorithm>
#include <cmath>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "linkage/engine.h"
#include "linkage/strings.h"

namespace linkage::engine {
namespace {

constexpr size_t kChunk = 4096;

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
  for (const std::string& d : {options.dataset, against}) {
    if (store_->RecordCount(d) <= 0)
      return absl::NotFoundError(absl::StrCat("dataset \"", d, "\" has no records"));
  }
  if (options.top_k < 1 || options.top_k > 1000)
    return absl::InvalidArgumentError("top_k must be 1..1000");
  std::shared_ptr<const model::CompiledModel> m = model();
  DedupeReport report;
  report.model_version = m->proto().version();
  report.threshold =
      options.threshold > 0 ? options.threshold : m->proto().policy().review_probability();
  const int64_t total = store_->RecordCount(options.dataset);

  // Links, keyed "a\0b" (a < b within one dataset); the higher probability
  // of the two directions is kept.
  absl::flat_hash_map<std::string, DuplicateLink> links;
  absl::Mutex links_mu;
  absl::Status failure;
  auto query_chunk =
      [&](std::vector<std::pair<std::string, v1::NormalizedRecord>>& chunk) -> absl::Status {
    const size_t threads = static_cast<size_t>(std::max(1, options.threads));
    std::vector<std::thread> pool;
    std::vector<absl::Status> status(threads);
    for (size_t t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        MatchOptions mo;
        mo.top_k = 1;
        mo.explain = false;
        mo.include_query = false;
        std::vector<Ranked> ranked;
        std::vector<DuplicateLink> found;
        for (size_t i = t; i < chunk.size(); i += threads) {
          const auto& [id, q] = chunk[i];
          mo.exclude_record_id = within ? id : "";
          auto r = Rank(q, against, mo, static_cast<size_t>(options.top_k), &ranked);
          if (!r.ok()) {
            status[t] = r.status();
            return;
          }
          for (const Ranked& c : ranked) {
            if (c.probability < report.threshold) break;  // Ranked.
            DuplicateLink l{options.dataset, id, against, c.record_id, c.probability, c.weight};
            if (within && l.record_b < l.record_a) std::swap(l.record_a, l.record_b);
            found.push_back(std::move(l));
          }
        }
        absl::MutexLock lock(&links_mu);
        for (DuplicateLink& l : found) {
          std::string key = absl::StrCat(l.record_a, std::string(1, '\0'), l.record_b);
          auto [it, inserted] = links.try_emplace(key, l);
          if (!inserted && l.probability > it->second.probability) it->second = std::move(l);
        }
      });
    }
    for (auto& th : pool) th.join();
    for (const absl::Status& s : status) {
      if (!s.ok()) return s;
    }
    report.records += static_cast<int64_t>(chunk.size());
    chunk.clear();
    if (options.progress) options.progress(report.records, total);
    if (options.stop != nullptr && options.stop->load()) return absl::CancelledError("stopped");
    return absl::OkStatus();
  };

  std::vector<std::pair<std::string, v1::NormalizedRecord>> chunk;
  chunk.reserve(kChunk);
  absl::Status st = store_->ForEachRecord(options.dataset, [&](const v1::StoredRecord& r) {
    chunk.emplace_back(r.record().record_id(), r.normalized());
    if (chunk.size() < kChunk) return true;
    failure = query_chunk(chunk);
    return failure.ok();
  });
  if (!st.ok()) return st;
  if (!failure.ok()) return failure;
  if (!chunk.empty()) {
    failure = query_chunk(chunk);
    if (!failure.ok()) return failure;
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
    auto a = store_->Get(c.weakest.dataset_a, c.weakest.record_a);
    if (!a.ok()) return a.status();
    if (!a->has_value()) continue;  // Deleted meanwhile.
    MatchOptions mo;
    mo.top_k = std::max(options.top_k, 50);
    if (within) mo.exclude_record_id = c.weakest.record_a;
    auto r = MatchNormalized((*a)->normalized(), c.weakest.dataset_b, mo);
    if (!r.ok()) return r.status();
    for (const v1::Candidate& cand : r->candidates()) {
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
