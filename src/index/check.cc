// The consistency check: the records are the truth, and every derived
// entry (blocks, ids, terms, match, record counters, match views) must be
// exactly what the records (and, with rules, the linkage spec) say.
#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "rocks_store.h"

namespace linkage::index {

using namespace keys;  // NOLINT(build/namespaces)

namespace {

// "n missing, m extra" between what a record lists and what it should.
std::string Difference(const std::set<std::string>& listed, const std::set<std::string>& expected) {
  int64_t missing = 0, extra = 0;
  for (const auto& k : expected) missing += listed.count(k) == 0;
  for (const auto& k : listed) extra += expected.count(k) == 0;
  if (missing == 0 && extra == 0) return "";
  return absl::StrCat(missing, " missing, ", extra, " not produced by the rules");
}

}  // namespace

absl::StatusOr<CheckReport> RocksStore::Check(const CheckRules* rules) const {
  CheckReport report;
  auto problem = [&report](std::string p) {
    if (report.problems.size() < 100) report.problems.push_back(std::move(p));
    ++report.problem_count;
  };
  uint32_t current, target;
  std::string cursor;
  // The match views' counts at the snapshot's instant (no write between).
  std::map<std::string, MatchView::Usage> views;
  const rocksdb::Snapshot* snap;
  {
    absl::MutexLock lock(&write_mu_);
    current = generation_.load();
    target = reindex_.has_value() ? reindex_->target_generation : 0;
    if (reindex_.has_value()) cursor = reindex_->cursor;
    if (rules != nullptr && rules->generation != 0 && rules->generation != current) {
      return absl::AbortedError("the index generation changed during the check: run it again");
    }
    if (repair_.has_value()) {
      problem(absl::StrCat("a repair is unfinished (", repair_->done,
                           " records done): run linkd repair to finish it"));
    }
    snap = db_->GetSnapshot();
    absl::MutexLock views_lock(&views_mu_);
    for (const auto& [dataset, view] : views_) {
      if (view->generation() == current) views[dataset] = view->usage();
    }
  }
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  ro.fill_cache = false;

  // 1. Every record's entries exist, and are the ones its rules produce.
  std::map<std::string, int64_t> counts;
  absl::flat_hash_map<std::string, int64_t> term_counts;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, H(Cf::kRecords)));
    v1::StoredRecord r;
    v1::NormalizedRecord stored_match;
    std::string value;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++report.records;
      std::string key = it->key().ToString();
      if (!r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        problem(absl::StrCat("record ", it->key().ToString(true), " is unreadable"));
        continue;
      }
      const std::string dataset(DatasetOf(key));
      const std::string& id = r.record().record_id();
      ++counts[dataset];
      rocksdb::Status ms = db_->Get(ro, H(Cf::kMatch), key, &value);
      if (!ms.ok()) {
        problem(absl::StrCat("record \"", id, "\" has no match entry"));
      } else if (value != r.normalized().SerializeAsString() &&
                 (!stored_match.ParseFromString(value) ||
                  !google::protobuf::util::MessageDifferencer::Equals(stored_match,
                                                                      r.normalized()))) {
        problem(absl::StrCat("record \"", id, "\" has a match entry unlike its normalized form"));
      }
      // Keys of the current generation (and of the one being built) must
      // exist; keys of a dropped generation are listed until the next write.
      std::set<std::string> listed_current, listed_next;
      for (const auto* list : {&r.block_keys(), &r.next_block_keys()}) {
        for (const std::string& k : *list) {
          const uint32_t g = GenerationOf(k);
          if (g != current && g != target) continue;
          (g == current ? listed_current : listed_next).insert(k);
          if (!db_->Get(ro, H(Cf::kBlocks), k, &value).ok()) {
            problem(absl::StrCat("record \"", id, "\" misses a block entry of generation ", g));
          }
        }
      }
      for (const std::string& k : r.id_keys()) {
        if (!db_->Get(ro, H(Cf::kIds), k, &value).ok())
          problem(absl::StrCat("record \"", id, "\" misses an id entry"));
      }
      for (const std::string& t : r.tf_keys()) ++term_counts[TermKey(dataset, t)];
      if (rules == nullptr) continue;
      if (rules->current) {
        IndexEntries e = rules->current(r);
        std::set<std::string> blocks, ids, terms(e.terms.begin(), e.terms.end());
        for (const auto& b : e.blocks)
          blocks.insert(absl::StrCat(BlockPrefix(current, dataset, b.rule, b.key), id));
        for (const auto& i : e.ids) ids.insert(absl::StrCat(IdPrefix(dataset, i), id));
        if (std::string d = Difference(listed_current, blocks); !d.empty()) {
          problem(absl::StrCat("record \"", id, "\" in \"", dataset,
                               "\": block entries of generation ", current, ": ", d));
        }
        if (std::string d = Difference({r.id_keys().begin(), r.id_keys().end()}, ids); !d.empty())
          problem(absl::StrCat("record \"", id, "\" in \"", dataset, "\": id entries: ", d));
        if (std::string d = Difference({r.tf_keys().begin(), r.tf_keys().end()}, terms);
            !d.empty()) {
          problem(absl::StrCat("record \"", id, "\" in \"", dataset, "\": term counters: ", d));
        }
      }
      // Records the reindex has passed, or written since it began, carry
      // the next generation's entries.
      if (rules->next && target != 0 && (key <= cursor || !listed_next.empty())) {
        std::set<std::string> next;
        for (const auto& b : rules->next(r))
          next.insert(absl::StrCat(BlockPrefix(target, dataset, b.rule, b.key), id));
        if (std::string d = Difference(listed_next, next); !d.empty()) {
          problem(absl::StrCat("record \"", id, "\" in \"", dataset,
                               "\": block entries of the generation being built (", target,
                               "): ", d));
        }
      }
    }
    if (!it->status().ok()) problem(FromRocks(it->status(), "scan records").ToString());
  }

  // 2. Every index entry points to a record that lists it.
  std::map<std::string, int64_t> current_entries[2];  // Per dataset: current blocks, ids.
  auto check_index = [&](Cf cf, bool has_generation, int64_t& n) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, H(cf)));
    std::string value;
    v1::StoredRecord r;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++n;
      std::string_view k(it->key().data(), it->key().size());
      std::string_view dataset = has_generation ? BlockDatasetOf(k) : DatasetOf(k);
      if (!has_generation || GenerationOf(k) == current)
        ++current_entries[has_generation ? 0 : 1][std::string(dataset)];
      std::string_view id = TrailingId(k);
      rocksdb::Status s = db_->Get(ro, H(Cf::kRecords), RecordKey(dataset, id), &value);
      if (!s.ok() || !r.ParseFromString(value)) {
        problem(absl::StrCat(kColumnFamilies[static_cast<size_t>(cf)].name,
                             " entry for missing record \"", AV(id), "\" in dataset \"",
                             AV(dataset), "\""));
        continue;
      }
      if (cf == Cf::kBlocks && GenerationOf(k) != current && GenerationOf(k) != target) {
        problem(absl::StrCat("block entry of generation ", GenerationOf(k), " (current ", current,
                             ")"));
        continue;
      }
      const auto& listed = cf == Cf::kBlocks ? r.block_keys() : r.id_keys();
      const auto& next = r.next_block_keys();
      if (std::find(listed.begin(), listed.end(), std::string(k)) == listed.end() &&
          (cf != Cf::kBlocks ||
           std::find(next.begin(), next.end(), std::string(k)) == next.end())) {
        problem(absl::StrCat(kColumnFamilies[static_cast<size_t>(cf)].name,
                             " entry not owned by record \"", AV(id), "\" (stale)"));
      }
    }
    if (!it->status().ok()) problem(FromRocks(it->status(), "scan index").ToString());
  };
  check_index(Cf::kBlocks, true, report.block_entries);
  check_index(Cf::kIds, false, report.id_entries);
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, H(Cf::kMatch)));
    std::string value;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (!db_->Get(ro, H(Cf::kRecords), it->key(), &value).ok()) {
        problem(absl::StrCat("match entry for missing record \"",
                             AV(TrailingId(std::string_view(it->key().data(), it->key().size()))),
                             "\""));
      }
    }
  }

  // 3. Term counters agree with the records that count them.
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, H(Cf::kTerms)));
    int64_t wrong = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string_view k(it->key().data(), it->key().size());
      if (k.substr(0, kCountPrefix.size()) == kCountPrefix) continue;  // Record counters: 4.
      const int64_t stored = DecodeInt64(std::string_view(it->value().data(), it->value().size()));
      auto found = term_counts.find(AV(k));
      const int64_t expected = found == term_counts.end() ? 0 : found->second;
      if (found != term_counts.end()) term_counts.erase(found);
      if (stored != expected) ++wrong;
    }
    for (const auto& [term, n] : term_counts) wrong += n != 0;
    if (wrong > 0) problem(absl::StrCat(wrong, " term counters disagree with the records"));
  }

  // 4. The match views hold what RocksDB holds (compared by counts).
  for (const auto& [name, u] : views) {
    if (!u.ready) continue;
    const std::string& dataset = name;  // Lambdas cannot capture bindings (clang 14).
    auto mismatch = [&](const char* what, int64_t in_view, int64_t stored) {
      if (in_view != stored) {
        problem(absl::StrCat("match view of \"", dataset, "\" holds ", in_view, " ", what,
                             ", RocksDB ", stored));
      }
    };
    mismatch("records", u.records, counts[dataset]);
    mismatch("block entries", u.block_entries, current_entries[0][dataset]);
    mismatch("id entries", u.id_entries, current_entries[1][dataset]);
  }

  // 5. Record counters agree with the records.
  {
    std::string prefix(kCountPrefix);
    std::string upper = UpperBound(prefix);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions counter_ro = ro;
    counter_ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(counter_ro, H(Cf::kTerms)));
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      std::string dataset = it->key().ToString().substr(kCountPrefix.size());
      const int64_t counted = DecodeInt64(std::string_view(it->value().data(), it->value().size()));
      if (counted != 0 && counts.count(dataset) == 0) counts[dataset] = 0;
    }
  }
  for (const auto& [dataset, n] : counts) {
    std::string value;
    int64_t counted =
        db_->Get(ro, H(Cf::kTerms), CountKey(dataset), &value).ok() ? DecodeInt64(value) : 0;
    if (counted != n)
      problem(absl::StrCat("dataset \"", dataset, "\" counts ", counted, " records, holds ", n));
  }
  db_->ReleaseSnapshot(snap);
  return report;
}

}  // namespace linkage::index
