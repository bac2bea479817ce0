// Identity conflicts of a beneficiary list against the register: IDs whose
// holder is someone else, IDs claimed by two different people, register
// people who are the answer for two list records.
#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "linkage/engine.h"
#include "linkage/flags.h"
#include "parallel.h"

namespace linkage::engine {
namespace {

// What verifying one list record said.
struct Answer {
  std::string record_id;
  std::string id_digits;  // Claimed CCCD/CMND digits, if valid.
  v1::NormalizedRecord normalized;
  std::string target;  // Register record the decision is about.
  double probability = 0;
  bool held_by_other = false;
  std::string holder;
  double holder_probability = 0;
  std::vector<v1::FieldContribution> target_fields, holder_fields;
  bool answered = false;  // MATCH/VERIFIED or REVIEW of a register person.
};

}  // namespace

std::string_view ConflictKindName(Conflict::Kind kind) {
  switch (kind) {
    case Conflict::Kind::kIdHeldByOther:
      return flag::kIdHeldByOther;
    case Conflict::Kind::kIdClaimedTwice:
      return flag::kIdClaimedTwice;
    case Conflict::Kind::kMatchedTwice:
      return flag::kMatchedTwice;
  }
  return "UNKNOWN";
}

absl::StatusOr<ConflictReport> Engine::FindConflicts(const ConflictOptions& options) const {
  for (const std::string& d : {options.dataset, options.against}) {
    if (store_->RecordCount(d) <= 0)
      return absl::NotFoundError(absl::StrCat("dataset \"", d, "\" has no records"));
  }
  // One model for every record of the job (its version is the report's).
  const std::shared_ptr<const Serving> pinned = serving();
  const std::shared_ptr<const model::CompiledModel>& m = pinned->model;
  ConflictReport report;
  report.model_version = m->proto().version();
  const double review = m->proto().policy().review_probability();

  std::vector<Answer> answers;
  absl::Mutex mu;
  absl::Status st = ForEachRecordInParallel(
      *store_, options.dataset, options.threads, options.stop,
      [&](const std::vector<v1::StoredRecord>& chunk, size_t t, size_t n) -> absl::Status {
        std::vector<Answer> mine;
        for (size_t i = t; i < chunk.size(); i += n) {
          const v1::StoredRecord& r = chunk[i];
          Answer a;
          a.record_id = r.record().record_id();
          a.normalized = r.normalized();
          if (r.normalized().national_id().kind() != v1::ID_KIND_UNSPECIFIED) {
            a.id_digits = r.normalized().national_id().digits();
          }
          v1::MatchResult match;
          if (!r.record().national_id().empty() && !a.id_digits.empty()) {
            VerifyOptions vo;
            vo.match = &match;
            vo.match_top_k = 20;
            auto v = VerifyNormalized(*pinned, r.normalized(), r.record().record_id(),
                                      options.against, vo);
            if (!v.ok()) {
              if (v.status().code() == absl::StatusCode::kInvalidArgument)
                continue;  // Unverifiable record.
              return v.status();
            }
            a.target = v->record_id();
            a.probability = v->probability();
            a.answered = !a.target.empty() && v->decision() != v1::REJECTED &&
                         v->decision() != v1::NOT_FOUND;
            a.holder = v->id_holder();
            a.held_by_other = !a.holder.empty() && a.holder != a.target;
            if (a.holder == a.target && v->decision() == v1::REJECTED) a.held_by_other = true;
            for (const v1::Candidate& c : match.candidates()) {
              if (c.record_id() == a.target)
                a.target_fields.assign(c.contributions().begin(), c.contributions().end());
              if (c.record_id() == a.holder) {
                a.holder_probability = c.probability();
                a.holder_fields.assign(c.contributions().begin(), c.contributions().end());
              }
            }
          } else {
            MatchOptions mo;
            mo.top_k = 1;
            LINKD_ASSIGN_OR_RETURN(auto r2,
                                   Rank(*pinned, r.normalized(), options.against, mo, 0, nullptr));
            if (r2.candidates_size() > 0 && r2.band() != v1::BAND_NO_MATCH) {
              const v1::Candidate& c = r2.candidates(0);
              a.target = c.record_id();
              a.probability = c.probability();
              a.answered = true;
              a.target_fields.assign(c.contributions().begin(), c.contributions().end());
            }
          }
          mine.push_back(std::move(a));
        }
        absl::MutexLock lock(&mu);
        for (Answer& a : mine) answers.push_back(std::move(a));
        return absl::OkStatus();
      },
      [&report](int64_t done) { report.records = done; });
  if (!st.ok()) return st;
  std::sort(answers.begin(), answers.end(),
            [](const Answer& a, const Answer& b) { return a.record_id < b.record_id; });

  // 1. The claimed ID belongs to someone the model says the claimant is not.
  for (const Answer& a : answers) {
    if (!a.held_by_other) continue;
    Conflict c{
        Conflict::Kind::kIdHeldByOther, a.id_digits, a.record_id,    options.against, a.holder,
        a.holder_probability,           "",          a.holder_fields};
    if (a.target == a.holder) {
      c.detail = absl::StrCat(
          "the claimed name is not the name of the ID's holder, register record ", a.holder);
    } else if (a.target.empty()) {
      c.detail =
          absl::StrCat("the ID belongs to register record ", a.holder, ", who is not this person");
    } else {
      c.detail = absl::StrCat("the ID belongs to register record ", a.holder,
                              "; this person looks like record ", a.target, " (a relative's ID?)");
    }
    report.conflicts.push_back(std::move(c));
  }
  // 2. One ID claimed by list records that are different people.
  std::map<std::string, std::vector<const Answer*>> by_id;
  for (const Answer& a : answers) {
    if (!a.id_digits.empty()) by_id[a.id_digits].push_back(&a);
  }
  const int64_t population = store_->RecordCount(options.dataset);
  for (const auto& [id, claimants] : by_id) {
    for (size_t i = 0; i < claimants.size(); ++i) {
      for (size_t j = i + 1; j < claimants.size(); ++j) {
        const Answer& a = *claimants[i];
        const Answer& b = *claimants[j];
        std::vector<model::FieldOutcome> outcomes(m->num_fields());
        const double weight =
            m->PriorBits(population) + m->Compare(a.normalized, b.normalized, outcomes.data());
        const double p = m->Probability(weight);
        if (p >= review) continue;  // The same person listed twice: a duplicate, not a conflict.
        google::protobuf::RepeatedPtrField<v1::FieldContribution> fields;
        m->Explain(a.normalized, b.normalized, outcomes.data(), &fields);
        for (const Answer* x : {&a, &b}) {
          const Answer* other = x == &a ? &b : &a;
          report.conflicts.push_back(
              {Conflict::Kind::kIdClaimedTwice,
               id,
               x->record_id,
               options.dataset,
               other->record_id,
               p,
               absl::StrCat("list records ", a.record_id, " and ", b.record_id,
                            " claim this ID but are different people"),
               {fields.begin(), fields.end()}});
        }
      }
    }
  }
  // 3. One register person answering for several list records.
  std::map<std::string, std::vector<const Answer*>> by_target;
  for (const Answer& a : answers) {
    if (a.answered && !a.target.empty()) by_target[a.target].push_back(&a);
  }
  for (const auto& [target, records] : by_target) {
    if (records.size() < 2) continue;
    std::vector<std::string> ids;
    for (const Answer* a : records) ids.push_back(a->record_id);
    for (const Answer* a : records) {
      report.conflicts.push_back(
          {Conflict::Kind::kMatchedTwice, a->id_digits, a->record_id, options.against, target,
           a->probability,
           absl::StrCat("register record ", target, " is the answer for ", records.size(),
                        " list records: ", absl::StrJoin(ids, ", "),
                        " (one person listed twice, or a wrong match)"),
           a->target_fields});
    }
  }
  return report;
}

}  // namespace linkage::engine
