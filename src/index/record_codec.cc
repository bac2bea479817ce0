#include "record_codec.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/hash/hash.h"
#include "base/strings.h"
#include "bytes.h"

namespace linkage::index {
namespace {

using bytes::PutVarint;
using Reader = bytes::Reader;

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

// Which parts of a record are present; absent ones take no bytes.
enum Part : uint32_t {
  kName = 1u << 0,
  kBirthDate = 1u << 1,
  kSex = 1u << 2,
  kNationalId = 1u << 3,
  kOldId = 1u << 4,
  kAddress = 1u << 5,
  kPhone = 1u << 6,
  kEthnicity = 1u << 7,
  kAttributes = 1u << 8,
  kFlags = 1u << 9,
};

// Digit strings (identity numbers, phones): length and value when they are
// all digits and fit 19 of them, else the bytes as written.
void PutDigits(std::string_view s, std::string* out) {
  const bool packable = s.size() <= 19 && std::all_of(s.begin(), s.end(),
                                                      [](char c) { return c >= '0' && c <= '9'; });
  if (!packable) {
    PutVarint(s.size() * 2 + 1, out);
    out->append(s);
    return;
  }
  uint64_t value = 0;
  for (char c : s) value = value * 10 + static_cast<uint64_t>(c - '0');
  PutVarint(s.size() * 2, out);
  if (!s.empty()) PutVarint(value, out);
}

bool GetDigits(Reader& in, std::string* out) {
  uint64_t tag;
  if (!in.Varint(&tag)) return false;
  const size_t n = tag / 2;
  if (tag & 1) {
    std::string_view raw;
    if (!in.Bytes(n, &raw)) return false;
    out->assign(raw);
    return true;
  }
  if (n > 19) return false;
  out->assign(n, '0');
  if (n == 0) return true;
  uint64_t value;
  if (!in.Varint(&value)) return false;
  for (size_t i = n; i-- > 0 && value > 0; value /= 10)
    (*out)[i] = static_cast<char>('0' + value % 10);
  return value == 0;
}

// A CCCD's province code and birth year as its 12 digits spell them (the
// 2nd–3rd digits; the 4th's century and the 5th–6th). The encoder leaves
// them out only when they equal what the record holds, so this is a way of
// writing fewer bytes, never a second rule for what a CCCD means (that is
// domain's ParseNationalId): ~3 bytes a person.
bool CccdParts(std::string_view digits, int* year) {
  if (digits.size() != 12 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  static constexpr int kCentury[] = {1900, 1900, 2000, 2000, 2100, 2100, 2200, 2200, 1800, 1800};
  *year = kCentury[digits[3] - '0'] + (digits[4] - '0') * 10 + (digits[5] - '0');
  return true;
}

bool DerivedFromDigits(const v1::NormalizedId& id) {
  int year;
  return CccdParts(id.digits(), &year) && id.encoded_birth_year() == year &&
         id.province_code() == std::string_view(id.digits()).substr(1, 2);
}

// The date's six flags, in one small integer.
uint32_t DateFlags(const v1::PartialDate& d) {
  return (d.possible_placeholder() ? 1u : 0u) | (d.impossible_day() ? 2u : 0u) |
         (d.swapped_day_month() ? 4u : 0u) | (d.partly_read() ? 8u : 0u) |
         (d.impossible_month() ? 16u : 0u) | (d.year_implausible() ? 32u : 0u);
}

void SetDateFlags(uint32_t f, v1::PartialDate* d) {
  d->set_possible_placeholder(f & 1);
  d->set_impossible_day(f & 2);
  d->set_swapped_day_month(f & 4);
  d->set_partly_read(f & 8);
  d->set_impossible_month(f & 16);
  d->set_year_implausible(f & 32);
}

}  // namespace

// --- StringPool.

StringPool::StringPool() { Intern(""); }

uint32_t StringPool::Intern(std::string_view s) {
  auto it = ids_.find(s);
  if (it != ids_.end()) return it->second;
  std::string_view stored;
  if (!s.empty()) {
    constexpr size_t kChunk = 64 << 10;
    if (s.size() > kChunk / 4) {  // Its own allocation.
      chunks_.push_back(std::make_unique<char[]>(s.size()));
      chunk_bytes_ += static_cast<int64_t>(s.size());
      std::memcpy(chunks_.back().get(), s.data(), s.size());
      stored = std::string_view(chunks_.back().get(), s.size());
      // Keep filling the chunk that was current.
      if (chunks_.size() >= 2 && chunk_size_ > 0)
        std::swap(chunks_.back(), chunks_[chunks_.size() - 2]);
    } else {
      if (chunks_.empty() || chunk_used_ + s.size() > chunk_size_) {
        chunks_.push_back(std::make_unique<char[]>(kChunk));
        chunk_bytes_ += kChunk;
        chunk_size_ = kChunk;
        chunk_used_ = 0;
      }
      char* dst = chunks_.back().get() + chunk_used_;
      std::memcpy(dst, s.data(), s.size());
      chunk_used_ += s.size();
      stored = std::string_view(dst, s.size());
    }
  }
  const auto id = static_cast<uint32_t>(strings_.size());
  strings_.push_back(stored);
  ids_.emplace(stored, id);
  return id;
}

bool StringPool::Get(uint32_t id, std::string_view* out) const {
  if (id >= strings_.size()) return false;
  *out = strings_[id];
  return true;
}

int64_t StringPool::bytes() const {
  return chunk_bytes_ + static_cast<int64_t>(strings_.capacity() * sizeof(std::string_view)) +
         static_cast<int64_t>(ids_.capacity() * (sizeof(std::string_view) + sizeof(uint32_t) + 1));
}

// --- RecordCodec.

size_t RecordCodec::TripleHash::operator()(const Triple& t) const {
  return absl::HashOf(t[0], t[1], t[2]);
}

uint32_t RecordCodec::InternTriple(const Triple& t) {
  auto [it, inserted] = triple_ids_.try_emplace(t, static_cast<uint32_t>(triples_.size()));
  if (inserted) triples_.push_back(t);
  return it->second;
}

void RecordCodec::Save(std::string* out) const {
  bytes::PutVarint(strings_.size(), out);
  for (uint32_t i = 0; i < strings_.size(); ++i) {
    std::string_view s;
    strings_.Get(i, &s);
    bytes::PutString(s, out);
  }
  bytes::PutVarint(triples_.size(), out);
  for (const Triple& t : triples_)
    for (uint32_t id : t) bytes::PutVarint(id, out);
}

bool RecordCodec::Load(bytes::Reader& in) {
  uint64_t n;
  if (strings_.size() != 1 || !triples_.empty() || !in.Varint(&n) || n == 0 || n > in.left())
    return false;
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view s;
    if (!in.String(&s)) return false;
    // Ids come back as they were: each string once, in id order.
    if (i == 0 ? !s.empty() : strings_.Intern(s) != i) return false;
  }
  if (!in.Varint(&n) || n > in.left()) return false;
  triples_.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    Triple t;
    for (uint32_t& id : t) {
      if (!in.Small(&id) || id >= strings_.size()) return false;
    }
    if (InternTriple(t) != i) return false;
  }
  return true;
}

int64_t RecordCodec::bytes() const {
  return strings_.bytes() + static_cast<int64_t>(triples_.capacity() * sizeof(Triple)) +
         static_cast<int64_t>(triple_ids_.capacity() * (sizeof(Triple) + sizeof(uint32_t) + 1));
}

void RecordCodec::Encode(const v1::NormalizedRecord& r, std::string* out) {
  auto str = [&](std::string_view s) { PutVarint(strings_.Intern(s), out); };
  auto strs = [&](const google::protobuf::RepeatedPtrField<std::string>& list) {
    PutVarint(static_cast<uint64_t>(list.size()), out);
    for (const std::string& s : list) str(s);
  };
  uint32_t parts = 0;
  if (r.has_name()) parts |= kName;
  if (r.has_birth_date()) parts |= kBirthDate;
  if (r.sex() != 0) parts |= kSex;
  if (r.has_national_id()) parts |= kNationalId;
  if (r.has_old_id()) parts |= kOldId;
  if (r.has_address()) parts |= kAddress;
  if (!r.phone().empty()) parts |= kPhone;
  if (!r.ethnicity().empty()) parts |= kEthnicity;
  if (!r.attributes().empty()) parts |= kAttributes;
  if (r.flags_size() > 0) parts |= kFlags;
  PutVarint(parts, out);

  if (parts & kName) {
    const v1::NormalizedName& n = r.name();
    const int count = n.tokens_size();
    if (n.folded_tokens_size() == count && n.phonetic_tokens_size() == count) {
      // The usual case: one id per token for its three forms.
      PutVarint(static_cast<uint64_t>(count) * 2, out);
      for (int i = 0; i < count; ++i) {
        PutVarint(InternTriple({strings_.Intern(n.tokens(i)), strings_.Intern(n.folded_tokens(i)),
                                strings_.Intern(n.phonetic_tokens(i))}),
                  out);
      }
    } else {
      PutVarint(1, out);
      strs(n.tokens());
      strs(n.folded_tokens());
      strs(n.phonetic_tokens());
    }
    PutVarint(ZigZag(n.family_len()), out);
    str(n.family_group());
    str(n.repaired_from());
  }
  if (parts & kBirthDate) {
    const v1::PartialDate& d = r.birth_date();
    const bool packable = d.year() >= 0 && d.year() < (1 << 20) && d.month() >= 0 &&
                          d.month() < 16 && d.day() >= 0 && d.day() < 32;
    if (packable) {
      const uint64_t v =
          ((((static_cast<uint64_t>(d.year()) << 4 | static_cast<uint64_t>(d.month())) << 5) |
            static_cast<uint64_t>(d.day()))
           << 6) |
          DateFlags(d);
      PutVarint(v << 1, out);
    } else {
      PutVarint((static_cast<uint64_t>(DateFlags(d)) << 1) | 1, out);
      PutVarint(ZigZag(d.year()), out);
      PutVarint(ZigZag(d.month()), out);
      PutVarint(ZigZag(d.day()), out);
    }
  }
  if (parts & kSex) PutVarint(ZigZag(r.sex()), out);
  for (const auto* id : {&r.national_id(), &r.old_id()}) {
    if (!(parts & (id == &r.national_id() ? kNationalId : kOldId))) continue;
    const uint64_t known = id->province_known() ? 1 : 0;
    const uint64_t derived = DerivedFromDigits(*id) ? 1 : 0;
    if (id->kind() >= 0 && id->kind() < (1 << 20) && id->encoded_sex() >= 0 &&
        id->encoded_sex() < 4) {
      PutVarint(((static_cast<uint64_t>(id->kind()) << 2 | static_cast<uint64_t>(id->encoded_sex()))
                 << 3) |
                    derived << 2 | known << 1,
                out);
    } else {
      PutVarint(known << 1 | 1, out);
      PutVarint(ZigZag(id->kind()), out);
      PutVarint(ZigZag(id->encoded_sex()), out);
    }
    PutDigits(id->digits(), out);
    if (!derived) {
      str(id->province_code());
      PutVarint(ZigZag(id->encoded_birth_year()), out);
    }
  }
  if (parts & kAddress) {
    const v1::NormalizedAddress& a = r.address();
    strs(a.commune_codes_2025());
    str(a.province_code_2025());
    strs(a.old_district_codes());
    str(a.old_commune_code());
    PutVarint(ZigZag(a.source_version()), out);
    str(a.hamlet());
    str(a.resolved_by());
  }
  if (parts & kPhone) PutDigits(r.phone(), out);
  if (parts & kEthnicity) str(r.ethnicity());
  if (parts & kAttributes) {
    // In key order, so that equal maps encode alike.
    std::vector<const google::protobuf::MapPair<std::string, std::string>*> sorted;
    for (const auto& kv : r.attributes()) sorted.push_back(&kv);
    std::sort(sorted.begin(), sorted.end(),
              [](const auto* a, const auto* b) { return a->first < b->first; });
    PutVarint(sorted.size(), out);
    for (const auto* kv : sorted) {
      str(kv->first);
      bytes::PutString(kv->second, out);  // Values may be unique per person: not interned.
    }
  }
  if (parts & kFlags) strs(r.flags());
}

bool RecordCodec::Decode(std::string_view bytes, v1::NormalizedRecord* out) const {
  Reader in(bytes);
  auto str = [&](std::string* dst) {
    uint32_t id;
    std::string_view s;
    if (!in.Small(&id) || !strings_.Get(id, &s)) return false;
    dst->assign(s);
    return true;
  };
  auto strs = [&](google::protobuf::RepeatedPtrField<std::string>* list) {
    uint32_t n;
    if (!in.Small(&n) || n > bytes.size()) return false;
    list->Reserve(static_cast<int>(n));
    for (uint32_t i = 0; i < n; ++i) {
      if (!str(list->Add())) return false;
    }
    return true;
  };
  auto small_int = [&](auto setter) {
    uint64_t v;
    if (!in.Varint(&v)) return false;
    setter(UnZigZag(v));
    return true;
  };
  uint32_t parts;
  if (!in.Small(&parts)) return false;

  if (parts & kName) {
    v1::NormalizedName* n = out->mutable_name();
    uint64_t head;
    if (!in.Varint(&head)) return false;
    if ((head & 1) == 0) {
      const uint64_t count = head / 2;
      if (count > bytes.size()) return false;
      for (uint64_t i = 0; i < count; ++i) {
        uint32_t t;
        if (!in.Small(&t) || t >= triples_.size()) return false;
        std::string_view s;
        if (!strings_.Get(triples_[t][0], &s)) return false;
        n->add_tokens()->assign(s);
        if (!strings_.Get(triples_[t][1], &s)) return false;
        n->add_folded_tokens()->assign(s);
        if (!strings_.Get(triples_[t][2], &s)) return false;
        n->add_phonetic_tokens()->assign(s);
      }
    } else if (!strs(n->mutable_tokens()) || !strs(n->mutable_folded_tokens()) ||
               !strs(n->mutable_phonetic_tokens())) {
      return false;
    }
    if (!small_int([&](int64_t v) { n->set_family_len(static_cast<int32_t>(v)); }) ||
        !str(n->mutable_family_group()) || !str(n->mutable_repaired_from())) {
      return false;
    }
  }
  if (parts & kBirthDate) {
    v1::PartialDate* d = out->mutable_birth_date();
    uint64_t v;
    if (!in.Varint(&v)) return false;
    if ((v & 1) == 0) {
      v >>= 1;
      SetDateFlags(static_cast<uint32_t>(v & 63), d);
      d->set_day(static_cast<int32_t>((v >> 6) & 31));
      d->set_month(static_cast<int32_t>((v >> 11) & 15));
      d->set_year(static_cast<int32_t>(v >> 15));
    } else {
      SetDateFlags(static_cast<uint32_t>((v >> 1) & 63), d);
      if (!small_int([&](int64_t x) { d->set_year(static_cast<int32_t>(x)); }) ||
          !small_int([&](int64_t x) { d->set_month(static_cast<int32_t>(x)); }) ||
          !small_int([&](int64_t x) { d->set_day(static_cast<int32_t>(x)); })) {
        return false;
      }
    }
  }
  if ((parts & kSex) && !small_int([&](int64_t v) { out->set_sex(static_cast<v1::Sex>(v)); }))
    return false;
  for (bool national : {true, false}) {
    if (!(parts & (national ? kNationalId : kOldId))) continue;
    v1::NormalizedId* id = national ? out->mutable_national_id() : out->mutable_old_id();
    uint64_t head;
    if (!in.Varint(&head)) return false;
    id->set_province_known(head & 2);
    const bool derived = (head & 1) == 0 && (head & 4) != 0;
    if ((head & 1) == 0) {
      id->set_encoded_sex(static_cast<v1::Sex>((head >> 3) & 3));
      id->set_kind(static_cast<v1::IdKind>(head >> 5));
    } else if (!small_int([&](int64_t v) { id->set_kind(static_cast<v1::IdKind>(v)); }) ||
               !small_int([&](int64_t v) { id->set_encoded_sex(static_cast<v1::Sex>(v)); })) {
      return false;
    }
    if (!GetDigits(in, id->mutable_digits())) return false;
    if (derived) {
      int year;
      if (!CccdParts(id->digits(), &year)) return false;
      id->set_province_code(id->digits().substr(1, 2));
      id->set_encoded_birth_year(year);
    } else if (!str(id->mutable_province_code()) || !small_int([&](int64_t v) {
                 id->set_encoded_birth_year(static_cast<int32_t>(v));
               })) {
      return false;
    }
  }
  if (parts & kAddress) {
    v1::NormalizedAddress* a = out->mutable_address();
    if (!strs(a->mutable_commune_codes_2025()) || !str(a->mutable_province_code_2025()) ||
        !strs(a->mutable_old_district_codes()) || !str(a->mutable_old_commune_code()) ||
        !small_int([&](int64_t v) { a->set_source_version(static_cast<v1::UnitVersion>(v)); }) ||
        !str(a->mutable_hamlet()) || !str(a->mutable_resolved_by())) {
      return false;
    }
  }
  if ((parts & kPhone) && !GetDigits(in, out->mutable_phone())) return false;
  if ((parts & kEthnicity) && !str(out->mutable_ethnicity())) return false;
  if (parts & kAttributes) {
    uint32_t n;
    if (!in.Small(&n) || n > bytes.size()) return false;
    auto* attributes = out->mutable_attributes();
    for (uint32_t i = 0; i < n; ++i) {
      std::string key;
      std::string_view value;
      if (!str(&key) || !in.String(&value)) return false;
      (*attributes)[key].assign(value);
    }
  }
  if ((parts & kFlags) && !strs(out->mutable_flags())) return false;
  return in.done();
}

}  // namespace linkage::index
