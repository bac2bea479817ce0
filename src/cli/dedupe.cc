// linkctl dedupe: duplicate clusters of a dataset (or people in two
// datasets), as a CSV file an officer works through.
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "command.h"
#include "linkage/csv.h"

namespace linkage::cli {
namespace {

struct DedupeOptions {
  std::string dataset;
  std::string against;           // empty: duplicates within the dataset
  std::string register_dataset;  // resolve records against it first
  double threshold = 0;          // 0: the model's review probability
  int top_k = 10;
  std::string output = "clusters.csv";
};

std::string Explain(const google::protobuf::RepeatedPtrField<v1::FieldContribution>& fields) {
  std::vector<std::string> parts;
  for (const v1::FieldContribution& f : fields) {
    parts.push_back(absl::StrFormat("%s=%s(%+.1f)", f.field(), f.level(), f.weight_bits()));
  }
  return absl::StrJoin(parts, " ");
}

absl::Status Dedupe(CommandContext& ctx, const DedupeOptions& o) {
  v1::FindDuplicatesRequest req;
  req.set_dataset(o.dataset);
  req.set_against(o.against);
  req.set_register_dataset(o.register_dataset);
  req.set_threshold(o.threshold);
  req.set_top_k(o.top_k);
  LINKD_ASSIGN_OR_RETURN(
      const v1::FindDuplicatesResponse resp,
      Call(ctx, "FindDuplicates", &AdminStub::FindDuplicates, req, ctx.job_timeout()));

  std::ofstream out(o.output, std::ios::trunc);
  if (!out) return absl::PermissionDeniedError("cannot write " + o.output);
  // One row per member. linked_to is the member it joined through (its
  // parent when the cluster's tree hangs from the first member).
  out << "cluster_id,cluster_size,dataset,record_id,linked_to,link_probability,weakest_probability,"
         "weakest_a,"
         "weakest_b,weakest_fields,weakest_via_register\n";
  int64_t members = 0;
  std::map<size_t, int64_t> sizes;
  for (int c = 0; c < resp.clusters_size(); ++c) {
    const v1::DuplicateCluster& cluster = resp.clusters(c);
    const std::string id = absl::StrFormat("C%06d", c + 1);
    auto key = [](const std::string& dataset, const std::string& record) {
      return dataset + '\n' + record;
    };
    std::map<std::string, std::vector<std::pair<std::string, double>>> adjacent;
    for (const v1::DuplicateLink& l : cluster.tree()) {
      adjacent[key(l.dataset_a(), l.record_a())].emplace_back(key(l.dataset_b(), l.record_b()),
                                                              l.probability());
      adjacent[key(l.dataset_b(), l.record_b())].emplace_back(key(l.dataset_a(), l.record_a()),
                                                              l.probability());
    }
    std::map<std::string, std::pair<std::string, double>> parent;
    const std::string root = key(cluster.members(0).dataset(), cluster.members(0).record_id());
    parent[root] = {"", 0};
    for (std::deque<std::string> todo{root}; !todo.empty(); todo.pop_front()) {
      for (const auto& [next, p] : adjacent[todo.front()]) {
        if (parent.emplace(next, std::make_pair(todo.front(), p)).second) todo.push_back(next);
      }
    }
    const v1::DuplicateLink& w = cluster.weakest();
    ++sizes[static_cast<size_t>(cluster.members_size())];
    for (const auto& m : cluster.members()) {
      const auto& [up, p] = parent[key(m.dataset(), m.record_id())];
      std::string linked_to = up.substr(up.find('\n') + 1);
      out << id << ',' << cluster.members_size() << ',' << CsvQuote(m.dataset()) << ','
          << CsvQuote(m.record_id()) << ',' << CsvQuote(linked_to) << ','
          << (up.empty() ? "" : absl::StrFormat("%.6f", p)) << ','
          << absl::StrFormat("%.6f", w.probability()) << ',' << CsvQuote(w.record_a()) << ','
          << CsvQuote(w.record_b()) << ',' << CsvQuote(Explain(cluster.weakest_contributions()))
          << ',' << CsvQuote(w.via_register()) << '\n';
      ++members;
    }
  }
  out.close();
  std::printf(
      "duplicates in \"%s\"%s (model %s, links at probability >= %.3g): %s records matched, %s "
      "links, "
      "%s clusters holding %s records\n",
      o.dataset.c_str(), o.against.empty() ? "" : (" against \"" + o.against + "\"").c_str(),
      resp.model_version().c_str(), resp.threshold(), FormatCount(resp.records()).c_str(),
      FormatCount(resp.links()).c_str(), FormatCount(resp.clusters_size()).c_str(),
      FormatCount(members).c_str());
  for (const auto& [size, n] : sizes)
    std::printf("  clusters of %zu: %s\n", size, FormatCount(n).c_str());
  std::printf("clusters (most doubtful first): %s\n", o.output.c_str());
  return absl::OkStatus();
}

void RegisterDedupe(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<DedupeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "dedupe", "Find records of a dataset that are the same person (or a person in two)");
  cmd->add_option("--dataset", o->dataset, "Dataset to deduplicate")->required();
  cmd->add_option("--against", o->against, "Another dataset: find people in both instead");
  cmd->add_option("--register", o->register_dataset,
                  "Resolve records against this register first: different register people are "
                  "never linked, the same one always");
  cmd->add_option("--threshold", o->threshold,
                  "Link probability (default: the model's review probability)");
  cmd->add_option("--top-k", o->top_k, "Candidates considered per record")->capture_default_str();
  cmd->add_option("--output", o->output, "Clusters CSV to write")->capture_default_str();
  ctx.OnRun(cmd, [&ctx, o] { return Dedupe(ctx, *o); });
}

}  // namespace

LINKCTL_COMMAND(110, RegisterDedupe);

}  // namespace linkage::cli
