#include "review_desk.h"

#include <xxhash.h>

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "audit.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "context.h"
#include "linkage/engine.h"
#include "linkage/model.h"
#include "linkage/store.h"
#include "linkage/text.h"
#include "log.h"

namespace linkage::service {
namespace {

constexpr size_t kMaxNote = 1000;
constexpr double kMaxSampleRate = 0.2;

std::string ItemKey(std::string_view dataset, std::string_view record_id) {
  std::string k = absl::StrCat("i", AV(dataset));
  k.push_back('\0');
  k.append(record_id);
  return k;
}

std::string DecisionKey(uint64_t seq) {
  std::string k = "d";
  for (int shift = 56; shift >= 0; shift -= 8)
    k.push_back(static_cast<char>((seq >> shift) & 0xff));
  return k;
}

// A stable draw in [0, 1) per (list, record), so a rerun samples the same
// rows: XXH3 (as the match view's keys) of the item's key, not absl::Hash,
// which is seeded per process.
double Draw(std::string_view dataset, std::string_view record_id) {
  const std::string key = ItemKey(dataset, record_id);
  return static_cast<double>(XXH3_64bits(key.data(), key.size()) >> 11) /
         static_cast<double>(1ull << 53);
}

std::string NoItem(std::string_view dataset, std::string_view record_id) {
  return absl::StrCat("review dataset \"", AV(dataset), "\" holds no record \"", AV(record_id),
                      "\"");
}

v1::Band BandOf(const v1::MatchStreamResponse& resp) {
  if (!resp.has_verification()) return resp.result().band();
  switch (resp.verification().decision()) {
    case v1::VERIFIED:
      return v1::BAND_MATCH;
    case v1::REVIEW:
      return v1::BAND_REVIEW;
    default:
      return v1::BAND_NO_MATCH;
  }
}

bool HasFlag(const std::vector<std::string>& flags, std::string_view flag) {
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

absl::Status CheckIds(std::string_view dataset, std::string_view record_id) {
  LINKD_RETURN_IF_ERROR(CheckDataset(std::string(dataset)));
  if (record_id.empty() || record_id.size() > 128)
    return absl::InvalidArgumentError("record_id must be 1..128 bytes");
  return absl::OkStatus();
}

v1::AuditEntry DeskEntry(const std::string& principal, std::string_view method,
                         std::string_view dataset) {
  v1::AuditEntry e;
  e.set_principal(principal);
  e.set_method(std::string(method));
  e.set_dataset(std::string(dataset));
  return e;
}

}  // namespace

v1::ReviewVerdict ParseVerdict(std::string_view name) {
  const std::string n = absl::AsciiStrToLower(AV(name));
  if (n == "same") return v1::SAME;
  if (n == "different") return v1::DIFFERENT;
  if (n == "unsure") return v1::UNSURE;
  return v1::REVIEW_VERDICT_UNSPECIFIED;
}

absl::StatusOr<std::unique_ptr<ReviewDesk>> ReviewDesk::Open(ServiceContext* ctx,
                                                             int64_t max_items) {
  std::unique_ptr<ReviewDesk> desk(new ReviewDesk(ctx, max_items));
  LINKD_RETURN_IF_ERROR(desk->Load());
  return desk;
}

const ReviewDesk::ItemState* ReviewDesk::FindLocked(const std::string& dataset,
                                                    const std::string& record_id) const {
  auto q = queues_.find(dataset);
  if (q == queues_.end()) return nullptr;
  auto it = q->second.find(record_id);
  return it == q->second.end() ? nullptr : &it->second;
}

absl::Status ReviewDesk::Load() {
  index::Store* store = ctx_->engine->store();
  absl::MutexLock lock(&mu_);
  absl::Status bad;
  LINKD_RETURN_IF_ERROR(store->ScanReview("i", [&](std::string_view key, std::string_view value) {
    v1::ReviewItem item;
    if (!item.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      bad = absl::DataLossError(
          absl::StrCat("review desk: item row of ", key.size(), " bytes does not parse"));
      return false;
    }
    Remember(item);
    return true;
  }));
  LINKD_RETURN_IF_ERROR(bad);
  LINKD_RETURN_IF_ERROR(store->ScanReview("d", [&](std::string_view, std::string_view value) {
    v1::ReviewDecision d;
    if (!d.ParseFromArray(value.data(), static_cast<int>(value.size())) ||
        d.seq() != decisions_.size() + 1) {
      bad = absl::DataLossError(absl::StrCat("review desk: decision row ", decisions_.size() + 1,
                                             " is damaged or missing"));
      return false;
    }
    decisions_.push_back(d);
    return true;
  }));
  LINKD_RETURN_IF_ERROR(bad);
  for (const v1::ReviewDecision& d : decisions_) {
    auto q = queues_.find(d.dataset());
    if (q == queues_.end()) continue;
    auto it = q->second.find(d.record_id());
    if (it != q->second.end()) it->second.decisions.push_back(d.seq());
  }
  for (auto& [dataset, queue] : queues_) {
    for (auto& [id, item] : queue) Recompute(&item);
  }
  return absl::OkStatus();
}

void ReviewDesk::Remember(const v1::ReviewItem& item) {
  ItemState s;
  s.kind = item.kind();
  s.probability = item.probability();
  s.match_weight = item.match_weight();
  s.sample_weight = item.sample_weight() > 0 ? item.sample_weight() : 1;
  s.flags.assign(item.flags().begin(), item.flags().end());
  s.proposed = item.proposed_record_id();
  s.model_version = item.model_version();
  for (const v1::ReviewCandidate& c : item.candidates()) {
    s.candidates.push_back(c.candidate().record_id());
    if (c.candidate().record_id() == s.proposed && c.candidate().match_weight() != 0)
      s.weight_known = true;
  }
  s.queued = item.queued_unix_micros();
  queues_[item.dataset()][item.record_id()] = std::move(s);
  ++items_;
}

void ReviewDesk::Recompute(ItemState* item) const {
  std::set<uint64_t> undone;
  for (uint64_t seq : item->decisions) {
    const v1::ReviewDecision& d = decisions_[seq - 1];
    if (d.undoes() != 0) undone.insert(d.undoes());
  }
  item->verdict = v1::REVIEW_VERDICT_UNSPECIFIED;
  item->decided_seq = 0;
  item->decided_by.clear();
  item->decided_candidate.clear();
  for (auto it = item->decisions.rbegin(); it != item->decisions.rend(); ++it) {
    const v1::ReviewDecision& d = decisions_[*it - 1];
    if (d.undoes() != 0 || undone.count(d.seq())) continue;
    item->verdict = d.verdict();
    item->decided_seq = d.seq();
    item->decided_by = d.officer();
    item->decided_candidate = d.candidate_record_id();
    break;
  }
}

v1::ReviewCounts ReviewDesk::CountsLocked(const std::string& dataset) const {
  v1::ReviewCounts c;
  auto q = queues_.find(dataset);
  if (q == queues_.end()) return c;
  for (const auto& [id, item] : q->second) {
    if (item.kind != v1::REVIEW_BAND) {
      c.set_samples(c.samples() + 1);
      if (item.verdict != v1::REVIEW_VERDICT_UNSPECIFIED)
        c.set_samples_decided(c.samples_decided() + 1);
      continue;
    }
    c.set_total(c.total() + 1);
    switch (item.verdict) {
      case v1::SAME:
        c.set_same(c.same() + 1);
        break;
      case v1::DIFFERENT:
        c.set_different(c.different() + 1);
        break;
      case v1::UNSURE:
        c.set_unsure(c.unsure() + 1);
        break;
      default:
        c.set_pending(c.pending() + 1);
    }
  }
  return c;
}

absl::Status ReviewDesk::CheckNode(const ServiceContext& ctx) {
  if (ctx.replica != nullptr && ctx.writer == nullptr) {
    return absl::FailedPreconditionError(
        "this node is a read replica: the review desk is kept on the node that ran the "
        "verification (the writer or a standalone node)");
  }
  return absl::OkStatus();
}

absl::Status ReviewDesk::CheckRequest(const ServiceContext& ctx, const v1::MatchStreamRequest& req,
                                      const std::string& principal) {
  if (req.review_dataset().empty()) {
    if (req.review_sample_rate() != 0)
      return absl::InvalidArgumentError("review_sample_rate needs review_dataset");
    return absl::OkStatus();
  }
  LINKD_RETURN_IF_ERROR(CheckDataset(req.review_dataset()));
  if (!(req.review_sample_rate() >= 0 && req.review_sample_rate() <= kMaxSampleRate))
    return absl::InvalidArgumentError("review_sample_rate must be 0..0.2");
  LINKD_RETURN_IF_ERROR(CheckNode(ctx));
  if (ctx.auth != nullptr && !ctx.auth->HasRole(principal, v1::READ)) {
    return absl::PermissionDeniedError(
        "review_dataset needs the READ role besides MATCH: the review queue keeps the "
        "candidates' register records for the officers");
  }
  return absl::OkStatus();
}

absl::Status ReviewDesk::Offer(const v1::MatchStreamRequest& req,
                               const v1::MatchStreamResponse& resp, const std::string& principal) {
  if (req.review_dataset().empty() || resp.error_code() != 0) return absl::OkStatus();
  const std::string& list = req.review_dataset();
  const std::string& rid =
      req.record().record_id().empty() ? req.request_id() : req.record().record_id();
  const v1::Band band = BandOf(resp);
  const double rate = req.review_sample_rate();
  v1::ReviewKind kind = v1::REVIEW_KIND_UNSPECIFIED;
  if (band == v1::BAND_REVIEW) {
    kind = v1::REVIEW_BAND;
  } else if (rate > 0 && Draw(list, rid) < rate) {
    if (band == v1::BAND_MATCH) kind = v1::SAMPLE_MATCH;
    // A NO_MATCH without any candidate has nothing to decide about.
    if (band == v1::BAND_NO_MATCH && resp.result().candidates_size() > 0)
      kind = v1::SAMPLE_NO_MATCH;
  }
  if (kind == v1::REVIEW_KIND_UNSPECIFIED) return absl::OkStatus();
  if (rid.empty() || rid.size() > 128) {  // No key to keep it under.
    refused_.fetch_add(1);
    return absl::OkStatus();
  }
  {
    absl::ReaderMutexLock lock(&mu_);
    if (FindLocked(list, rid) != nullptr) return absl::OkStatus();
    if (items_ >= max_items_) {
      refused_.fetch_add(1);
      return absl::OkStatus();
    }
  }

  // The item: a second search with explanations and the register records.
  v1::ReviewItem item;
  item.set_dataset(list);
  item.set_record_id(rid);
  item.set_against(req.dataset());
  item.set_kind(kind);
  item.set_sample_weight(kind == v1::REVIEW_BAND ? 1.0 : 1.0 / rate);
  *item.mutable_record() = req.record();
  item.set_band(band);
  item.set_queued_unix_micros(absl::ToUnixMicros(absl::Now()));
  item.set_queued_by(principal);
  v1::MatchResult ranking;
  std::string proposed;
  std::vector<v1::Candidate> extra;  // Verification targets not in the ranking.
  if (resp.has_verification()) {
    engine::Engine::VerifyOptions vo;
    vo.strict_dates = req.strict_dates();
    vo.exclude_record_id = req.exclude_record_id();
    vo.match = &ranking;
    vo.match_top_k = 5;
    vo.match_explain = true;
    absl::StatusOr<v1::Verification> v = ctx_->engine->Verify(req.record(), req.dataset(), vo);
    if (!v.ok()) {
      Log("warning", "review_queue_failed",
          {Str("code", absl::StatusCodeToString(v.status().code()))});
      return absl::OkStatus();
    }
    item.set_verify_decision(v1::VerifyDecision_Name(v->decision()));
    item.mutable_flags()->CopyFrom(v->flags());
    item.mutable_reasons()->CopyFrom(v->reasons());
    item.set_probability(v->probability());
    item.set_model_version(v->model_version());
    proposed = v->record_id();
    for (const std::string& id : {v->record_id(), v->id_holder()}) {
      if (id.empty()) continue;
      bool ranked = false;
      for (const v1::Candidate& c : ranking.candidates()) ranked = ranked || c.record_id() == id;
      if (ranked) continue;
      v1::Candidate c;
      c.set_record_id(id);
      c.set_dataset(req.dataset());
      if (id == v->record_id()) {
        c.set_probability(v->probability());
        c.mutable_contributions()->CopyFrom(v->contributions());
      }
      extra.push_back(std::move(c));
    }
  } else {
    engine::MatchOptions mo;
    mo.top_k = 5;
    mo.include_query = false;
    mo.exclude_record_id = req.exclude_record_id();
    mo.strict_dates = req.strict_dates();
    absl::StatusOr<v1::MatchResult> m = ctx_->engine->Match(req.record(), req.dataset(), mo);
    if (!m.ok()) {
      Log("warning", "review_queue_failed",
          {Str("code", absl::StatusCodeToString(m.status().code()))});
      return absl::OkStatus();
    }
    ranking = std::move(*m);
    item.mutable_flags()->CopyFrom(ranking.flags());
    item.set_model_version(ranking.model_version());
    if (ranking.candidates_size() > 0) {
      proposed = ranking.candidates(0).record_id();
      item.set_probability(ranking.candidates(0).probability());
    }
  }
  item.set_proposed_record_id(proposed);
  // The proposed candidate first, then the ranking, then the others.
  std::vector<v1::Candidate> ordered;
  for (v1::Candidate& c : extra)
    if (c.record_id() == proposed) ordered.push_back(c);
  for (const v1::Candidate& c : ranking.candidates())
    if (c.record_id() == proposed) ordered.push_back(c);
  for (const v1::Candidate& c : ranking.candidates())
    if (c.record_id() != proposed) ordered.push_back(c);
  for (v1::Candidate& c : extra)
    if (c.record_id() != proposed) ordered.push_back(c);
  for (v1::Candidate& c : ordered) {
    if (c.record_id() == proposed) item.set_match_weight(c.match_weight());
    v1::ReviewCandidate* rc = item.add_candidates();
    absl::StatusOr<std::optional<v1::StoredRecord>> stored =
        ctx_->engine->store()->Get(req.dataset(), c.record_id());
    if (stored.ok() && stored->has_value()) *rc->mutable_record() = (*stored)->record();
    c.clear_record();
    *rc->mutable_candidate() = std::move(c);
  }

  absl::MutexLock lock(&mu_);
  if (FindLocked(list, rid) != nullptr) return absl::OkStatus();  // Raced.
  if (items_ >= max_items_) {                                     // Raced too: the bound holds.
    refused_.fetch_add(1);
    return absl::OkStatus();
  }
  // Not synced: a lost item (power loss) is queued again when the job is rerun.
  absl::Status st =
      ctx_->engine->store()->WriteReview({{ItemKey(list, rid), item.SerializeAsString()}}, false);
  if (!st.ok()) {
    refused_.fetch_add(1);
    Log("warning", "review_queue_failed", {Str("code", absl::StatusCodeToString(st.code()))});
    return absl::OkStatus();
  }
  Remember(item);
  return absl::OkStatus();
}

absl::StatusOr<v1::ListReviewDatasetsResponse> ReviewDesk::Datasets() const {
  LINKD_RETURN_IF_ERROR(CheckNode(*ctx_));
  v1::ListReviewDatasetsResponse out;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [dataset, queue] : queues_) {
    v1::ReviewDataset* d = out.add_datasets();
    d->set_dataset(dataset);
    *d->mutable_counts() = CountsLocked(dataset);
  }
  return out;
}

absl::StatusOr<v1::ListReviewResponse> ReviewDesk::List(const v1::ListReviewRequest& req,
                                                        const std::string& principal) {
  LINKD_RETURN_IF_ERROR(CheckNode(*ctx_));
  LINKD_RETURN_IF_ERROR(CheckDataset(req.dataset()));
  const std::string status = req.status().empty() ? "pending" : req.status();
  if (status != "pending" && status != "decided" && status != "unsure" && status != "all")
    return absl::InvalidArgumentError("status must be pending, decided, unsure or all");
  if (req.offset() < 0) return absl::InvalidArgumentError("offset must be >= 0");
  if (req.limit() < 0 || req.limit() > 1000)
    return absl::InvalidArgumentError("limit must be 1..1000 (0: 50)");
  const int limit = req.limit() == 0 ? 50 : req.limit();
  const double lo = req.min_probability();
  const double hi = req.max_probability() == 0 ? 1 : req.max_probability();
  if (!(lo >= 0 && lo <= 1 && hi >= 0 && hi <= 1))
    return absl::InvalidArgumentError("min_probability and max_probability must be 0..1");
  const v1::ReviewKind kind =
      req.kind() == v1::REVIEW_KIND_UNSPECIFIED ? v1::REVIEW_BAND : req.kind();
  v1::ListReviewResponse out;
  {
    absl::ReaderMutexLock lock(&mu_);
    *out.mutable_counts() = CountsLocked(req.dataset());
    auto q = queues_.find(req.dataset());
    if (q != queues_.end()) {
      std::set<std::string> flags;
      int64_t matching = 0;
      for (const auto& [id, item] : q->second) {
        for (const std::string& f : item.flags) flags.insert(f);
        if (item.kind != kind) continue;
        const bool decided = item.verdict != v1::REVIEW_VERDICT_UNSPECIFIED;
        if (status == "pending" && decided) continue;
        if (status == "decided" && !decided) continue;
        if (status == "unsure" && item.verdict != v1::UNSURE) continue;
        if (!req.flag().empty() && !HasFlag(item.flags, req.flag())) continue;
        if (item.probability < lo || item.probability > hi) continue;
        ++matching;
        if (matching <= req.offset() || out.items_size() >= limit) continue;
        v1::ReviewSummary* s = out.add_items();
        s->set_dataset(req.dataset());
        s->set_record_id(id);
        s->set_kind(item.kind);
        s->set_probability(item.probability);
        for (const std::string& f : item.flags) s->add_flags(f);
        s->set_proposed_record_id(item.proposed);
        s->set_verdict(item.verdict);
        s->set_decided_by(item.decided_by);
        s->set_queued_unix_micros(item.queued);
      }
      out.set_matching(matching);
      for (const std::string& f : flags) out.add_flags(f);
    }
  }
  v1::AuditEntry entry = DeskEntry(principal, "ListReview", req.dataset());
  entry.set_detail(absl::StrCat("items=", out.items_size(), " matching=", out.matching()));
  for (const v1::ReviewSummary& item : out.items()) {
    v1::AuditItem* a = entry.add_items();
    a->set_record_id(item.record_id());
    if (!item.proposed_record_id().empty()) a->add_returned_ids(item.proposed_record_id());
    a->set_decision("LISTED");
  }
  LINKD_RETURN_IF_ERROR(Audited(ctx_, std::move(entry), absl::OkStatus()));
  return out;
}

absl::StatusOr<v1::GetReviewItemResponse> ReviewDesk::Get(const v1::GetReviewItemRequest& req,
                                                          const std::string& principal) {
  LINKD_RETURN_IF_ERROR(CheckNode(*ctx_));
  LINKD_RETURN_IF_ERROR(CheckIds(req.dataset(), req.record_id()));
  v1::GetReviewItemResponse out;
  // The answer, then its audit entry whatever it was (a miss is audited too).
  absl::Status outcome = [&]() -> absl::Status {
    {
      absl::ReaderMutexLock lock(&mu_);
      const ItemState* item = FindLocked(req.dataset(), req.record_id());
      if (item == nullptr) return absl::NotFoundError(NoItem(req.dataset(), req.record_id()));
      for (uint64_t seq : item->decisions) *out.add_decisions() = decisions_[seq - 1];
      out.set_verdict(item->verdict);
      out.set_decided_by(item->decided_by);
    }
    LINKD_ASSIGN_OR_RETURN(
        std::optional<std::string> bytes,
        ctx_->engine->store()->GetReview(ItemKey(req.dataset(), req.record_id())));
    if (!bytes.has_value() || !out.mutable_item()->ParseFromString(*bytes))
      return absl::DataLossError("review item row is missing or damaged");
    return absl::OkStatus();
  }();
  v1::AuditEntry entry = DeskEntry(principal, "GetReviewItem", req.dataset());
  v1::AuditItem* a = entry.add_items();
  if (outcome.ok()) {
    entry.add_other_datasets(out.item().against());
    *a = QueryItem(*ctx_, out.item().record());
    for (const v1::ReviewCandidate& c : out.item().candidates())
      a->add_returned_ids(c.candidate().record_id());
    a->set_decision("READ");
  } else {
    a->set_record_id(req.record_id());
    a->set_decision(absl::StatusCodeToString(outcome.code()));
  }
  LINKD_RETURN_IF_ERROR(Audited(ctx_, std::move(entry), outcome));
  return out;
}

absl::StatusOr<v1::ReviewDecision> ReviewDesk::AppendDecision(v1::ReviewDecision d) {
  if (broken_) {
    return absl::UnavailableError(
        "an earlier decision could not be written: the desk takes no decision until linkd is "
        "restarted (it then reads back what reached the disk)");
  }
  {
    absl::ReaderMutexLock lock(&mu_);
    d.set_seq(decisions_.size() + 1);
  }
  d.set_unix_micros(absl::ToUnixMicros(absl::Now()));
  if (absl::Status st =
          ctx_->engine->store()->WriteReview({{DecisionKey(d.seq()), d.SerializeAsString()}}, true);
      !st.ok()) {
    broken_ = true;
    Log("error", "review_decision_write_failed",
        {Str("code", absl::StatusCodeToString(st.code()))});
    return st;
  }
  absl::MutexLock lock(&mu_);
  decisions_.push_back(d);
  ItemState& item = queues_[d.dataset()][d.record_id()];
  item.decisions.push_back(d.seq());
  Recompute(&item);
  return d;
}

absl::StatusOr<v1::DecideReviewResponse> ReviewDesk::DecideUnaudited(
    const v1::DecideReviewRequest& req, const std::string& principal) {
  absl::MutexLock append(&append_mu_);
  v1::ReviewDecision d;
  {
    absl::ReaderMutexLock lock(&mu_);
    const ItemState* item = FindLocked(req.dataset(), req.record_id());
    if (item == nullptr) return absl::NotFoundError(NoItem(req.dataset(), req.record_id()));
    std::string candidate = item->proposed;
    if (req.verdict() == v1::SAME && !req.candidate_record_id().empty()) {
      if (std::find(item->candidates.begin(), item->candidates.end(), req.candidate_record_id()) ==
          item->candidates.end()) {
        return absl::InvalidArgumentError(absl::StrCat("candidate_record_id \"",
                                                       req.candidate_record_id(),
                                                       "\" is not one of the item's candidates"));
      }
      candidate = req.candidate_record_id();
    }
    if (req.verdict() == v1::SAME && candidate.empty())
      return absl::InvalidArgumentError("SAME needs a candidate: the item has none");
    d.set_dataset(req.dataset());
    d.set_record_id(req.record_id());
    d.set_verdict(req.verdict());
    d.set_candidate_record_id(candidate);
    d.set_note(req.note());
    d.set_officer(principal);
  }
  v1::DecideReviewResponse out;
  LINKD_ASSIGN_OR_RETURN(*out.mutable_decision(), AppendDecision(std::move(d)));
  absl::ReaderMutexLock lock(&mu_);
  *out.mutable_counts() = CountsLocked(req.dataset());
  return out;
}

absl::StatusOr<v1::DecideReviewResponse> ReviewDesk::Decide(const v1::DecideReviewRequest& req,
                                                            const std::string& principal) {
  LINKD_RETURN_IF_ERROR(CheckNode(*ctx_));
  LINKD_RETURN_IF_ERROR(CheckIds(req.dataset(), req.record_id()));
  if (req.verdict() != v1::SAME && req.verdict() != v1::DIFFERENT && req.verdict() != v1::UNSURE)
    return absl::InvalidArgumentError("verdict must be SAME, DIFFERENT or UNSURE");
  if (req.note().size() > kMaxNote)
    return absl::InvalidArgumentError(absl::StrCat("note is over ", kMaxNote, " bytes"));
  if (!text::IsValidUtf8(req.note())) return absl::InvalidArgumentError("note is not valid UTF-8");
  absl::StatusOr<v1::DecideReviewResponse> out = DecideUnaudited(req, principal);
  // Audited whatever the outcome: a refused decision is in the log too.
  v1::AuditEntry entry = DeskEntry(principal, "DecideReview", req.dataset());
  v1::AuditItem* a = entry.add_items();
  a->set_record_id(req.record_id());
  if (out.ok()) {
    a->add_returned_ids(out->decision().candidate_record_id());
    a->set_decision(v1::ReviewVerdict_Name(req.verdict()));
    entry.set_detail(absl::StrCat("decision=", out->decision().seq()));
  } else {
    a->set_decision(absl::StatusCodeToString(out.status().code()));
  }
  LINKD_RETURN_IF_ERROR(Audited(ctx_, std::move(entry), out.status()));
  return out;
}

absl::StatusOr<v1::UndoReviewResponse> ReviewDesk::UndoUnaudited(const v1::UndoReviewRequest& req,
                                                                 const std::string& principal) {
  absl::MutexLock append(&append_mu_);
  v1::UndoReviewResponse out;
  v1::ReviewDecision d;
  {
    absl::ReaderMutexLock lock(&mu_);
    // The officer's latest decision still in force for its item (one that
    // another officer has since replaced is not theirs to take back now).
    const v1::ReviewDecision* last = nullptr;
    for (auto it = decisions_.rbegin(); it != decisions_.rend() && last == nullptr; ++it) {
      if (it->officer() != principal || it->undoes() != 0) continue;
      if (!req.dataset().empty() && it->dataset() != req.dataset()) continue;
      const ItemState* item = FindLocked(it->dataset(), it->record_id());
      if (item != nullptr && item->decided_seq == it->seq()) last = &*it;
    }
    if (last == nullptr) {
      return absl::NotFoundError(absl::StrCat("no decision of ", principal,
                                              req.dataset().empty() ? "" : " in ", req.dataset(),
                                              " is in force to undo"));
    }
    *out.mutable_undone() = *last;
    d.set_dataset(last->dataset());
    d.set_record_id(last->record_id());
    d.set_verdict(last->verdict());
    d.set_candidate_record_id(last->candidate_record_id());
    d.set_officer(principal);
    d.set_undoes(last->seq());
  }
  LINKD_ASSIGN_OR_RETURN(*out.mutable_entry(), AppendDecision(std::move(d)));
  absl::ReaderMutexLock lock(&mu_);
  *out.mutable_counts() = CountsLocked(out.undone().dataset());
  return out;
}

absl::StatusOr<v1::UndoReviewResponse> ReviewDesk::Undo(const v1::UndoReviewRequest& req,
                                                        const std::string& principal) {
  LINKD_RETURN_IF_ERROR(CheckNode(*ctx_));
  if (!req.dataset().empty()) LINKD_RETURN_IF_ERROR(CheckDataset(req.dataset()));
  absl::StatusOr<v1::UndoReviewResponse> out = UndoUnaudited(req, principal);
  v1::AuditEntry entry =
      DeskEntry(principal, "UndoReview", out.ok() ? out->undone().dataset() : req.dataset());
  v1::AuditItem* a = entry.add_items();
  if (out.ok()) {
    a->set_record_id(out->undone().record_id());
    a->add_returned_ids(out->undone().candidate_record_id());
    a->set_decision("UNDONE");
    entry.set_detail(
        absl::StrCat("decision=", out->entry().seq(), " undoes=", out->undone().seq()));
  } else {
    a->set_decision(absl::StatusCodeToString(out.status().code()));
  }
  LINKD_RETURN_IF_ERROR(Audited(ctx_, std::move(entry), out.status()));
  return out;
}

void ReviewDesk::LabelsLocked(const std::string& dataset, v1::GetReviewLabelsResponse* out) const {
  auto q = queues_.find(dataset);
  if (q == queues_.end()) return;
  auto usable = [](const ItemState& item) {
    // Decided same or different, the proposed candidate scored.
    return (item.verdict == v1::SAME || item.verdict == v1::DIFFERENT) && item.weight_known;
  };
  // Each kind's decided items stand for all its queued ones: officers may
  // decide only part of a kind (the samples, say).
  std::map<v1::ReviewKind, std::pair<int64_t, int64_t>> queued_decided;
  for (const auto& [id, item] : q->second) {
    auto& [queued, decided] = queued_decided[item.kind];
    ++queued;
    decided += usable(item) ? 1 : 0;
  }
  for (const auto& [id, item] : q->second) {
    if (!usable(item)) continue;
    const auto& [queued, decided] = queued_decided[item.kind];
    v1::ReviewLabel* l = out->add_labels();
    l->set_match_weight(item.match_weight);
    l->set_same(item.verdict == v1::SAME && item.decided_candidate == item.proposed);
    l->set_sample_weight(item.sample_weight * static_cast<double>(queued) /
                         static_cast<double>(decided));
    l->set_kind(item.kind);
    l->set_model_version(item.model_version);
  }
}

absl::StatusOr<v1::GetReviewLabelsResponse> ReviewDesk::Labels(
    const v1::GetReviewLabelsRequest& req) {
  LINKD_RETURN_IF_ERROR(CheckNode(*ctx_));
  LINKD_RETURN_IF_ERROR(CheckDataset(req.dataset()));
  v1::GetReviewLabelsResponse out;
  absl::ReaderMutexLock lock(&mu_);
  LabelsLocked(req.dataset(), &out);
  return out;
}

static std::string BaseModelVersion(std::string_view version) {
  return std::string(version.substr(0, version.find("+cal")));
}

absl::StatusOr<v1::GetReviewCalibrationResponse> ReviewDesk::Calibration(
    const v1::GetReviewCalibrationRequest& req) {
  LINKD_RETURN_IF_ERROR(CheckNode(*ctx_));
  LINKD_RETURN_IF_ERROR(CheckDataset(req.dataset()));
  v1::GetReviewLabelsResponse labels;
  {
    absl::ReaderMutexLock lock(&mu_);
    LabelsLocked(req.dataset(), &labels);
  }
  const std::shared_ptr<const model::CompiledModel> compiled = ctx_->engine->model();
  const v1::Model& m = compiled->proto();
  std::vector<std::pair<double, bool>> rows;
  std::vector<double> weights;
  v1::GetReviewCalibrationResponse out;
  v1::ReviewCalibration* c = out.mutable_calibration();
  for (const v1::ReviewLabel& l : labels.labels()) {
    // Raw weights of another model are on another scale.
    if (BaseModelVersion(l.model_version()) != BaseModelVersion(m.version())) continue;
    rows.emplace_back(model::ProbabilityFromBits(l.match_weight()), l.same());
    weights.push_back(l.sample_weight());
    if (l.kind() == v1::REVIEW_BAND) {
      c->set_from_review_band(c->from_review_band() + 1);
    } else {
      c->set_from_samples(c->from_samples() + 1);
    }
  }
  c->set_decisions_used(static_cast<int64_t>(rows.size()));
  c->set_model_version(m.version());
  c->set_model_fitted_on(m.calibration().fitted_on());
  c->set_model_ece_before(m.calibration().ece_before());
  c->set_model_ece_after(m.calibration().ece_after());
  if (!rows.empty()) {
    c->set_ece_model(
        model::CalibrationError(rows, m.calibrated() ? &m.calibration() : nullptr, &weights));
    const v1::Calibration refit = model::FitIsotonic(rows, 200, &weights);
    c->set_ece_refit(model::CalibrationError(rows, &refit, &weights));
  }
  return out;
}

ReviewDesk::Stats ReviewDesk::stats() const {
  absl::ReaderMutexLock lock(&mu_);
  Stats s;
  s.items = items_;
  s.decisions = static_cast<int64_t>(decisions_.size());
  s.refused = refused_.load();
  for (const auto& [dataset, queue] : queues_) {
    for (const auto& [id, item] : queue) {
      if (item.kind == v1::REVIEW_BAND &&
          (item.verdict == v1::REVIEW_VERDICT_UNSPECIFIED || item.verdict == v1::UNSURE))
        ++s.unresolved;
    }
  }
  return s;
}

}  // namespace linkage::service
