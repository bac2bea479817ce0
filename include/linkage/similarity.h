// String similarity measures used by comparison levels. Both work on bytes
// (the engine compares folded, ASCII-only name forms) and do not allocate for
// inputs up to kMaxFastLength bytes; longer inputs are compared on their
// first kMaxFastLength bytes.
#pragma once

#include <string_view>

namespace linkage::model {

inline constexpr size_t kMaxFastLength = 64;

// Jaro similarity in [0, 1]; 1 for two empty strings.
double Jaro(std::string_view a, std::string_view b);

// Jaro-Winkler similarity in [0, 1] with the usual prefix scale 0.1 and a
// common prefix of at most 4.
double JaroWinkler(std::string_view a, std::string_view b);

// Damerau-Levenshtein distance (optimal string alignment: insertions,
// deletions, substitutions, adjacent transpositions). Stops early and
// returns max_distance + 1 once the distance must exceed max_distance.
int DamerauLevenshtein(std::string_view a, std::string_view b, int max_distance = 1 << 20);

}  // namespace linkage::model
