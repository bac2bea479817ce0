// linkctl dedupe and linkctl conflicts: duplicate clusters of a dataset (or
// across two) and identity conflicts of a list against the register, as CSV
// files an officer works through.
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "commands.h"
#include "linkage/csv.h"
#include "linkage/v1/service.grpc.pb.h"

namespace linkage::cli {
namespace {

std::string Explain(const google::protobuf::RepeatedPtrField<v1::FieldContribution>& fields) {
  std::vector<std::string> parts;
  for (const v1::FieldContribution& f : fields) {
    parts.push_back(absl::StrFormat("%s=%s(%+.1f)", f.field(), f.level(), f.weight_bits()));
  }
  return absl::StrJoin(parts, " ");
}

// Fields with the two values, for an officer: name=else(-5.0) "a" | "b".
std::string ExplainWithValues(
    const google::protobuf::RepeatedPtrField<v1::FieldContribution>& fields) {
  std::vector<std::string> parts;
  for (const v1::FieldContribution& f : fields) {
    if (f.level() == "null") continue;
    parts.push_back(absl::StrFormat("%s=%s(%+.1f) \"%s\" | \"%s\"", f.field(), f.level(),
                                    f.weight_bits(), f.query_value(), f.candidate_value()));
  }
  return absl::StrJoin(parts, "; ");
}

}  // namespace

int RunConflicts(const GlobalOptions& global, const ConflictsCommandOptions& o) {
  auto stub = v1::AdminService::NewStub(Connect(global));
  v1::FindConflictsRequest req;
  req.set_dataset(o.dataset);
  req.set_against(o.against);
  v1::FindConflictsResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(ctx, std::max(global.timeout_seconds, 3600.0));
  grpc::Status st = stub->FindConflicts(&ctx, req, &resp);
  if (!st.ok()) return FailRpc("FindConflicts", st);
  std::ofstream out(o.output, std::ios::trunc);
  if (!out) return Fail("cannot write " + o.output);
  out << "kind,national_id,record_id,other_dataset,other_record_id,probability,detail,fields\n";
  std::map<std::string, int64_t> kinds;
  for (const v1::IdentityConflict& c : resp.conflicts()) {
    ++kinds[c.kind()];
    out << c.kind() << ',' << CsvQuote(c.national_id()) << ',' << CsvQuote(c.record_id()) << ','
        << CsvQuote(c.other_dataset()) << ',' << CsvQuote(c.other_record_id()) << ','
        << absl::StrFormat("%.6f", c.probability()) << ',' << CsvQuote(c.detail()) << ','
        << CsvQuote(ExplainWithValues(c.fields())) << '\n';
  }
  out.close();
  std::printf(
      "identity conflicts of \"%s\" against \"%s\" (model %s): %s records checked, %s rows\n",
      o.dataset.c_str(), o.against.c_str(), resp.model_version().c_str(),
      FormatCount(resp.records()).c_str(), FormatCount(resp.conflicts_size()).c_str());
  for (const auto& [kind, n] : kinds)
    std::printf("  %-18s %8s\n", kind.c_str(), FormatCount(n).c_str());
  std::printf("conflicts: %s\n", o.output.c_str());
  return kOk;
}

int RunDedupe(const GlobalOptions& global, const DedupeCommandOptions& o) {
  auto stub = v1::AdminService::NewStub(Connect(global));
  v1::FindDuplicatesRequest req;
  req.set_dataset(o.dataset);
  req.set_against(o.against);
  req.set_register_dataset(o.register_dataset);
  req.set_threshold(o.threshold);
  req.set_top_k(o.top_k);
  v1::FindDuplicatesResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(ctx, std::max(global.timeout_seconds, 3600.0));
  grpc::Status st = stub->FindDuplicates(&ctx, req, &resp);
  if (!st.ok()) return FailRpc("FindDuplicates", st);

  std::ofstream out(o.output, std::ios::trunc);
  if (!out) return Fail("cannot write " + o.output);
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
  return kOk;
}

}  // namespace linkage::cli
