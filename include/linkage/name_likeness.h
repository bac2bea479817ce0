// How alike two people's names are, beyond the comparison levels: the tests
// the engine's decisions use (Verify's "wholly unlike" and "the same words
// in another order"). They sit beside the name levels (model/levels.cc) so
// that every reading of two names is in one layer.
#pragma once

#include "linkage/v1/record.pb.h"

namespace linkage::model {

// Whether `a` holds every family word and the given name of `b`, in any
// order: "Hoa Nguyen" written given-name first, middle name dropped, is
// still the words of "Nguyễn Thị Hòa".
bool HoldsNameWords(const v1::NormalizedName& a, const v1::NormalizedName& b);

// Whether two names share nothing a typing error or a reordering explains:
// other family names (not regional variants of one another), given names
// more than one edit apart, and neither holds the other's words.
bool NamesWhollyUnlike(const v1::NormalizedName& a, const v1::NormalizedName& b);

// Whether `a` is `b` as typing or scanning leaves it: the folded words of
// one matched to the other's (in any order), at most one pair of them one
// edit apart (a letter transposed, dropped, added or changed; "lco"/"loc",
// "hang"/"thang", "nom"/"nam"), and at most one middle name missing from
// either side; the family name (first word) and the given name (last) of
// each must be among the matched words. Equal names are variants too.
// Diacritics and capitals do not count (folded forms). Symmetric.
bool IsTypingVariant(const v1::NormalizedName& a, const v1::NormalizedName& b);

// IsTypingVariant with up to `edits` letter edits in all (two at most in one
// word, and only in words of four letters or more): two typing errors in one
// name ("Huỳn hước" for "Huỳnh Phước").
bool WithinTypingEdits(const v1::NormalizedName& a, const v1::NormalizedName& b, int edits);

// Whether `claim` is `held` (a register name) as typing leaves it
// (IsTypingVariant) in a way that makes no other person's name: every word of
// `claim` that `held` lacks is either not a well-formed Vietnamese syllable
// ("lco" for "loc", "yl" for "ly", "thng" for "thang") or, in the family
// name's place, a syllable that is no known family name ("ham" for "pham";
// siblings share the family name). Words that are all `held`'s, reordered or
// with a middle name dropped, qualify too. A twin's or sibling's name is a
// name; "Hoàng Thu Lcộ" is nobody's, so it can only be a typo of someone,
// and whether of `held` is for the other candidates to say. False for a typo
// that makes a real given or middle syllable ("nom"/"nam", "hang"/"thang").
bool TypoMakesNoOtherName(const v1::NormalizedName& claim, const v1::NormalizedName& held);

}  // namespace linkage::model
