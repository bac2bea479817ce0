// Generated people for tests that need a register of a given size.
#pragma once

#include <algorithm>
#include <vector>

#include "linkage/synth.h"
#include "linkage/v1/record.pb.h"

namespace linkage::testing {

// The first `n` people of the deterministic generator's population of
// province 19 (Thái Nguyên after 2025), with their register records.
inline std::vector<v1::PersonRecord> SynthPeople(int n) {
  synth::PopulationOptions po;
  po.size = n;
  po.province_2025 = "19";
  synth::Population pop(po);
  std::vector<v1::PersonRecord> out;
  for (const auto& p : pop.people()) out.push_back(p.record);
  out.resize(std::min<size_t>(out.size(), static_cast<size_t>(n)));
  return out;
}

}  // namespace linkage::testing
