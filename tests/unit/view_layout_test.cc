// The match view's compact layout: RecordCodec decodes exactly what it
// encoded (generated people, and a record with every field of the message
// set, found by reflection so that a field added to the proto and not to
// the codec fails here); PostingIndex answers as a plain multimap through
// random adds, removals and merges; MatchView with tiny merge thresholds
// answers as a reference through random writes.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <random>
#include <set>

#include "bytes.h"
#include "linkage/normalize.h"
#include "match_view.h"
#include "postings.h"
#include "record_codec.h"
#include "synth_people.h"

namespace linkage::index {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;

// Sets every field of `m` (recursively) to a value other than its default.
void FillEveryField(Message* m, int* counter) {
  const auto* d = m->GetDescriptor();
  const auto* r = m->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const int n = ++*counter;
    const int copies = f->is_repeated() ? 2 : 1;
    for (int c = 0; c < copies; ++c) {
      const std::string text = "v" + std::to_string(n) + "_" + std::to_string(c);
      if (f->is_map()) {
        Message* entry = r->AddMessage(m, f);
        const auto* ed = entry->GetDescriptor();
        entry->GetReflection()->SetString(entry, ed->field(0), "k" + text);
        entry->GetReflection()->SetString(entry, ed->field(1), "val" + text);
        continue;
      }
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_STRING:
          // Digit strings are packed; give them digits with a leading zero.
          if (f->name() == "digits" || f->name() == "phone") {
            const std::string digits = "0" + std::to_string(912345678 + n);
            f->is_repeated() ? r->AddString(m, f, digits) : r->SetString(m, f, digits);
          } else {
            f->is_repeated() ? r->AddString(m, f, text) : r->SetString(m, f, text);
          }
          break;
        case FieldDescriptor::CPPTYPE_INT32:
          f->is_repeated() ? r->AddInt32(m, f, 1900 + n) : r->SetInt32(m, f, n % 12 + 1);
          break;
        case FieldDescriptor::CPPTYPE_BOOL:
          f->is_repeated() ? r->AddBool(m, f, true) : r->SetBool(m, f, true);
          break;
        case FieldDescriptor::CPPTYPE_ENUM:
          f->is_repeated() ? r->AddEnumValue(m, f, 1) : r->SetEnumValue(m, f, 1);
          break;
        case FieldDescriptor::CPPTYPE_MESSAGE:
          FillEveryField(f->is_repeated() ? r->AddMessage(m, f) : r->MutableMessage(m, f), counter);
          break;
        default:
          FAIL() << "field type the test does not fill: " << f->full_name();
      }
    }
  }
}

v1::NormalizedRecord RoundTrip(RecordCodec& codec, const v1::NormalizedRecord& r, size_t* size) {
  std::string bytes;
  codec.Encode(r, &bytes);
  if (size) *size = bytes.size();
  v1::NormalizedRecord back;
  EXPECT_TRUE(codec.Decode(bytes, &back));
  return back;
}

TEST(RecordCodecTest, EveryFieldOfTheMessageRoundTrips) {
  v1::NormalizedRecord r;
  int counter = 0;
  FillEveryField(&r, &counter);
  ASSERT_GT(counter, 40);  // The whole tree was walked.
  RecordCodec codec;
  v1::NormalizedRecord back = RoundTrip(codec, r, nullptr);
  std::string diff;
  MessageDifferencer md;
  md.ReportDifferencesToString(&diff);
  EXPECT_TRUE(md.Compare(r, back)) << diff;
}

TEST(RecordCodecTest, OddValuesRoundTrip) {
  RecordCodec codec;
  v1::NormalizedRecord r;
  r.mutable_birth_date()->set_year(-5);  // Outside the packed range.
  r.mutable_birth_date()->set_month(40);
  r.mutable_national_id()->set_digits("12ab");  // Not digits: kept as written.
  r.mutable_national_id()->set_kind(static_cast<v1::IdKind>(77));
  r.mutable_national_id()->set_encoded_sex(static_cast<v1::Sex>(9));
  r.mutable_old_id();                  // Present but empty.
  r.mutable_name()->add_tokens("an");  // Forms of unequal counts.
  r.mutable_name()->add_folded_tokens("an");
  r.set_phone("00000000000000000000000");  // More digits than 19.
  v1::NormalizedRecord back = RoundTrip(codec, r, nullptr);
  EXPECT_TRUE(MessageDifferencer::Equals(r, back)) << back.DebugString();
  EXPECT_TRUE(back.has_old_id());
  EXPECT_FALSE(back.has_address());

  v1::NormalizedRecord empty;
  size_t size;
  EXPECT_TRUE(MessageDifferencer::Equals(empty, RoundTrip(codec, empty, &size)));
  EXPECT_EQ(size, 1u);
}

// A CCCD's province and birth year are left out when its digits spell
// them, and kept when they do not (a record may hold anything).
TEST(RecordCodecTest, ACccdsParts) {
  RecordCodec codec;
  v1::NormalizedRecord spelled;
  v1::NormalizedId* id = spelled.mutable_national_id();
  id->set_kind(v1::ID_KIND_CCCD);
  id->set_digits("001185012345");  // Hà Nội (01), a woman (1), born 1985.
  id->set_province_code("01");
  id->set_province_known(true);
  id->set_encoded_sex(v1::SEX_FEMALE);
  id->set_encoded_birth_year(1985);
  size_t spelled_size;
  EXPECT_TRUE(MessageDifferencer::Equals(spelled, RoundTrip(codec, spelled, &spelled_size)));

  for (auto change : std::vector<std::function<void(v1::NormalizedId*)>>{
           [](v1::NormalizedId* i) { i->set_encoded_birth_year(1885); },
           [](v1::NormalizedId* i) { i->set_province_code("79"); },
           [](v1::NormalizedId* i) { i->clear_province_code(); },
           [](v1::NormalizedId* i) { i->set_digits("0011850123"); },  // Not 12 digits.
       }) {
    v1::NormalizedRecord other = spelled;
    change(other.mutable_national_id());
    size_t size;
    v1::NormalizedRecord back = RoundTrip(codec, other, &size);
    EXPECT_TRUE(MessageDifferencer::Equals(other, back)) << back.DebugString();
  }
  v1::NormalizedRecord other = spelled;
  other.mutable_national_id()->set_encoded_birth_year(1885);
  size_t other_size;
  RoundTrip(codec, other, &other_size);
  EXPECT_LT(spelled_size, other_size);
}

TEST(RecordCodecTest, GeneratedPeopleRoundTripInAFewDozenBytes) {
  RecordCodec codec;
  size_t total = 0, proto = 0, n = 0;
  for (const v1::PersonRecord& p : testing::SynthPeople(3000)) {
    auto norm = domain::NormalizeRecord(p, {});
    ASSERT_TRUE(norm.ok());
    size_t size;
    v1::NormalizedRecord back = RoundTrip(codec, *norm, &size);
    ASSERT_TRUE(MessageDifferencer::Equals(*norm, back)) << p.record_id();
    ASSERT_EQ(norm->SerializeAsString(), back.SerializeAsString()) << p.record_id();
    total += size;
    proto += norm->ByteSizeLong();
    ++n;
  }
  std::printf("mean encoded size %.1f bytes (serialized protobuf %.1f)\n",
              static_cast<double>(total) / static_cast<double>(n),
              static_cast<double>(proto) / static_cast<double>(n));
  EXPECT_LT(total, proto / 3);
}

TEST(RecordCodecTest, GarbageNeverCrashesTheDecoder) {
  RecordCodec codec;
  for (const v1::PersonRecord& p : testing::SynthPeople(50)) {
    std::string bytes;
    codec.Encode(*domain::NormalizeRecord(p, {}), &bytes);
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    v1::NormalizedRecord out;
    (void)codec.Decode(bytes, &out);
  }
}

// --- PostingIndex against a multimap.

class Reference {
 public:
  void Add(uint64_t h, uint32_t o) { m_[h].insert(o); }
  bool Remove(uint64_t h, uint32_t o) {
    auto it = m_.find(h);
    if (it == m_.end() || it->second.erase(o) == 0) return false;
    if (it->second.empty()) m_.erase(it);
    return true;
  }
  std::vector<uint32_t> Find(uint64_t h) const {
    auto it = m_.find(h);
    if (it == m_.end()) return {};
    return {it->second.begin(), it->second.end()};
  }
  std::map<uint64_t, std::multiset<uint32_t>> m_;
  int64_t entries() const {
    int64_t n = 0;
    for (const auto& [h, s] : m_) n += static_cast<int64_t>(s.size());
    return n;
  }
};

std::vector<uint32_t> Sorted(std::vector<uint32_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(PostingIndexTest, AgreesWithAMultimapThroughMergesAndLoads) {
  for (bool load : {false, true}) {
    std::mt19937_64 rng(load ? 11 : 12);
    // Hashes that share buckets and fingerprints' neighbours: a few
    // hundred keys, many entries each, and singletons.
    std::vector<uint64_t> keys;
    for (int i = 0; i < 400; ++i) keys.push_back(rng());
    // Neighbours: the same bucket (top bits) or the same fingerprint (low
    // bits) as another key.
    for (int i = 0; i < 20; ++i) keys.push_back(keys[i] ^ (uint64_t{1} << 62));
    for (int i = 20; i < 40; ++i) keys.push_back(keys[i] ^ 1);
    PostingIndex index(0, 64);
    Reference ref;
    if (load) {
      for (int i = 0; i < 5000; ++i) {
        const uint64_t h = keys[rng() % keys.size()];
        const auto o = static_cast<uint32_t>(rng() % 3000);
        const std::vector<uint32_t> held = ref.Find(h);
        if (std::count(held.begin(), held.end(), o)) continue;  // Distinct pairs.
        ref.Add(h, o);
        index.Stage(h, o);
      }
      index.FinishLoad();
    }
    for (int step = 0; step < 30000; ++step) {
      const uint64_t h = keys[rng() % keys.size()];
      const auto o = static_cast<uint32_t>(rng() % 3000);
      switch (rng() % 3) {
        case 0: {
          const std::vector<uint32_t> held = ref.Find(h);
          if (std::find(held.begin(), held.end(), o) == held.end()) {
            ref.Add(h, o);
            index.Add(h, o);
          }
          break;
        }
        case 1:
          ASSERT_EQ(index.Remove(h, o), ref.Remove(h, o)) << step;
          break;
        default: {
          std::vector<uint32_t> got;
          ASSERT_TRUE(index.Find(h, 1 << 20, &got));
          ASSERT_EQ(Sorted(got), ref.Find(h)) << step;
          const size_t n = got.size();
          if (n > 0) {
            got.assign(1, 99);
            EXPECT_FALSE(index.Find(h, n - 1, &got));  // Over the limit: nothing added.
            EXPECT_EQ(got, std::vector<uint32_t>{99});
          }
        }
      }
      ASSERT_EQ(index.entries(), ref.entries());
    }
    EXPECT_EQ(index.keys(), static_cast<int64_t>(ref.m_.size()));

    // Saved and loaded (the view's file).
    std::string saved;
    index.Save(&saved);
    PostingIndex loaded(0, 64);
    bytes::Reader in(saved);
    ASSERT_TRUE(loaded.Load(in));
    EXPECT_TRUE(in.done());
    for (uint64_t h : keys) {
      std::vector<uint32_t> got;
      ASSERT_TRUE(loaded.Find(h, 1 << 20, &got));
      EXPECT_EQ(Sorted(got), ref.Find(h));
    }
    PostingIndex full(0, 64);  // Only into an empty index.
    full.Add(keys[0], 1);
    bytes::Reader again(saved);
    EXPECT_FALSE(full.Load(again));
  }
}

// --- MatchView with merges on every few writes, against a reference.

TEST(MatchViewLayoutTest, AnswersAsAReferenceThroughRandomWrites) {
  MatchView view(0, 16);
  view.FinishLoad();
  ASSERT_TRUE(view.ready());
  std::vector<v1::PersonRecord> people = testing::SynthPeople(400);
  struct Held {
    MatchView::RecordKeys keys;
    v1::NormalizedRecord normalized;
  };
  std::map<std::string, Held> ref;
  std::mt19937_64 rng(3);
  // Block keys as the store writes them: generation 0, dataset "d", rule
  // "r", key "k<n>", record id.
  auto full_key = [](int k, const std::string& id) {
    return std::string(4, '\0') + "d" + '\0' + "r" + '\0' + "k" + std::to_string(k) + '\0' + id;
  };
  std::map<std::string, std::set<int>> block_of;
  // Read hints taken halfway, used at the end: by then many of their
  // records are removed and their ordinals reused by others.
  std::vector<std::string> hinted_ids;
  std::vector<uint32_t> hints;
  for (int step = 0; step < 6000; ++step) {
    if (step == 3000) {
      for (int b = 0; b < 300; ++b) {
        bool complete;
        ASSERT_TRUE(
            view.ScanBlock("r", "k" + std::to_string(b), 1000, &hinted_ids, &hints, &complete));
      }
      ASSERT_EQ(hinted_ids.size(), hints.size());
      ASSERT_GT(hints.size(), 100u);
      for (int i = 0; i < 20; ++i) {  // Hints that were never right.
        hinted_ids.push_back(people[rng() % people.size()].record_id());
        hints.push_back(i % 2 == 0 ? static_cast<uint32_t>(rng() % 1000) : ~uint32_t{0});
      }
    }
    const v1::PersonRecord& p = people[rng() % people.size()];
    const std::string& id = p.record_id();
    if (rng() % 4 == 0) {
      auto it = ref.find(id);
      view.Remove(id, it == ref.end() ? MatchView::RecordKeys{} : it->second.keys);
      if (it != ref.end()) ref.erase(it);
      block_of.erase(id);
      continue;
    }
    Held h;
    std::set<int> blocks;
    for (int k = static_cast<int>(rng() % 6); k > 0; --k)
      blocks.insert(static_cast<int>(rng() % 300));
    std::vector<std::string> keys;
    for (int b : blocks) keys.push_back(full_key(b, id));
    view.AddBlockKeys("d", keys, &h.keys);
    ASSERT_EQ(h.keys.blocks.size(), blocks.size());
    block_of[id] = blocks;
    v1::PersonRecord changed = people[rng() % people.size()];
    changed.set_record_id(id);
    h.normalized = *domain::NormalizeRecord(changed, {});
    auto it = ref.find(id);
    view.Put(id, it == ref.end() ? MatchView::RecordKeys{} : it->second.keys, h.keys, h.normalized);
    ref[id] = std::move(h);
  }
  // Every record reads back; every key's holders are the reference's.
  std::vector<std::string> ids;
  for (const auto& p : people) ids.push_back(p.record_id());
  google::protobuf::Arena arena;
  std::vector<const v1::NormalizedRecord*> got(ids.size(), nullptr);
  bool damaged = false;
  ASSERT_TRUE(view.GetNormalized(ids, nullptr, &arena, &got, &damaged));
  EXPECT_FALSE(damaged);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = ref.find(ids[i]);
    ASSERT_EQ(got[i] != nullptr, it != ref.end()) << ids[i];
    if (got[i]) {
      EXPECT_TRUE(MessageDifferencer::Equals(*got[i], it->second.normalized));
    }
  }
  // Stale and wrong hints change no answer.
  got.assign(hinted_ids.size(), nullptr);
  ASSERT_TRUE(view.GetNormalized(hinted_ids, &hints, &arena, &got, &damaged));
  EXPECT_FALSE(damaged);
  int removed_since = 0;
  for (size_t i = 0; i < hinted_ids.size(); ++i) {
    auto it = ref.find(hinted_ids[i]);
    ASSERT_EQ(got[i] != nullptr, it != ref.end()) << hinted_ids[i];
    if (got[i]) {
      EXPECT_TRUE(MessageDifferencer::Equals(*got[i], it->second.normalized)) << hinted_ids[i];
    } else {
      ++removed_since;
    }
  }
  EXPECT_GT(removed_since, 0);
  std::map<int, std::vector<std::string>> holders;
  for (const auto& [id, blocks] : block_of)
    for (int b : blocks) holders[b].push_back(id);
  for (int b = 0; b < 300; ++b) {
    std::vector<std::string> got_ids;
    bool complete;
    ASSERT_TRUE(view.ScanBlock("r", "k" + std::to_string(b), 1000, &got_ids, nullptr, &complete));
    EXPECT_TRUE(complete);
    std::sort(got_ids.begin(), got_ids.end());
    EXPECT_EQ(got_ids, holders[b]) << b;
  }
  MatchView::Usage u = view.usage();
  EXPECT_EQ(u.records, static_cast<int64_t>(ref.size()));
  int64_t entries = 0;
  for (const auto& [id, h] : ref) entries += static_cast<int64_t>(h.keys.blocks.size());
  EXPECT_EQ(u.block_entries, entries);
  EXPECT_GT(u.bytes, 0);
}

}  // namespace
}  // namespace linkage::index
