// Vietnamese personal names: parsing into family / middle / given parts,
// regional family-name variants, and a dialect-neutral phonetic key.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "linkage/v1/record.pb.h"

namespace linkage::text {

// Normalizes a full name as written: repairs a legacy encoding, NFC, case
// fold, punctuation cleanup, canonical tones, then splits it. The family name
// is the first word, or the first two when they form a known double family
// name ("Hoàng Phủ", "Tôn Thất", "Âu Dương"); the given name is the last word
// and the rest are middle names. Errors: the name is empty after cleanup
// (InvalidArgument; the caller adds the record id).
absl::StatusOr<v1::NormalizedName> NormalizeName(std::string_view raw);

// The folded family name's variant-group key: regional spellings of one
// family name share it ("huynh" and "hoang" -> "hoang"; "vo" and "vu" ->
// "vu"). Names without a variant return themselves.
std::string FamilyGroup(std::string_view folded_family);

// True if two different folded family names are regional variants of each
// other (Huỳnh/Hoàng, Võ/Vũ).
bool AreFamilyVariants(std::string_view folded_a, std::string_view folded_b);

// True if a folded one-word family name is one the reference lists hold
// (data/vn: the UIT name sample's surnames, the ethnic-minority surname
// lists, the regional variants), also with y written i ("li" for "Lý").
bool IsKnownFamilyName(std::string_view folded_family);

// Phonetic key of one folded (ASCII) word, merging the spellings that
// Vietnamese dialects pronounce alike: initials ch/tr, d/gi/r, s/x, l/n,
// ph/f, c/k/q, g/gh, ng/ngh; i/y; finals n/ng/nh and c/t/ch.
std::string PhoneticKey(std::string_view folded_word);

// Family, middle and given parts of a normalized name, folded, as views into
// its tokens.
std::string FoldedFamily(const v1::NormalizedName& name);
std::string FoldedGiven(const v1::NormalizedName& name);

}  // namespace linkage::text
